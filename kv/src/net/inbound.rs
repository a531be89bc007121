//! Inbound connections (peers' and clients'): admission, authentication, and what each may
//! send.
//!
//! - **Admission**: at most `NetConfig::max_connections` connections at once that are not
//!   authenticated cluster members (clients, handshakes in progress, everything when
//!   `--insecure`); beyond it a new connection is closed at once (a WARN, at most one a second).
//! - **Authentication** (TLS): the handshake (bounded by `handshake_timeout`) proves who the
//!   other end is ([`identify`]). A Raft frame is accepted only on a connection authenticated
//!   as the node it claims to come from (`from`), addressed to this node; anything else is
//!   refused, logged, and ends the connection before the node loop sees it. Client requests
//!   need a CA-signed certificate or, in token mode, an `Auth` frame with the token first
//!   (frames before it are limited to [`PRE_AUTH_MAX_FRAME`] bytes).
//! - **Memory**: every connection reads through a [`FrameReader`]; clients' readers charge the
//!   node's shared [`ByteBudget`]. A frame that is slow or stalled (not complete within
//!   `read_timeout` of its first byte) or that would exceed the budget closes its connection
//!   with a WARN naming the remote address and identity.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raft_impl::core::Envelope;
use raft_impl::types::NodeId;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::frame::{self, Frame, MAX_FRAME_LEN};
use super::io::{write_bytes, ByteBudget, FrameReader, IoError};
use super::node::NetConfig;
use super::node_loop::{Event, NodeStats};
use super::status::StatusReport;
use super::stream::Stream;
use super::tls::{identify, tokens_equal, ClientAuth, Identity, Security, MAX_TOKEN_LEN};
use crate::command::Command;

/// Longest frame accepted before a token client has authenticated (an `Auth` frame fits).
pub const PRE_AUTH_MAX_FRAME: usize = MAX_TOKEN_LEN + 64;

/// What a connection task needs to know.
#[derive(Clone)]
pub(crate) struct ConnCtx {
    pub id: NodeId,
    pub peers: Vec<NodeId>,
    pub events: SyncSender<Event>,
    pub net: NetConfig,
    pub security: Security,
    pub budget: Arc<ByteBudget>,
    /// What the node loop publishes, and the data directory: for status requests.
    pub stats: Arc<NodeStats>,
    pub data_dir: PathBuf,
}

/// What a connection has proven so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    /// Plaintext (`--insecure`): anything goes; Raft frames from configured peer ids.
    Insecure,
    /// TLS, a certificate naming this cluster member.
    Node(NodeId),
    /// TLS, an authenticated client (certificate, or token presented).
    Client,
    /// TLS in token mode, the token not yet presented.
    Pending,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Insecure => f.write_str("unauthenticated (insecure mode)"),
            Peer::Node(n) => write!(f, "node {n}"),
            Peer::Client => f.write_str("client"),
            Peer::Pending => f.write_str("unauthenticated"),
        }
    }
}

/// Logs refused connections at most once a second, with how many were refused.
struct Refusals {
    last: Option<Instant>,
    since: u64,
}

impl Refusals {
    fn note(&mut self, remote: SocketAddr, limit: usize) {
        self.since += 1;
        if self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            tracing::warn!(
                %remote, limit, refused = self.since,
                "connection limit reached; closing new connections"
            );
            self.last = Some(Instant::now());
            self.since = 0;
        }
    }
}

pub(crate) async fn accept_loop(
    listener: TcpListener,
    ctx: ConnCtx,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(ctx.net.max_connections));
    let mut refusals = Refusals {
        last: None,
        since: 0,
    };
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            r = listener.accept() => match r {
                Ok((stream, remote)) => match slots.clone().try_acquire_owned() {
                    Ok(slot) => {
                        conns.spawn(serve_conn(stream, remote, ctx.clone(), stop.clone(), slot));
                    }
                    Err(_) => {
                        refusals.note(remote, ctx.net.max_connections);
                        drop(stream);
                    }
                },
                // Out of file descriptors and the like: pause rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}

/// The TLS handshake, or nothing in insecure mode: the stream and who it is.
async fn establish(tcp: TcpStream, remote: SocketAddr, ctx: &ConnCtx) -> Option<(Stream, Peer)> {
    let Security::Tls(tls) = &ctx.security else {
        return Some((Stream::Plain(tcp), Peer::Insecure));
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.server.clone());
    let timeout = ctx.net.handshake_timeout;
    let s = match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::warn!(%remote, error = %e, "TLS handshake failed; closing the connection");
            return None;
        }
        Err(_) => {
            tracing::warn!(%remote, ?timeout, "TLS handshake timed out; closing the connection");
            return None;
        }
    };
    let peer = match (
        identify(s.get_ref().1.peer_certificates(), &ctx.peers),
        &tls.client_auth,
    ) {
        (Identity::Node(n), _) => Peer::Node(n),
        (Identity::Client, ClientAuth::Certificate) => Peer::Client,
        // In token mode certificates identify nodes only; clients present the token.
        (_, ClientAuth::Token(_)) | (Identity::Anonymous, ClientAuth::Certificate) => Peer::Pending,
    };
    tracing::debug!(%remote, who = %peer, "connection authenticated");
    Some((
        Stream::Tls(Box::new(tokio_rustls::TlsStream::Server(s))),
        peer,
    ))
}

/// Why a Raft frame is refused on a connection that proved `peer`, if it is.
fn refuse_raft(peer: Peer, env: &Envelope, ctx: &ConnCtx) -> Option<String> {
    if env.to != ctx.id {
        return Some(format!("addressed to node {}, not this node", env.to));
    }
    match peer {
        Peer::Node(n) if n == env.from => None,
        Peer::Node(n) => Some(format!(
            "claims to come from node {} on a connection authenticated as node {n}",
            env.from
        )),
        Peer::Insecure if ctx.peers.contains(&env.from) => None,
        Peer::Insecure => Some(format!("node {} is not a configured peer", env.from)),
        Peer::Client | Peer::Pending => Some(format!(
            "claims to come from node {} on a connection not authenticated as a node",
            env.from
        )),
    }
}

/// Serves one inbound connection until it closes, misbehaves, or the node stops. A bad or
/// refused frame ends only this connection. `slot` is its place under the connection limit.
async fn serve_conn(
    tcp: TcpStream,
    remote: SocketAddr,
    ctx: ConnCtx,
    mut stop: watch::Receiver<bool>,
    slot: OwnedSemaphorePermit,
) {
    let _ = tcp.set_nodelay(true);
    let established = tokio::select! {
        _ = stop.changed() => return,
        e = establish(tcp, remote, &ctx) => e,
    };
    let Some((stream, mut peer)) = established else {
        return;
    };
    let mut slot = Some(slot);
    let mut rd = match peer {
        // Cluster members are trusted with frames of any legal size and do not count
        // against the client limits.
        Peer::Node(_) => {
            slot.take();
            FrameReader::new(MAX_FRAME_LEN, None)
        }
        Peer::Pending => FrameReader::new(PRE_AUTH_MAX_FRAME, Some(ctx.budget.clone())),
        Peer::Insecure | Peer::Client => {
            FrameReader::new(ctx.net.max_conn_buffer, Some(ctx.budget.clone()))
        }
    };
    let (mut rd_half, mut wr) = tokio::io::split(stream);
    let (reply_tx, mut reply_rx) = mpsc::unbounded_channel::<Frame>();
    let write_timeout = ctx.net.write_timeout;
    let writer = tokio::spawn(async move {
        while let Some(f) = reply_rx.recv().await {
            let mut buf = Vec::new();
            for f in std::iter::once(f).chain(std::iter::from_fn(|| reply_rx.try_recv().ok())) {
                match frame::encode(&f) {
                    Ok(b) => buf.extend_from_slice(&b),
                    Err(e) => tracing::error!(%remote, error = %e, "cannot encode reply"),
                }
            }
            if let Err(e) = write_bytes(&mut wr, &buf, write_timeout).await {
                tracing::debug!(%remote, error = %e, "writing to client failed");
                return;
            }
        }
    });
    loop {
        let f = tokio::select! {
            _ = stop.changed() => break,
            f = rd.read_frame(&mut rd_half, ctx.net.idle_timeout, ctx.net.read_timeout) => f,
        };
        let event = match f {
            Ok(Frame::Raft(env)) => {
                if let Some(why) = refuse_raft(peer, &env, &ctx) {
                    tracing::error!(
                        %remote, who = %peer, from = env.from, to = env.to,
                        kind = env.msg.kind(),
                        "refused Raft frame: {why}; dropping the connection"
                    );
                    break;
                }
                Event::Raft(env)
            }
            Ok(Frame::Request { id, command }) if peer != Peer::Pending => {
                // decode_body already checked the command; a failure here would be a bug.
                let cmd = match Command::decode(&command) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(%remote, error = %e, "bad client command");
                        break;
                    }
                };
                Event::Request {
                    id,
                    cmd,
                    reply_to: reply_tx.clone(),
                }
            }
            Ok(
                Frame::Request { .. } | Frame::StatusRequest { .. } | Frame::TransferLeader { .. },
            ) if peer == Peer::Pending => {
                tracing::warn!(%remote, "client request before the token; dropping the connection");
                break;
            }
            Ok(Frame::StatusRequest { id }) => {
                let report = StatusReport::read(ctx.id, &ctx.stats, &ctx.data_dir);
                let _ = reply_tx.send(Frame::Status { id, report });
                continue;
            }
            // Like a status request: any authenticated client may ask (docs/kv-service.md).
            Ok(Frame::TransferLeader { id, target }) => Event::Transfer {
                id,
                target,
                reply_to: reply_tx.clone(),
            },
            Ok(Frame::Auth { token }) if peer == Peer::Pending => {
                let Security::Tls(tls) = &ctx.security else {
                    unreachable!("pending only under TLS")
                };
                match &tls.client_auth {
                    ClientAuth::Token(t) if tokens_equal(t, &token) => {
                        peer = Peer::Client;
                        rd.set_max_frame(ctx.net.max_conn_buffer);
                        continue;
                    }
                    _ => {
                        tracing::warn!(%remote, "client token refused; dropping the connection");
                        break;
                    }
                }
            }
            Ok(other) => {
                tracing::error!(%remote, who = %peer, kind = other.kind(), "unexpected frame type; dropping the connection");
                break;
            }
            Err(IoError::Closed) => break,
            Err(IoError::Frame(e)) => {
                tracing::error!(%remote, who = %peer, error = %e, "malformed frame; dropping the connection");
                break;
            }
            Err(e @ (IoError::Stalled { .. } | IoError::OverBudget { .. })) => {
                tracing::warn!(%remote, who = %peer, error = %e, "closing the connection");
                break;
            }
            Err(e) => {
                tracing::debug!(%remote, who = %peer, error = %e, "connection ended");
                break;
            }
        };
        if !submit(&ctx.events, event).await {
            break;
        }
    }
    drop(reply_tx);
    drop(rd);
    drop(slot);
    // Let queued replies drain, bounded by the write timeout.
    let _ = tokio::time::timeout(write_timeout, writer).await;
}

/// Hands an event to the node loop. Raft frames are dropped when the queue is full (Raft
/// retransmits); client requests wait briefly, which pushes back on the client's socket.
/// Returns false once the node loop is gone.
async fn submit(events: &SyncSender<Event>, mut ev: Event) -> bool {
    loop {
        match events.try_send(ev) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(Event::Raft(_))) => return true,
            Err(TrySendError::Full(back)) => {
                ev = back;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

//! One KV node on the real network: opens its data directory, binds its listener, starts one
//! connection task per peer, one task per accepted connection, and the node loop thread.
//!
//! A single listener serves peers and clients: the frame type says which (see
//! [`frame`](super::frame)). Peer traffic is one-way per connection: each node dials every peer
//! and only writes Raft frames on that connection; replies come back on the peer's own
//! connection to us. That keeps reconnect logic on the sending side only.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use raft_impl::core::{Config, Envelope, InitError, RawNode};
use raft_impl::storage::{FileStorage, Storage, StorageError};
use raft_impl::types::NodeId;
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::frame::{self, Frame};
use super::io::{read_frame, write_bytes, IoError};
use super::node_loop::{Event, NodeLoop, PeerTx};
use crate::command::Command;
use crate::reads::ReadMode;
use crate::server::KvServer;

/// Timeouts and limits of the network side.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Logical tick of the Raft core (election timeout is 10-20 ticks, heartbeat 2).
    pub tick: Duration,
    pub connect_timeout: Duration,
    /// Bound on writing one batch of frames to a peer or client.
    pub write_timeout: Duration,
    /// Bound on receiving the rest of a frame once its first byte arrived.
    pub read_timeout: Duration,
    /// A connection silent this long is closed (peers send heartbeats every 2 ticks).
    pub idle_timeout: Duration,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// How the node executes Get (through the log by default).
    pub read_mode: ReadMode,
    /// Write and fsync on a thread of its own instead of on the node loop, with the leader's
    /// writes in parallel with replication (Raft thesis §10.2.1; see `node_loop.rs` and
    /// `pipeline.rs`). Off by default: on the 2-core machine of `docs/performance.md` it costs
    /// more CPU than it saves in latency.
    pub persist_thread: bool,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            tick: Duration::from_millis(50),
            connect_timeout: Duration::from_secs(1),
            write_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(120),
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_secs(1),
            read_mode: ReadMode::Log,
            persist_thread: false,
        }
    }
}

/// Everything one node needs.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub id: NodeId,
    /// Raft addresses of the *other* nodes.
    pub peers: BTreeMap<NodeId, SocketAddr>,
    /// Where to accept peers and clients.
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub net: NetConfig,
}

/// Why a node could not start (or stopped).
#[derive(Debug, Error)]
pub enum NodeError {
    // The cause is part of the message (and not also a `source`), so that printing the error
    // chain does not repeat it.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("data directory {}: {error}", dir.display())]
    Storage { dir: PathBuf, error: StorageError },
    #[error("data directory {} does not fit this node: {error}", dir.display())]
    Init { dir: PathBuf, error: InitError },
    #[error("node loop thread: {0}")]
    Thread(String),
}

/// Depth of the event queue into the node loop; beyond it, Raft frames are dropped (retransmitted
/// later) and client requests wait in their connection (TCP backpressure).
pub(crate) const EVENT_QUEUE: usize = 8192;
/// Per-peer queue of outgoing messages.
const PEER_QUEUE: usize = 1024;

/// A running node. Dropping it without [`Node::shutdown`] leaves its tasks running.
pub struct Node {
    id: NodeId,
    addr: SocketAddr,
    events: SyncSender<Event>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    node_loop: Option<JoinHandle<Result<(), StorageError>>>,
    data_dir: PathBuf,
}

impl Node {
    /// Opens storage (refusing a corrupt or foreign directory), binds, and starts everything.
    /// Must be called inside a tokio runtime.
    pub async fn start(cfg: NodeConfig) -> Result<Node, NodeError> {
        let dir = cfg.data_dir.clone();
        let storage = FileStorage::open(&dir).map_err(|error| NodeError::Storage {
            dir: dir.clone(),
            error,
        })?;
        let stored = storage.load().map_err(|error| NodeError::Storage {
            dir: dir.clone(),
            error,
        })?;
        let peer_ids: Vec<NodeId> = cfg.peers.keys().copied().collect();
        // Seeded per node and per start, so restarted nodes do not replay the same timeouts.
        let seed = cfg.id ^ rand::random::<u64>();
        let raft_cfg = Config::production(cfg.id, peer_ids, seed);
        let node =
            RawNode::restore(raft_cfg, stored.hard_state, stored.entries).map_err(|error| {
                NodeError::Init {
                    dir: dir.clone(),
                    error,
                }
            })?;
        let listener = TcpListener::bind(cfg.listen)
            .await
            .map_err(|error| NodeError::Bind {
                addr: cfg.listen,
                error,
            })?;
        let addr = listener.local_addr().map_err(|error| NodeError::Bind {
            addr: cfg.listen,
            error,
        })?;

        let (stop, stop_rx) = watch::channel(false);
        let (events, events_rx) = sync_channel(EVENT_QUEUE);
        let mut tasks = JoinSet::new();
        let mut peers = HashMap::new();
        for (&pid, &paddr) in &cfg.peers {
            let (tx, rx) = mpsc::channel(PEER_QUEUE);
            peers.insert(pid, PeerTx::Tcp(tx));
            tasks.spawn(peer_task(pid, paddr, rx, cfg.net.clone(), stop_rx.clone()));
        }
        let ctx = ConnCtx {
            id: cfg.id,
            peers: cfg.peers.keys().copied().collect(),
            events: events.clone(),
            net: cfg.net.clone(),
        };
        tasks.spawn(accept_loop(listener, ctx, stop_rx));

        let node_loop = NodeLoop {
            node,
            storage,
            kv: KvServer::with_read_mode(cfg.net.read_mode),
            peers,
            events: events_rx,
            tick: cfg.net.tick,
            persist_wake: cfg.net.persist_thread.then(|| events.clone()),
        };
        let id = cfg.id;
        let node_loop = std::thread::Builder::new()
            .name(format!("raftkv-node-{id}"))
            .spawn(move || {
                let r = node_loop.run();
                if let Err(e) = &r {
                    tracing::error!(id, error = %e, "storage failed; node stopped");
                }
                r
            })
            .map_err(|e| NodeError::Thread(e.to_string()))?;
        tracing::info!(id, %addr, dir = %dir.display(), "node started");
        Ok(Node {
            id,
            addr,
            events,
            stop,
            tasks,
            node_loop: Some(node_loop),
            data_dir: dir,
        })
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The address actually bound (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// True once the node loop has ended (storage failure or shutdown).
    pub fn is_stopped(&self) -> bool {
        match &self.node_loop {
            Some(h) => h.is_finished(),
            None => true,
        }
    }

    /// Stops every task and the node loop and waits for them, so the port and the data
    /// directory are free when this returns. Reports a storage failure that stopped the loop.
    pub async fn shutdown(mut self) -> Result<(), NodeError> {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        let handle = self.node_loop.take().expect("shut down once");
        let events = self.events.clone();
        let joined = tokio::task::spawn_blocking(move || {
            // The loop keeps draining its queue, so a full queue only delays this; it fails
            // only if the loop has already ended. (A persist thread holds a sender too, so the
            // loop would not see the queue disconnect.)
            let _ = events.send(Event::Shutdown);
            handle.join()
        })
        .await
        .map_err(|e| NodeError::Thread(e.to_string()))?;
        match joined {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(NodeError::Storage {
                dir: self.data_dir.clone(),
                error,
            }),
            Err(_) => Err(NodeError::Thread("node loop panicked".into())),
        }
    }
}

/// What a connection task needs to know.
#[derive(Clone)]
struct ConnCtx {
    id: NodeId,
    peers: Vec<NodeId>,
    events: SyncSender<Event>,
    net: NetConfig,
}

async fn accept_loop(listener: TcpListener, ctx: ConnCtx, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            r = listener.accept() => match r {
                Ok((stream, remote)) => {
                    conns.spawn(serve_conn(stream, remote, ctx.clone(), stop.clone()));
                }
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

/// Serves one inbound connection (a peer's or a client's) until it closes, misbehaves, or
/// the node stops. A bad frame ends only this connection.
async fn serve_conn(
    stream: TcpStream,
    remote: SocketAddr,
    ctx: ConnCtx,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    // Buffered: one `recv` brings in whatever frames have arrived (a peer's batch of
    // AppendEntries, a pipelining client's requests) instead of three syscalls per frame.
    let mut rd = tokio::io::BufReader::with_capacity(64 * 1024, rd);
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
            f = read_frame(&mut rd, ctx.net.idle_timeout, ctx.net.read_timeout) => f,
        };
        let event = match f {
            Ok(Frame::Raft(env)) => {
                if env.to != ctx.id || !ctx.peers.contains(&env.from) {
                    tracing::error!(
                        %remote, from = env.from, to = env.to, me = ctx.id,
                        "Raft frame not addressed from a peer to this node (another cluster?); \
                         dropping the connection"
                    );
                    break;
                }
                Event::Raft(env)
            }
            Ok(Frame::Request { id, command }) => {
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
            Ok(other) => {
                tracing::error!(%remote, kind = other.kind(), "unexpected frame type; dropping the connection");
                break;
            }
            Err(IoError::Closed) => break,
            Err(IoError::Frame(e)) => {
                tracing::error!(%remote, error = %e, "malformed frame; dropping the connection");
                break;
            }
            Err(e) => {
                tracing::debug!(%remote, error = %e, "connection ended");
                break;
            }
        };
        if !submit(&ctx.events, event).await {
            break;
        }
    }
    drop(reply_tx);
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

/// The sending side of the link to one peer: connects (with backoff), writes queued messages
/// in batches, and on any error drops the connection and reconnects. Messages queued while
/// disconnected are discarded: by the time the link is back they are stale, and the leader's
/// next heartbeat carries whatever the peer is missing.
async fn peer_task(
    peer: NodeId,
    addr: SocketAddr,
    mut rx: mpsc::Receiver<Envelope>,
    net: NetConfig,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = net.initial_backoff;
    // The first failure of an outage is a warning naming the peer; the retries are debug.
    let mut outage_reported = false;
    loop {
        let conn = tokio::select! {
            _ = stop.changed() => return,
            c = tokio::time::timeout(net.connect_timeout, TcpStream::connect(addr)) => c,
        };
        match conn {
            Ok(Ok(mut stream)) => {
                let _ = stream.set_nodelay(true);
                tracing::info!(peer, %addr, "connected to peer");
                backoff = net.initial_backoff;
                outage_reported = false;
                loop {
                    let first = tokio::select! {
                        _ = stop.changed() => return,
                        m = rx.recv() => match m { Some(m) => m, None => return },
                    };
                    let mut buf = Vec::new();
                    for env in
                        std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok()))
                    {
                        match frame::encode(&Frame::Raft(env)) {
                            Ok(b) => buf.extend_from_slice(&b),
                            Err(e) => tracing::error!(peer, error = %e, "cannot encode message"),
                        }
                    }
                    if let Err(e) = write_bytes(&mut stream, &buf, net.write_timeout).await {
                        tracing::warn!(peer, %addr, error = %e, "lost connection to peer");
                        break;
                    }
                }
            }
            Ok(Err(e)) if !outage_reported => {
                tracing::warn!(peer, %addr, error = %e, "peer unreachable; retrying with backoff");
                outage_reported = true;
            }
            Ok(Err(e)) => tracing::debug!(peer, %addr, error = %e, "cannot connect to peer"),
            Err(_) if !outage_reported => {
                tracing::warn!(peer, %addr, timeout = ?net.connect_timeout, "peer unreachable (connect timed out); retrying with backoff");
                outage_reported = true;
            }
            Err(_) => tracing::debug!(peer, %addr, "connect to peer timed out"),
        }
        while rx.try_recv().is_ok() {}
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(net.max_backoff);
    }
}

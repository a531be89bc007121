//! The sending side of the link to one peer: dials it (TLS: checking it is the node it should
//! be), writes queued messages in batches, and on any error drops the connection and
//! reconnects with backoff.

use std::io;
use std::net::SocketAddr;

use raft_impl::core::Envelope;
use raft_impl::types::NodeId;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::frame::{self, Frame};
use super::io::write_bytes;
use super::node::NetConfig;
use super::stream::Stream;
use super::tls::{node_name, Security};

/// Opens the link to `peer` at `addr`. With TLS the listener must prove it is
/// `node-PEER.raftkv`, and we present our own node certificate.
async fn dial(peer: NodeId, addr: SocketAddr, security: &Security) -> io::Result<Stream> {
    let tcp = TcpStream::connect(addr).await?;
    let _ = tcp.set_nodelay(true);
    match security {
        Security::Insecure => Ok(Stream::Plain(tcp)),
        Security::Tls(tls) => {
            let name = ServerName::try_from(node_name(peer)).map_err(io::Error::other)?;
            let s = tokio_rustls::TlsConnector::from(tls.client.clone())
                .connect(name, tcp)
                .await?;
            Ok(Stream::Tls(Box::new(tokio_rustls::TlsStream::Client(s))))
        }
    }
}

/// Messages queued while disconnected are discarded: by the time the link is back they are
/// stale, and the leader's next heartbeat carries whatever the peer is missing.
pub(crate) async fn peer_task(
    peer: NodeId,
    addr: SocketAddr,
    mut rx: mpsc::Receiver<Envelope>,
    net: NetConfig,
    security: Security,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = net.initial_backoff;
    // The first failure of an outage is a warning naming the peer; the retries are debug.
    let mut outage_reported = false;
    loop {
        let conn = tokio::select! {
            _ = stop.changed() => return,
            c = tokio::time::timeout(net.connect_timeout, dial(peer, addr, &security)) => c,
        };
        match conn {
            Ok(Ok(mut stream)) => {
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

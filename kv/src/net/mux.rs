//! [`MuxTcpTransport`]: many client sessions over one TCP connection per server, the way a
//! pooled client library (etcd's clientv3 over one gRPC connection) shares its connections.
//! Requests carry ids and the node answers each by id (see [`Frame::Request`]), so replies
//! may come back in any order. A writer task coalesces every queued request into one write; a
//! reader task routes each reply to the caller waiting for its id. One syscall then carries
//! many requests, where a connection per session pays a send and a receive per operation.
//!
//! A broken connection fails every request waiting on it (`Unreachable`) and is replaced by a
//! fresh one on the next call; a late reply to a request whose caller timed out is dropped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::async_clerk::AsyncTransport;
use super::frame::{self, Frame};
use super::io::{write_bytes, FrameReader};
use super::stream::connect_client;
use super::tls::ClientSecurity;
use crate::clerk::TransportError;
use crate::command::Command;
use crate::server::Reply;

/// A reader waits this long for the next reply before it checks whether the connection is
/// still wanted; requests have their own timeouts.
const READER_IDLE: Duration = Duration::from_secs(3600);
/// Bound on writing one batch of requests (a server that stopped reading).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

type Waiters = Mutex<HashMap<u64, oneshot::Sender<Reply>>>;

/// One live connection: where to queue encoded requests and who waits for which id.
struct Conn {
    requests: mpsc::UnboundedSender<Vec<u8>>,
    waiters: Arc<Waiters>,
    broken: Arc<AtomicBool>,
}

impl Conn {
    async fn open(addr: SocketAddr, security: &ClientSecurity) -> std::io::Result<Conn> {
        let stream = connect_client(addr, security).await?;
        let (mut rd, mut wr) = tokio::io::split(stream);
        let (requests, mut queued) = mpsc::unbounded_channel::<Vec<u8>>();
        let waiters: Arc<Waiters> = Arc::default();
        let broken = Arc::new(AtomicBool::new(false));
        let (w_broken, r_broken) = (broken.clone(), broken.clone());
        tokio::spawn(async move {
            while let Some(first) = queued.recv().await {
                let mut buf = first;
                while let Ok(more) = queued.try_recv() {
                    buf.extend_from_slice(&more);
                }
                if write_bytes(&mut wr, &buf, WRITE_TIMEOUT).await.is_err() {
                    w_broken.store(true, Ordering::Relaxed);
                    return;
                }
            }
        });
        let r_waiters = waiters.clone();
        tokio::spawn(async move {
            let mut reader = FrameReader::default();
            loop {
                match reader.read_frame(&mut rd, READER_IDLE, WRITE_TIMEOUT).await {
                    Ok(Frame::Response { id, reply }) => {
                        let waiter = r_waiters.lock().expect("waiters lock").remove(&id);
                        if let Some(w) = waiter {
                            let _ = w.send(reply); // The caller may have timed out.
                        }
                    }
                    Ok(other) => {
                        tracing::debug!(kind = other.kind(), "unexpected frame from server");
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "client connection ended");
                        break;
                    }
                }
            }
            r_broken.store(true, Ordering::Relaxed);
            // Dropping the senders fails every request still waiting on this connection.
            r_waiters.lock().expect("waiters lock").clear();
        });
        Ok(Conn {
            requests,
            waiters,
            broken,
        })
    }
}

/// A cheaply cloned handle: every clone shares the same connections. Give each
/// [`AsyncClerk`](super::AsyncClerk) a clone.
#[derive(Clone)]
pub struct MuxTcpTransport {
    addrs: Arc<Vec<SocketAddr>>,
    security: ClientSecurity,
    conns: Arc<Vec<tokio::sync::Mutex<Option<Arc<Conn>>>>>,
    next_id: Arc<AtomicU64>,
}

impl MuxTcpTransport {
    pub fn new(addrs: Vec<SocketAddr>, security: ClientSecurity) -> Self {
        let conns = addrs
            .iter()
            .map(|_| tokio::sync::Mutex::new(None))
            .collect();
        MuxTcpTransport {
            addrs: Arc::new(addrs),
            security,
            conns: Arc::new(conns),
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// The live connection to `server`, opened (or replaced, if broken) on demand.
    async fn conn(&self, server: usize, timeout: Duration) -> Result<Arc<Conn>, TransportError> {
        let mut slot = self.conns[server].lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.broken.load(Ordering::Relaxed)) {
            return Ok(c.clone());
        }
        let addr = self.addrs[server];
        let c = tokio::time::timeout(timeout, Conn::open(addr, &self.security))
            .await
            .map_err(|_| TransportError::Unreachable(format!("{addr}: connect timed out")))?
            .map_err(|e| TransportError::Unreachable(format!("{addr}: {e}")))?;
        let c = Arc::new(c);
        *slot = Some(c.clone());
        Ok(c)
    }
}

impl AsyncTransport for MuxTcpTransport {
    async fn call(
        &mut self,
        server: usize,
        cmd: &Command,
        timeout: Duration,
    ) -> Result<Reply, TransportError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let conn = self.conn(server, timeout).await?;
        let addr = self.addrs[server];
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let bytes = frame::encode(&Frame::request(id, cmd))
            .map_err(|e| TransportError::Unreachable(format!("{addr}: {e}")))?;
        let (tx, rx) = oneshot::channel();
        conn.waiters.lock().expect("waiters lock").insert(id, tx);
        let lost = || TransportError::Lost(format!("{addr}: connection lost"));
        if conn.requests.send(bytes).is_err() {
            // The writer is gone: this request was never written.
            conn.waiters.lock().expect("waiters lock").remove(&id);
            return Err(TransportError::Unreachable(format!(
                "{addr}: connection lost"
            )));
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(lost()),
            Err(_) => {
                conn.waiters.lock().expect("waiters lock").remove(&id);
                Err(TransportError::Timeout(timeout))
            }
        }
    }
}

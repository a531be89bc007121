//! [`AsyncClerk`]: the Clerk's retry logic ([`ClerkCore`]) driven from an async task, so one
//! load generator can run hundreds of sessions on a couple of threads instead of one OS thread
//! per blocking [`Clerk`](crate::Clerk). Two transports: [`AsyncTcpTransport`] (the wire
//! protocol of [`TcpTransport`](super::TcpTransport), buffered) and
//! [`LocalTransport`](super::local::LocalTransport) (channels into in-process node loops).

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use raft_impl::types::NodeId;

use super::frame::{self, Frame};
use super::io::{write_bytes, FrameReader, IoError};
use super::stream::{connect_client, Stream};
use super::tls::ClientSecurity;
use crate::clerk::{ClerkConfig, ClerkCore, ClerkError, Next, TransportError};
use crate::command::{Command, Op, OpResult};
use crate::server::Reply;

/// An async request/reply channel to the servers (by position), the async twin of
/// [`Transport`](crate::Transport).
/// Its futures are `Send`, so clerks can run as tasks of a multi-threaded runtime.
pub trait AsyncTransport {
    fn call(
        &mut self,
        server: usize,
        cmd: &Command,
        timeout: Duration,
    ) -> impl Future<Output = Result<Reply, TransportError>> + Send;
}

/// One client session over an [`AsyncTransport`]: one operation at a time, retried (same
/// sequence number) until it is executed or the time limit is spent.
pub struct AsyncClerk<T> {
    core: ClerkCore,
    cfg: ClerkConfig,
    ids: Vec<NodeId>,
    transport: T,
    time_limit: Option<Duration>,
}

impl<T: AsyncTransport> AsyncClerk<T> {
    /// A session with a random client id over servers `ids` (positions as in `transport`).
    pub fn new(
        ids: Vec<NodeId>,
        transport: T,
        cfg: ClerkConfig,
        time_limit: Option<Duration>,
    ) -> Self {
        AsyncClerk {
            core: ClerkCore::new(cfg.clone(), ids.clone(), rand::random()),
            cfg,
            ids,
            transport,
            time_limit,
        }
    }

    pub fn core(&self) -> &ClerkCore {
        &self.core
    }

    pub async fn get(&mut self, key: &str) -> Result<Option<String>, ClerkError> {
        match self.run(Op::Get { key: key.into() }).await? {
            OpResult::Value(v) => Ok(v),
            OpResult::Done => Ok(None),
        }
    }

    pub async fn put(&mut self, key: &str, value: &str) -> Result<(), ClerkError> {
        self.run(Op::Put {
            key: key.into(),
            value: value.into(),
        })
        .await
        .map(|_| ())
    }

    /// Runs one operation to completion or until the time limit. After giving up, the clerk
    /// continues as a fresh session (new client id): the abandoned operation may still execute,
    /// and a new session keeps that from clashing with the next operation's sequence number.
    pub async fn run(&mut self, op: Op) -> Result<OpResult, ClerkError> {
        let started = Instant::now();
        let mut attempt = self.core.begin(op);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            if !attempt.delay.is_zero() {
                tokio::time::sleep(attempt.delay).await;
            }
            let result = self
                .transport
                .call(attempt.server, &attempt.cmd, attempt.timeout)
                .await;
            let (next, last) = self.core.on_result(&attempt, result);
            match next.expect("the operation is in flight") {
                Next::Done(r) => return Ok(r),
                Next::Retry(a) => attempt = a,
            }
            if self.time_limit.is_some_and(|t| started.elapsed() >= t) {
                let e = self.core.give_up(attempts, last);
                self.core = ClerkCore::new(self.cfg.clone(), self.ids.clone(), rand::random());
                return Err(e);
            }
        }
    }
}

/// The Clerk's TCP transport on tokio: one lazily opened connection per server (TLS unless
/// insecure), read through a [`FrameReader`]. Same protocol and the same
/// never-reuse-a-failed-connection rule as the blocking [`TcpTransport`](super::TcpTransport).
pub struct AsyncTcpTransport {
    addrs: Vec<SocketAddr>,
    security: ClientSecurity,
    conns: Vec<Option<(Stream, FrameReader)>>,
    next_id: u64,
}

impl AsyncTcpTransport {
    pub fn new(addrs: Vec<SocketAddr>, security: ClientSecurity) -> Self {
        let conns = addrs.iter().map(|_| None).collect();
        AsyncTcpTransport {
            addrs,
            security,
            conns,
            next_id: 1,
        }
    }

    async fn exchange(
        &mut self,
        server: usize,
        cmd: &Command,
        timeout: Duration,
    ) -> Result<Reply, TransportError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let addr = self.addrs[server];
        let lost = |e: &dyn std::fmt::Display| TransportError::Lost(format!("{addr}: {e}"));
        if self.conns[server].is_none() {
            let s = tokio::time::timeout_at(deadline, connect_client(addr, &self.security))
                .await
                .map_err(|_| TransportError::Unreachable(format!("{addr}: connect timed out")))?
                .map_err(|e| TransportError::Unreachable(format!("{addr}: {e}")))?;
            self.conns[server] = Some((s, FrameReader::default()));
        }
        let id = self.next_id;
        self.next_id += 1;
        let bytes = frame::encode(&Frame::request(id, cmd))
            .map_err(|e| TransportError::Unreachable(format!("{addr}: {e}")))?;
        let (stream, rd) = self.conns[server].as_mut().expect("just connected");
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match write_bytes(stream, &bytes, left).await {
            Ok(()) => {}
            Err(IoError::Timeout(_)) => return Err(TransportError::Timeout(timeout)),
            Err(e) => return Err(lost(&e)),
        }
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(TransportError::Timeout(timeout));
            }
            match rd.read_frame(stream, left, left).await {
                Ok(Frame::Response { id: got, reply }) if got == id => return Ok(reply),
                Ok(Frame::Response { .. }) => continue,
                Ok(other) => {
                    return Err(lost(&format!(
                        "unexpected {} frame from server",
                        other.kind()
                    )))
                }
                Err(IoError::Timeout(_) | IoError::Stalled { .. }) => {
                    return Err(TransportError::Timeout(timeout))
                }
                Err(e) => return Err(lost(&e)),
            }
        }
    }
}
impl AsyncTransport for AsyncTcpTransport {
    async fn call(
        &mut self,
        server: usize,
        cmd: &Command,
        timeout: Duration,
    ) -> Result<Reply, TransportError> {
        let r = self.exchange(server, cmd, timeout).await;
        if r.is_err() {
            // Maybe mid-frame or broken: never reuse it.
            self.conns[server] = None;
        }
        r
    }
}

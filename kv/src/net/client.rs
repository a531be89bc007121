//! [`TcpTransport`]: the Clerk's blocking [`Transport`] over TCP (TLS unless insecure), one
//! lazily opened connection per server.
//!
//! Each request carries a fresh id; a response with another id is the late answer to an attempt
//! the Clerk already gave up on, and is skipped. A connection that timed out in the middle of a
//! frame, or failed, is dropped and reopened on the next call, so the byte stream never loses
//! frame alignment. Failing to connect is [`TransportError::Unreachable`] (the request was not
//! sent); a failure after writing began is [`TransportError::Lost`] or a timeout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use raft_impl::types::NodeId;

use super::frame::Frame;
use super::io::{write_frame_blocking, FrameReader, IoError};
use super::stream::BlockingStream;
use super::tls::ClientSecurity;
use crate::clerk::{Clerk, ClerkConfig, ClerkCore, Transport, TransportError};
use crate::command::Command;
use crate::server::Reply;

struct Conn {
    stream: BlockingStream,
    reader: FrameReader,
}

pub struct TcpTransport {
    addrs: Vec<SocketAddr>,
    security: ClientSecurity,
    conns: Vec<Option<Conn>>,
    next_id: u64,
}

impl TcpTransport {
    pub fn new(addrs: Vec<SocketAddr>, security: ClientSecurity) -> Self {
        let conns = addrs.iter().map(|_| None).collect();
        TcpTransport {
            addrs,
            security,
            conns,
            next_id: 1,
        }
    }

    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    fn connect(&mut self, server: usize, timeout: Duration) -> Result<&mut Conn, TransportError> {
        if self.conns[server].is_none() {
            let addr = self.addrs[server];
            let stream = BlockingStream::connect(addr, &self.security, timeout)
                .map_err(|e| TransportError::Unreachable(format!("{addr}: {e}")))?;
            self.conns[server] = Some(Conn {
                stream,
                reader: FrameReader::default(),
            });
        }
        Ok(self.conns[server].as_mut().expect("just connected"))
    }

    fn exchange(
        &mut self,
        server: usize,
        cmd: &Command,
        timeout: Duration,
    ) -> Result<Reply, TransportError> {
        let deadline = Instant::now() + timeout;
        let id = self.next_id;
        self.next_id += 1;
        let addr = self.addrs[server];
        let c = self.connect(server, timeout)?;
        let lost = |e: IoError| match e {
            IoError::Timeout(_) => TransportError::Timeout(timeout),
            e => TransportError::Lost(format!("{addr}: {e}")),
        };
        c.stream
            .tcp()
            .set_write_timeout(Some(timeout))
            .map_err(|e| lost(e.into()))?;
        write_frame_blocking(&mut c.stream, &Frame::request(id, cmd)).map_err(lost)?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TransportError::Timeout(timeout));
            }
            c.stream
                .tcp()
                .set_read_timeout(Some(left))
                .map_err(|e| lost(e.into()))?;
            match c.reader.read_frame_blocking(&mut c.stream).map_err(lost)? {
                Frame::Response { id: got, reply } if got == id => return Ok(reply),
                Frame::Response { .. } => continue,
                other => {
                    return Err(TransportError::Lost(format!(
                        "{addr}: unexpected {} frame from server",
                        other.kind()
                    )))
                }
            }
        }
    }
}

impl Transport for TcpTransport {
    fn call(
        &mut self,
        server: usize,
        cmd: &Command,
        timeout: Duration,
    ) -> Result<Reply, TransportError> {
        let r = self.exchange(server, cmd, timeout);
        if r.is_err() {
            // Maybe mid-frame or broken: never reuse it.
            self.conns[server] = None;
        }
        r
    }

    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// A Clerk over TCP to servers `addrs`, whose node ids are `ids` (same order). The ids only
/// matter for following leader hints; wrong ones cost extra attempts, never correctness.
pub fn tcp_clerk(
    ids: Vec<NodeId>,
    addrs: Vec<SocketAddr>,
    security: ClientSecurity,
    cfg: ClerkConfig,
    time_limit: Option<Duration>,
) -> Clerk<TcpTransport> {
    let core = ClerkCore::new(cfg, ids, rand::random());
    Clerk::new(core, TcpTransport::new(addrs, security), None).with_time_limit(time_limit)
}

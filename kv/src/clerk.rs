//! The Clerk: a client session that finds the leader and retries until its operation is
//! executed, exactly once.
//!
//! [`ClerkCore`] is the retry logic alone, sans-IO: it says which server to send to, after what
//! delay and with what timeout, and digests replies and timeouts. The discrete-event simulator
//! drives it directly; [`Clerk`] drives it over any blocking [`Transport`] (TCP later).
//!
//! Exactly once: every attempt of one operation carries the same `(client_id, seq)`, so however
//! many copies reach the log, the state machine executes the first and answers the rest from
//! its session table.

use std::time::{Duration, Instant};

use raft_impl::types::NodeId;
use thiserror::Error;

use crate::command::{ClientId, Command, Op, OpResult, Seq};
use crate::server::{Reply, ServerError};

/// Retry policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClerkConfig {
    /// How long one attempt waits for a reply before trying the next server. The request may
    /// still execute; the retry carries the same sequence number.
    pub attempt_timeout: Duration,
    /// First pause after every server has been tried without success; doubles up to
    /// `max_backoff`, and resets when an operation succeeds.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for ClerkConfig {
    fn default() -> Self {
        ClerkConfig {
            attempt_timeout: Duration::from_millis(500),
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(500),
        }
    }
}

/// One attempt to send: the request to `server` (a position in the server list) after
/// `delay`, to be given up after `timeout`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub server: usize,
    pub delay: Duration,
    pub timeout: Duration,
    pub cmd: Command,
}

/// What to do after a reply or a timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    Done(OpResult),
    Retry(Attempt),
}

#[derive(Clone, Debug)]
struct InFlight {
    cmd: Command,
    server: usize,
    /// Servers tried since the last backoff pause (by position); after all of them, pause.
    tried: Vec<bool>,
    /// Some attempt may have reached a leader's log: it was sent and not refused (no reply,
    /// a connection lost after sending, `LeadershipLost`). Until then, giving up is "not
    /// applied"; after, "outcome unknown".
    maybe_executed: bool,
}

/// The Clerk's session state and retry decisions.
#[derive(Clone, Debug)]
pub struct ClerkCore {
    cfg: ClerkConfig,
    servers: Vec<NodeId>,
    client_id: ClientId,
    next_seq: Seq,
    /// Position of the last server known to be leader (where every operation starts).
    leader: usize,
    backoff: Duration,
    current: Option<InFlight>,
}

impl ClerkCore {
    /// A session over the servers with these node ids (positions are indices into it).
    /// `client_id` must be unique among clients: choose it randomly.
    pub fn new(cfg: ClerkConfig, servers: Vec<NodeId>, client_id: ClientId) -> Self {
        assert!(!servers.is_empty(), "a clerk needs at least one server");
        let backoff = cfg.initial_backoff;
        ClerkCore {
            cfg,
            servers,
            client_id,
            next_seq: 1,
            leader: 0,
            backoff,
            current: None,
        }
    }

    pub fn client_id(&self) -> ClientId {
        self.client_id
    }

    /// The cached leader position.
    pub fn leader(&self) -> usize {
        self.leader
    }

    pub fn is_busy(&self) -> bool {
        self.current.is_some()
    }

    /// The sequence number of the operation in flight.
    pub fn current_seq(&self) -> Option<Seq> {
        self.current.as_ref().map(|c| c.cmd.seq)
    }

    /// Whether the operation in flight may have been executed (see [`ClerkError`]).
    pub fn may_have_executed(&self) -> bool {
        self.current.as_ref().is_some_and(|c| c.maybe_executed)
    }

    /// Abandons the operation in flight: the error to report. The next operation gets the next
    /// sequence number, so a late copy of this one can never be taken for it.
    pub fn give_up(&mut self, attempts: u32, last: String) -> ClerkError {
        let maybe = self.may_have_executed();
        self.current = None;
        if maybe {
            ClerkError::OutcomeUnknown { attempts, last }
        } else {
            ClerkError::NotApplied { attempts, last }
        }
    }

    fn note_maybe_executed(&mut self) {
        if let Some(c) = self.current.as_mut() {
            c.maybe_executed = true;
        }
    }

    /// Starts an operation; one at a time (the session table remembers one reply per client).
    pub fn begin(&mut self, op: Op) -> Attempt {
        assert!(self.current.is_none(), "one operation at a time per clerk");
        let cmd = Command {
            client_id: self.client_id,
            seq: self.next_seq,
            op,
        };
        self.next_seq += 1;
        let mut tried = vec![false; self.servers.len()];
        tried[self.leader] = true;
        self.current = Some(InFlight {
            cmd: cmd.clone(),
            server: self.leader,
            tried,
            maybe_executed: false,
        });
        Attempt {
            server: self.leader,
            delay: Duration::ZERO,
            timeout: self.cfg.attempt_timeout,
            cmd,
        }
    }

    /// A reply from `server` to the operation in flight (`seq` as sent). Replies to earlier
    /// operations or attempts at other servers are ignored (`None`).
    pub fn on_reply(&mut self, server: usize, seq: Seq, reply: Reply) -> Option<Next> {
        let cur = self.current.as_ref()?;
        if cur.cmd.seq != seq || cur.server != server {
            return None;
        }
        match reply {
            Ok(result) => {
                self.current = None;
                self.leader = server;
                self.backoff = self.cfg.initial_backoff;
                Some(Next::Done(result))
            }
            Err(ServerError::NotLeader { leader_hint }) => {
                let hinted = leader_hint
                    .and_then(|id| self.servers.iter().position(|&s| s == id))
                    .filter(|&p| p != server);
                Some(Next::Retry(self.retry(hinted)))
            }
            // The request raced a leader change; the new leader is elsewhere. It was proposed,
            // so it may still commit.
            Err(ServerError::LeadershipLost) => {
                self.note_maybe_executed();
                Some(Next::Retry(self.retry(None)))
            }
            // Our own in-flight request cannot be older than what we executed: a server with a
            // session table ahead of this clerk means a duplicated client id. Retrying cannot
            // help, but neither can giving up silently; surface it loudly and keep trying.
            Err(ServerError::Stale) => {
                tracing::error!(client = self.client_id, seq, "server reports stale request");
                self.note_maybe_executed();
                Some(Next::Retry(self.retry(None)))
            }
        }
    }

    /// What a transport call for `attempt` returned: the next step, and a description of the
    /// failure for a later `GaveUp` (empty on an Ok reply, which completes the operation, so
    /// no string is built per operation).
    pub fn on_result(
        &mut self,
        attempt: &Attempt,
        result: Result<Reply, TransportError>,
    ) -> (Option<Next>, String) {
        match result {
            Ok(reply) => {
                let last = match &reply {
                    Ok(_) => String::new(),
                    Err(e) => format!("Err({e:?})"),
                };
                (self.on_reply(attempt.server, attempt.cmd.seq, reply), last)
            }
            Err(e) => {
                if e.may_have_been_delivered() {
                    self.note_maybe_executed();
                }
                (self.retry_after_failure(), e.to_string())
            }
        }
    }

    fn retry_after_failure(&mut self) -> Option<Next> {
        self.current.as_ref()?;
        Some(Next::Retry(self.retry(None)))
    }

    /// The attempt in flight was sent and got no reply in time (it may have executed).
    pub fn on_timeout(&mut self) -> Option<Next> {
        self.note_maybe_executed();
        self.retry_after_failure()
    }

    /// The next attempt: to `hint` at once if it was not tried yet in this round, else to the
    /// next untried server; once every server has been tried, pause with exponential backoff
    /// and start a new round. Tracking the round (not just following hints) matters: followers
    /// cut off with a dead leader keep naming it, and bouncing between them and the leader
    /// would never reach the live majority.
    fn retry(&mut self, hint: Option<usize>) -> Attempt {
        let n = self.servers.len();
        let cur = self
            .current
            .as_mut()
            .expect("retry only with an operation in flight");
        let untried =
            |from: usize, tried: &[bool]| (1..=n).map(|k| (from + k) % n).find(|&s| !tried[s]);
        let (server, delay) = match hint
            .filter(|&h| !cur.tried[h])
            .or_else(|| untried(cur.server, &cur.tried))
        {
            Some(s) => (s, Duration::ZERO),
            None => {
                cur.tried = vec![false; n];
                let d = self.backoff;
                self.backoff = (self.backoff * 2).min(self.cfg.max_backoff);
                (hint.unwrap_or((cur.server + 1) % n), d)
            }
        };
        cur.server = server;
        cur.tried[server] = true;
        self.leader = server;
        Attempt {
            server,
            delay,
            timeout: self.cfg.attempt_timeout,
            cmd: cur.cmd.clone(),
        }
    }
}

/// Why a transport call did not produce a reply. Transports must not claim a request was not
/// sent unless they know (a partial write counts as sent): "not applied" rests on it.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum TransportError {
    /// The request was sent and no reply came in time.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The request was not sent: no connection (refused, timed out, TLS handshake failed).
    #[error("server unreachable: {0}")]
    Unreachable(String),
    /// The connection failed after the request may have been sent.
    #[error("connection lost: {0}")]
    Lost(String),
}

impl TransportError {
    /// Whether the server may have received (and its leader proposed) the request.
    pub fn may_have_been_delivered(&self) -> bool {
        !matches!(self, TransportError::Unreachable(_))
    }
}

/// A blocking request/reply channel to the servers (by position).
pub trait Transport {
    fn call(
        &mut self,
        server: usize,
        cmd: &Command,
        timeout: Duration,
    ) -> Result<Reply, TransportError>;
    /// Waits `d` (backoff). A simulated transport advances its clock instead.
    fn sleep(&mut self, d: Duration);
}

/// Why a [`Clerk`] operation failed: it gave up (attempt or time budget spent).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ClerkError {
    /// No attempt can have been executed: none was ever delivered (no server reachable) or
    /// every delivered one was refused (`NotLeader`) before it reached a log. Safe to repeat.
    #[error(
        "gave up after {attempts} attempts, none delivered to a leader's log (last error: {last})"
    )]
    NotApplied { attempts: u32, last: String },
    /// Some attempt may have reached a leader's log (a timeout or a lost connection after
    /// sending, a leader that lost its leadership after proposing it): the operation may have
    /// been applied, or may still be. Repeating it through this Clerk is not exactly-once
    /// (it gets a new sequence number); read the state to find out.
    #[error("gave up after {attempts} attempts, some possibly delivered to a leader's log (last error: {last})")]
    OutcomeUnknown { attempts: u32, last: String },
}

impl ClerkError {
    pub fn attempts(&self) -> u32 {
        match self {
            ClerkError::NotApplied { attempts, .. }
            | ClerkError::OutcomeUnknown { attempts, .. } => *attempts,
        }
    }
}

/// A blocking Clerk over a [`Transport`].
pub struct Clerk<T> {
    core: ClerkCore,
    transport: T,
    /// Attempts per operation before giving up (`None`: retry forever, as 6.824 clerks do).
    max_attempts: Option<u32>,
    /// Wall-clock budget per operation before giving up (`None`: no limit). Only meaningful
    /// over a real transport; a simulated one does not advance the wall clock.
    time_limit: Option<Duration>,
}

impl<T: Transport> Clerk<T> {
    pub fn new(core: ClerkCore, transport: T, max_attempts: Option<u32>) -> Self {
        Clerk {
            core,
            transport,
            max_attempts,
            time_limit: None,
        }
    }

    /// Gives up on an operation (`ClerkError::GaveUp`) once it has taken `limit` of wall time.
    pub fn with_time_limit(mut self, limit: Option<Duration>) -> Self {
        self.time_limit = limit;
        self
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    pub fn core(&self) -> &ClerkCore {
        &self.core
    }

    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    pub fn get(&mut self, key: &str) -> Result<Option<String>, ClerkError> {
        match self.run(Op::Get { key: key.into() })? {
            OpResult::Value(v) => Ok(v),
            OpResult::Done => Ok(None),
        }
    }

    pub fn put(&mut self, key: &str, value: &str) -> Result<(), ClerkError> {
        self.run(Op::Put {
            key: key.into(),
            value: value.into(),
        })
        .map(|_| ())
    }

    pub fn append(&mut self, key: &str, value: &str) -> Result<(), ClerkError> {
        self.run(Op::Append {
            key: key.into(),
            value: value.into(),
        })
        .map(|_| ())
    }

    /// Runs one operation to completion (or until the attempt budget is spent).
    pub fn run(&mut self, op: Op) -> Result<OpResult, ClerkError> {
        let started = Instant::now();
        let mut attempt = self.core.begin(op);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            if !attempt.delay.is_zero() {
                self.transport.sleep(attempt.delay);
            }
            let result = self
                .transport
                .call(attempt.server, &attempt.cmd, attempt.timeout);
            let (next, last) = self.core.on_result(&attempt, result);
            match next.expect("the operation is in flight") {
                Next::Done(r) => return Ok(r),
                Next::Retry(a) => attempt = a,
            }
            if self.max_attempts.is_some_and(|m| attempts >= m)
                || self.time_limit.is_some_and(|t| started.elapsed() >= t)
            {
                return Err(self.core.give_up(attempts, last));
            }
        }
    }
}

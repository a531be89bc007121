//! The service layer of one KV server: the state machine, plus the table of client requests
//! waiting for their log entry to be applied. Sans-IO like the core: a runtime (the simulator
//! here, a TCP runtime later) calls it with requests, applied entries and term changes, and
//! sends the replies it returns.
//!
//! A waiter is keyed by the log index its command was proposed at. It is resolved when that
//! index is applied: with the command's result if the entry there is the command it proposed,
//! with [`ServerError::LeadershipLost`] if another command took the slot (this server lost
//! leadership and a new leader overwrote the entry). Waiters from an older term are failed as
//! soon as the server sees a newer term, and all are dropped on a crash, so none leak.
//!
//! In [`ReadMode::ReadIndex`] a Get does not go through the log: see [`crate::reads`].

use std::collections::BTreeMap;

use raft_impl::core::NotLeader;
use raft_impl::types::{Index, NodeId, Term};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::command::{self, ClientId, Command, Op, OpResult, Seq};
use crate::reads::{ReadMode, ReadWaiters};
use crate::snapshot::SnapshotError;
use crate::state_machine::{Applied, KvStateMachine};

/// Why a server did not execute a request. Every variant means "try again" to a Clerk; they
/// differ in where to try.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
pub enum ServerError {
    #[error("not the leader (leader hint: {leader_hint:?})")]
    NotLeader { leader_hint: Option<NodeId> },
    /// The request was proposed but this server lost leadership before it was applied here; it
    /// may or may not have been executed. Retrying with the same sequence number is safe.
    #[error("leadership lost before the request was applied; retry")]
    LeadershipLost,
    /// The request is older than the client's last executed one: a delayed duplicate.
    #[error("request is older than the client's last executed request")]
    Stale,
}

/// A server's answer to one request.
pub type Reply = Result<OpResult, ServerError>;

/// The Raft operations the service layer needs from its node.
pub trait Proposer {
    /// Appends `data` to the leader's log: its `(index, term)`, or who the leader may be.
    fn propose(&mut self, data: Vec<u8>) -> Result<(Index, Term), NotLeader>;

    /// Asks the leader for a ReadIndex read tagged `ctx`: its current term, or who the leader
    /// may be. The runtime reports the outcome through [`KvServer::on_read_state`] /
    /// [`KvServer::on_read_dropped`]. `None`: this runtime does not deliver those, and the
    /// server serves the Get through the log instead.
    fn read_index(&mut self, ctx: u64) -> Option<Result<Term, NotLeader>> {
        let _ = ctx;
        None
    }
}

#[derive(Debug)]
struct Waiter<T> {
    token: T,
    term: Term,
    client_id: ClientId,
    seq: Seq,
}

/// One server's KV service. `T` identifies where to send a reply (a connection, a simulated
/// client's attempt...).
#[derive(Debug)]
pub struct KvServer<T> {
    sm: KvStateMachine,
    waiting: BTreeMap<Index, Waiter<T>>,
    read_mode: ReadMode,
    reads: ReadWaiters<T>,
    /// Highest term this server has seen (from proposals or [`KvServer::on_term`]).
    term: Term,
}

impl<T> Default for KvServer<T> {
    fn default() -> Self {
        KvServer {
            sm: KvStateMachine::new(),
            waiting: BTreeMap::new(),
            read_mode: ReadMode::Log,
            reads: ReadWaiters::default(),
            term: 0,
        }
    }
}

impl<T> KvServer<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A server executing Gets in `mode`.
    pub fn with_read_mode(mode: ReadMode) -> Self {
        KvServer {
            read_mode: mode,
            ..Self::default()
        }
    }

    pub fn read_mode(&self) -> ReadMode {
        self.read_mode
    }

    pub fn state_machine(&self) -> &KvStateMachine {
        &self.sm
    }

    /// Requests waiting for their entry to be applied (or, ReadIndex Gets, for their read).
    pub fn waiting(&self) -> usize {
        self.waiting.len() + self.reads.len()
    }

    /// A client request. Returns a reply to send now, or `None` if the request now waits for
    /// its log entry (its reply will come from [`KvServer::on_applied`] or
    /// [`KvServer::on_term`]).
    pub fn on_request(
        &mut self,
        token: T,
        cmd: Command,
        raft: &mut impl Proposer,
    ) -> Option<(T, Reply)> {
        // A retry of an operation already applied here was committed: its recorded result is
        // the operation's one execution, so answering from the session table is linearizable
        // even on a follower or a deposed leader.
        if let Some(s) = self.sm.session(cmd.client_id) {
            if cmd.seq == s.last_seq {
                return Some((token, Ok(s.last_result.clone())));
            }
            if cmd.seq < s.last_seq {
                return Some((token, Err(ServerError::Stale)));
            }
        }
        if let (ReadMode::ReadIndex, Op::Get { key }) = (self.read_mode, &cmd.op) {
            let ctx = self.reads.next_ctx();
            match raft.read_index(ctx) {
                Some(Err(NotLeader { leader_hint })) => {
                    return Some((token, Err(ServerError::NotLeader { leader_hint })));
                }
                Some(Ok(term)) => {
                    self.term = self.term.max(term);
                    self.reads.wait_confirm(ctx, token, key.clone(), term);
                    return None;
                }
                None => {} // no ReadIndex in this runtime: through the log
            }
        }
        let (client_id, seq) = (cmd.client_id, cmd.seq);
        match raft.propose(cmd.encode()) {
            Err(NotLeader { leader_hint }) => {
                Some((token, Err(ServerError::NotLeader { leader_hint })))
            }
            Ok((index, term)) => {
                self.term = self.term.max(term);
                let waiter = Waiter {
                    token,
                    term,
                    client_id,
                    seq,
                };
                // An older waiter at this index belongs to an entry of an earlier term that
                // this leader's log has replaced; it can no longer be applied.
                self.waiting
                    .insert(index, waiter)
                    .map(|old| (old.token, Err(ServerError::LeadershipLost)))
            }
        }
    }

    /// The entry at `index` was committed and is applied now (indices in order, each once per
    /// incarnation). Returns the reply for the request waiting on `index`, if any.
    pub fn on_applied(&mut self, index: Index, data: &[u8]) -> Option<(T, Reply)> {
        let waiter = self.waiting.remove(&index);
        if data.is_empty() {
            // A new leader's no-op (`Config::leader_noop`): no command, but it takes its index,
            // so a request proposed there by a deposed leader was not executed.
            self.sm.skip(index);
            return waiter.map(|w| (w.token, Err(ServerError::LeadershipLost)));
        }
        let sm = &mut self.sm;
        let applied = match command::with_decoded(data, |cmd| {
            (cmd.client_id, cmd.seq, sm.apply_ref(index, cmd))
        }) {
            Ok(applied) => Some(applied),
            Err(e) => {
                // Every entry is proposed by this service, so this is a bug or a foreign log;
                // skipping keeps the replicas identical (all skip it) and the index exact.
                tracing::error!(index, error = %e, "skipping undecodable log entry");
                self.sm.skip(index);
                None
            }
        };
        let w = waiter?;
        let reply = match applied {
            Some((c, s, applied)) if c == w.client_id && s == w.seq => match applied {
                Applied::Executed(r) | Applied::Duplicate(r) => Ok(r),
                Applied::Stale => Err(ServerError::Stale),
            },
            _ => Err(ServerError::LeadershipLost),
        };
        Some((w.token, reply))
    }

    /// The core confirmed the ReadIndex read `ctx` at `index`. Answers it if `index` is
    /// applied already; otherwise it is answered by [`KvServer::take_read_replies`] once it is.
    pub fn on_read_state(&mut self, ctx: u64, index: Index) -> Option<(T, Reply)> {
        let applied = self.sm.last_applied();
        let (token, key) = self.reads.confirm(ctx, index, applied)?;
        Some((token, Ok(self.read(&key))))
    }

    /// The core dropped the ReadIndex read `ctx` (this node stopped leading).
    pub fn on_read_dropped(&mut self, ctx: u64) -> Option<(T, Reply)> {
        let token = self.reads.drop_ctx(ctx)?;
        Some((token, Err(ServerError::LeadershipLost)))
    }

    /// Replies to ReadIndex reads whose index has been applied; call after applying entries.
    pub fn take_read_replies(&mut self) -> Vec<(T, Reply)> {
        let ready = self.reads.applied(self.sm.last_applied());
        ready
            .into_iter()
            .map(|(token, key)| {
                let r = self.read(&key);
                (token, Ok(r))
            })
            .collect()
    }

    fn read(&self, key: &str) -> OpResult {
        OpResult::Value(self.sm.peek(key).map(str::to_string))
    }

    /// The node's current term. Waiters proposed in an earlier term are failed: the leader that
    /// accepted them is gone, and whether their entries survive is for the client's retry (with
    /// the same sequence number) to find out.
    pub fn on_term(&mut self, term: Term) -> Vec<(T, Reply)> {
        // No early return when `term` is not new: a proposal may already have raised
        // `self.term` while older waiters are still here.
        self.term = self.term.max(term);
        let term = self.term;
        let stale: Vec<Index> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.term < term)
            .map(|(&i, _)| i)
            .collect();
        let mut out: Vec<(T, Reply)> = stale
            .into_iter()
            .filter_map(|i| self.waiting.remove(&i))
            .map(|w| (w.token, Err(ServerError::LeadershipLost)))
            .collect();
        out.extend(
            self.reads
                .older_than(term)
                .into_iter()
                .map(|t| (t, Err(ServerError::LeadershipLost))),
        );
        out
    }

    /// The core handed a leader's snapshot (`Ready::restore_snapshot`): the state machine
    /// becomes the snapshot's (Figure 13, step 8). Requests waiting on an index the snapshot
    /// covers are failed with `LeadershipLost`: their entries were applied elsewhere, and the
    /// Clerk's retry finds the result in the restored session table.
    pub fn on_snapshot(&mut self, snapshot: &[u8]) -> Result<Vec<(T, Reply)>, SnapshotError> {
        let sm = KvStateMachine::restore(snapshot)?;
        let covered = sm.last_applied();
        let kept = self.waiting.split_off(&(covered + 1));
        let failed = std::mem::replace(&mut self.waiting, kept);
        self.sm = sm;
        Ok(failed
            .into_values()
            .map(|w| (w.token, Err(ServerError::LeadershipLost)))
            .collect())
    }

    /// The node crashed: volatile state is gone (the state machine is rebuilt by re-applying
    /// the log after restart) and nobody will answer the waiting requests; returns their tokens
    /// so a runtime holding connections can close them.
    pub fn crash(&mut self) -> Vec<T> {
        let mut tokens: Vec<T> = std::mem::take(&mut self.waiting)
            .into_values()
            .map(|w| w.token)
            .collect();
        tokens.extend(self.reads.take_all());
        *self = KvServer::with_read_mode(self.read_mode);
        tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Op;

    /// A log that accepts proposals while `leader` is set.
    struct FakeRaft {
        leader: bool,
        term: Term,
        log: Vec<Vec<u8>>,
    }
    /// A leader of term 1 with an empty log.
    fn leader() -> FakeRaft {
        FakeRaft {
            leader: true,
            term: 1,
            log: vec![],
        }
    }

    impl Proposer for FakeRaft {
        fn propose(&mut self, data: Vec<u8>) -> Result<(Index, Term), NotLeader> {
            if !self.leader {
                return Err(NotLeader {
                    leader_hint: Some(3),
                });
            }
            self.log.push(data);
            Ok((self.log.len() as Index, self.term))
        }
    }

    fn put(client: ClientId, seq: Seq, v: &str) -> Command {
        Command {
            client_id: client,
            seq,
            op: Op::Put {
                key: "k".into(),
                value: v.into(),
            },
        }
    }

    #[test]
    fn a_waiter_is_answered_when_its_index_is_applied() {
        let mut raft = leader();
        let mut s = KvServer::new();
        assert_eq!(s.on_request("a", put(1, 1, "x"), &mut raft), None);
        assert_eq!(s.waiting(), 1);
        assert_eq!(
            s.on_applied(1, &raft.log[0].clone()),
            Some(("a", Ok(OpResult::Done)))
        );
        assert_eq!(s.waiting(), 0);
        // The retry after a lost reply is answered from the session table, not re-proposed.
        assert_eq!(
            s.on_request("a2", put(1, 1, "x"), &mut raft),
            Some(("a2", Ok(OpResult::Done)))
        );
        assert_eq!(raft.log.len(), 1);
    }

    #[test]
    fn a_follower_answers_not_leader_with_a_hint() {
        let mut raft = FakeRaft {
            leader: false,
            term: 1,
            log: vec![],
        };
        let mut s: KvServer<&str> = KvServer::new();
        assert_eq!(
            s.on_request("a", put(1, 1, "x"), &mut raft),
            Some((
                "a",
                Err(ServerError::NotLeader {
                    leader_hint: Some(3)
                })
            ))
        );
    }

    #[test]
    fn another_command_at_the_index_fails_the_waiter_with_retry() {
        let mut raft = leader();
        let mut s = KvServer::new();
        s.on_request("a", put(1, 1, "x"), &mut raft);
        // A new leader overwrote index 1 with another client's command.
        let other = put(2, 1, "y").encode();
        assert_eq!(
            s.on_applied(1, &other),
            Some(("a", Err(ServerError::LeadershipLost)))
        );
        assert_eq!(s.state_machine().peek("k"), Some("y"));
        assert_eq!(s.waiting(), 0);
    }

    #[test]
    fn a_newer_term_fails_older_waiters_and_crash_drops_all() {
        let mut raft = leader();
        let mut s = KvServer::new();
        s.on_request("a", put(1, 1, "x"), &mut raft);
        raft.term = 2;
        s.on_request("b", put(2, 1, "y"), &mut raft);
        assert_eq!(s.on_term(2), vec![("a", Err(ServerError::LeadershipLost))]);
        assert_eq!(s.on_term(2), vec![]);
        assert_eq!(s.crash(), vec!["b"]);
        assert_eq!(s.waiting(), 0);
    }

    /// FakeRaft that also serves ReadIndex requests, recording their contexts.
    struct ReadRaft {
        inner: FakeRaft,
        reads: Vec<u64>,
    }
    impl Proposer for ReadRaft {
        fn propose(&mut self, data: Vec<u8>) -> Result<(Index, Term), NotLeader> {
            self.inner.propose(data)
        }
        fn read_index(&mut self, ctx: u64) -> Option<Result<Term, NotLeader>> {
            if !self.inner.leader {
                return Some(Err(NotLeader {
                    leader_hint: Some(3),
                }));
            }
            self.reads.push(ctx);
            Some(Ok(self.inner.term))
        }
    }

    fn get(client: ClientId, seq: Seq) -> Command {
        Command {
            client_id: client,
            seq,
            op: Op::Get { key: "k".into() },
        }
    }

    #[test]
    fn a_read_index_get_waits_for_confirmation_then_for_apply_and_takes_no_entry() {
        let mut raft = ReadRaft {
            inner: FakeRaft {
                leader: true,
                term: 1,
                log: vec![],
            },
            reads: vec![],
        };
        let mut s = KvServer::with_read_mode(ReadMode::ReadIndex);
        s.on_request("w", put(1, 1, "x"), &mut raft);
        assert_eq!(s.on_request("r", get(2, 1), &mut raft), None);
        assert_eq!(raft.inner.log.len(), 1, "a ReadIndex Get proposes nothing");
        assert_eq!(s.waiting(), 2);
        let ctx = raft.reads[0];
        // Confirmed at index 1, not yet applied: still waiting.
        assert_eq!(s.on_read_state(ctx, 1), None);
        assert_eq!(s.take_read_replies(), vec![]);
        let w = raft.inner.log[0].clone();
        assert_eq!(s.on_applied(1, &w), Some(("w", Ok(OpResult::Done))));
        assert_eq!(
            s.take_read_replies(),
            vec![("r", Ok(OpResult::Value(Some("x".into()))))]
        );
        assert_eq!(s.waiting(), 0);
        // Confirmed at an index already applied: answered at once.
        s.on_request("r2", get(2, 2), &mut raft);
        assert_eq!(
            s.on_read_state(raft.reads[1], 1),
            Some(("r2", Ok(OpResult::Value(Some("x".into())))))
        );
    }

    #[test]
    fn a_read_index_get_is_failed_when_dropped_or_outlived_and_refused_by_followers() {
        let mut raft = ReadRaft {
            inner: FakeRaft {
                leader: true,
                term: 1,
                log: vec![],
            },
            reads: vec![],
        };
        let mut s = KvServer::with_read_mode(ReadMode::ReadIndex);
        s.on_request("a", get(1, 1), &mut raft);
        s.on_request("b", get(2, 1), &mut raft);
        assert_eq!(
            s.on_read_dropped(raft.reads[0]),
            Some(("a", Err(ServerError::LeadershipLost)))
        );
        assert_eq!(s.on_term(2), vec![("b", Err(ServerError::LeadershipLost))]);
        // A late confirmation of a failed read is ignored.
        assert_eq!(s.on_read_state(raft.reads[1], 0), None);
        raft.inner.leader = false;
        assert_eq!(
            s.on_request("c", get(3, 1), &mut raft),
            Some((
                "c",
                Err(ServerError::NotLeader {
                    leader_hint: Some(3)
                })
            ))
        );
        assert_eq!(s.waiting(), 0);
        // A crash keeps the mode.
        s.crash();
        assert_eq!(s.read_mode(), ReadMode::ReadIndex);
    }

    #[test]
    fn without_runtime_support_a_read_index_get_goes_through_the_log() {
        let mut raft = leader();
        let mut s: KvServer<&str> = KvServer::with_read_mode(ReadMode::ReadIndex);
        assert_eq!(s.on_request("a", get(1, 1), &mut raft), None);
        assert_eq!(raft.log.len(), 1);
    }

    #[test]
    fn a_leader_noop_is_skipped_and_fails_a_waiter_at_its_index() {
        let mut raft = leader();
        let mut s = KvServer::new();
        s.on_request("a", put(1, 1, "x"), &mut raft);
        assert_eq!(
            s.on_applied(1, b""),
            Some(("a", Err(ServerError::LeadershipLost)))
        );
        assert_eq!(s.state_machine().last_applied(), 1);
        assert_eq!(s.state_machine().peek("k"), None);
    }

    #[test]
    fn undecodable_entries_are_skipped_and_fail_their_waiter() {
        let mut raft = leader();
        let mut s = KvServer::new();
        s.on_request("a", put(1, 1, "x"), &mut raft);
        assert_eq!(
            s.on_applied(1, b"junk"),
            Some(("a", Err(ServerError::LeadershipLost)))
        );
        assert_eq!(s.state_machine().last_applied(), 1);
    }
}

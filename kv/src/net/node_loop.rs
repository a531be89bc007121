//! The node loop: the one thread that owns a node's `RawNode`, `FileStorage` and `KvServer`.
//!
//! It runs on a plain OS thread, not a tokio task, because `FileStorage::sync` is a blocking
//! fsync taking milliseconds; on a task it would stall every socket sharing the worker. The
//! network tasks feed it [`Event`]s through a bounded channel and it hands messages back through
//! per-peer and per-connection channels whose `try_send`/`send` never block.
//!
//! One pass of the loop:
//! 1. wait for an event or the next tick, then drain whatever else is queued (a batch);
//! 2. feed the batch to the core: Raft messages to `step`, client requests to the `KvServer`
//!    (which proposes them); tick when due;
//! 3. after the batch, one `replicate_now` sends every new proposal together;
//! 4. handle the Ready: apply the committed entries that were already durable here (earlier
//!    Readies) and answer their clients; stage the hard state and log change, **one `sync()`**
//!    for all of them (group commit), only then send its messages, then apply the remaining
//!    committed entries, then `advance`.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use raft_impl::core::{Envelope, NotLeader, ProposeError, RawNode};
use raft_impl::storage::{Storage, StorageError};
use raft_impl::types::{Entry, Index, NodeId, Term};
use tokio::sync::mpsc;

use super::frame::Frame;
use crate::command::Command;
use crate::server::{KvServer, Proposer, Reply};

/// Most events handled before the Ready is processed: bounds the latency of one pass while
/// still batching many proposals under one fsync.
const MAX_BATCH: usize = 1024;

/// Where a client's reply goes: its connection's writer, and the request id to echo.
pub(crate) type Token = (mpsc::UnboundedSender<Frame>, u64);

/// Input to the node loop.
pub(crate) enum Event {
    Raft(Envelope),
    Request {
        id: u64,
        cmd: Command,
        reply_to: mpsc::UnboundedSender<Frame>,
    },
    Shutdown,
}

/// Where a node loop sends a peer's messages.
pub(crate) enum PeerTx {
    /// The peer's connection task (TCP).
    Tcp(mpsc::Sender<Envelope>),
    /// The peer's own node loop, in this process (the in-process transport).
    Local(SyncSender<Event>),
}

impl PeerTx {
    /// Queues `env` without blocking; false if the queue is full or gone.
    fn try_send(&self, env: Envelope) -> bool {
        match self {
            PeerTx::Tcp(tx) => tx.try_send(env).is_ok(),
            PeerTx::Local(tx) => tx.try_send(Event::Raft(env)).is_ok(),
        }
    }
}

/// What the loop owns. `S` is `FileStorage` on a real node, `MemStorage` in the in-process
/// benchmark cluster; the loop is the same.
pub(crate) struct NodeLoop<S> {
    pub node: RawNode,
    pub storage: S,
    pub kv: KvServer<Token>,
    pub peers: HashMap<NodeId, PeerTx>,
    pub events: Receiver<Event>,
    pub tick: Duration,
}

/// Lets the service layer propose through the core, noting that something was proposed.
struct RaftProposer<'a> {
    node: &'a mut RawNode,
    proposed: bool,
}

impl Proposer for RaftProposer<'_> {
    fn propose(&mut self, data: Vec<u8>) -> Result<(Index, Term), NotLeader> {
        match self.node.propose(data) {
            Ok(it) => {
                self.proposed = true;
                Ok(it)
            }
            Err(ProposeError::NotLeader { leader_hint }) => Err(NotLeader { leader_hint }),
        }
    }

    fn read_index(&mut self, ctx: u64) -> Option<Result<Term, NotLeader>> {
        // The heartbeat round goes out with this pass's Ready.
        Some(self.node.read_index(ctx).map(|()| self.node.current_term()))
    }
}

fn reply((to, id): Token, reply: Reply) {
    // The connection may be gone (client gave up); the client will retry elsewhere.
    let _ = to.send(Frame::Response { id, reply });
}

impl<S: Storage> NodeLoop<S> {
    /// Runs until a `Shutdown` event, every sender is dropped, or storage fails (the only
    /// error: after a failed fsync the node must not go on, see `Storage::sync`).
    pub fn run(mut self) -> Result<(), StorageError> {
        let id = self.node.id();
        let mut next_tick = Instant::now() + self.tick;
        let mut last_term = self.node.current_term();
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(wait) {
                Ok(ev) => batch.push(ev),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            while batch.len() < MAX_BATCH {
                match self.events.try_recv() {
                    Ok(ev) => batch.push(ev),
                    Err(_) => break,
                }
            }
            let mut raft = RaftProposer {
                node: &mut self.node,
                proposed: false,
            };
            for ev in batch.drain(..) {
                match ev {
                    Event::Shutdown => {
                        tracing::info!(id, "node loop stopping");
                        return Ok(());
                    }
                    // The core validates everything and logs what it rejects.
                    Event::Raft(env) => {
                        let _ = raft.node.step(env);
                    }
                    Event::Request { id, cmd, reply_to } => {
                        if let Some((tok, r)) = self.kv.on_request((reply_to, id), cmd, &mut raft) {
                            reply(tok, r);
                        }
                    }
                }
            }
            let proposed = raft.proposed;
            let now = Instant::now();
            if now >= next_tick {
                self.node.tick();
                // After a long stall (a slow fsync), do not fire a burst of catch-up ticks:
                // that would time out elections that were never really starved.
                next_tick = (next_tick + self.tick).max(now);
            }
            if proposed {
                // All proposals of the batch go out in one round of AppendEntries.
                let _ = self.node.replicate_now();
            }
            let term = self.node.current_term();
            if term != last_term {
                last_term = term;
                tracing::info!(id, term, role = ?self.node.role(), "term changed");
                for (tok, r) in self.kv.on_term(term) {
                    reply(tok, r);
                }
            }
            self.handle_ready()?;
        }
    }

    fn handle_ready(&mut self) -> Result<(), StorageError> {
        if !self.node.has_ready() {
            return Ok(());
        }
        let mut rd = self.node.ready();
        // 0. Committed entries below the first index this Ready writes were made durable here
        //    by an earlier Ready, and committed means a majority holds them durably: applying
        //    them (and answering their clients) need not wait for this Ready's fsync. This
        //    takes one fsync off every client's latency under load, when each Ready carries
        //    both new proposals and the commits of earlier ones. Nothing of this Ready is sent
        //    or applied early, so persist-before-send is untouched.
        let writes_from = match (rd.truncate_from, rd.entries.first()) {
            (Some(from), _) => from,
            (None, Some(e)) => e.index,
            (None, None) => Index::MAX,
        };
        let early = rd
            .committed_entries
            .partition_point(|e| e.index < writes_from);
        self.apply(&rd.committed_entries[..early]);
        // 1. Persist, one fsync for the whole batch.
        if rd.must_persist() {
            if let Some(hs) = rd.hard_state {
                self.storage.save_hard_state(hs)?;
            }
            if let Some(from) = rd.truncate_from {
                self.storage.truncate_suffix(from)?;
            }
            if !rd.entries.is_empty() {
                self.storage.append(&rd.entries)?;
            }
            self.storage.sync()?;
        }
        // 2. Only now may messages that depend on it leave.
        for env in std::mem::take(&mut rd.messages) {
            if let Some(tx) = self.peers.get(&env.to) {
                // A full queue means the peer is slow or down; Raft retransmits on the next
                // heartbeat, so dropping is safe and keeps this loop from blocking.
                let (to, kind) = (env.to, env.msg.kind());
                if !tx.try_send(env) {
                    tracing::debug!(to, kind, "peer queue full, dropped");
                }
            }
        }
        // 3. Apply the rest, answering the clients whose entries these are.
        self.apply(&rd.committed_entries[early..]);
        // ReadIndex Gets: confirmed ones are answered once their index is applied.
        for rs in std::mem::take(&mut rd.read_states) {
            if let Some((tok, r)) = self.kv.on_read_state(rs.ctx, rs.index) {
                reply(tok, r);
            }
        }
        for ctx in std::mem::take(&mut rd.dropped_reads) {
            if let Some((tok, r)) = self.kv.on_read_dropped(ctx) {
                reply(tok, r);
            }
        }
        for (tok, r) in self.kv.take_read_replies() {
            reply(tok, r);
        }
        self.node.advance(rd);
        Ok(())
    }

    fn apply(&mut self, entries: &[Entry]) {
        for e in entries {
            if let Some((tok, r)) = self.kv.on_applied(e.index, &e.data) {
                reply(tok, r);
            }
        }
    }
}

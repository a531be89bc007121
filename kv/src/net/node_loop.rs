//! The node loop: the one thread that owns a node's `RawNode` and `KvServer`, and by default the
//! node's storage too; optionally a second thread owns the storage and does every write and
//! fsync.
//!
//! The loop runs on a plain OS thread, not a tokio task, because it may run a blocking fsync
//! itself (inline persistence, the in-process benchmark's `VolatileStorage`). The network tasks feed
//! it [`Event`]s through a bounded channel and it hands messages back through per-peer and
//! per-connection channels whose `try_send`/`send` never block.
//!
//! One pass of the loop:
//! 1. wait for an event or the next tick, then drain whatever else is queued (a batch);
//! 2. feed the batch to the core: Raft messages to `step`, client requests to the `KvServer`
//!    (which proposes them); tick when due;
//! 3. after the batch, one `replicate_now` sends every new proposal together;
//! 4. take the Ready and hand it to the [`Pipeline`]: its writes go to the persister as a job,
//!    and what has become allowed is done in Ready order: messages of Readies whose writes are
//!    durable are sent, committed entries durable here are applied (answering their clients),
//!    finished Readies are passed to `advance`.
//!
//! 5. compaction (§7): once the log applied since the last snapshot exceeds the snapshot
//!    threshold, the state machine is frozen at its applied index (O(1), see
//!    `KvStateMachine::freeze`) and a snapshot thread encodes it (map and session table) while
//!    the loop goes on; a later pass hands the bytes to `RawNode::compact` and the next Ready
//!    persists them and storage drops the covered log ([`snapshot_job`](super::snapshot_job)).
//!    A leader's snapshot (`Ready::restore_snapshot`) replaces the state machine before the
//!    entries after it are applied.
//!
//! By default the loop persists each Ready itself (stage, one `sync()`), so every job is durable
//! before the next pass. With a persist thread ([`NodeLoop::persist_wake`],
//! `NetConfig::persist_thread`) the loop does not wait for a sync: it keeps
//! stepping acknowledgements and taking proposals while one runs, and the thread syncs every job
//! queued meanwhile in one go (group commit across Readies). When a sync ends the thread wakes
//! the loop with [`Event::Persisted`]. Persist-before-send is kept by the pipeline (see
//! `pipeline.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raft_impl::core::{Envelope, NotLeader, ProposeError, RawNode, Role};
use raft_impl::storage::{Storage, StorageError};
use raft_impl::types::{Index, NodeId, Term};
use tokio::sync::mpsc;

use super::frame::Frame;
use super::persister::Persister;
use super::pipeline::{Apply, Pipeline};
use super::snapshot_job::{Progress, SnapshotJob};
use super::transfer::{PendingTransfers, TransferOutcome};
use crate::command::Command;
use crate::server::{KvServer, Proposer, Reply};
use crate::snapshot::SnapshotError;

/// Bytes of log a stored entry takes besides its data (record header, index, term, checksum).
const ENTRY_OVERHEAD: u64 = 24;

/// Why a node loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    /// After a failed write or fsync the node must not go on (`Storage::sync`).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A leader's snapshot that this build cannot read: nothing after it can be applied.
    #[error("the snapshot up to index {index} cannot be restored: {error}")]
    Snapshot { index: Index, error: SnapshotError },
}

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
    /// An operator asks this node to hand leadership to `target` (thesis §3.10); answered
    /// with a `TransferReply` once settled (see `transfer.rs`).
    Transfer {
        id: u64,
        target: NodeId,
        reply_to: mpsc::UnboundedSender<Frame>,
    },
    /// The persist thread finished a sync (or failed); the loop reads which from the
    /// persister.
    Persisted,
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

/// What the loop publishes after every pass (read by `Node::status`).
#[derive(Debug, Default)]
pub(crate) struct NodeStats {
    pub current_term: AtomicU64,
    pub last_index: AtomicU64,
    pub commit_index: AtomicU64,
    pub last_included_index: AtomicU64,
    /// Last index the state machine applied.
    pub applied_index: AtomicU64,
    /// Non-zero while recovering lost entries (`HardState::lost_up_to`).
    pub lost_up_to: AtomicU64,
    /// 0 follower, 1 candidate, 2 leader.
    pub role: AtomicU8,
    /// The known leader of the current term (0: none known).
    pub leader_id: AtomicU64,
}

impl NodeStats {
    pub fn role(&self) -> Role {
        match self.role.load(Ordering::Acquire) {
            3 => Role::PreCandidate,
            2 => Role::Leader,
            1 => Role::Candidate,
            _ => Role::Follower,
        }
    }

    fn publish(&self, node: &RawNode, applied: Index) {
        self.applied_index.store(applied, Ordering::Release);
        self.current_term
            .store(node.current_term(), Ordering::Release);
        self.last_index.store(node.last_index(), Ordering::Release);
        (self.lost_up_to).store(node.hard_state().lost_up_to, Ordering::Release);
        let role = match node.role() {
            Role::Follower => 0,
            Role::Candidate => 1,
            Role::Leader => 2,
            Role::PreCandidate => 3,
        };
        self.role.store(role, Ordering::Release);
        (self.leader_id).store(node.leader_id().unwrap_or(0), Ordering::Release);
        self.commit_index
            .store(node.commit_index(), Ordering::Release);
        let lii = node.snapshot().meta.last_included_index;
        self.last_included_index.store(lii, Ordering::Release);
    }
}

/// What the loop owns. `S` is `FileStorage` on a real node, `VolatileStorage` in the in-process
/// benchmark cluster; the loop is the same.
pub(crate) struct NodeLoop<S> {
    pub node: RawNode,
    pub storage: S,
    pub kv: KvServer<Token>,
    pub peers: HashMap<NodeId, PeerTx>,
    pub events: Receiver<Event>,
    pub tick: Duration,
    /// `Some(a sender into events)`: persist on a thread of its own, which wakes the loop
    /// through it when a sync ends. `None`: the loop stages and syncs each Ready itself.
    pub persist_wake: Option<SyncSender<Event>>,
    pub stats: Arc<NodeStats>,
    /// See [`NetConfig::snapshot_threshold`](super::NetConfig::snapshot_threshold).
    pub snapshot_threshold: Option<u64>,
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
            // Thesis §3.10: nothing was appended; the client retries, at the target first
            // (leadership is moving there; if the transfer aborts, it redirects back).
            Err(ProposeError::TransferInProgress { target }) => Err(NotLeader {
                leader_hint: Some(target),
            }),
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

fn transfer_reply((to, id): Token, outcome: TransferOutcome) {
    let _ = to.send(Frame::TransferReply { id, outcome });
}

impl<S: Storage + Send + 'static> NodeLoop<S> {
    /// Runs until a `Shutdown` event, every sender is dropped, or storage fails (the only
    /// error: after a failed fsync the node must not go on, see `Storage::sync`). Returns after
    /// the persist thread, if any, has finished its last sync.
    pub fn run(self) -> Result<(), LoopError> {
        let NodeLoop {
            node,
            storage,
            kv,
            peers,
            events,
            tick,
            persist_wake,
            stats,
            snapshot_threshold,
        } = self;
        let id = node.id();
        let mut node = node;
        let (persister, pipe) = match persist_wake {
            None => (Persister::Inline(storage), Pipeline::default()),
            Some(wake) => {
                // Writes run in parallel with the loop, so the leader's own writes may run in
                // parallel with replication too (see `Pipeline::with_parallel_leader_writes`).
                node.set_self_ack_on_persist(true);
                (
                    Persister::spawn(id, storage, wake)?,
                    Pipeline::with_parallel_leader_writes(),
                )
            }
        };
        let mut st = LoopState {
            node,
            kv,
            peers,
            persister,
            pipe,
            stats,
            snapshot_threshold,
            log_bytes: 0,
            snapshot_job: None,
            restore_error: None,
            transfers: PendingTransfers::default(),
        };
        let r = st.run(events, tick);
        let stopped = st.persister.stop().map_err(LoopError::from);
        r.and(stopped)
    }
}

/// The loop's state once running.
struct LoopState<S> {
    node: RawNode,
    kv: KvServer<Token>,
    peers: HashMap<NodeId, PeerTx>,
    persister: Persister<S>,
    pipe: Pipeline,
    stats: Arc<NodeStats>,
    /// Compact once this many bytes of log were applied since the last snapshot (None: never).
    snapshot_threshold: Option<u64>,
    /// Bytes of log applied since the last snapshot was started (data plus [`ENTRY_OVERHEAD`]
    /// per entry).
    log_bytes: u64,
    /// The snapshot being encoded off the loop, if any (at most one).
    snapshot_job: Option<SnapshotJob>,
    /// A leader's snapshot that could not be restored: the loop stops with it.
    restore_error: Option<LoopError>,
    /// Operators' transfer requests waiting for their transfer to settle.
    transfers: PendingTransfers<Token>,
}

impl<S: Storage + Send + 'static> LoopState<S> {
    fn run(&mut self, events: Receiver<Event>, tick: Duration) -> Result<(), LoopError> {
        let id = self.node.id();
        let mut next_tick = Instant::now() + tick;
        let mut last_term = self.node.current_term();
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match events.recv_timeout(wait) {
                Ok(ev) => batch.push(ev),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            while batch.len() < MAX_BATCH {
                match events.try_recv() {
                    Ok(ev) => batch.push(ev),
                    Err(_) => break,
                }
            }
            // A sync may have ended: tell the core (it may commit) before the new batch.
            self.persister.poll(&mut self.pipe)?;
            if let Some((index, term)) = self.pipe.take_persisted() {
                self.node.on_persisted(index, term);
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
                    Event::Transfer {
                        id,
                        target,
                        reply_to,
                    } => {
                        let tok = (reply_to, id);
                        if let Some((tok, o)) = self.transfers.start(raft.node, tok, target) {
                            transfer_reply(tok, o);
                        }
                    }
                    // Progress is read from the persister below.
                    Event::Persisted => {}
                }
            }
            let proposed = raft.proposed;
            let now = Instant::now();
            if now >= next_tick {
                self.node.tick();
                // After a long stall (a slow fsync), do not fire a burst of catch-up ticks:
                // that would time out elections that were never really starved.
                next_tick = (next_tick + tick).max(now);
            }
            let term = self.node.current_term();
            if term != last_term {
                last_term = term;
                tracing::info!(id, term, role = ?self.node.role(), "term changed");
                for (tok, r) in self.kv.on_term(term) {
                    reply(tok, r);
                }
            }
            if proposed {
                // All proposals of the batch go out in one round of AppendEntries.
                let _ = self.node.replicate_now();
            }
            self.handle_ready()?;
            if let Some(e) = self.restore_error.take() {
                return Err(e);
            }
            self.maybe_compact();
            // After the tick (which aborts a transfer after an election timeout) and the steps.
            for (tok, o) in self.transfers.check(&self.node) {
                transfer_reply(tok, o);
            }
            let applied = self.kv.state_machine().last_applied();
            self.stats.publish(&self.node, applied);
        }
    }

    /// §7: snapshot the state machine once the log applied since the last snapshot exceeds
    /// the threshold. The state is frozen here, between applies, so the snapshot is exactly the
    /// state after `last_applied` (the index it is labelled with); it is encoded on a thread of
    /// its own and compacted with on a later pass.
    fn maybe_compact(&mut self) {
        let id = self.node.id();
        if let Some(job) = self.snapshot_job.take() {
            let (index, data) = match job.progress() {
                Progress::Running => {
                    self.snapshot_job = Some(job);
                    return;
                }
                Progress::Done { index, data } => (index, data),
                Progress::Failed => {
                    tracing::warn!(
                        id,
                        "the snapshot thread failed; the log grows until the next try"
                    );
                    return;
                }
            };
            // A leader's snapshot restored meanwhile may already cover `index`: then `compact`
            // refuses and these bytes are dropped (the restored snapshot is newer).
            if index <= self.node.snapshot().meta.last_included_index {
                tracing::debug!(id, index, "snapshot superseded, dropped");
                return;
            }
            let bytes = data.len();
            match self.node.compact(index, data) {
                Ok(()) => tracing::info!(
                    id,
                    index,
                    bytes,
                    micros = job.started.elapsed().as_micros() as u64,
                    "snapshot taken; log compacted"
                ),
                Err(e) => tracing::warn!(id, index, error = %e, "compaction refused"),
            }
            return;
        }
        let Some(threshold) = self.snapshot_threshold else {
            return;
        };
        if self.log_bytes < threshold {
            return;
        }
        let sm = self.kv.state_machine();
        let index = sm.last_applied();
        // Only once the core has the applied index confirmed (its Ready advanced): otherwise
        // `compact` refuses, and the snapshot would be encoded for nothing.
        if index <= self.node.snapshot().meta.last_included_index
            || index > self.node.applied_index()
        {
            return;
        }
        let frozen = sm.freeze();
        match SnapshotJob::spawn(id, frozen) {
            Ok(job) => {
                // The next snapshot counts the log applied after `index`.
                self.log_bytes = 0;
                self.snapshot_job = Some(job);
            }
            // No thread to be had: the log grows until the next pass tries again.
            Err(e) => tracing::warn!(id, error = %e, "cannot start the snapshot thread"),
        }
    }

    fn handle_ready(&mut self) -> Result<(), StorageError> {
        if self.node.has_ready() {
            let mut rd = self.node.ready();
            let read_states = std::mem::take(&mut rd.read_states);
            let dropped_reads = std::mem::take(&mut rd.dropped_reads);
            if let Some(job) = self.pipe.push(rd) {
                // First apply (and answer) the committed entries already durable here: under
                // load every Ready carries new proposals *and* the commits of earlier ones,
                // and with inline persistence the sync below would otherwise delay those
                // answers by one fsync. Nothing of this Ready is sent yet.
                self.release();
                self.persister.submit(job, &mut self.pipe)?;
            }
            self.release();
            // ReadIndex Gets: confirmed ones are answered once their index is applied.
            for rs in read_states {
                if let Some((tok, r)) = self.kv.on_read_state(rs.ctx, rs.index) {
                    reply(tok, r);
                }
            }
            for ctx in dropped_reads {
                if let Some((tok, r)) = self.kv.on_read_dropped(ctx) {
                    reply(tok, r);
                }
            }
        } else {
            self.release();
        }
        for (tok, r) in self.kv.take_read_replies() {
            reply(tok, r);
        }
        Ok(())
    }

    /// Sends, applies and advances whatever the pipeline now allows.
    fn release(&mut self) {
        let (peers, kv, node) = (&self.peers, &mut self.kv, &mut self.node);
        let (log_bytes, restore_error) = (&mut self.log_bytes, &mut self.restore_error);
        let id = node.id();
        self.pipe.release(
            |env| {
                if let Some(tx) = peers.get(&env.to) {
                    // A full queue means the peer is slow or down; Raft retransmits on the next
                    // heartbeat, so dropping is safe and keeps this loop from blocking.
                    let (to, kind) = (env.to, env.msg.kind());
                    if !tx.try_send(env) {
                        tracing::debug!(to, kind, "peer queue full, dropped");
                    }
                }
            },
            |a| match a {
                Apply::Restore(snapshot) => {
                    let index = snapshot.meta.last_included_index;
                    match kv.on_snapshot(&snapshot.data) {
                        Ok(failed) => {
                            *log_bytes = 0;
                            let bytes = snapshot.data.len();
                            tracing::info!(id, index, bytes, "restored a leader's snapshot");
                            for (tok, r) in failed {
                                reply(tok, r);
                            }
                        }
                        Err(error) => {
                            tracing::error!(id, index, %error, "cannot restore a leader's snapshot");
                            restore_error.get_or_insert(LoopError::Snapshot { index, error });
                        }
                    }
                }
                Apply::Entry(e) => {
                    *log_bytes += e.data.len() as u64 + ENTRY_OVERHEAD;
                    if let Some((tok, r)) = kv.on_applied(e.index, &e.data) {
                        reply(tok, r);
                    }
                }
            },
            |rd| node.advance(rd),
        );
    }
}

//! [`RawNode`]: Figure 2 state, the public inputs (`tick`, `step`, `propose`,
//! the "make it happen now" events) and outputs (`ready` / `advance`,
//! `status`), and the three role transitions.
//!
//! Message handling is in `step.rs`, the leader's sending and commit rule in
//! `replicate.rs`.

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tracing::{debug, info};

use super::assembly::Assembly;
use super::config::Config;
use super::error::{InitError, NotLeader, ProposeError};
use super::log::RaftLog;
use super::message::Envelope;
use super::mutation::{drop_snapshot_data, forget_vote, Correct, Mutation, Mutator};
use super::progress::Progress;
use super::quorum::VoteTally;
use super::read_index::{ReadIndex, ReadState};
use super::ready::Ready;
use super::role::RoleState;
use super::status::{PeerProgress, Role, Status};
use super::validate::check_persisted;
use crate::types::{Entry, HardState, Index, NodeId, Snapshot, Term};

/// A deterministic, sans-IO Raft node. See the crate docs and
/// `docs/core-design.md` for how a runtime drives it.
///
/// `M` is the node's mutation (mutation testing only, `mutation.rs`): the
/// product is `RawNode<Correct>`, in which every mutation hook is the
/// constant `false`.
#[derive(Debug)]
pub struct RawNode<M: Mutator = Correct> {
    pub(crate) cfg: Config,
    // Figure 2 persistent state (the log is in `log`).
    pub(crate) current_term: Term,
    pub(crate) voted_for: Option<NodeId>,
    /// Protocol-aware recovery ([`HardState::lost_up_to`]): non-zero while the node may lack
    /// entries it acknowledged before a restart; it grants no vote and starts no election.
    pub(crate) lost_up_to: Index,
    /// The term of the loss ([`HardState::lost_term`]).
    pub(crate) lost_term: Term,
    pub(crate) log: RaftLog,
    /// The role and what only that role holds (`role.rs`).
    pub(crate) state: RoleState,
    // Logical timers.
    pub(crate) election_elapsed: u32,
    randomized_election_timeout: u32,
    heartbeat_elapsed: u32,
    rng: StdRng,
    // Outputs not yet handed out in a Ready.
    pub(crate) msgs: Vec<Envelope>,
    last_hard_state: HardState,
    pub(crate) rejected_messages: u64,
    /// Refusals in which a follower's log no longer reached its `match_index` (lost entries).
    pub(crate) lost_entries_reports: u64,
    /// Confirmed ReadIndex reads not yet handed out in a Ready.
    pub(crate) read_states: Vec<ReadState>,
    /// ReadIndex requests dropped (leadership lost) not yet handed out in a Ready.
    pub(crate) dropped_reads: Vec<u64>,
    /// Last ReadIndex round stamped on AppendEntries; increases for the node's
    /// lifetime, across terms (`read_index.rs`).
    pub(crate) read_round: u64,
    /// Scratch space for the commit rule, reused to avoid allocation.
    pub(crate) match_scratch: Vec<Index>,
    /// Parallel leader writes ([`RawNode::set_self_ack_on_persist`]): the leader counts itself
    /// in the commit rule only up to `persisted`.
    pub(crate) self_ack_on_persist: bool,
    /// The last entry `(index, term)` the runtime reported durable ([`RawNode::on_persisted`]);
    /// on restart, the last entry restored.
    pub(crate) persisted: (Index, Term),
    /// Follower: a leader's snapshot being received in chunks (Figure 13).
    pub(crate) incoming: Assembly,
    /// A snapshot for the next Ready, and whether the state machine must be
    /// restored from it (a leader's) or it is this node's own compaction.
    pub(crate) pending_snapshot: Option<(Snapshot, bool)>,
    /// Mutation testing only: the catalog bug this node re-creates, if any.
    mutator: M,
}

impl RawNode {
    /// A brand-new node with an empty log, term 0.
    pub fn new(cfg: Config) -> Result<Self, InitError> {
        Self::restore(cfg, HardState::default(), Vec::new())
    }

    /// Rule 9 (restart) from a snapshot and the log after it (§7): as
    /// [`restore`](Self::restore), but `commit_index` and the applied index
    /// start at the snapshot's `last_included_index` (the runtime restores its
    /// state machine from the snapshot), and `entries` start right after it.
    pub fn restore_with_snapshot(
        cfg: Config,
        hard_state: HardState,
        snapshot: Option<Snapshot>,
        entries: Vec<Entry>,
    ) -> Result<Self, InitError> {
        Self::restore_mutated(cfg, hard_state, snapshot, entries, Correct)
    }

    /// Rule 9 (restart): a Follower built from persisted `hard_state` and log
    /// `entries` (index 1 first). `commit_index` starts at 0, no leader is
    /// known, timers are fresh. Every committed entry will be handed out for
    /// applying again, as the state machine is rebuilt from the log.
    pub fn restore(
        cfg: Config,
        hard_state: HardState,
        entries: Vec<Entry>,
    ) -> Result<Self, InitError> {
        Self::restore_mutated(cfg, hard_state, None, entries, Correct)
    }
}

impl<M: Mutator> RawNode<M> {
    /// Mutation testing only: [`RawNode::restore`] for a node re-creating the
    /// catalog bug `mutator` names (`None`: the correct rules). A fresh node
    /// is restored from `HardState::default()`, no snapshot and no entries.
    pub fn restore_mutated(
        cfg: Config,
        hard_state: HardState,
        snapshot: Option<Snapshot>,
        entries: Vec<Entry>,
        mutator: M,
    ) -> Result<Self, InitError> {
        cfg.validate()?;
        check_persisted(&cfg, &hard_state, snapshot.as_ref(), &entries)?;
        let mut node = RawNode {
            current_term: hard_state.current_term,
            voted_for: hard_state.voted_for,
            lost_up_to: hard_state.lost_up_to,
            lost_term: hard_state.lost_term,
            log: RaftLog::restored(snapshot, entries),
            state: RoleState::Follower { leader_id: None },
            election_elapsed: 0,
            randomized_election_timeout: cfg.election_ticks,
            heartbeat_elapsed: 0,
            rng: StdRng::seed_from_u64(cfg.seed),
            msgs: Vec::new(),
            last_hard_state: hard_state,
            rejected_messages: 0,
            lost_entries_reports: 0,
            read_states: Vec::new(),
            dropped_reads: Vec::new(),
            read_round: 0,
            match_scratch: Vec::with_capacity(cfg.cluster_size()),
            self_ack_on_persist: false,
            persisted: (0, 0),
            incoming: Assembly::default(),
            pending_snapshot: None,
            mutator,
            cfg,
        };
        node.persisted = (node.log.last_index(), node.log.last_term());
        if node.lost_up_to != 0 {
            if node.cfg.peers.is_empty() {
                // Nobody can re-send what was lost: go on with what is left.
                tracing::warn!(
                    id = node.cfg.id,
                    lost_up_to = node.lost_up_to,
                    "single node lost entries it may have committed; nobody can re-send them"
                );
                node.lost_up_to = 0;
                node.lost_term = 0;
            } else {
                tracing::warn!(
                    id = node.cfg.id,
                    last_index = node.log.last_index(),
                    lost_up_to = node.lost_up_to,
                    "recovering: entries up to lost_up_to may have been acknowledged and lost; \
                     no votes and no elections until a leader has re-sent them"
                );
            }
        }
        node.reset_election_timer();
        node.debug_check();
        Ok(node)
    }

    // ---- mutation hooks (`mutation.rs`): constant in the product ----

    /// Whether this node re-creates `m`, as in `let ok = ok || self.mutant(m);`.
    #[inline(always)]
    pub(crate) fn mutant(&self, m: Mutation) -> bool {
        self.mutator.mutated(m)
    }

    /// `correct`, or what the bug `m` makes of it.
    #[inline(always)]
    pub(crate) fn mutant_or<T>(&self, m: Mutation, correct: T, bug: impl FnOnce(T) -> T) -> T {
        if self.mutant(m) {
            bug(correct)
        } else {
            correct
        }
    }

    /// `correct`, or `relaxed` on a node re-creating any bug: for the checks
    /// the bugs break by design.
    #[inline(always)]
    pub(crate) fn relaxed_for_mutant<T>(&self, correct: T, relaxed: T) -> T {
        if self.mutator.any() {
            relaxed
        } else {
            correct
        }
    }

    pub fn id(&self) -> NodeId {
        self.cfg.id
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn role(&self) -> Role {
        self.state.role()
    }

    pub fn current_term(&self) -> Term {
        self.current_term
    }

    /// Last index the runtime confirmed applied (through `advance`): `compact` accepts up to it.
    pub fn applied_index(&self) -> Index {
        self.log.applied
    }

    pub fn commit_index(&self) -> Index {
        self.log.commit_index
    }

    pub fn last_index(&self) -> Index {
        self.log.last_index()
    }

    /// Index of the first entry held: `last_included_index + 1` (§7).
    pub fn first_index(&self) -> Index {
        self.log.first_index()
    }

    /// The latest snapshot (empty metadata and data when nothing is compacted).
    pub fn snapshot(&self) -> &Snapshot {
        self.log.snapshot()
    }

    /// The leader of `current_term` this node knows of (itself if leader).
    pub fn leader_id(&self) -> Option<NodeId> {
        match self.state {
            RoleState::Follower { leader_id } => leader_id,
            RoleState::Candidate { .. } | RoleState::PreCandidate { .. } => None,
            RoleState::Leader { .. } => Some(self.cfg.id),
        }
    }

    pub fn hard_state(&self) -> HardState {
        HardState {
            current_term: self.current_term,
            voted_for: self.voted_for,
            lost_up_to: self.lost_up_to,
            lost_term: self.lost_term,
        }
    }

    /// A read-only view of the node's Figure 2 state.
    pub fn status(&self) -> Status<'_> {
        Status {
            id: self.cfg.id,
            current_term: self.current_term,
            voted_for: self.voted_for,
            role: self.role(),
            leader_id: self.leader_id(),
            log: self.log.entries(),
            first_index: self.log.first_index(),
            last_included_index: self.log.snapshot_meta().last_included_index,
            last_included_term: self.log.snapshot_meta().last_included_term,
            incoming_snapshot: self.incoming.progress(),
            commit_index: self.log.commit_index,
            applied_index: self.applied_index(),
            votes_granted: match &self.state {
                RoleState::Candidate { votes } | RoleState::PreCandidate { votes } => {
                    std::iter::once(self.cfg.id)
                        .chain(votes.granted_slots().map(|slot| self.cfg.peers[slot]))
                        .collect()
                }
                _ => Vec::new(),
            },
            heard_from: self.heard_from(),
            lead_transferee: self.lead_transferee(),
            progress: self
                .progress()
                .iter()
                .map(|p| PeerProgress {
                    id: p.id,
                    next_index: p.next_index,
                    match_index: p.match_index,
                    state: p.state,
                    snapshot: p.snapshot,
                })
                .collect(),
            rejected_messages: self.rejected_messages,
            lost_up_to: self.lost_up_to,
            lost_term: self.lost_term,
            lost_entries_reports: self.lost_entries_reports,
        }
    }

    // ---- inputs: time and "make it happen now" events ----

    /// Advances logical time by one tick. Fires [`election_timeout_now`]
    /// (follower/candidate) or [`heartbeat_now`] (leader) when due, and with
    /// `Config::check_quorum` a leader's [`check_quorum_now`] every `election_ticks`; a
    /// leader's pending transfer is aborted after `election_ticks` (`transfer.rs`).
    ///
    /// [`election_timeout_now`]: Self::election_timeout_now
    /// [`heartbeat_now`]: Self::heartbeat_now
    /// [`check_quorum_now`]: Self::check_quorum_now
    pub fn tick(&mut self) {
        match self.role() {
            Role::Leader => {
                if self.cfg.check_quorum {
                    // Thesis §6.2: one check per election timeout.
                    self.election_elapsed += 1;
                    if self.election_elapsed >= self.cfg.election_ticks {
                        let _ = self.check_quorum_now();
                        if self.role() != Role::Leader {
                            return;
                        }
                    }
                }
                self.tick_transfer();
                self.heartbeat_elapsed += 1;
                if self.heartbeat_elapsed >= self.cfg.heartbeat_ticks {
                    let _ = self.heartbeat_now();
                }
            }
            Role::Follower | Role::Candidate | Role::PreCandidate => {
                self.election_elapsed += 1;
                if self.election_elapsed >= self.randomized_election_timeout {
                    self.election_timeout_now();
                }
            }
        }
    }

    /// Rule 2: the election timer fires now. A follower or candidate starts an
    /// election (§5.2), with `Config::pre_vote` a pre-vote first (§9.6); a leader ignores
    /// it. Returns whether an election (or pre-vote) started.
    pub fn election_timeout_now(&mut self) -> bool {
        if self.role() == Role::Leader {
            debug!(id = self.cfg.id, "election timeout ignored by leader");
            return false;
        }
        if self.lost_up_to != 0 {
            // Protocol-aware recovery: a node that may lack entries it acknowledged must not
            // become leader (it could lack committed entries); it waits for a leader.
            debug!(
                id = self.cfg.id,
                lost_up_to = self.lost_up_to,
                "recovering: no election"
            );
            self.reset_election_timer();
            return false;
        }
        if self.cfg.pre_vote {
            self.become_pre_candidate();
        } else {
            self.become_candidate(false);
        }
        self.debug_check();
        true
    }

    /// Rule 6: the leader's heartbeat timer fires now: send AppendEntries to
    /// every peer, carrying whatever each is missing.
    pub fn heartbeat_now(&mut self) -> Result<(), NotLeader> {
        self.require_leader()?;
        self.heartbeat_elapsed = 0;
        self.broadcast_append(true);
        self.debug_check();
        Ok(())
    }

    /// Replicate now (after a batch of proposals): like a heartbeat, but only
    /// to peers that are missing entries and whose flow control allows it.
    pub fn replicate_now(&mut self) -> Result<(), NotLeader> {
        self.require_leader()?;
        self.broadcast_append(false);
        self.debug_check();
        Ok(())
    }

    /// Rule 5: a leader appends a new entry for `data` and returns its
    /// `(index, term)`. Sends nothing: call [`replicate_now`](Self::replicate_now)
    /// after a batch. A single-node cluster commits it at once.
    pub fn propose(&mut self, data: impl Into<Bytes>) -> Result<(Index, Term), ProposeError> {
        if self.role() != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader_hint: self.leader_id(),
            });
        }
        if let Some(target) = self.lead_transferee() {
            // Thesis §3.10: no new entries while handing over.
            return Err(ProposeError::TransferInProgress { target });
        }
        let index = self.log.last_index() + 1;
        let term = self.current_term;
        self.log.append(Entry {
            term,
            index,
            data: data.into(),
        });
        if self.maybe_commit() {
            self.advance_reads();
        }
        self.debug_check();
        Ok((index, term))
    }

    pub(crate) fn require_leader(&self) -> Result<(), NotLeader> {
        match self.role() {
            Role::Leader => Ok(()),
            _ => Err(NotLeader {
                leader_hint: self.leader_id(),
            }),
        }
    }

    // ---- outputs ----

    /// Whether [`ready`](Self::ready) would return a non-empty batch.
    pub fn has_ready(&self) -> bool {
        !self.msgs.is_empty()
            || self.pending_snapshot.is_some()
            || self.hard_state() != self.last_hard_state
            || self.log.has_unstable()
            || self.log.has_committed_to_hand()
            || !self.read_states.is_empty()
            || !self.dropped_reads.is_empty()
    }

    /// Takes everything to persist, send and apply since the previous Ready.
    /// See [`Ready`] for the persist-before-send contract.
    pub fn ready(&mut self) -> Ready {
        let (snapshot, restore_snapshot) = match self.pending_snapshot.take() {
            Some((s, restore)) => (Some(s), restore),
            None => (None, false),
        };
        let snapshot = self.mutant_or(
            Mutation::SnapshotNotPersistedWithState,
            snapshot,
            drop_snapshot_data,
        );
        let hs = self.hard_state();
        let hard_state = (hs != self.last_hard_state).then(|| {
            self.last_hard_state = hs;
            hs
        });
        let hard_state = self.mutant_or(Mutation::VoteNotPersisted, hard_state, forget_vote);
        let log_change = self.log.take_unstable();
        let (truncate_from, entries) =
            self.mutant_or(Mutation::LogNotPersisted, log_change, |_| {
                (None, Vec::new())
            });
        Ready {
            snapshot,
            restore_snapshot,
            hard_state,
            truncate_from,
            entries,
            messages: std::mem::take(&mut self.msgs),
            // After take_unstable: committed entries are handed out no earlier
            // than the Ready that persists them.
            committed_entries: self.log.take_committed(),
            read_states: std::mem::take(&mut self.read_states),
            dropped_reads: std::mem::take(&mut self.dropped_reads),
        }
    }

    /// Acknowledges that `ready` was persisted, sent and applied.
    pub fn advance(&mut self, ready: Ready) {
        if let (Some(s), true) = (&ready.snapshot, ready.restore_snapshot) {
            self.log.restored_to(s.meta.last_included_index);
        }
        if let Some(last) = ready.committed_entries.last() {
            self.log.applied = self.log.applied.max(last.index);
        }
        self.debug_check();
    }

    // ---- role transitions (each sets exactly its role's state) ----

    /// §5.1: become follower in `term` (if higher, `voted_for` is cleared)
    /// knowing `leader` as the leader of that term.
    pub(crate) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        if term > self.current_term {
            self.current_term = term;
            self.voted_for = None;
            // Figure 13: partial snapshot state belongs to one leader's term.
            self.incoming.discard();
        }
        if self.role() != Role::Follower {
            info!(id = self.cfg.id, term, "became follower");
        }
        self.enter(RoleState::Follower { leader_id: leader });
        self.reset_election_timer();
    }

    /// Rule 2 / §5.2: increment the term, vote for self, ask every peer. `transfer`: started
    /// by a leader's TimeoutNow (thesis §3.10), so the RequestVote bypasses stickiness.
    pub(crate) fn become_candidate(&mut self, transfer: bool) {
        self.current_term += 1;
        self.incoming.discard();
        self.voted_for = Some(self.cfg.id);
        let votes = VoteTally::new(self.cfg.peers.len());
        let won = votes.won();
        self.enter(RoleState::Candidate { votes });
        self.reset_election_timer();
        info!(
            id = self.cfg.id,
            term = self.current_term,
            "became candidate"
        );
        if won {
            self.become_leader();
            return;
        }
        let rv = super::message::RequestVote {
            term: self.current_term,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
            transfer,
        };
        for i in 0..self.cfg.peers.len() {
            self.send(self.cfg.peers[i], super::message::Message::RequestVote(rv));
        }
    }

    /// Rule 4: won the election. Initialise `nextIndex`/`matchIndex`, append
    /// the no-op if configured, and in the same step send AppendEntries to
    /// every peer.
    pub(crate) fn become_leader(&mut self) {
        debug_assert_eq!(self.voted_for, Some(self.cfg.id));
        debug_assert_eq!(self.role(), Role::Candidate);
        let last = self.log.last_index();
        let progress = self
            .cfg
            .peers
            .iter()
            .map(|&p| Progress::new(p, last))
            .collect();
        let reads = ReadIndex::new(self.cfg.peers.len());
        let heard = VoteTally::new(self.cfg.peers.len());
        self.enter(RoleState::Leader {
            progress,
            reads,
            heard,
            transfer: None,
        });
        self.heartbeat_elapsed = 0;
        // Thesis §6.2: the first check-quorum period starts now.
        self.election_elapsed = 0;
        info!(id = self.cfg.id, term = self.current_term, "became leader");
        if self.cfg.leader_noop {
            // Committing an entry of its own term commits every earlier entry and lets the
            // leader serve ReadIndex reads (thesis §6.4). Empty data marks the no-op.
            self.log.append(Entry {
                term: self.current_term,
                index: last + 1,
                data: Bytes::new(),
            });
            self.maybe_commit();
        }
        self.broadcast_append(true);
    }

    /// Replaces the role's state by `next`. A leader's pending reads are
    /// dropped (the runtime retries them elsewhere).
    pub(crate) fn enter(&mut self, next: RoleState) {
        if let RoleState::Leader { reads, .. } = std::mem::replace(&mut self.state, next) {
            self.dropped_reads.extend(reads.into_dropped());
        }
    }

    // ---- helpers ----

    /// Leader only: one entry per peer, in `cfg.peers` order (empty otherwise).
    pub(crate) fn progress(&self) -> &[Progress] {
        match &self.state {
            RoleState::Leader { progress, .. } => progress,
            _ => &[],
        }
    }

    /// Leader only: [`progress`](Self::progress), mutable.
    pub(crate) fn progress_mut(&mut self) -> &mut [Progress] {
        match &mut self.state {
            RoleState::Leader { progress, .. } => progress,
            _ => &mut [],
        }
    }

    /// Restarts the election timer with a fresh timeout in
    /// `[election_ticks, 2 * election_ticks)`.
    pub(crate) fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        let e = self.cfg.election_ticks;
        self.randomized_election_timeout = self.rng.random_range(e..2 * e);
    }

    /// §9.6 / §4.2.3: this node heard from a leader of its term less than the minimum
    /// election timeout ago (a leader hears from itself), so it refuses pre-votes and, with
    /// check-quorum, ignores RequestVote of a higher term.
    pub(crate) fn within_leader_lease(&self) -> bool {
        self.leader_id().is_some() && self.election_elapsed < self.cfg.election_ticks
    }

    /// Hears from the current leader: the election timer starts over.
    pub(crate) fn heard_from_leader(&mut self) {
        self.election_elapsed = 0;
    }

    pub(crate) fn send(&mut self, to: NodeId, msg: super::message::Message) {
        self.msgs.push(Envelope {
            from: self.cfg.id,
            to,
            msg,
        });
    }

    /// Position of `peer` in `cfg.peers` (clusters are small: a scan is fastest).
    pub(crate) fn peer_slot(&self, peer: NodeId) -> Option<usize> {
        self.cfg.peers.iter().position(|&p| p == peer)
    }

    /// Debug builds: panics if an invariant is broken (end of every step).
    #[inline]
    pub(crate) fn debug_check(&self) {
        // A mutant breaks invariants by design; the conformance harness checks them.
        #[cfg(debug_assertions)]
        if let Err(e) = self.relaxed_for_mutant(self.check_invariants(), Ok(())) {
            panic!("raft invariant violated on node {}: {e}", self.cfg.id);
        }
    }
}

//! One simulated server: a core node, its [`MemStorage`], and the runtime loop that drives
//! them by the Ready contract of `docs/core-design.md`:
//!
//! 1. take a `Ready` after every input and *stage* its hard state and log change in storage;
//! 2. hold its messages and committed entries until a storage sync covering the writes
//!    completes (the sync takes simulated time, so a crash can land between writing and
//!    syncing, or in the middle of the sync);
//! 3. then, strictly in the order the Readies were taken: send the messages, apply the
//!    committed entries, and `advance`.
//!
//! A Ready with nothing to persist is released at once if nothing is held before it.
//!
//! The state machine is the list of applied commands. Its snapshot bytes are
//! [`state_machine::encode`] of that list: a leader's snapshot (`restore_snapshot`) replaces it
//! at release, before that Ready's committed entries; a restart loads the durable snapshot.
//! With [`StateMachineOwner::Application`] the node keeps no state machine: it queues
//! [`ApplyMsg`]s for the application instead, and snapshot bytes are the application's.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::invariants::Checker;
use crate::state_machine::{self, ApplyMsg, StateMachineOwner};
use raft_impl::core::{Config, Envelope, RawNode, ReadState, Ready, Role};
use raft_impl::storage::{MemStorage, Storage};
use raft_impl::types::{Entry, Index, NodeId, Snapshot, SnapshotMeta, Term};

/// One change to a node's state machine, in the order the runtime made them.
#[derive(Debug)]
pub(crate) enum Apply {
    /// A committed entry applied.
    Entry(Entry),
    /// The state machine was replaced by a leader's snapshot ending at this index.
    Restore(Index),
}

/// What one input produced, for the cluster to route and check.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// Messages whose state is durable: hand them to the network now.
    pub send: Vec<Envelope>,
    /// Entries the runtime applied and snapshots it restored, in order.
    pub applied: Vec<Apply>,
    /// Writes were staged and no sync is under way: the cluster must start one.
    pub needs_sync: bool,
}

/// How a crash treats writes staged but not yet synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashMode {
    /// Power loss before the sync: everything unsynced is lost.
    BeforeSync,
    /// Power loss inside the sync: the hard state and the first `landed_log_ops` staged log
    /// operations reached the disk (see [`MemStorage::crash_during_sync`]).
    DuringSync { landed_log_ops: usize },
}

#[derive(Debug)]
pub(crate) struct SimNode {
    pub id: NodeId,
    pub pos: usize,
    cfg: Config,
    /// `None` while crashed.
    pub raw: Option<RawNode>,
    pub storage: MemStorage,
    /// Readies taken but not released, oldest first; their writes are staged.
    held: VecDeque<Ready>,
    pub sync_in_flight: bool,
    /// A `Replicate` action is queued for this instant.
    pub replicate_scheduled: bool,
    /// Bumped by every crash, so a sync completion scheduled before it is ignored.
    pub incarnation: u64,
    /// The state machine: commands applied in this incarnation (`applied[i]` is index `i + 1`).
    /// Empty when the application owns the state machine.
    pub applied: Vec<Bytes>,
    pub owner: StateMachineOwner,
    /// [`StateMachineOwner::Application`]: changes not yet taken by the application, and the
    /// index of the last one queued in this incarnation.
    pub apply_queue: Vec<ApplyMsg>,
    pub app_applied: Index,
    /// Deliberately broken runtime, to show the checks catch it.
    pub fault: Option<RuntimeFault>,
    /// ReadIndex reads confirmed in released Readies, not yet taken by the service layer.
    pub read_states: Vec<ReadState>,
    /// ReadIndex requests dropped (leadership lost), not yet taken by the service layer.
    pub dropped_reads: Vec<u64>,
    /// Compactions of its own log (`RawNode::compact` calls that succeeded), all incarnations.
    pub compactions: u64,
    /// Leaders' snapshots its state machine was replaced with, all incarnations.
    pub snapshots_restored: u64,
    /// `SnapshotPolicy::Random`: applied entries past the snapshot before the next compaction
    /// (0: not drawn yet).
    pub snapshot_gap: u64,
}

/// A deliberate runtime bug, for testing that the simulator's checks catch unsafe runtimes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeFault {
    /// Send a Ready's messages as soon as its writes are staged, before the sync (breaks step
    /// 2 of the Ready contract: a crash can then lose a vote or entries already acknowledged).
    SendBeforeSync,
    /// Snapshot bytes miss the state machine's last command (a snapshot taken one entry
    /// early but labelled with the applied index).
    SnapshotMissesLastCommand,
}

impl SimNode {
    /// The core config this node (re)starts with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn new(pos: usize, cfg: Config) -> Result<Self, raft_impl::core::InitError> {
        let raw = RawNode::new(cfg.clone())?;
        Ok(SimNode {
            id: cfg.id,
            pos,
            cfg,
            raw: Some(raw),
            storage: MemStorage::new(),
            held: VecDeque::new(),
            sync_in_flight: false,
            replicate_scheduled: false,
            incarnation: 0,
            applied: Vec::new(),
            owner: StateMachineOwner::Simulator,
            apply_queue: Vec::new(),
            app_applied: 0,
            fault: None,
            read_states: Vec::new(),
            dropped_reads: Vec::new(),
            compactions: 0,
            snapshots_restored: 0,
            snapshot_gap: 0,
        })
    }

    pub fn is_up(&self) -> bool {
        self.raw.is_some()
    }

    /// `(current_term, role)` if up.
    pub fn state(&self) -> Option<(Term, Role)> {
        self.raw.as_ref().map(|r| (r.current_term(), r.role()))
    }

    /// Step 1 of the contract after an input: take the Ready, stage its writes, and hold or
    /// release it.
    pub fn process_ready(&mut self, checker: &mut Checker, fx: &mut Effects) {
        let Some(raw) = self.raw.as_mut() else { return };
        if !raw.has_ready() {
            return;
        }
        let rd = raw.ready();
        let staged = self.storage.stage_ready(
            rd.snapshot.as_ref(),
            rd.hard_state,
            rd.truncate_from,
            &rd.entries,
        );
        if let Err(e) = staged {
            checker.runtime_contract(self.pos, format!("storage refused a Ready's writes: {e}"));
        }
        if let (Some(s), StateMachineOwner::Application) = (&rd.snapshot, self.owner) {
            checker.log_opaque_snapshot(self.pos, s.meta, rd.restore_snapshot);
        } else if let Some(s) = &rd.snapshot {
            match state_machine::decode(&s.data) {
                Ok(commands) => {
                    checker.log_snapshot(self.pos, s.meta, &commands, rd.restore_snapshot)
                }
                Err(e) => checker.runtime_contract(self.pos, format!("snapshot in a Ready: {e}")),
            }
        }
        if let Some(from) = rd.truncate_from {
            checker.log_truncate(self.pos, from);
        }
        checker.log_append(self.pos, &rd.entries);
        let mut rd = rd;
        if self.fault == Some(RuntimeFault::SendBeforeSync) {
            fx.send.append(&mut rd.messages);
        }
        if rd.must_persist() {
            self.held.push_back(rd);
            if !self.sync_in_flight {
                self.sync_in_flight = true;
                fx.needs_sync = true;
            }
        } else if self.held.is_empty() {
            self.release(rd, checker, fx);
        } else {
            // Its messages may rely on writes of an earlier Ready still being synced.
            self.held.push_back(rd);
        }
    }

    /// The storage sync finished: everything staged so far is durable; release held Readies.
    pub fn sync_done(&mut self, checker: &mut Checker, fx: &mut Effects) {
        self.sync_in_flight = false;
        if let Err(e) = self.storage.sync() {
            checker.runtime_contract(self.pos, format!("storage sync failed: {e}"));
            return;
        }
        while let Some(rd) = self.held.pop_front() {
            self.release(rd, checker, fx);
        }
    }

    /// Steps 2-4 of the contract for one Ready whose writes are durable.
    fn release(&mut self, mut rd: Ready, checker: &mut Checker, fx: &mut Effects) {
        fx.send.append(&mut rd.messages);
        self.read_states.append(&mut rd.read_states);
        self.dropped_reads.append(&mut rd.dropped_reads);
        let app = self.owner == StateMachineOwner::Application;
        if let (Some(s), true, true) = (&rd.snapshot, rd.restore_snapshot, app) {
            // Figure 13 step 8, by the application: reset from the snapshot before applying.
            self.apply_queue.push(ApplyMsg::Snapshot {
                meta: s.meta,
                data: s.data.clone(),
            });
            self.app_applied = s.meta.last_included_index;
            self.snapshots_restored += 1;
            fx.applied.push(Apply::Restore(s.meta.last_included_index));
        } else if let (Some(s), true) = (&rd.snapshot, rd.restore_snapshot) {
            // Figure 13 step 8: reset the state machine from the snapshot before applying.
            match state_machine::decode(&s.data) {
                Ok(commands) => {
                    self.applied = commands;
                    self.snapshots_restored += 1;
                    fx.applied.push(Apply::Restore(s.meta.last_included_index));
                }
                Err(e) => checker.runtime_contract(self.pos, format!("leader's snapshot: {e}")),
            }
        }
        for e in &rd.committed_entries {
            // Committed entries must be among those already persisted (core-design.md). A
            // snapshot staged by a later Ready may already cover (and so drop) it: then the
            // snapshot stands for it, and it was durable when that Ready was taken.
            let covered = e.index <= self.storage.snapshot_meta().last_included_index;
            let durable = covered || self.storage.term(e.index) == Some(e.term);
            if !durable || self.storage.has_unsynced() {
                checker.runtime_contract(
                    self.pos,
                    format!(
                        "entry {} (term {}) handed for applying before it was durable",
                        e.index, e.term
                    ),
                );
            }
            if app && e.index == self.app_applied + 1 {
                self.app_applied = e.index;
                self.apply_queue.push(ApplyMsg::Command {
                    index: e.index,
                    term: e.term,
                    data: e.data.clone(),
                });
            } else if !app && e.index == self.applied.len() as Index + 1 {
                self.applied.push(e.data.clone());
            }
            fx.applied.push(Apply::Entry(e.clone()));
        }
        if let Some(raw) = self.raw.as_mut() {
            raw.advance(rd);
        }
    }

    /// Crashes the node: volatile state, held Readies and (per `mode`) unsynced writes are lost.
    pub fn crash(&mut self, mode: CrashMode) {
        self.raw = None;
        self.held.clear();
        self.sync_in_flight = false;
        self.incarnation += 1;
        self.applied.clear();
        self.apply_queue.clear();
        self.app_applied = 0;
        self.read_states.clear();
        self.dropped_reads.clear();
        match mode {
            CrashMode::BeforeSync => self.storage.crash(),
            CrashMode::DuringSync { landed_log_ops } => {
                self.storage.crash_during_sync(landed_log_ops)
            }
        }
    }

    /// §7: snapshots the state machine after index `index` (applied) and compacts the log.
    pub fn compact(&mut self, index: Index) -> Result<(), String> {
        let raw = self.raw.as_mut().ok_or("compaction on a crashed node")?;
        let upto = usize::try_from(index)
            .ok()
            .filter(|&n| n <= self.applied.len())
            .ok_or_else(|| format!("compaction at {index} beyond the state machine"))?;
        let taken = if self.fault == Some(RuntimeFault::SnapshotMissesLastCommand) {
            upto - 1
        } else {
            upto
        };
        let data = state_machine::encode(&self.applied[..taken]);
        raw.compact(index, data)
            .map_err(|e| format!("compaction at {index} refused: {e}"))?;
        self.compactions += 1;
        Ok(())
    }

    /// §7 with [`StateMachineOwner::Application`]: the application snapshotted its state
    /// machine after `index` (one it has taken from the queue) as `data`; compact the log.
    pub fn compact_with(&mut self, index: Index, data: Bytes) -> Result<(), String> {
        if self.owner != StateMachineOwner::Application {
            return Err("the simulator owns this node's state machine".into());
        }
        let raw = self.raw.as_mut().ok_or("compaction on a crashed node")?;
        if index > self.app_applied {
            let applied = self.app_applied;
            return Err(format!(
                "compaction at {index} beyond the applied {applied}"
            ));
        }
        raw.compact(index, data)
            .map_err(|e| format!("compaction at {index} refused: {e}"))?;
        self.compactions += 1;
        Ok(())
    }

    /// Restarts from durable state (rule 9): the state machine is loaded from the durable
    /// snapshot, and later entries are applied as they are committed again. `seed` varies
    /// the election jitter per incarnation. Returns the durable snapshot's metadata and
    /// commands (`None` when the application owns them: it is queued for it), and the
    /// entries after it.
    #[allow(clippy::type_complexity)]
    pub fn restart(
        &mut self,
        seed: u64,
    ) -> Result<(Option<(SnapshotMeta, Option<Vec<Bytes>>)>, Vec<Entry>), String> {
        let durable = self.storage.durable_snapshot();
        let app = self.owner == StateMachineOwner::Application;
        let loaded = match &durable.snapshot {
            Some(Snapshot { meta, .. }) if app => Some((*meta, None)),
            Some(Snapshot { meta, data }) => {
                let commands = state_machine::decode(data)
                    .map_err(|e| format!("durable snapshot unreadable: {e}"))?;
                Some((*meta, Some(commands)))
            }
            None => None,
        };
        let mut cfg = self.cfg.clone();
        cfg.seed = seed;
        let raw = RawNode::restore_with_snapshot(
            cfg,
            durable.hard_state,
            durable.snapshot.clone(),
            durable.entries.clone(),
        )
        .map_err(|e| format!("restore from durable state refused: {e}"))?;
        self.raw = Some(raw);
        self.applied = loaded
            .as_ref()
            .and_then(|(_, c)| c.clone())
            .unwrap_or_default();
        if let (Some(s), true) = (durable.snapshot, app) {
            // The application's state machine is loaded from the durable snapshot first.
            self.app_applied = s.meta.last_included_index;
            self.apply_queue.push(ApplyMsg::Snapshot {
                meta: s.meta,
                data: s.data,
            });
        }
        Ok((loaded, durable.entries))
    }

    /// Observable state for traces: live values, or what storage holds while crashed.
    pub fn obs(&self) -> crate::trace::NodeObs {
        match &self.raw {
            Some(r) => {
                let st = r.status();
                crate::trace::NodeObs {
                    id: self.id,
                    up: true,
                    current_term: st.current_term,
                    voted_for: st.voted_for,
                    role: Some(st.role),
                    last_index: st.last_index(),
                    last_term: st.log.last().map_or(st.last_included_term, |e| e.term),
                    commit_index: st.commit_index,
                    last_included_index: st.last_included_index,
                }
            }
            None => {
                let hs = self.storage.hard_state();
                let last = self.storage.last_index();
                crate::trace::NodeObs {
                    id: self.id,
                    up: false,
                    current_term: hs.current_term,
                    voted_for: hs.voted_for,
                    role: None,
                    last_index: last,
                    last_term: self.storage.term(last).unwrap_or(0),
                    commit_index: 0,
                    last_included_index: self.storage.snapshot_meta().last_included_index,
                }
            }
        }
    }
}

//! Log compaction in the simulated cluster (§7): when each node snapshots its state machine,
//! per [`SnapshotPolicy`], or, when an application owns the state machine, its apply channel
//! and its own compaction calls; and what tests can observe about it.

use bytes::Bytes;
use rand::Rng;

use crate::cluster::Cluster;
use crate::node::Effects;
use crate::state_machine::{ApplyMsg, SnapshotPolicy};
use crate::trace::EventKind;
use raft_impl::storage::Storage;
use raft_impl::types::Index;

/// Bytes a stored entry takes besides its data (index and term), for [`Cluster::raft_state_size`].
const ENTRY_OVERHEAD: u64 = 16;
/// Bytes of a stored hard state (current_term, voted_for, lost_up_to).
const HARD_STATE_SIZE: u64 = 24;

impl Cluster {
    /// Node `p` applied entries in this event (and the checker saw them): compact if the
    /// policy says so, and stage the snapshot's Ready in `fx` (persisted by the next sync,
    /// before anything later). Returns whether it compacted.
    pub(crate) fn maybe_compact(&mut self, p: usize, fx: &mut Effects) -> bool {
        let Some(raw) = self.nodes[p].raw.as_ref() else {
            return false;
        };
        let lii = raw.snapshot().meta.last_included_index;
        let applied = self.nodes[p].applied.len() as Index;
        if applied <= lii {
            return false;
        }
        let index = match self.cfg.snapshot {
            SnapshotPolicy::Off => return false,
            SnapshotPolicy::EveryN(n) => {
                if applied - lii < n.max(1) {
                    return false;
                }
                applied
            }
            SnapshotPolicy::Random { max_gap } => {
                if self.nodes[p].snapshot_gap == 0 {
                    self.nodes[p].snapshot_gap = self.rng.random_range(1..=max_gap.max(1));
                }
                if applied - lii < self.nodes[p].snapshot_gap {
                    return false;
                }
                self.nodes[p].snapshot_gap = 0;
                self.rng.random_range(lii + 1..=applied)
            }
        };
        if let Err(detail) = self.nodes[p].compact(index) {
            self.checker.runtime_contract(p, detail);
            return false;
        }
        self.nodes[p].process_ready(&mut self.checker, fx);
        true
    }

    /// Successful compactions of node `i`'s own log, over all its incarnations.
    pub fn compactions(&self, i: usize) -> u64 {
        self.nodes[i].compactions
    }

    /// Leaders' snapshots node `i`'s state machine was replaced with (InstallSnapshot
    /// completed and released), over all its incarnations.
    pub fn snapshots_restored(&self, i: usize) -> u64 {
        self.nodes[i].snapshots_restored
    }

    /// InstallSnapshot requests (chunks, with resends) sent by all nodes so far.
    pub fn install_snapshot_sent(&self) -> u64 {
        self.net.install_snapshot_sent
    }

    /// Node `i`'s first log index after its snapshot (`last_included_index + 1`): from the
    /// live core, or from durable storage while crashed.
    pub fn first_index(&self, i: usize) -> Index {
        match &self.nodes[i].raw {
            Some(r) => r.first_index(),
            None => {
                let d = self.nodes[i].storage.durable_snapshot();
                d.snapshot.map_or(1, |s| s.meta.last_included_index + 1)
            }
        }
    }

    // ---- an application-owned state machine (`StateMachineOwner::Application`) ----

    /// Whether node `i` has queued changes its application has not taken.
    pub fn has_applies(&self, i: usize) -> bool {
        !self.nodes[i].apply_queue.is_empty()
    }

    /// 6.824's `applyCh`: node `i`'s committed entries and snapshots to restore since the
    /// last call, in order. Empty while crashed (a crash drops what was not taken).
    pub fn take_applies(&mut self, i: usize) -> Vec<ApplyMsg> {
        std::mem::take(&mut self.nodes[i].apply_queue)
    }

    /// 6.824 `Snapshot(index, snapshot)`: node `i`'s application snapshotted its state
    /// machine after `index` (taken from [`Cluster::take_applies`]) as `data`; the core
    /// compacts its log (§7) and the snapshot is persisted with the next sync. One event.
    /// `Err` (and nothing changes) if the node is down, the simulator owns its state machine,
    /// or the core refuses the index.
    pub fn snapshot(
        &mut self,
        i: usize,
        index: Index,
        data: impl Into<Bytes>,
    ) -> Result<(), String> {
        if self.violation.is_some() {
            return Err("the run already failed".into());
        }
        self.nodes[i].compact_with(index, data.into())?;
        let detail = Some(format!("snapshot at {index}"));
        self.after_input(i, EventKind::Compact, None, detail);
        Ok(())
    }

    /// 6.824 `persister.RaftStateSize()`: bytes of node `i`'s stored Raft state (hard state
    /// and the log after the snapshot, as written; the durable state while crashed), an
    /// estimate of a compact binary encoding.
    pub fn raft_state_size(&self, i: usize) -> u64 {
        let st = &self.nodes[i].storage;
        let entries = st
            .entries(st.first_index(), st.last_index() + 1)
            .unwrap_or_default();
        let log: u64 = entries
            .iter()
            .map(|e| ENTRY_OVERHEAD + e.data.len() as u64)
            .sum();
        HARD_STATE_SIZE + log
    }

    /// 6.824 `persister.SnapshotSize()`: bytes of node `i`'s stored snapshot (0 if none).
    pub fn snapshot_size(&self, i: usize) -> u64 {
        let st = &self.nodes[i].storage;
        st.snapshot()
            .ok()
            .flatten()
            .map_or(0, |s| s.data.len() as u64)
    }
}

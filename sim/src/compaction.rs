//! Log compaction in the simulated cluster (§7): when each node snapshots its state machine,
//! per [`SnapshotPolicy`], and what tests can observe about it.

use rand::Rng;

use crate::cluster::Cluster;
use crate::node::Effects;
use crate::state_machine::SnapshotPolicy;
use raft_impl::types::Index;

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
}

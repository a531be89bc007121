//! A leader's view of one follower: Figure 2 `nextIndex` / `matchIndex`, plus
//! the production flow control (probe vs. pipelined replicate, in-flight
//! limit, and a snapshot transfer, as etcd's `StateSnapshot`).

use std::collections::VecDeque;

use crate::types::{Index, NodeId};

/// How the leader is currently sending to a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    /// Send from `next_index` and move it only on replies. This is the
    /// specification's behaviour and the only state without pipelining.
    Probe,
    /// Pipelined: `next_index` moves optimistically past what was sent.
    Replicate,
    /// §7: `next_index` is compacted; InstallSnapshot chunks are in flight and
    /// no AppendEntries is sent until the snapshot is acknowledged.
    Snapshot,
}

/// A snapshot transfer to one follower (leader side of Figure 13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotTransfer {
    /// `last_included_index` of the snapshot being sent.
    pub last_included_index: Index,
    /// Bytes the follower acknowledged: the offset of the next chunk.
    pub offset: u64,
    /// Heartbeat intervals since the last chunk went out or was acknowledged.
    pub idle_heartbeats: u32,
}

/// Per-follower replication progress, owned by a leader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Progress {
    pub(crate) id: NodeId,
    pub(crate) match_index: Index,
    pub(crate) next_index: Index,
    pub(crate) state: ProgressState,
    /// Probe state with pipelining on: an AppendEntries is out, wait for its
    /// reply (or the next heartbeat) before probing again.
    pub(crate) probe_sent: bool,
    /// Last index carried by each unacknowledged pipelined AppendEntries.
    inflight: VecDeque<Index>,
    /// In state `Snapshot`: the transfer.
    pub(crate) snapshot: Option<SnapshotTransfer>,
}

impl Progress {
    /// §5.3: "initialized to leader last log index + 1" / "initialized to 0".
    pub(crate) fn new(id: NodeId, last_index: Index) -> Self {
        Progress {
            id,
            match_index: 0,
            next_index: last_index + 1,
            state: ProgressState::Probe,
            probe_sent: false,
            inflight: VecDeque::new(),
            snapshot: None,
        }
    }

    /// Starts (or restarts, from offset 0) sending the snapshot ending at `last_included_index`.
    pub(crate) fn become_snapshot(&mut self, last_included_index: Index) {
        self.state = ProgressState::Snapshot;
        self.probe_sent = false;
        self.inflight.clear();
        self.snapshot = Some(SnapshotTransfer {
            last_included_index,
            offset: 0,
            idle_heartbeats: 0,
        });
    }

    /// The follower holds the whole snapshot up to `m` (its InstallSnapshotResponse's
    /// `match_index`): back to probing AppendEntries from `m + 1`, clamped to `last_index + 1`.
    pub(crate) fn on_snapshot_done(&mut self, m: Index, last_index: Index) {
        self.match_index = self.match_index.max(m);
        self.next_index = (self.match_index + 1)
            .min(last_index + 1)
            .max(self.next_index);
        self.state = ProgressState::Probe;
        self.probe_sent = false;
        self.snapshot = None;
    }

    /// Whether new entries may be sent now under limit `max_inflight`
    /// (`None` = no pipelining: always).
    pub(crate) fn can_send_entries(&self, max_inflight: Option<usize>) -> bool {
        match (max_inflight, self.state) {
            (_, ProgressState::Snapshot) => false,
            (None, _) => true,
            (Some(_), ProgressState::Probe) => !self.probe_sent,
            (Some(n), ProgressState::Replicate) => self.inflight.len() < n,
        }
    }

    /// Records that an AppendEntries whose last entry is `last_sent` went out.
    pub(crate) fn on_sent(&mut self, last_sent: Index, carried_entries: bool, pipelining: bool) {
        if !pipelining {
            return;
        }
        match self.state {
            ProgressState::Probe => self.probe_sent = true,
            ProgressState::Replicate if carried_entries => {
                self.next_index = last_sent + 1;
                self.inflight.push_back(last_sent);
            }
            ProgressState::Replicate | ProgressState::Snapshot => {}
        }
    }

    /// A successful AppendEntriesResponse acknowledging `m` (rule 8). While a
    /// snapshot is in flight, only a match beyond it ends the transfer.
    pub(crate) fn on_success(&mut self, m: Index, pipelining: bool) {
        self.match_index = self.match_index.max(m);
        self.next_index = self.next_index.max(m + 1);
        if let Some(t) = self.snapshot {
            if self.match_index < t.last_included_index {
                return;
            }
            self.state = ProgressState::Probe;
            self.snapshot = None;
        }
        if pipelining {
            match self.state {
                ProgressState::Probe => {
                    self.state = ProgressState::Replicate;
                    self.probe_sent = false;
                    self.inflight.clear();
                }
                ProgressState::Replicate => {
                    while self.inflight.front().is_some_and(|&last| last <= m) {
                        self.inflight.pop_front();
                    }
                }
                ProgressState::Snapshot => {}
            }
        }
    }

    /// A rejected AppendEntries: back up to `next` (computed from the hint),
    /// clamped into `[1, last_index + 1]` (rule 8). A hint at or below
    /// `match_index` means the follower lost entries it acknowledged (or the
    /// refusal is older than the success): `match_index` falls to `next - 1`,
    /// so the lost entries are not counted toward commit and are re-sent
    /// (protocol-aware recovery; clamping at `match_index + 1` would hide the
    /// loss and never repair the follower). While a
    /// snapshot is in flight and the follower still needs it (`next` at or
    /// below its last index) the transfer goes on; otherwise the peer is probed
    /// from `next` (pipelining falls back to probing). Returns whether a
    /// snapshot transfer goes on.
    pub(crate) fn on_reject(&mut self, next: Index, last_index: Index) -> bool {
        self.next_index = next.clamp(1, last_index + 1);
        self.match_index = self.match_index.min(self.next_index - 1);
        if self.snapshot.is_some_and(|t| next <= t.last_included_index) {
            return true;
        }
        self.state = ProgressState::Probe;
        self.snapshot = None;
        self.probe_sent = false;
        self.inflight.clear();
        false
    }

    /// A heartbeat interval passed: a stalled probe may be retried; a silent
    /// snapshot transfer counts the interval.
    pub(crate) fn on_heartbeat(&mut self) {
        self.probe_sent = false;
        if let Some(t) = &mut self.snapshot {
            t.idle_heartbeats = t.idle_heartbeats.saturating_add(1);
        }
    }

    #[cfg(test)]
    pub(crate) fn inflight_len(&self) -> usize {
        self.inflight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_state_blocks_entries_until_acknowledged() {
        let mut p = Progress::new(2, 10);
        p.become_snapshot(8);
        assert_eq!(p.state, ProgressState::Snapshot);
        assert!(
            !p.can_send_entries(None),
            "no AppendEntries while in flight"
        );
        assert!(!p.can_send_entries(Some(4)));
        p.on_success(5, false);
        assert_eq!(
            p.state,
            ProgressState::Snapshot,
            "a match below it keeps the transfer"
        );
        p.on_heartbeat();
        assert_eq!(p.snapshot.unwrap().idle_heartbeats, 1);
        p.on_snapshot_done(8, 10);
        assert_eq!(
            (p.state, p.match_index, p.next_index),
            (ProgressState::Probe, 8, 11)
        );
        assert!(p.snapshot.is_none());
        assert!(p.can_send_entries(None));
    }

    #[test]
    fn without_pipelining_only_replies_move_next_index() {
        let mut p = Progress::new(2, 5);
        p.on_sent(5, true, false);
        assert_eq!(p.next_index, 6);
        assert!(p.can_send_entries(None));
        p.on_success(3, false);
        assert_eq!((p.match_index, p.next_index), (3, 6));
        p.on_success(2, false);
        assert_eq!(
            (p.match_index, p.next_index),
            (3, 6),
            "never moves backwards"
        );
        assert_eq!(p.state, ProgressState::Probe);
    }

    #[test]
    fn a_refusal_during_a_snapshot_moves_next_index_and_ends_the_transfer_only_if_not_needed() {
        let mut p = Progress::new(2, 10);
        p.become_snapshot(8);
        assert!(p.on_reject(3, 10), "still needs the snapshot");
        assert_eq!((p.next_index, p.state), (3, ProgressState::Snapshot));
        assert!(p.snapshot.is_some());
        assert!(!p.on_reject(9, 10), "already holds up to 8");
        assert_eq!((p.next_index, p.state), (9, ProgressState::Probe));
        assert!(p.snapshot.is_none());
    }

    #[test]
    fn reject_clamps_into_one_to_last_plus_one() {
        let mut p = Progress::new(2, 5);
        p.on_success(3, false);
        p.on_reject(100, 5);
        assert_eq!((p.next_index, p.match_index), (6, 3));
        p.on_reject(0, 5);
        assert_eq!(p.next_index, 1);
    }

    #[test]
    fn reject_below_match_index_stops_counting_the_lost_entries() {
        let mut p = Progress::new(2, 5);
        p.on_success(5, false);
        // The follower's log now ends at 2: it lost 3..=5, which it acknowledged.
        p.on_reject(3, 5);
        assert_eq!((p.next_index, p.match_index), (3, 2));
        p.on_success(5, false);
        assert_eq!((p.next_index, p.match_index), (6, 5), "repaired");
    }

    #[test]
    fn pipelining_moves_optimistically_and_limits_inflight() {
        let mut p = Progress::new(2, 0);
        let lim = Some(2);
        assert!(p.can_send_entries(lim));
        p.on_sent(0, false, true);
        assert!(!p.can_send_entries(lim), "one probe at a time");
        p.on_success(0, true);
        assert_eq!(p.state, ProgressState::Replicate);
        p.on_sent(3, true, true);
        p.on_sent(5, true, true);
        assert_eq!(p.next_index, 6);
        assert!(!p.can_send_entries(lim));
        p.on_success(3, true);
        assert_eq!(p.inflight_len(), 1);
        assert!(p.can_send_entries(lim));
        p.on_reject(4, 5);
        assert_eq!(
            (p.state, p.next_index, p.inflight_len()),
            (ProgressState::Probe, 4, 0)
        );
    }
}

//! A leader's view of one follower: Figure 2 `nextIndex` / `matchIndex`, plus
//! the production flow control (probe vs. pipelined replicate, in-flight limit).

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
        }
    }

    /// Whether new entries may be sent now under limit `max_inflight`
    /// (`None` = no pipelining: always).
    pub(crate) fn can_send_entries(&self, max_inflight: Option<usize>) -> bool {
        match (max_inflight, self.state) {
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
            ProgressState::Replicate => {}
        }
    }

    /// A successful AppendEntriesResponse acknowledging `m` (rule 8).
    pub(crate) fn on_success(&mut self, m: Index, pipelining: bool) {
        self.match_index = self.match_index.max(m);
        self.next_index = self.next_index.max(m + 1);
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
            }
        }
    }

    /// A rejected AppendEntries: back up to `next` (computed from the hint),
    /// clamped into `[match_index + 1, last_index + 1]` (rule 8); pipelining
    /// falls back to probing.
    pub(crate) fn on_reject(&mut self, next: Index, last_index: Index) {
        self.next_index = next.clamp(self.match_index + 1, last_index + 1);
        self.state = ProgressState::Probe;
        self.probe_sent = false;
        self.inflight.clear();
    }

    /// A heartbeat interval passed: a stalled probe may be retried.
    pub(crate) fn on_heartbeat(&mut self) {
        self.probe_sent = false;
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
    fn reject_clamps_into_match_plus_one_to_last_plus_one() {
        let mut p = Progress::new(2, 5);
        p.on_success(3, false);
        p.on_reject(1, 5);
        assert_eq!(p.next_index, 4);
        p.on_reject(100, 5);
        assert_eq!(p.next_index, 6);
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
        p.on_reject(2, 5);
        assert_eq!(
            (p.state, p.next_index, p.inflight_len()),
            (ProgressState::Probe, 4, 0)
        );
    }
}

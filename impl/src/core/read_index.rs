//! ReadIndex (Raft thesis §6.4): linearizable reads without a log entry.
//!
//! A leader asked for a read records its `commit_index` as the read index (once it has
//! committed an entry of its own term; until then the request waits), then confirms it is
//! still the leader: every AppendEntries carries the leader's current `read_round`, followers
//! echo it, and a read of round `r` is confirmed once a majority (the leader included) has
//! acknowledged, in the leader's term, an AppendEntries of round `>= r`, i.e. one sent after
//! the request. The confirmed `(ctx, index)` goes out in [`Ready::read_states`]; the runtime
//! answers the read once it has applied up to `index`.
//!
//! [`ReadIndex`] is the leader's bookkeeping for one term, a pure type like `progress.rs`;
//! the node (`replicate.rs`) owns the round counter, which outlives a term, and feeds it.
//!
//! [`Ready::read_states`]: super::Ready::read_states

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::quorum::majority;
use crate::types::Index;

/// A confirmed read: answer request `ctx` once the state machine has applied `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReadState {
    pub ctx: u64,
    pub index: Index,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PendingRead {
    ctx: u64,
    /// The heartbeat round sent after the request.
    round: u64,
    /// `None` until the leader has committed an entry of its term.
    index: Option<Index>,
}

/// A leader's pending ReadIndex requests and its peers' acknowledged rounds, for one term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReadIndex {
    /// Per peer slot: highest round acknowledged in the current term.
    acked: Vec<u64>,
    /// In request (and so round) order.
    pending: VecDeque<PendingRead>,
}

impl ReadIndex {
    /// A new term as leader with `peers` peers: nothing requested or acknowledged yet.
    pub(crate) fn new(peers: usize) -> Self {
        ReadIndex {
            acked: vec![0; peers],
            pending: VecDeque::new(),
        }
    }

    /// Number of peer slots.
    pub(crate) fn peers(&self) -> usize {
        self.acked.len()
    }

    /// Reads waiting for their leadership confirmation or an own-term commit.
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// A read tagged `ctx`, to be confirmed by the heartbeat round `round` sent for it.
    pub(crate) fn request(&mut self, ctx: u64, round: u64) {
        self.pending.push_back(PendingRead {
            ctx,
            round,
            index: None,
        });
    }

    /// Peer `slot` acknowledged, in the leader's term, an AppendEntries of round `round`.
    pub(crate) fn acked(&mut self, slot: usize, round: u64) {
        if let Some(a) = self.acked.get_mut(slot) {
            *a = (*a).max(round);
        }
    }

    /// Gives every waiting read the read index `own_term_commit` (the leader's commit
    /// index, `Some` once an entry of its own term is committed), then moves to `out`, in
    /// request order, every read whose round a majority of the `cluster_size` servers (the
    /// leader included) acknowledged. Returns how many it moved.
    pub(crate) fn advance(
        &mut self,
        own_term_commit: Option<Index>,
        cluster_size: usize,
        out: &mut Vec<ReadState>,
    ) -> usize {
        if let Some(commit) = own_term_commit {
            for p in self.pending.iter_mut().filter(|p| p.index.is_none()) {
                p.index = Some(commit);
            }
        }
        let need = majority(cluster_size);
        let mut moved = 0;
        while let Some(&front) = self.pending.front() {
            let Some(index) = front.index else { break };
            let acks = 1 + self.acked.iter().filter(|&&a| a >= front.round).count();
            if acks < need {
                break;
            }
            self.pending.pop_front();
            out.push(ReadState {
                ctx: front.ctx,
                index,
            });
            moved += 1;
        }
        moved
    }

    /// Leadership lost: the `ctx` of every pending read, in request order; all are dropped.
    pub(crate) fn into_dropped(self) -> impl Iterator<Item = u64> {
        self.pending.into_iter().map(|p| p.ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three servers: the leader and peer slots 0 and 1.
    fn three() -> ReadIndex {
        ReadIndex::new(2)
    }

    #[test]
    fn a_read_waits_for_an_own_term_commit_then_takes_that_index() {
        let mut r = three();
        r.request(7, 1);
        r.acked(0, 1);
        let mut out = Vec::new();
        assert_eq!(r.advance(None, 3, &mut out), 0, "no own-term commit yet");
        assert_eq!(r.pending(), 1);
        assert_eq!(r.advance(Some(4), 3, &mut out), 1);
        assert_eq!(out, vec![ReadState { ctx: 7, index: 4 }]);
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn the_index_is_the_commit_index_when_first_known() {
        let mut r = three();
        r.request(1, 1);
        let mut out = Vec::new();
        r.advance(Some(2), 3, &mut out);
        r.acked(1, 1);
        r.advance(Some(5), 3, &mut out);
        assert_eq!(out, vec![ReadState { ctx: 1, index: 2 }]);
    }

    #[test]
    fn only_acknowledgements_of_the_read_round_or_later_confirm_it() {
        let mut r = three();
        r.acked(0, 1);
        r.request(1, 2);
        let mut out = Vec::new();
        assert_eq!(
            r.advance(Some(1), 3, &mut out),
            0,
            "round 1 predates the read"
        );
        r.acked(0, 1);
        assert_eq!(r.advance(Some(1), 3, &mut out), 0, "acks never decrease");
        r.acked(1, 3);
        assert_eq!(r.advance(Some(1), 3, &mut out), 1);
    }

    #[test]
    fn reads_are_confirmed_in_request_order() {
        let mut r = ReadIndex::new(4);
        r.request(1, 1);
        r.request(2, 2);
        let mut out = Vec::new();
        r.acked(0, 2);
        assert_eq!(r.advance(Some(3), 5, &mut out), 0, "2 of 5 is no majority");
        r.acked(1, 1);
        assert_eq!(r.advance(Some(3), 5, &mut out), 1, "round 1 has 3 of 5");
        r.acked(2, 2);
        assert_eq!(r.advance(Some(3), 5, &mut out), 1);
        assert_eq!(out.iter().map(|s| s.ctx).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn a_single_server_confirms_at_once_and_unknown_slots_are_ignored() {
        let mut r = ReadIndex::new(0);
        r.acked(3, 9);
        r.request(5, 1);
        let mut out = Vec::new();
        assert_eq!(r.advance(Some(1), 1, &mut out), 1);
        assert_eq!(r.peers(), 0);
    }

    #[test]
    fn leadership_lost_drops_every_pending_read_in_order() {
        let mut r = three();
        r.request(4, 1);
        r.request(9, 2);
        assert_eq!(r.into_dropped().collect::<Vec<_>>(), vec![4, 9]);
    }
}

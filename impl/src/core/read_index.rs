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
//! [`Ready::read_states`]: super::Ready::read_states

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use tracing::debug;

use super::error::NotLeader;
use super::mutation::Mutator;
use super::node::RawNode;
use super::quorum::majority;
use super::role::RoleState;
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

/// A leader's ReadIndex bookkeeping (the round counter is the node's: it
/// outlives a term).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ReadOnly {
    /// Per peer slot: highest round acknowledged in the current term.
    acked: Vec<u64>,
    /// In request (and so round) order.
    pending: VecDeque<PendingRead>,
}

impl ReadOnly {
    /// A new term as leader: nothing acknowledged yet.
    pub(crate) fn new(peers: usize) -> Self {
        ReadOnly {
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

    /// Leadership lost: the `ctx` of every pending read, which is dropped.
    pub(crate) fn into_dropped(self) -> impl Iterator<Item = u64> {
        self.pending.into_iter().map(|p| p.ctx)
    }
}

impl<M: Mutator> RawNode<M> {
    /// ReadIndex: asks the leader for a linearizable read tagged `ctx`. It is confirmed with
    /// one heartbeat round (sent now) and reported in [`Ready::read_states`] as
    /// `(ctx, read index)`; it is reported in [`Ready::dropped_reads`] instead if this node
    /// stops leading first. A leader that has not yet committed an entry of its own term keeps
    /// the request until it has (a no-op, with [`Config::leader_noop`]). Not leader: the
    /// leader hint.
    ///
    /// [`Ready::read_states`]: super::Ready::read_states
    /// [`Ready::dropped_reads`]: super::Ready::dropped_reads
    /// [`Config::leader_noop`]: super::Config::leader_noop
    pub fn read_index(&mut self, ctx: u64) -> Result<(), NotLeader> {
        self.require_leader()?;
        self.read_round += 1;
        let round = self.read_round;
        if let RoleState::Leader { reads, .. } = &mut self.state {
            reads.pending.push_back(PendingRead {
                ctx,
                round,
                index: None,
            });
        }
        debug!(id = self.cfg.id, ctx, round, "read index requested");
        self.broadcast_append(true);
        self.advance_reads();
        self.debug_check();
        Ok(())
    }

    /// Reads waiting for confirmation (leader only; 0 otherwise).
    pub fn pending_reads(&self) -> usize {
        match &self.state {
            RoleState::Leader { reads, .. } => reads.pending(),
            _ => 0,
        }
    }

    /// A current-term AppendEntriesResponse from peer `slot` echoing `round`.
    pub(crate) fn read_round_acked(&mut self, slot: usize, round: u64) {
        if let RoleState::Leader { reads, .. } = &mut self.state {
            if let Some(a) = reads.acked.get_mut(slot) {
                *a = (*a).max(round);
            }
        }
        self.advance_reads();
    }

    /// Assigns read indices once an own-term entry is committed, and moves every read whose
    /// round a majority acknowledged to the output.
    pub(crate) fn advance_reads(&mut self) {
        let RoleState::Leader { reads, .. } = &mut self.state else {
            return;
        };
        if reads.pending.is_empty() {
            return;
        }
        let commit = self.log.commit_index;
        if self.log.term_at(commit) == Some(self.current_term) {
            for p in reads.pending.iter_mut().filter(|p| p.index.is_none()) {
                p.index = Some(commit);
            }
        }
        let need = majority(self.cfg.cluster_size());
        while let Some(&front) = reads.pending.front() {
            let Some(index) = front.index else { break };
            let acks = 1 + reads.acked.iter().filter(|&&a| a >= front.round).count();
            if acks < need {
                break;
            }
            reads.pending.pop_front();
            debug!(
                id = self.cfg.id,
                ctx = front.ctx,
                index,
                "read index confirmed"
            );
            self.read_states.push(ReadState {
                ctx: front.ctx,
                index,
            });
        }
    }
}

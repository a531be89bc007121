//! What each role of §5.1 holds, inside the role: a follower knows at most the leader
//! of its term, a (pre-)candidate its votes, a leader its followers' progress, its
//! pending ReadIndex reads and any leadership transfer. Nothing of a leader exists
//! while following, so no check has to say so. Only `become_follower`,
//! `become_pre_candidate` (prevote.rs), `become_candidate` and `become_leader`
//! (node.rs) replace it.

use super::progress::Progress;
use super::quorum::VoteTally;
use super::read_index::ReadIndex;
use super::status::Role;
use crate::types::NodeId;

#[derive(Debug)]
pub(crate) enum RoleState {
    Follower {
        /// The leader of `current_term`, once heard from.
        leader_id: Option<NodeId>,
    },
    Candidate {
        /// Votes received in this election (its own is implicit).
        votes: VoteTally,
    },
    /// Pre-vote (thesis §9.6): the pre-votes received for `current_term + 1`.
    PreCandidate {
        /// Pre-votes granted (its own is implicit).
        votes: VoteTally,
    },
    Leader {
        /// One entry per peer, in `cfg.peers` order.
        progress: Vec<Progress>,
        /// ReadIndex requests waiting for their confirmation round.
        reads: ReadIndex,
        /// Check-quorum (thesis §6.2): the peers heard from in this check period (itself
        /// implicit).
        heard: VoteTally,
        /// Leadership transfer (thesis §3.10) in progress, if any (`transfer.rs`).
        transfer: Option<Transfer>,
    },
}

/// A leader's pending leadership transfer (thesis §3.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Transfer {
    /// `lead_transferee`: the peer that is to take over.
    pub(crate) target: NodeId,
    /// Ticks since the transfer started; it is aborted at `election_ticks`.
    pub(crate) elapsed: u32,
}

impl RoleState {
    pub(crate) fn role(&self) -> Role {
        match self {
            RoleState::Follower { .. } => Role::Follower,
            RoleState::Candidate { .. } => Role::Candidate,
            RoleState::PreCandidate { .. } => Role::PreCandidate,
            RoleState::Leader { .. } => Role::Leader,
        }
    }
}

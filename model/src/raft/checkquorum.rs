//! Check-quorum (Raft thesis §6.2) and leader stickiness (§4.2.3), `Config::check_quorum`.

use super::{become_follower, bit, RaftModel};
use crate::config::Bug;
use crate::state::*;

impl RaftModel {
    /// §6.2: a leader may run its check at any time (the model has no clock).
    pub(super) fn may_check_quorum(&self, s: &Server) -> bool {
        self.config.check_quorum && s.role == Role::Leader
    }

    /// §6.2: a leader that heard from no majority since its last check, itself counted
    /// once, becomes follower in its term (current_term and voted_for kept). Either way
    /// what it heard from starts over.
    pub(super) fn check_quorum(&self, state: &mut State, i: ServerId) {
        let s = &mut state.servers[i as usize];
        let mut heard = (s.heard_from | bit(i)).count_ones() as usize;
        if self.config.has(Bug::CheckQuorumCountsSelfTwice) {
            // Bug: itself is counted again.
            heard += 1;
        }
        s.heard_from = 0;
        if heard < self.config.quorum() {
            become_follower(s);
        }
    }

    /// §6.2: a leader hears from a peer by any message of its term, but a PreVote (whose
    /// term is the one its sender would stand in) or a RequestVote (handled before roles).
    pub(super) fn record_heard(&self, s: &mut Server, from: ServerId, msg: &Message) {
        let request = matches!(msg, Message::PreVote(_) | Message::RequestVote(_));
        if self.config.check_quorum
            && s.role == Role::Leader
            && msg.term() == s.current_term
            && !request
        {
            s.heard_from |= bit(from);
        }
    }

    /// §4.2.3 (with §6.2): a server that heard from a leader of its term since its
    /// election timer last fired, or is leader, ignores a RequestVote of a higher term:
    /// no term change, no vote, no reply. Not a transfer's RequestVote (§3.10): the leader
    /// itself asked for that election.
    pub(super) fn sticky_ignores(&self, s: &Server, msg: &Message) -> bool {
        let Message::RequestVote(rv) = msg else {
            return false;
        };
        self.config.check_quorum
            && !rv.transfer
            && rv.term > s.current_term
            && (s.heard_from_leader || s.role == Role::Leader)
    }
}

//! Leadership transfer (Raft thesis §3.10), `Config::transfer`.
//!
//! The leader stops taking proposals, waits until the target's log matches its own,
//! and sends it a TimeoutNow; the target stands for election at once. The transfer
//! ends when the leader steps down, or is given up (`AbortTransfer`, the thesis's
//! "after an election timeout").

use super::RaftModel;
use crate::config::Bug;
use crate::state::*;

impl RaftModel {
    /// §3.10: an operator may ask a leader with no transfer under way to hand over to a
    /// peer. Below the term bound only, so that the target's election stays inside it.
    pub(super) fn may_transfer(&self, s: &Server, me: ServerId, target: ServerId) -> bool {
        self.config.transfer
            && s.role == Role::Leader
            && s.lead_transferee.is_none()
            && target != me
            && target < self.config.servers
            && s.current_term < self.config.max_term
    }

    pub(super) fn may_abort_transfer(&self, s: &Server) -> bool {
        self.config.transfer && s.role == Role::Leader && s.lead_transferee.is_some()
    }

    /// §3.10: the leader takes no proposals while it transfers (`may_propose`); a target
    /// whose log already matches gets its TimeoutNow now, any other one once its
    /// AppendEntriesResponse shows it caught up (the next heartbeats bring it there).
    pub(super) fn start_transfer(&self, state: &mut State, me: ServerId, target: ServerId) {
        let s = &mut state.servers[me as usize];
        s.lead_transferee = Some(target);
        let caught_up = s.match_index[target as usize] == s.last_index();
        // Bug: no waiting for the target to catch up.
        if caught_up || self.config.has(Bug::TransferWithoutCatchUp) {
            send_timeout_now(state, me, target);
        }
    }

    /// §3.10: on each acknowledgement from the target that shows its log matches the
    /// leader's, a TimeoutNow.
    pub(super) fn maybe_send_timeout_now(&self, state: &mut State, me: ServerId, from: ServerId) {
        let s = &state.servers[me as usize];
        if s.lead_transferee == Some(from) && s.match_index[from as usize] == s.last_index() {
            send_timeout_now(state, me, from);
        }
    }

    /// §3.10, the target: a follower of the leader's term that is not recovering stands
    /// for election at once, without a pre-vote; its RequestVote says it is a transfer.
    /// Anyone else ignores it.
    pub(super) fn handle_timeout_now(&self, state: &mut State, me: ServerId, tn: &TimeoutNow) {
        let s = &state.servers[me as usize];
        if tn.term == s.current_term && s.role == Role::Follower && !s.recovering() {
            self.stand(state, me, true);
        }
    }
}

fn send_timeout_now(state: &mut State, leader: ServerId, target: ServerId) {
    let term = state.servers[leader as usize].current_term;
    state.send(Envelope {
        from: leader,
        to: target,
        msg: Message::TimeoutNow(TimeoutNow { term }),
    });
}

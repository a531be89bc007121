//! Pre-vote (Raft thesis §9.6), behind `Config::pre_vote`.
//!
//! On election timeout a node first becomes a pre-candidate: it asks every peer whether it
//! would vote for it in `current_term + 1`, changing neither its own `current_term` nor
//! `voted_for`. Only a majority of yes starts the real election (`become_candidate`). A
//! server cut off from the cluster therefore keeps its term, and on return cannot make the
//! leader step down with a higher term.

use tracing::{debug, info, trace};

use super::message::{Message, RequestVote, RequestVoteResponse};
use super::mutation::{Mutation, Mutator};
use super::node::RawNode;
use super::quorum::VoteTally;
use super::role::RoleState;
use crate::types::NodeId;

impl<M: Mutator> RawNode<M> {
    /// §9.6: ask for pre-votes for `current_term + 1`; `current_term` and `voted_for` stay.
    pub(crate) fn become_pre_candidate(&mut self) {
        let term = self.current_term + 1;
        if self.mutant(Mutation::PreVoteIncrementsTerm) {
            // The bug: the pre-candidate takes (and persists) the term it asks for.
            self.current_term = term;
            self.voted_for = None;
        }
        let votes = VoteTally::new(self.cfg.peers.len());
        if votes.won() {
            // A single node is its own majority.
            return self.become_candidate(false);
        }
        self.enter(RoleState::PreCandidate { votes });
        self.reset_election_timer();
        info!(id = self.cfg.id, term, "became pre-candidate");
        let pv = RequestVote {
            term,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
            transfer: false,
        };
        for i in 0..self.cfg.peers.len() {
            self.send(self.cfg.peers[i], Message::PreVote(pv));
        }
    }

    /// §9.6, the receiver, in every role. It grants iff
    /// 1. `m.term > current_term` (a RequestVote of that term would find this node's vote
    ///    free; a pre-candidate behind in term learns the term from the refusal),
    /// 2. the candidate's log is at least as up-to-date as its own (§5.4.1),
    /// 3. it has not heard from a leader within the minimum election timeout (§9.6, as in
    ///    §4.2.3: a leader that is alive keeps its followers), and is not leader itself,
    /// 4. it is not recovering a lost tail (it would refuse the vote, too).
    ///
    /// Nothing changes here, not even the election timer: the reply only predicts a vote.
    pub(crate) fn handle_pre_vote(&mut self, from: NodeId, m: RequestVote) {
        let granted = m.term > self.current_term
            && self.log_up_to_date(&m)
            && !self.within_leader_lease()
            && self.lost_up_to == 0;
        debug!(
            id = self.cfg.id,
            from,
            term = m.term,
            granted,
            "pre-vote request"
        );
        let reply = RequestVoteResponse {
            term: self.current_term,
            vote_granted: granted,
        };
        self.send(from, Message::PreVoteResponse(reply));
    }

    /// §9.6: count a pre-vote; a majority starts the real election. A reply of a higher
    /// term made this node a follower already (Figure 2's term rule, in `step`). A grant
    /// from a voter behind in term counts: its vote for `current_term + 1` is free.
    pub(crate) fn handle_pre_vote_response(&mut self, from: NodeId, m: RequestVoteResponse) {
        if !m.vote_granted {
            return;
        }
        let slot = self.peer_slot(from);
        let RoleState::PreCandidate { votes } = &mut self.state else {
            trace!(id = self.cfg.id, from, "pre-vote response ignored");
            return;
        };
        if let Some(slot) = slot {
            votes.grant(slot);
        }
        if votes.won() {
            self.become_candidate(false);
        }
    }
}

//! Leader election (Figure 2, RequestVote; §5.2, §5.4.1), and pre-vote
//! (Raft thesis §9.6, `Config::pre_vote`).

use super::{bit, RaftModel};
use crate::config::Bug;
use crate::state::*;

impl RaftModel {
    /// Figure 2, Rules for Servers, Followers/Candidates: on election
    /// timeout, start an election.
    pub(super) fn become_candidate(&self, state: &mut State, i: ServerId) {
        self.stand(state, i, false)
    }

    /// Becomes candidate in current_term + 1 (`transfer`: the election a TimeoutNow
    /// started, thesis §3.10).
    pub(super) fn stand(&self, state: &mut State, i: ServerId, transfer: bool) {
        let s = &mut state.servers[i as usize];
        s.current_term += 1;
        s.role = Role::Candidate;
        s.heard_from_leader = false;
        s.lead_transferee = None;
        s.voted_for = Some(i);
        s.votes_granted = bit(i);
        s.next_index.clear();
        s.match_index.clear();
        let term = s.current_term;
        self.ask_for_votes(state, i, term, transfer, Message::RequestVote);
        self.maybe_become_leader(state, i);
    }

    /// Sends every peer of `i` a request (RequestVote or PreVote) for `term`
    /// with `i`'s last log term and index.
    fn ask_for_votes(
        &self,
        state: &mut State,
        i: ServerId,
        term: Term,
        transfer: bool,
        kind: fn(RequestVote) -> Message,
    ) {
        let s = &state.servers[i as usize];
        let rv = RequestVote {
            term,
            last_log_index: s.last_index(),
            last_log_term: s.last_term(),
            transfer,
        };
        for p in self.peers(i) {
            state.send(Envelope {
                from: i,
                to: p,
                msg: kind(rv),
            });
        }
    }

    /// Figure 2, RequestVote RPC, receiver implementation.
    pub(super) fn handle_request_vote(
        &self,
        state: &mut State,
        candidate: ServerId,
        me: ServerId,
        rv: &RequestVote,
    ) {
        let s = &mut state.servers[me as usize];
        // Step 1: reply false if term < currentTerm (then term == current_term below).
        let mut vote_granted = false;
        if rv.term == s.current_term {
            // §5.4.1: the candidate's log is at least as up-to-date as the receiver's.
            let up_to_date = self.config.has(Bug::NoUpToDateCheck)
                || s.candidate_up_to_date(rv.last_log_term, rv.last_log_index);
            // Step 2: votedFor is null or candidateId, and the log is
            // up-to-date; a recovering server may lack entries it
            // acknowledged, so it grants no vote.
            let free = s.voted_for.is_none() || s.voted_for == Some(candidate);
            if free && up_to_date && !s.recovering() {
                s.voted_for = Some(candidate);
                vote_granted = true;
            }
        }
        let reply = RequestVoteResponse {
            term: s.current_term,
            vote_granted,
        };
        state.send(Envelope {
            from: me,
            to: candidate,
            msg: Message::RequestVoteResponse(reply),
        });
    }

    pub(super) fn handle_vote_response(
        &self,
        state: &mut State,
        voter: ServerId,
        me: ServerId,
        r: &RequestVoteResponse,
    ) {
        let s = &mut state.servers[me as usize];
        // A response from an older term, or to a candidacy that is over, is stale.
        if r.term < s.current_term || s.role != Role::Candidate || !r.vote_granted {
            return;
        }
        s.votes_granted |= bit(voter);
        self.maybe_become_leader(state, me);
    }

    /// Figure 2, Candidates: if votes received from a majority of servers,
    /// become leader and send initial empty AppendEntries to each server.
    fn maybe_become_leader(&self, state: &mut State, me: ServerId) {
        let s = &state.servers[me as usize];
        if s.role == Role::Candidate
            && s.votes_granted.count_ones() as usize >= self.config.quorum()
        {
            self.become_leader(state, me);
        }
    }

    /// Figure 2, Leaders: (Reinitialized after election) nextIndex = leader
    /// last log index + 1, matchIndex = 0; then AppendEntries to every peer.
    fn become_leader(&self, state: &mut State, me: ServerId) {
        let n = self.config.servers as usize;
        let s = &mut state.servers[me as usize];
        s.role = Role::Leader;
        s.votes_granted = 0;
        s.next_index = vec![s.last_index() + 1; n];
        s.match_index = vec![0; n];
        self.broadcast_append(state, me);
    }

    /// §9.6: on election timeout, a pre-vote server first asks every peer
    /// whether it would vote for it in current_term + 1; its own current_term
    /// and voted_for stay as they are.
    pub(super) fn become_pre_candidate(&self, state: &mut State, i: ServerId) {
        let s = &mut state.servers[i as usize];
        let term = s.current_term + 1;
        if self.config.has(Bug::PreVoteIncrementsTerm) {
            // Bug: the pre-candidate takes the term it asks for.
            s.current_term = term;
            s.voted_for = None;
        }
        if self.config.quorum() == 1 {
            // A single server is its own majority.
            return self.become_candidate(state, i);
        }
        s.role = Role::PreCandidate;
        s.heard_from_leader = false;
        s.votes_granted = bit(i);
        s.next_index.clear();
        s.match_index.clear();
        self.ask_for_votes(state, i, term, false, Message::PreVote);
    }

    /// §9.6, the receiver. It grants iff the term asked for is above its
    /// current_term (a RequestVote of that term would find its vote free), the
    /// candidate's log is at least as up-to-date (§5.4.1), it is not leader
    /// and has not heard from a leader within the election timeout, and it is
    /// not recovering (it would refuse the vote). It changes nothing but the
    /// network: the reply only predicts a vote.
    pub(super) fn handle_pre_vote(
        &self,
        state: &mut State,
        candidate: ServerId,
        me: ServerId,
        pv: &RequestVote,
    ) {
        let s = &state.servers[me as usize];
        let vote_granted = pv.term > s.current_term
            && s.candidate_up_to_date(pv.last_log_term, pv.last_log_index)
            && s.role != Role::Leader
            && !s.heard_from_leader
            && !s.recovering();
        let reply = RequestVoteResponse {
            term: s.current_term,
            vote_granted,
        };
        state.send(Envelope {
            from: me,
            to: candidate,
            msg: Message::PreVoteResponse(reply),
        });
    }

    /// §9.6: a pre-vote counts while the pre-vote lasts (a reply of a higher
    /// term ended it in `step`); a majority starts the real election.
    pub(super) fn handle_pre_vote_response(
        &self,
        state: &mut State,
        voter: ServerId,
        me: ServerId,
        r: &RequestVoteResponse,
    ) {
        let s = &mut state.servers[me as usize];
        if s.role != Role::PreCandidate || !r.vote_granted {
            return;
        }
        s.votes_granted |= bit(voter);
        if s.votes_granted.count_ones() as usize >= self.config.quorum() {
            self.become_candidate(state, me);
        }
    }
}

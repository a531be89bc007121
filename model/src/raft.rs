//! The Raft model: which actions are enabled, and what each one does.
//!
//! One action is one atomic event of a node or the network. Everything a
//! node does while handling that event (stepping down, becoming leader and
//! sending its first AppendEntries, advancing commit_index, replying) happens
//! inside the same action. The functions below touch only Figure 2 state;
//! history is computed afterwards from the states before and after
//! (`history.rs`). Read next to Figure 2 of the Raft paper.

use crate::config::{Bug, Config, Fix};
use crate::history::{self, Events};
use crate::state::*;

/// The model: a configuration. Search control (stopping, symmetry,
/// reporting) lives in the search code, not here.
#[derive(Clone, Debug)]
pub struct RaftModel {
    pub config: Config,
}

impl RaftModel {
    pub fn new(config: Config) -> Self {
        RaftModel { config }
    }

    pub fn init_state(&self) -> State {
        State::initial(self.config.servers as usize, self.config.max_term)
    }

    fn servers(&self) -> impl Iterator<Item = ServerId> {
        0..self.config.servers
    }

    fn peers(&self, me: ServerId) -> impl Iterator<Item = ServerId> {
        self.servers().filter(move |&p| p != me)
    }

    /// Every action enabled in `state`, in a fixed order.
    pub fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        actions.extend(state.distinct_messages().cloned().map(Action::Deliver));
        for (i, s) in (0..).zip(&state.servers) {
            if self.may_time_out(s) {
                actions.push(Action::ElectionTimeout(i));
            }
            if s.role == Role::Leader {
                actions.push(Action::Heartbeat(i));
            }
            if self.may_propose(s) {
                actions.extend((1..=self.config.values).map(|v| Action::Propose(i, v)));
            }
            if self.may_restart(state) {
                actions.push(Action::Restart(i));
            }
        }
        if self.may_drop(state) {
            actions.extend(state.distinct_messages().cloned().map(Action::Drop));
        }
        if self.may_duplicate(state) {
            actions.extend(state.distinct_messages().cloned().map(Action::Duplicate));
        }
    }

    /// Whether `action` is enabled in `state`: the same guards as [`actions`](Self::actions).
    pub fn enabled(&self, state: &State, action: &Action) -> bool {
        let server = |i: &ServerId| state.servers.get(*i as usize);
        let in_flight = |m| state.network.binary_search(m).is_ok();
        match action {
            Action::Deliver(m) => in_flight(m),
            Action::ElectionTimeout(i) => server(i).is_some_and(|s| self.may_time_out(s)),
            Action::Heartbeat(i) => server(i).is_some_and(|s| s.role == Role::Leader),
            Action::Propose(i, v) => {
                server(i).is_some_and(|s| self.may_propose(s))
                    && (1..=self.config.values).contains(v)
            }
            Action::Restart(i) => server(i).is_some() && self.may_restart(state),
            Action::Drop(m) => self.may_drop(state) && in_flight(m),
            Action::Duplicate(m) => self.may_duplicate(state) && in_flight(m),
        }
    }

    /// Figure 2, Followers and Candidates: an election timeout (up to the term bound).
    fn may_time_out(&self, s: &Server) -> bool {
        s.role != Role::Leader && s.current_term < self.config.max_term
    }

    /// Figure 2, Leaders: a command from a client (up to the log bound).
    fn may_propose(&self, s: &Server) -> bool {
        s.role == Role::Leader && s.log.len() < self.config.max_log as usize
    }

    fn may_restart(&self, state: &State) -> bool {
        state.faults.restarts < self.config.restarts
    }

    fn may_drop(&self, state: &State) -> bool {
        state.faults.drops < self.config.drops
    }

    fn may_duplicate(&self, state: &State) -> bool {
        state.faults.duplicates < self.config.duplicates
    }

    /// The state after `action`, or None if the action is not enabled.
    pub fn next_state(&self, state: &State, action: &Action) -> Option<State> {
        self.transition(state, action).map(|(next, _)| next)
    }

    /// The state after `action` with the sanity events the step performed,
    /// or None if the action is not enabled.
    pub fn transition(&self, state: &State, action: &Action) -> Option<(State, Events)> {
        if !self.enabled(state, action) {
            return None;
        }
        let mut next = state.clone();
        self.apply(&mut next, action);
        let events = history::observe(state, action, &mut next);
        Some((next, events))
    }

    /// The state bound: the number of messages in flight.
    pub fn within_bounds(&self, state: &State) -> bool {
        state.network.len() <= self.config.max_in_flight as usize
    }

    /// What an enabled action does.
    fn apply(&self, state: &mut State, action: &Action) {
        match action {
            Action::Deliver(m) => {
                state.take(m);
                self.step(state, m);
            }
            Action::ElectionTimeout(i) => self.become_candidate(state, *i),
            Action::Heartbeat(i) => self.broadcast_append(state, *i),
            Action::Propose(i, v) => {
                let s = &mut state.servers[*i as usize];
                // Figure 2, Rules for Servers, Leaders: append the command to the local log.
                s.log.push(Entry {
                    term: s.current_term,
                    value: *v,
                });
                self.maybe_commit(state, *i);
            }
            Action::Restart(i) => {
                state.faults.restarts += 1;
                self.restart(&mut state.servers[*i as usize]);
            }
            Action::Drop(m) => {
                state.faults.drops += 1;
                state.take(m);
            }
            Action::Duplicate(m) => {
                state.faults.duplicates += 1;
                state.send(m.clone());
            }
        }
    }

    /// Crash and restart: persistent state (current_term, voted_for, log)
    /// survives; the rest is volatile.
    fn restart(&self, s: &mut Server) {
        s.role = Role::Follower;
        s.commit_index = 0;
        s.votes_granted = 0;
        s.next_index.clear();
        s.match_index.clear();
        if self.config.has(Bug::VoteNotPersisted) {
            s.voted_for = None;
        }
        if self.config.has(Bug::LogNotPersisted) {
            s.log.clear();
        }
    }

    /// Figure 2, Rules for Servers, Followers/Candidates: on election
    /// timeout, start an election.
    fn become_candidate(&self, state: &mut State, i: ServerId) {
        let s = &mut state.servers[i as usize];
        s.current_term += 1;
        s.role = Role::Candidate;
        s.voted_for = Some(i);
        s.votes_granted = bit(i);
        s.next_index.clear();
        s.match_index.clear();
        let rv = RequestVote {
            term: s.current_term,
            last_log_index: s.last_index(),
            last_log_term: s.last_term(),
        };
        for p in self.peers(i) {
            state.send(Envelope {
                from: i,
                to: p,
                msg: Message::RequestVote(rv),
            });
        }
        self.maybe_become_leader(state, i);
    }

    /// Delivery of one message to `m.to`.
    fn step(&self, state: &mut State, m: &Envelope) {
        let s = &mut state.servers[m.to as usize];
        // Figure 2, All Servers: if RPC request or response contains term T >
        // currentTerm, set currentTerm = T and convert to follower.
        if m.msg.term() > s.current_term {
            s.current_term = m.msg.term();
            s.voted_for = None;
            become_follower(s);
        }
        if self.config.has(Bug::VoteResetOnSameTerm)
            && m.msg.is_request()
            && m.msg.term() == s.current_term
        {
            // Bug: "becomes follower" on a request of the same term, clearing voted_for.
            s.voted_for = None;
            become_follower(s);
        }
        match &m.msg {
            Message::RequestVote(rv) => self.handle_request_vote(state, m.from, m.to, rv),
            Message::RequestVoteResponse(r) => self.handle_vote_response(state, m.from, m.to, r),
            Message::AppendEntries(ae) => self.handle_append_entries(state, m.from, m.to, ae),
            Message::AppendEntriesResponse(r) => {
                self.handle_append_response(state, m.from, m.to, r)
            }
        }
    }

    /// Figure 2, RequestVote RPC, receiver implementation.
    fn handle_request_vote(
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
                || rv.last_log_term > s.last_term()
                || (rv.last_log_term == s.last_term() && rv.last_log_index >= s.last_index());
            // Step 2: votedFor is null or candidateId, and the log is up-to-date.
            if (s.voted_for.is_none() || s.voted_for == Some(candidate)) && up_to_date {
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

    fn handle_vote_response(
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

    /// Heartbeat/replicate: AppendEntries to every peer from its next_index.
    fn broadcast_append(&self, state: &mut State, leader: ServerId) {
        for p in self.peers(leader) {
            let s = &state.servers[leader as usize];
            let prev_log_index = s.next_index[p as usize] - 1;
            let from = prev_log_index as usize;
            let to = match self.config.max_batch {
                0 => s.log.len(),
                batch => s.log.len().min(from + batch as usize),
            };
            let ae = AppendEntries {
                term: s.current_term,
                prev_log_index,
                prev_log_term: s.term_at(prev_log_index),
                entries: s.log[from..to].to_vec(),
                leader_commit: s.commit_index,
            };
            state.send(Envelope {
                from: leader,
                to: p,
                msg: Message::AppendEntries(ae),
            });
        }
    }

    /// Figure 2, AppendEntries RPC, receiver implementation.
    fn handle_append_entries(
        &self,
        state: &mut State,
        leader: ServerId,
        me: ServerId,
        ae: &AppendEntries,
    ) {
        let s = &mut state.servers[me as usize];
        let reply = |term, success, match_index, conflict| AppendEntriesResponse {
            term,
            success,
            match_index,
            conflict,
        };
        let response = if ae.term < s.current_term {
            // Step 1: reply false if term < currentTerm.
            reply(s.current_term, false, 0, None)
        } else if s.role == Role::Leader {
            // Another leader of this very term: impossible unless Election
            // Safety is already broken. The message is dropped.
            return;
        } else {
            // Figure 2, Candidates: AppendEntries from the new leader: convert to follower.
            become_follower(s);
            if self.config.fixed(Fix::RejectPrevBelowCommit) && ae.prev_log_index < s.commit_index {
                let conflict = ConflictHint {
                    term: None,
                    first_index: 0,
                    log_len: s.commit_index,
                };
                reply(s.current_term, false, 0, Some(conflict))
            } else if let Some(conflict) = consistency_check(s, ae.prev_log_index, ae.prev_log_term)
            {
                // Step 2: reply false if the log has no entry at prevLogIndex
                // whose term matches prevLogTerm.
                reply(s.current_term, false, 0, Some(conflict))
            } else {
                self.append_entries(s, ae);
                let last_new = ae.prev_log_index + ae.entries.len() as Index;
                // Step 5: if leaderCommit > commitIndex, set commitIndex =
                // min(leaderCommit, index of last new entry).
                let bound = if self.config.has(Bug::CommitBeyondLastNewEntry) {
                    ae.leader_commit // Bug: no bound at all.
                } else {
                    last_new
                };
                if ae.leader_commit > s.commit_index {
                    s.commit_index = s.commit_index.max(ae.leader_commit.min(bound));
                }
                reply(s.current_term, true, last_new, None)
            }
        };
        state.send(Envelope {
            from: me,
            to: leader,
            msg: Message::AppendEntriesResponse(response),
        });
    }

    /// Steps 3 and 4: delete an existing entry that conflicts with a new one
    /// (same index, different term) and all that follow it; append any new
    /// entries not already in the log.
    fn append_entries(&self, s: &mut Server, ae: &AppendEntries) {
        let stamp = |e: &Entry| {
            if self.config.has(Bug::EntriesStampedWithLeaderTerm) {
                Entry {
                    term: ae.term,
                    value: e.value,
                }
            } else {
                *e
            }
        };
        if self.config.has(Bug::TruncateOnEveryAppend) && !ae.entries.is_empty() {
            s.log.truncate(ae.prev_log_index as usize);
            s.log.extend(ae.entries.iter().map(stamp));
            return;
        }
        for (k, e) in ae.entries.iter().map(stamp).enumerate() {
            let at = ae.prev_log_index as usize + k;
            match s.log.get(at) {
                Some(existing) if existing.term == e.term => continue,
                Some(_) => {
                    s.log.truncate(at);
                    s.log.push(e);
                }
                None => s.log.push(e),
            }
        }
    }

    /// Figure 2, Leaders: if successful, update nextIndex and matchIndex for
    /// the follower; if it fails because of log inconsistency, decrement
    /// nextIndex (here: jump by the conflict hint).
    fn handle_append_response(
        &self,
        state: &mut State,
        follower: ServerId,
        me: ServerId,
        r: &AppendEntriesResponse,
    ) {
        let s = &mut state.servers[me as usize];
        let stale = r.term < s.current_term && !self.config.has(Bug::AcceptStaleReply);
        if stale || s.role != Role::Leader {
            return;
        }
        let f = follower as usize;
        if r.success {
            s.match_index[f] = s.match_index[f].max(r.match_index);
            // The clamp only matters with a stale response (accept-stale-reply):
            // it may describe a longer log than the leader now holds.
            s.next_index[f] = s.next_index[f]
                .max(r.match_index + 1)
                .min(s.last_index() + 1);
            self.maybe_commit(state, me);
        } else if let Some(conflict) = r.conflict {
            // Fast backup (the 6.824 guide's XTerm/XIndex/XLen).
            let next = match conflict.term {
                None => conflict.log_len + 1,
                Some(t) => match s.log.iter().rposition(|e| e.term == t) {
                    Some(last_of_term) => last_of_term as Index + 2,
                    None => conflict.first_index,
                },
            };
            // Not clamp(): a stale match_index may exceed the log (accept-stale-reply).
            s.next_index[f] = next.max(s.match_index[f] + 1).min(s.last_index() + 1);
        }
    }

    /// Figure 2, Leaders: if there exists an N > commitIndex such that a
    /// majority of matchIndex[i] >= N and log[N].term == currentTerm, set
    /// commitIndex = N.
    fn maybe_commit(&self, state: &mut State, me: ServerId) {
        let s = &mut state.servers[me as usize];
        for n in (s.commit_index + 1..=s.last_index()).rev() {
            let current_term = s.term_at(n) == s.current_term;
            if !current_term && !self.config.has(Bug::CommitPreviousTerm) {
                continue;
            }
            let replicas = 1 + self
                .peers(me)
                .filter(|&p| s.match_index[p as usize] >= n)
                .count();
            if replicas >= self.config.quorum() {
                s.commit_index = n;
                break;
            }
        }
    }
}

pub fn bit(i: ServerId) -> u8 {
    1 << i
}

fn become_follower(s: &mut Server) {
    s.role = Role::Follower;
    s.votes_granted = 0;
    s.next_index.clear();
    s.match_index.clear();
}

/// The conflict hint if the log does not contain an entry at
/// `prev_log_index` whose term is `prev_log_term`; None if it does.
fn consistency_check(
    s: &Server,
    prev_log_index: Index,
    prev_log_term: Term,
) -> Option<ConflictHint> {
    if prev_log_index > s.last_index() {
        return Some(ConflictHint {
            term: None,
            first_index: 0,
            log_len: s.last_index(),
        });
    }
    let t = s.term_at(prev_log_index);
    if t == prev_log_term {
        return None;
    }
    let first = s.log.iter().position(|e| e.term == t).unwrap_or(0) as Index + 1;
    Some(ConflictHint {
        term: Some(t),
        first_index: first,
        log_len: s.last_index(),
    })
}

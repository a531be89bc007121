//! The Raft model: which actions are enabled, and what each one does.
//!
//! One action is one atomic event of a node or the network. Everything a
//! node does while handling that event (stepping down, becoming leader and
//! sending its first AppendEntries, advancing commit_index, replying) happens
//! inside the same action. Read next to Figure 2 of the Raft paper.

use crate::config::{Bug, Config, Fix};
use crate::events::{Event, Events};
use crate::state::*;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};

/// The model: a configuration plus a record of the sanity events seen
/// while exploring (see [`Events`]).
pub struct RaftModel {
    pub config: Config,
    pub events: Events,
    /// Set to end a search early: every new state is then outside the
    /// boundary, so the checker drains its queue and stops.
    pub stop: AtomicBool,
    /// Return each successor as its symmetry representative. stateright's
    /// BFS ignores `.symmetry()`; with this set, BFS explores the quotient
    /// graph instead (see `check::decanonicalize` for the way back).
    pub canonical: bool,
    /// A bit per invariant whose failure the checker was already told of.
    reported: AtomicU16,
}

impl RaftModel {
    pub fn new(config: Config) -> Self {
        RaftModel {
            config,
            events: Events::default(),
            stop: AtomicBool::new(false),
            canonical: false,
            reported: AtomicU16::new(0),
        }
    }

    /// Checks only the invariants whose bit is set in `mask` (bit i is
    /// `INVARIANTS[i]`): the others count as already reported.
    pub fn only_invariants(&mut self, mask: u16) {
        self.reported = AtomicU16::new(!mask);
    }

    /// True if invariant `i` already failed once in this search; marks it.
    pub fn already_reported(&self, i: usize) -> bool {
        self.reported.fetch_or(1 << i, Ordering::Relaxed) & (1 << i) != 0
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
    pub fn enabled_actions(&self, state: &State, actions: &mut Vec<Action>) {
        if self.stop.load(Ordering::Relaxed) {
            return; // The search is being stopped: let its queue drain.
        }
        let c = &self.config;
        for m in state.distinct_messages() {
            actions.push(Action::Deliver(m.clone()));
        }
        for i in self.servers() {
            let s = &state.servers[i as usize];
            if s.role != Role::Leader && s.current_term < c.max_term {
                actions.push(Action::Timeout(i));
            }
            if s.role == Role::Leader {
                actions.push(Action::Heartbeat(i));
                if s.log.len() < c.max_log as usize {
                    for v in 1..=c.values {
                        actions.push(Action::Propose(i, v));
                    }
                }
            }
            if state.faults.restarts < c.restarts {
                actions.push(Action::Restart(i));
            }
        }
        if state.faults.drops < c.drops {
            for m in state.distinct_messages() {
                actions.push(Action::Drop(m.clone()));
            }
        }
        if state.faults.duplicates < c.duplicates {
            for m in state.distinct_messages() {
                actions.push(Action::Duplicate(m.clone()));
            }
        }
    }

    /// The state after `action`, or None if the action is not enabled.
    pub fn step(&self, state: &State, action: &Action) -> Option<State> {
        let mut next = state.clone();
        let mut events = Vec::new();
        match action {
            Action::Deliver(m) => {
                if !next.take(m) {
                    return None;
                }
                self.receive(&mut next, m, &mut events);
            }
            Action::Timeout(i) => {
                let s = next.servers.get(*i as usize)?;
                if s.role == Role::Leader || s.current_term >= self.config.max_term {
                    return None;
                }
                self.start_election(&mut next, *i, &mut events);
            }
            Action::Heartbeat(i) => {
                if next.servers.get(*i as usize)?.role != Role::Leader {
                    return None;
                }
                self.replicate(&mut next, *i);
            }
            Action::Propose(i, v) => {
                let s = next.servers.get_mut(*i as usize)?;
                let full = s.log.len() >= self.config.max_log as usize;
                if s.role != Role::Leader || full || !(1..=self.config.values).contains(v) {
                    return None;
                }
                // Figure 2, Rules for Servers, Leaders: append the command to the local log.
                s.log.push(Entry {
                    term: s.current_term,
                    value: *v,
                });
                self.advance_commit_index(&mut next, *i);
            }
            Action::Restart(i) => {
                if next.faults.restarts >= self.config.restarts {
                    return None;
                }
                next.faults.restarts += 1;
                self.restart(&mut next, *i)?;
            }
            Action::Drop(m) => {
                if next.faults.drops >= self.config.drops || !next.take(m) {
                    return None;
                }
                next.faults.drops += 1;
            }
            Action::Duplicate(m) => {
                if next.faults.duplicates >= self.config.duplicates || !state.network.contains(m) {
                    return None;
                }
                next.faults.duplicates += 1;
                next.send(m.clone());
            }
        }
        check_leader_append_only(state, &mut next);
        if self.within_bounds(&next) {
            self.events.record(&events);
        }
        if self.canonical {
            return Some(stateright::Representative::representative(&next));
        }
        Some(next)
    }

    /// The state bound: the number of messages in flight.
    pub fn within_bounds(&self, state: &State) -> bool {
        state.network.len() <= self.config.max_in_flight as usize
            && !self.stop.load(Ordering::Relaxed)
    }

    fn restart(&self, state: &mut State, i: ServerId) -> Option<()> {
        let s = state.servers.get_mut(i as usize)?;
        // current_term, voted_for and log are persistent; the rest is volatile.
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
        Some(())
    }

    /// Figure 2, Rules for Servers, Followers/Candidates: on election
    /// timeout, start an election.
    fn start_election(&self, state: &mut State, i: ServerId, events: &mut Vec<Event>) {
        let s = &mut state.servers[i as usize];
        s.current_term += 1;
        s.role = Role::Candidate;
        s.voted_for = Some(i);
        s.votes_cast = bit(i);
        s.votes_granted = bit(i);
        s.next_index.clear();
        s.match_index.clear();
        let body = Body::RequestVote {
            term: s.current_term,
            last_log_index: s.last_index(),
            last_log_term: s.last_term(),
        };
        for p in self.peers(i) {
            state.send(Msg {
                from: i,
                to: p,
                body: body.clone(),
            });
        }
        self.maybe_become_leader(state, i, events);
    }

    /// Figure 2, All Servers: if RPC request or response contains term T >
    /// currentTerm, set currentTerm = T and convert to follower.
    fn update_term(&self, state: &mut State, i: ServerId, term: Term, events: &mut Vec<Event>) {
        let s = &mut state.servers[i as usize];
        if term > s.current_term {
            if s.role == Role::Leader {
                events.push(Event::StaleLeaderSteppedDown);
            }
            s.current_term = term;
            s.voted_for = None;
            s.votes_cast = 0;
            become_follower(s);
        }
    }

    fn receive(&self, state: &mut State, m: &Msg, events: &mut Vec<Event>) {
        let me = m.to;
        self.update_term(state, me, m.body.term(), events);
        let s = &mut state.servers[me as usize];
        if self.config.has(Bug::VoteResetOnSameTerm)
            && m.body.is_request()
            && m.body.term() == s.current_term
        {
            // Bug: "becomes follower" on a request of the same term, clearing voted_for.
            s.voted_for = None;
            become_follower(s);
        }
        match &m.body {
            Body::RequestVote {
                term,
                last_log_index,
                last_log_term,
            } => self.on_request_vote(state, m.from, me, *term, *last_log_index, *last_log_term),
            Body::RequestVoteReply { term, vote_granted } => {
                self.on_request_vote_reply(state, m.from, me, *term, *vote_granted, events)
            }
            Body::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            } => self.on_append_entries(
                state,
                m.from,
                me,
                AppendEntries {
                    term: *term,
                    prev_log_index: *prev_log_index,
                    prev_log_term: *prev_log_term,
                    entries,
                    leader_commit: *leader_commit,
                },
                events,
            ),
            Body::AppendEntriesReply {
                term,
                success,
                match_index,
                hint,
            } => self.on_append_entries_reply(
                state,
                m.from,
                me,
                *term,
                *success,
                *match_index,
                *hint,
            ),
        }
    }

    /// Figure 2, RequestVote RPC, receiver implementation.
    fn on_request_vote(
        &self,
        state: &mut State,
        candidate: ServerId,
        me: ServerId,
        term: Term,
        last_log_index: Index,
        last_log_term: Term,
    ) {
        let s = &mut state.servers[me as usize];
        // Step 1: reply false if term < currentTerm (then term == current_term below).
        let mut vote_granted = false;
        if term == s.current_term {
            // §5.4.1: the candidate's log is at least as up-to-date as the receiver's.
            let up_to_date = self.config.has(Bug::NoUpToDateCheck)
                || last_log_term > s.last_term()
                || (last_log_term == s.last_term() && last_log_index >= s.last_index());
            // Step 2: votedFor is null or candidateId, and the log is up-to-date.
            if (s.voted_for.is_none() || s.voted_for == Some(candidate)) && up_to_date {
                s.voted_for = Some(candidate);
                s.votes_cast |= bit(candidate);
                vote_granted = true;
            }
        }
        let reply = Body::RequestVoteReply {
            term: s.current_term,
            vote_granted,
        };
        state.send(Msg {
            from: me,
            to: candidate,
            body: reply,
        });
    }

    fn on_request_vote_reply(
        &self,
        state: &mut State,
        voter: ServerId,
        me: ServerId,
        term: Term,
        vote_granted: bool,
        events: &mut Vec<Event>,
    ) {
        let s = &mut state.servers[me as usize];
        // A reply from an older term, or to a candidacy that is over, is stale.
        if term < s.current_term || s.role != Role::Candidate || !vote_granted {
            return;
        }
        s.votes_granted |= bit(voter);
        self.maybe_become_leader(state, me, events);
    }

    /// Figure 2, Candidates: if votes received from a majority of servers,
    /// become leader and send initial empty AppendEntries to each server.
    fn maybe_become_leader(&self, state: &mut State, me: ServerId, events: &mut Vec<Event>) {
        let n = self.config.servers as usize;
        let s = &mut state.servers[me as usize];
        if s.role != Role::Candidate
            || (s.votes_granted.count_ones() as usize) < self.config.quorum()
        {
            return;
        }
        s.role = Role::Leader;
        s.votes_granted = 0;
        s.next_index = vec![s.last_index() + 1; n];
        s.match_index = vec![0; n];
        state.history.leaders[s.current_term as usize] |= bit(me);
        if state.faults.restarts > 0 {
            events.push(Event::LeaderElectedAfterRestart);
        }
        self.replicate(state, me);
    }

    /// Heartbeat/replicate: AppendEntries to every peer from its next_index.
    fn replicate(&self, state: &mut State, leader: ServerId) {
        for p in self.peers(leader) {
            let s = &state.servers[leader as usize];
            let prev_log_index = s.next_index[p as usize] - 1;
            let from = prev_log_index as usize;
            let to = match self.config.max_batch {
                0 => s.log.len(),
                batch => s.log.len().min(from + batch as usize),
            };
            let body = Body::AppendEntries {
                term: s.current_term,
                prev_log_index,
                prev_log_term: s.term_at(prev_log_index),
                entries: s.log[from..to].to_vec(),
                leader_commit: s.commit_index,
            };
            state.send(Msg {
                from: leader,
                to: p,
                body,
            });
        }
    }

    /// Figure 2, AppendEntries RPC, receiver implementation.
    fn on_append_entries(
        &self,
        state: &mut State,
        leader: ServerId,
        me: ServerId,
        req: AppendEntries<'_>,
        events: &mut Vec<Event>,
    ) {
        let s = &mut state.servers[me as usize];
        let reply = |term, success, match_index, hint| Body::AppendEntriesReply {
            term,
            success,
            match_index,
            hint,
        };
        let body = if req.term < s.current_term {
            // Step 1: reply false if term < currentTerm.
            reply(s.current_term, false, 0, None)
        } else if s.role == Role::Leader {
            // Another leader of this very term: impossible unless Election
            // Safety is already broken. The message is dropped.
            return;
        } else {
            // Figure 2, Candidates: AppendEntries from the new leader: convert to follower.
            become_follower(s);
            if self.config.fixed(Fix::RejectPrevBelowCommit) && req.prev_log_index < s.commit_index
            {
                let hint = ConflictHint {
                    term: None,
                    first_index: 0,
                    log_len: s.commit_index,
                };
                reply(s.current_term, false, 0, Some(hint))
            } else if let Some(hint) = consistency_check(s, req.prev_log_index, req.prev_log_term) {
                // Step 2: reply false if the log has no entry at prevLogIndex
                // whose term matches prevLogTerm.
                reply(s.current_term, false, 0, Some(hint))
            } else {
                self.append_entries(s, &req, events);
                let last_new = req.prev_log_index + req.entries.len() as Index;
                // Step 5: if leaderCommit > commitIndex, set commitIndex =
                // min(leaderCommit, index of last new entry).
                let bound = if self.config.has(Bug::CommitBeyondLastNewEntry) {
                    req.leader_commit // Bug: no bound at all.
                } else {
                    last_new
                };
                let old_commit = s.commit_index;
                if req.leader_commit > s.commit_index {
                    s.commit_index = s.commit_index.max(req.leader_commit.min(bound));
                }
                let term = s.current_term;
                state
                    .history
                    .record_commits(&state.servers[me as usize], old_commit);
                reply(term, true, last_new, None)
            }
        };
        state.send(Msg {
            from: me,
            to: leader,
            body,
        });
    }

    /// Steps 3 and 4: delete an existing entry that conflicts with a new one
    /// (same index, different term) and all that follow it; append any new
    /// entries not already in the log.
    fn append_entries(&self, s: &mut Server, req: &AppendEntries<'_>, events: &mut Vec<Event>) {
        let stamp = |e: &Entry| {
            if self.config.has(Bug::EntriesStampedWithLeaderTerm) {
                Entry {
                    term: req.term,
                    value: e.value,
                }
            } else {
                *e
            }
        };
        if self.config.has(Bug::TruncateOnEveryAppend) && !req.entries.is_empty() {
            s.log.truncate(req.prev_log_index as usize);
            s.log.extend(req.entries.iter().map(stamp));
            return;
        }
        for (k, e) in req.entries.iter().map(stamp).enumerate() {
            let at = req.prev_log_index as usize + k;
            match s.log.get(at) {
                Some(existing) if existing.term == e.term => continue,
                Some(_) => {
                    s.log.truncate(at);
                    s.log.push(e);
                    events.push(Event::ConflictingEntryOverwritten);
                }
                None => s.log.push(e),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_append_entries_reply(
        &self,
        state: &mut State,
        follower: ServerId,
        me: ServerId,
        term: Term,
        success: bool,
        match_index: Index,
        hint: Option<ConflictHint>,
    ) {
        let s = &mut state.servers[me as usize];
        let stale = term < s.current_term && !self.config.has(Bug::AcceptStaleReply);
        if stale || s.role != Role::Leader {
            return;
        }
        let f = follower as usize;
        if success {
            s.match_index[f] = s.match_index[f].max(match_index);
            // The clamp only matters with a stale reply (accept-stale-reply):
            // it may describe a longer log than the leader now holds.
            s.next_index[f] = s.next_index[f].max(match_index + 1).min(s.last_index() + 1);
            self.advance_commit_index(state, me);
        } else if let Some(hint) = hint {
            // Fast backup (the 6.824 guide's XTerm/XIndex/XLen).
            let next = match hint.term {
                None => hint.log_len + 1,
                Some(t) => match s.log.iter().rposition(|e| e.term == t) {
                    Some(last_of_term) => last_of_term as Index + 2,
                    None => hint.first_index,
                },
            };
            // Not clamp(): a stale match_index may exceed the log (accept-stale-reply).
            s.next_index[f] = next.max(s.match_index[f] + 1).min(s.last_index() + 1);
        }
    }

    /// Figure 2, Leaders: if there exists an N > commitIndex such that a
    /// majority of matchIndex[i] >= N and log[N].term == currentTerm, set
    /// commitIndex = N.
    fn advance_commit_index(&self, state: &mut State, me: ServerId) {
        let s = &mut state.servers[me as usize];
        let old_commit = s.commit_index;
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
        state
            .history
            .record_commits(&state.servers[me as usize], old_commit);
    }
}

/// The fields of an AppendEntries request, borrowed from the message.
struct AppendEntries<'a> {
    term: Term,
    prev_log_index: Index,
    prev_log_term: Term,
    entries: &'a [Entry],
    leader_commit: Index,
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

/// History: a server that was leader before and after the action, in the
/// same term, must only have appended to its log.
fn check_leader_append_only(before: &State, after: &mut State) {
    for (b, a) in before.servers.iter().zip(&after.servers) {
        let same_leadership =
            b.role == Role::Leader && a.role == Role::Leader && b.current_term == a.current_term;
        if same_leadership && !a.log.starts_with(&b.log) {
            after.history.leader_log_rewritten = true;
        }
    }
}

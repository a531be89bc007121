//! The Raft model: which actions are enabled, and what each one does.
//!
//! One action is one atomic event of a node or the network. Everything a
//! node does while handling that event (stepping down, becoming leader and
//! sending its first AppendEntries, advancing commit_index, replying) happens
//! inside the same action. The functions below touch only Figure 2 state;
//! history is computed afterwards from the states before and after
//! (`history.rs`). Read next to Figures 2 and 13 of the Raft paper:
//! elections (and the thesis's pre-vote, §9.6) in `election.rs`, check-quorum
//! (§6.2) in `checkquorum.rs`, leadership transfer (§3.10) in `transfer.rs`, log replication in `replication.rs`, compaction
//! and InstallSnapshot in `snapshot.rs`.

mod checkquorum;
mod election;
mod replication;
mod snapshot;
mod transfer;

use crate::config::{Bug, Config};
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
            if self.may_check_quorum(s) {
                actions.push(Action::CheckQuorum(i));
            }
            if self.may_propose(s) {
                actions.extend((1..=self.config.values).map(|v| Action::Propose(i, v)));
            }
            for t in self.servers() {
                if self.may_transfer(s, i, t) {
                    actions.push(Action::TransferLeadership(i, t));
                }
            }
            if self.may_abort_transfer(s) {
                actions.push(Action::AbortTransfer(i));
            }
            if self.may_restart(state) {
                actions.push(Action::Restart(i));
            }
            if self.may_lose_tail(state, s) {
                actions.push(Action::RestartLosingTail(i));
            }
            if self.may_snapshot(state, s) {
                actions.push(Action::Snapshot(i));
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
            Action::RestartLosingTail(i) => server(i).is_some_and(|s| self.may_lose_tail(state, s)),
            Action::Drop(m) => self.may_drop(state) && in_flight(m),
            Action::Duplicate(m) => self.may_duplicate(state) && in_flight(m),
            Action::Snapshot(i) => server(i).is_some_and(|s| self.may_snapshot(state, s)),
            Action::CheckQuorum(i) => server(i).is_some_and(|s| self.may_check_quorum(s)),
            Action::TransferLeadership(i, t) => {
                server(i).is_some_and(|s| self.may_transfer(s, *i, *t))
            }
            Action::AbortTransfer(i) => server(i).is_some_and(|s| self.may_abort_transfer(s)),
        }
    }

    /// Figure 2, Followers and Candidates: an election timeout (up to the
    /// term bound). A recovering server does not stand for election.
    fn may_time_out(&self, s: &Server) -> bool {
        s.role != Role::Leader && s.current_term < self.config.max_term && !s.recovering()
    }

    /// Figure 2, Leaders: a command from a client (up to the log bound); none while
    /// the leader transfers its leadership (thesis §3.10).
    fn may_propose(&self, s: &Server) -> bool {
        s.role == Role::Leader
            && s.log.len() < self.config.max_log as usize
            && s.lead_transferee.is_none()
    }

    fn may_restart(&self, state: &State) -> bool {
        state.faults.restarts < self.config.restarts
    }

    /// The data-loss fault: budget left, and an entry above the snapshot to lose.
    fn may_lose_tail(&self, state: &State, s: &Server) -> bool {
        state.faults.lost_tails < self.config.lose_tail && !s.log.is_empty()
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
            Action::ElectionTimeout(i) if self.config.pre_vote => {
                self.become_pre_candidate(state, *i)
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
            Action::RestartLosingTail(i) => {
                state.faults.lost_tails += 1;
                self.restart_losing_tail(&mut state.servers[*i as usize]);
            }
            Action::Drop(m) => {
                state.faults.drops += 1;
                state.take(m);
            }
            Action::Duplicate(m) => {
                state.faults.duplicates += 1;
                state.send(m.clone());
            }
            Action::Snapshot(i) => {
                state.faults.snapshots += 1;
                self.compact(&mut state.servers[*i as usize]);
            }
            Action::CheckQuorum(i) => self.check_quorum(state, *i),
            Action::TransferLeadership(i, t) => self.start_transfer(state, *i, *t),
            Action::AbortTransfer(i) => state.servers[*i as usize].lead_transferee = None,
        }
    }

    /// Crash and restart: persistent state (current_term, voted_for, log,
    /// snapshot) survives; the rest is volatile. The state machine is
    /// restored from the snapshot, so commit_index starts at its last index
    /// (Figure 13; the 6.824 snapshot lab).
    fn restart(&self, s: &mut Server) {
        s.role = Role::Follower;
        s.heard_from_leader = false;
        s.heard_from = 0;
        s.lead_transferee = None;
        s.commit_index = s.snapshot.last_included_index;
        s.votes_granted = 0;
        s.next_index.clear();
        s.match_index.clear();
        if self.config.has(Bug::VoteNotPersisted) {
            s.voted_for = None;
        }
        if self.config.has(Bug::LogNotPersisted) {
            s.log.clear();
        }
        if self.config.has(Bug::SnapshotNotPersistedWithState) {
            s.snapshot.entries.clear();
        }
    }

    /// A restart whose storage lost the last log entry and detected it:
    /// the entries up to the old last index may have been acknowledged, so
    /// the server recovers until a leader re-sends them.
    fn restart_losing_tail(&self, s: &mut Server) {
        self.restart(s);
        let last = s.last_index();
        s.log.pop();
        if !self.config.has(Bug::ForgetLostTail) {
            s.lost_up_to = s.lost_up_to.max(last);
            s.lost_term = s.current_term;
        }
    }

    /// Delivery of one message to `m.to`.
    fn step(&self, state: &mut State, m: &Envelope) {
        let s = &mut state.servers[m.to as usize];
        if self.sticky_ignores(s, &m.msg) {
            return;
        }
        // Figure 2, All Servers: if RPC request or response contains term T >
        // currentTerm, set currentTerm = T and convert to follower. A PreVote's
        // term is the one its sender would stand in: it changes nothing (§9.6).
        let pre_vote = matches!(m.msg, Message::PreVote(_));
        if m.msg.term() > s.current_term && !pre_vote {
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
        let (from, me) = (m.from, m.to);
        self.record_heard(s, from, &m.msg);
        match &m.msg {
            Message::RequestVote(rv) => self.handle_request_vote(state, from, me, rv),
            Message::RequestVoteResponse(r) => self.handle_vote_response(state, from, me, r),
            Message::AppendEntries(ae) => self.handle_append_entries(state, from, me, ae),
            Message::AppendEntriesResponse(r) => self.handle_append_response(state, from, me, r),
            Message::InstallSnapshot(is) => self.handle_install_snapshot(state, from, me, is),
            Message::InstallSnapshotResponse(r) => {
                self.handle_install_snapshot_response(state, from, me, r)
            }
            Message::PreVote(pv) => self.handle_pre_vote(state, from, me, pv),
            Message::PreVoteResponse(r) => self.handle_pre_vote_response(state, from, me, r),
            Message::TimeoutNow(tn) => self.handle_timeout_now(state, me, tn),
        }
    }
}

pub fn bit(i: ServerId) -> u8 {
    1 << i
}

fn become_follower(s: &mut Server) {
    s.role = Role::Follower;
    s.heard_from_leader = false;
    s.heard_from = 0;
    s.lead_transferee = None;
    s.votes_granted = 0;
    s.next_index.clear();
    s.match_index.clear();
}

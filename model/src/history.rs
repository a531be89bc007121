//! History: what the properties need to know about the past, computed in one
//! place from the states before and after a step.
//!
//! The protocol functions (`raft.rs`) touch only Figure 2 state. After every
//! step, [`observe`] updates the history variables (who was elected, what
//! was committed, the votes cast, whether a leader rewrote its log) and
//! reports the sanity events the step performed. Conformance calls the same
//! function on the implementation's abstract states, so the model and the
//! implementation are judged by one definition of history.

use crate::config::{Bug, Config};
use crate::properties::transitions;
use crate::state::{Action, Commit, History, Index, Message, Role, Server, State};

/// Things that happen inside a transition (an entry is overwritten, a stale
/// leader steps down) and that no single state shows. They only feed the
/// "is the search vacuous?" report; no safety property depends on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    ConflictingEntryOverwritten,
    LeaderElectedAfterRestart,
    StaleLeaderSteppedDown,
    FollowerInstalledSnapshot,
    RestartedFromSnapshot,
    KeptEntriesAfterSnapshot,
    RecoveringServerRepaired,
    PreVoteRefusedForALeader,
    PreVoteElectionStarted,
    LeaderSteppedDownOnLostQuorum,
    VoteRequestIgnoredByStickyServer,
    ElectionStartedByTimeoutNow,
    LeaderElectedByTransfer,
}

impl Event {
    pub const ALL: [Event; 13] = [
        Event::ConflictingEntryOverwritten,
        Event::LeaderElectedAfterRestart,
        Event::StaleLeaderSteppedDown,
        Event::FollowerInstalledSnapshot,
        Event::RestartedFromSnapshot,
        Event::KeptEntriesAfterSnapshot,
        Event::RecoveringServerRepaired,
        Event::PreVoteRefusedForALeader,
        Event::PreVoteElectionStarted,
        Event::LeaderSteppedDownOnLostQuorum,
        Event::VoteRequestIgnoredByStickyServer,
        Event::ElectionStartedByTimeoutNow,
        Event::LeaderElectedByTransfer,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Event::ConflictingEntryOverwritten => "a follower's conflicting entry is overwritten",
            Event::LeaderElectedAfterRestart => "a leader is elected after a restart",
            Event::StaleLeaderSteppedDown => "a stale leader steps down",
            Event::FollowerInstalledSnapshot => {
                "a follower is brought up to date by InstallSnapshot"
            }
            Event::RestartedFromSnapshot => "a server restarts from a snapshot",
            Event::KeptEntriesAfterSnapshot => {
                "a follower keeps its entries after the snapshot's last index"
            }
            Event::RecoveringServerRepaired => "a server that lost its tail is repaired",
            Event::PreVoteRefusedForALeader => {
                "a pre-vote is refused by a follower that hears from a leader"
            }
            Event::PreVoteElectionStarted => "a pre-candidate wins its pre-vote and stands",
            Event::LeaderSteppedDownOnLostQuorum => "a leader steps down on lost quorum",
            Event::VoteRequestIgnoredByStickyServer => {
                "a vote request of a higher term is ignored by a server that hears from a leader"
            }
            Event::ElectionStartedByTimeoutNow => "a TimeoutNow starts an election",
            Event::LeaderElectedByTransfer => {
                "a leadership transfer completes: its target is elected"
            }
        }
    }

    /// Whether a search of `config` can reach this event at all (snapshot
    /// events need compactions, and entries beyond one for the last).
    pub fn possible(self, config: &Config) -> bool {
        match self {
            Event::LeaderElectedAfterRestart => config.restarts > 0,
            Event::FollowerInstalledSnapshot => config.snapshots > 0,
            Event::RestartedFromSnapshot => config.snapshots > 0 && config.restarts > 0,
            Event::KeptEntriesAfterSnapshot => config.snapshots > 0 && config.max_log >= 2,
            Event::RecoveringServerRepaired => {
                config.lose_tail > 0 && !config.has(Bug::ForgetLostTail)
            }
            Event::PreVoteRefusedForALeader | Event::PreVoteElectionStarted => config.pre_vote,
            Event::LeaderSteppedDownOnLostQuorum | Event::VoteRequestIgnoredByStickyServer => {
                config.check_quorum
            }
            Event::ElectionStartedByTimeoutNow | Event::LeaderElectedByTransfer => config.transfer,
            _ => true,
        }
    }

    pub fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// A set of [`Event`]s, a bit each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events(pub u16);

impl Events {
    pub fn insert(&mut self, e: Event) {
        self.0 |= e.bit();
    }

    pub fn contains(self, e: Event) -> bool {
        self.0 & e.bit() != 0
    }
}

/// Updates `after.history` for the step `before --action--> after`, checks
/// the step's transition properties, and returns the sanity events it
/// performed. `after.history` must start as `before.history` (the protocol
/// never writes history).
pub fn observe(before: &State, action: &Action, after: &mut State) -> Events {
    let mut events = Events::default();
    after.history.broken |= transitions::broken(before, action, after);
    let restarted = after.faults.restarts > 0 || after.faults.lost_tails > 0;
    let history = &mut after.history;
    for (i, (b, a)) in before.servers.iter().zip(&after.servers).enumerate() {
        let same_leadership = b.role == Role::Leader && b.current_term == a.current_term;
        if let Action::Deliver(m) = action {
            if m.to as usize == i
                && matches!(m.msg, Message::InstallSnapshot(_))
                && a.snapshot != b.snapshot
            {
                events.insert(Event::FollowerInstalledSnapshot);
                if !a.log.is_empty() {
                    events.insert(Event::KeptEntriesAfterSnapshot);
                }
            }
        }
        if let Action::Deliver(m) = action {
            let to_me = m.to as usize == i;
            if to_me && matches!(m.msg, Message::PreVote(_)) && b.heard_from_leader {
                events.insert(Event::PreVoteRefusedForALeader);
            }
            let pre_vote_reply = matches!(m.msg, Message::PreVoteResponse(_));
            if to_me && pre_vote_reply && b.role == Role::PreCandidate && a.role == Role::Candidate
            {
                events.insert(Event::PreVoteElectionStarted);
            }
        }
        if *action == Action::CheckQuorum(i as u8) && b.role == Role::Leader && a.role != b.role {
            events.insert(Event::LeaderSteppedDownOnLostQuorum);
        }
        if let Action::Deliver(m) = action {
            let higher_vote_request =
                matches!(&m.msg, Message::RequestVote(rv) if rv.term > b.current_term);
            if m.to as usize == i && higher_vote_request && a.current_term == b.current_term {
                events.insert(Event::VoteRequestIgnoredByStickyServer);
            }
        }
        if let Action::Deliver(m) = action {
            let timeout_now = matches!(m.msg, Message::TimeoutNow(_));
            if m.to as usize == i && timeout_now && a.role == Role::Candidate {
                events.insert(Event::ElectionStartedByTimeoutNow);
                history.transfer_terms |= 1 << a.current_term;
            }
        }
        if *action == Action::Restart(i as u8) && a.first_index() > 0 {
            events.insert(Event::RestartedFromSnapshot);
        }
        if a.role == Role::Leader {
            // Election Safety counts every server ever leader in a term.
            let t = a.current_term as usize;
            if history.leaders.len() <= t {
                history.leaders.resize(t + 1, 0);
            }
            history.leaders[t] |= 1 << i;
            if same_leadership && !a.logical_log().starts_with(&b.logical_log()) {
                history.leader_log_rewritten = true;
            }
            if !same_leadership && restarted {
                events.insert(Event::LeaderElectedAfterRestart);
            }
            if !same_leadership && history.transfer_terms & 1 << t != 0 {
                events.insert(Event::LeaderElectedByTransfer);
            }
        }
        if b.role == Role::Leader && a.current_term > b.current_term {
            events.insert(Event::StaleLeaderSteppedDown);
        }
        if b.recovering() && !a.recovering() {
            events.insert(Event::RecoveringServerRepaired);
        }
        if a.role != Role::Leader && overwrote_an_entry(b, a) {
            events.insert(Event::ConflictingEntryOverwritten);
        }
        history.record_commits(a, b.commit_index);
        record_vote(history, i, b, a);
    }
    events
}

/// The votes cast: a new term starts with none; a vote is the server's
/// `voted_for` in its current term.
fn record_vote(history: &mut History, i: usize, before: &Server, after: &Server) {
    if history.votes_cast.len() <= i {
        history.votes_cast.resize(i + 1, 0);
    }
    if after.current_term > before.current_term {
        history.votes_cast[i] = 0;
    }
    if let Some(c) = after.voted_for {
        history.votes_cast[i] |= 1 << c;
    }
}

/// True when an entry of `before`'s log was replaced by a different one.
fn overwrote_an_entry(before: &Server, after: &Server) -> bool {
    let (b, a) = (before.logical_log(), after.logical_log());
    b.iter().zip(a.iter()).any(|(b, a)| b != a)
}

impl History {
    /// Records the entries `s` committed above `old_commit`, keeping for
    /// each the lowest term in which any server committed it.
    pub fn record_commits(&mut self, s: &Server, old_commit: Index) {
        for index in old_commit + 1..=s.commit_index {
            let Some(entry) = s.entry(index) else { break };
            match self
                .commits
                .iter()
                .position(|c| c.index == index && c.entry == entry)
            {
                Some(at) => self.commits[at].term = self.commits[at].term.min(s.current_term),
                None => {
                    let c = Commit {
                        index,
                        entry,
                        term: s.current_term,
                    };
                    let at = self.commits.partition_point(|x| x < &c);
                    self.commits.insert(at, c);
                }
            }
        }
    }
}

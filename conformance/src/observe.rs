//! History variables for the implementation's abstract state.
//!
//! The model's invariants read history (leaders per term, everything ever
//! committed, whether a leader's log was rewritten, the votes cast in a
//! term). The core keeps none of it, so the harness derives it from the
//! sequence of abstract states it observes after every step, by the same
//! definitions the model's comments give. With it, `properties::violated`
//! can be evaluated on the implementation exactly as on the model.

use raft_model::state::{Faults, History, Msg, Role, Server, State};
use raft_model::Action;

#[derive(Clone, Debug, Default)]
pub struct Observer {
    prev: Vec<Server>,
    history: History,
    faults: Faults,
    /// Per server: (term, bit per candidate it voted for in that term).
    votes_cast: Vec<(u8, u8)>,
}

impl Observer {
    pub fn new(initial: &[Server]) -> Observer {
        let mut o = Observer {
            prev: initial.to_vec(),
            votes_cast: vec![(0, 0); initial.len()],
            ..Observer::default()
        };
        o.record(initial);
        o
    }

    /// Updates the history with the abstract state `now`, reached by `action`.
    pub fn observe(&mut self, action: &Action, now: &[Server]) {
        match action {
            Action::Restart(_) => self.faults.restarts += 1,
            Action::Drop(_) => self.faults.drops += 1,
            Action::Duplicate(_) => self.faults.duplicates += 1,
            _ => {}
        }
        for (before, after) in self.prev.iter().zip(now) {
            let same_leadership = before.role == Role::Leader
                && after.role == Role::Leader
                && before.current_term == after.current_term;
            if same_leadership && !after.log.starts_with(&before.log) {
                self.history.leader_log_rewritten = true;
            }
        }
        for (before, after) in self.prev.iter().zip(now) {
            self.history.record_commits(after, before.commit_index);
        }
        self.record(now);
        self.prev = now.to_vec();
    }

    fn record(&mut self, now: &[Server]) {
        for (i, s) in now.iter().enumerate() {
            if s.role == Role::Leader {
                let t = s.current_term as usize;
                if self.history.leaders.len() <= t {
                    self.history.leaders.resize(t + 1, 0);
                }
                self.history.leaders[t] |= 1 << i;
            }
            let (term, bits) = &mut self.votes_cast[i];
            // No vote can be cast in an older term: a new term starts empty.
            if s.current_term > *term {
                *term = s.current_term;
                *bits = 0;
            }
            if let Some(c) = s.voted_for {
                *bits |= 1 << c;
            }
        }
    }

    /// The implementation's abstract state with its history, for the
    /// invariants. `servers` and `network` are the current observation.
    pub fn state(&self, servers: &[Server], network: Vec<Msg>) -> State {
        let servers = servers
            .iter()
            .zip(&self.votes_cast)
            .map(|(s, &(_, bits))| Server {
                votes_cast: bits,
                ..s.clone()
            })
            .collect();
        State {
            servers,
            network,
            faults: self.faults,
            history: self.history.clone(),
        }
    }
}

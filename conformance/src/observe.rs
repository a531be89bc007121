//! History variables for the implementation's abstract state.
//!
//! The model's invariants read history (leaders per term, everything ever
//! committed, whether a leader's log was rewritten, the votes cast in a
//! term). The core keeps none of it, so the harness computes it from the
//! abstract states it observes before and after every step, with the
//! model's own [`history::observe`]: one definition of history judges both.
//! With it, `properties::violated` can be evaluated on the implementation
//! exactly as on the model.

use raft_model::history;
use raft_model::state::{Envelope, Server, State};
use raft_model::Action;

#[derive(Clone, Debug)]
pub struct Observer {
    /// The last observed abstract state, with its history.
    last: State,
}

impl Observer {
    pub fn new(initial: &[Server]) -> Observer {
        let mut last = State::initial(initial.len(), 0);
        last.servers = initial.to_vec();
        Observer { last }
    }

    /// Updates the history with the abstract state `now` (servers and
    /// network), reached by `action`.
    pub fn observe(&mut self, action: &Action, now: &[Server], network: Vec<Envelope>) {
        let mut faults = self.last.faults;
        match action {
            Action::Restart(_) => faults.restarts += 1,
            Action::RestartLosingTail(_) => faults.lost_tails += 1,
            Action::Drop(_) => faults.drops += 1,
            Action::Duplicate(_) => faults.duplicates += 1,
            _ => {}
        }
        let mut next = State {
            servers: now.to_vec(),
            network,
            faults,
            history: self.last.history.clone(),
        };
        history::observe(&self.last, action, &mut next);
        self.last = next;
    }

    /// The implementation's abstract state with its history, for the invariants.
    pub fn state(&self) -> &State {
        &self.last
    }
}

//! The stateright glue: [`RaftModel`] as a [`stateright::Model`].

use crate::properties::{INVARIANTS, SANITY};
use crate::raft::RaftModel;
use crate::state::{Action, State};
use stateright::{Model, Property};

// stateright 0.31 records a discovery by overwriting: a later violating
// state in the same block of work replaces the path to an earlier one, so
// BFS would not return the shortest counterexample. Each invariant
// therefore reports only its first failure; in BFS order that is the
// shallowest.
macro_rules! always {
    ($i:literal) => {
        Property::always(INVARIANTS[$i].name, |m, s| {
            (INVARIANTS[$i].holds)(s) || m.already_reported($i)
        })
    };
}

macro_rules! sometimes {
    ($i:literal) => {
        Property::sometimes(SANITY[$i].name, |_, s| (SANITY[$i].reached)(s))
    };
}

impl Model for RaftModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![self.init_state()]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        self.enabled_actions(state, actions)
    }

    fn next_state(&self, state: &State, action: Action) -> Option<State> {
        self.step(state, &action)
    }

    fn within_boundary(&self, state: &State) -> bool {
        self.within_bounds(state)
    }

    fn format_action(&self, action: &Action) -> String {
        crate::trace::table::action_text(action)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        const _: () = assert!(INVARIANTS.len() == 10 && SANITY.len() == 3);
        vec![
            always!(0),
            always!(1),
            always!(2),
            always!(3),
            always!(4),
            always!(5),
            always!(6),
            always!(7),
            always!(8),
            always!(9),
            sometimes!(0),
            sometimes!(1),
            sometimes!(2),
        ]
    }
}

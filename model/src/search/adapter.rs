//! The stateright adapter: [`RaftModel`] as a [`stateright::Model`], plus
//! what only a search needs (stopping early, symmetry representatives for
//! BFS, reporting each invariant once, the sanity events seen).

use crate::history::{Event, Events};
use crate::properties::{INVARIANTS, SANITY};
use crate::raft::RaftModel;
use crate::state::{Action, State};
use stateright::{Model, Property, Representative};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};

/// A [`RaftModel`] being searched.
pub struct Searched {
    pub model: RaftModel,
    /// Set to end a search early: every new state is then outside the
    /// boundary, so the checker drains its queue and stops.
    pub stop: AtomicBool,
    /// Return each successor as its symmetry representative. stateright's
    /// BFS ignores `.symmetry()`; with this set, BFS explores the quotient
    /// graph instead (see `decanonicalize` for the way back).
    pub canonical: bool,
    /// A bit per invariant whose failure the checker was already told of.
    reported: AtomicU64,
    /// The sanity events explored transitions performed (shared by threads).
    events: AtomicU16,
}

impl Searched {
    pub fn new(model: RaftModel) -> Self {
        Searched {
            model,
            stop: AtomicBool::new(false),
            canonical: false,
            reported: AtomicU64::new(0),
            events: AtomicU16::new(0),
        }
    }

    /// Checks only the invariants whose bit is set in `mask` (bit i is
    /// `INVARIANTS[i]`): the others count as already reported.
    pub fn only_invariants(&mut self, mask: u64) {
        self.reported = AtomicU64::new(!mask);
    }

    /// True if invariant `i` already failed once in this search; marks it.
    pub fn already_reported(&self, i: usize) -> bool {
        self.reported.fetch_or(1 << i, Ordering::Relaxed) & (1u64 << i) != 0
    }

    pub fn seen(&self, event: Event) -> bool {
        Events(self.events.load(Ordering::Relaxed)).contains(event)
    }
}

// stateright 0.31 records a discovery by overwriting: a later violating
// state in the same block of work replaces the path to an earlier one, so
// BFS would not return the shortest counterexample. Each invariant
// therefore reports only its first failure; in BFS order that is the
// shallowest.
macro_rules! always {
    ($i:literal) => {
        Property::always(INVARIANTS[$i].name, |m: &Searched, s| {
            (INVARIANTS[$i].holds)(s) || m.already_reported($i)
        })
    };
}

macro_rules! sometimes {
    ($i:literal) => {
        Property::sometimes(SANITY[$i].name, |_, s| (SANITY[$i].reached)(s))
    };
}

impl Model for Searched {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![self.model.init_state()]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        if !self.stop.load(Ordering::Relaxed) {
            self.model.actions(state, actions)
        }
    }

    fn next_state(&self, state: &State, action: Action) -> Option<State> {
        let (next, events) = self.model.transition(state, &action)?;
        if self.within_boundary(&next) {
            self.events.fetch_or(events.0, Ordering::Relaxed);
        }
        if self.canonical {
            return Some(next.representative());
        }
        Some(next)
    }

    fn within_boundary(&self, state: &State) -> bool {
        self.model.within_bounds(state) && !self.stop.load(Ordering::Relaxed)
    }

    fn format_action(&self, action: &Action) -> String {
        crate::trace::table::action_text(action)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        const _: () = assert!(INVARIANTS.len() == 36 && SANITY.len() == 3);
        let mut properties = vec![
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
            always!(10),
            always!(11),
            always!(12),
            always!(13),
            always!(14),
            always!(15),
            always!(16),
            always!(17),
            always!(18),
            always!(19),
            always!(20),
            always!(21),
            always!(22),
            always!(23),
            always!(24),
            always!(25),
            always!(26),
            always!(27),
            always!(28),
            always!(29),
            always!(30),
            always!(31),
            always!(32),
            always!(33),
            always!(34),
            always!(35),
        ];
        properties.extend([sometimes!(0), sometimes!(1), sometimes!(2)]);
        properties
    }
}

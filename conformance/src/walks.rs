//! Random walks through the model in a bound too large to enumerate.
//!
//! A walk starts in the initial state and repeatedly takes a uniformly
//! chosen enabled action whose successor stays inside the bound, until it
//! has `len` steps or nothing is enabled. A walk is a function of its seed.
//!
//! The budgeted actions (restart, loss, duplication, snapshot) would
//! otherwise be spent in the first steps, where they are enabled among few
//! others; each walk instead draws, per kind, the step from which that kind
//! may happen, so faults also fall late, after compactions and commits.

use crate::Behaviour;
use raft_model::{Action, RaftModel};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The budgeted kinds of action, as indices into a walk's earliest steps.
fn budgeted(a: &Action) -> Option<usize> {
    match a {
        Action::Restart(_) | Action::RestartLosingTail(_) => Some(0),
        Action::Drop(_) => Some(1),
        Action::Duplicate(_) => Some(2),
        Action::Snapshot(_) => Some(3),
        Action::Deliver(_)
        | Action::ElectionTimeout(_)
        | Action::Heartbeat(_)
        | Action::Propose(..)
        | Action::CheckQuorum(_)
        | Action::TransferLeadership(..)
        | Action::AbortTransfer(_) => None,
    }
}

pub fn walk(model: &RaftModel, seed: u64, len: usize) -> Behaviour {
    let mut rng = StdRng::seed_from_u64(seed);
    let earliest: [usize; 4] = std::array::from_fn(|_| rng.random_range(0..len.max(1)));
    let mut b = Behaviour {
        states: vec![model.init_state()],
        actions: Vec::new(),
    };
    let mut actions = Vec::new();
    let mut choices = Vec::new();
    while b.actions.len() < len {
        let state = b.states.last().expect("a behaviour has a state");
        actions.clear();
        model.actions(state, &mut actions);
        choices.clear();
        let step = b.actions.len();
        for a in actions.drain(..) {
            if budgeted(&a).is_some_and(|k| step < earliest[k]) {
                continue;
            }
            if let Some(next) = model.next_state(state, &a) {
                if model.within_bounds(&next) {
                    choices.push((a, next));
                }
            }
        }
        if choices.is_empty() {
            break;
        }
        let (a, next) = choices.swap_remove(rng.random_range(0..choices.len()));
        b.actions.push(a);
        b.states.push(next);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft_model::Config;

    #[test]
    fn a_walk_is_a_behaviour_and_a_function_of_its_seed() {
        let model = RaftModel::new(Config::default());
        let a = walk(&model, 7, 40);
        let b = walk(&model, 7, 40);
        assert_eq!(a.actions, b.actions);
        assert_eq!(a.states.len(), a.actions.len() + 1);
        for (k, action) in a.actions.iter().enumerate() {
            assert_eq!(
                model.next_state(&a.states[k], action).as_ref(),
                Some(&a.states[k + 1])
            );
        }
    }
}

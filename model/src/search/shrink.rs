//! Shrinking a counterexample that is not known to be shortest: delta
//! debugging (Zeller and Hildebrandt's ddmin) over its action sequence.
//!
//! A candidate is a subsequence of the actions, replayed against the model
//! from the initial state with the actions it disabled skipped. It is kept
//! when some state on the way violates the same invariant, as the actions
//! actually executed up to that state. The result is 1-minimal: removing any
//! single action of it (and what that disables) gives no counterexample.

use crate::properties::INVARIANTS;
use crate::raft::RaftModel;
use crate::search::Path;
use crate::state::Action;

/// The shortest counterexample to `INVARIANTS[property]` that ddmin finds
/// among the subsequences of `actions`, as actions. `actions` itself must be
/// one (else it is returned unchanged).
pub fn shrink(model: &RaftModel, actions: &[Action], property: usize) -> Vec<Action> {
    let Some(mut current) = replay_skipping(model, actions, property) else {
        return actions.to_vec();
    };
    let mut chunks = 2;
    while current.len() >= 2 {
        let size = current.len().div_ceil(chunks);
        let mut reduced = false;
        for start in (0..current.len()).step_by(size) {
            let candidate: Vec<Action> = current[..start]
                .iter()
                .chain(&current[(start + size).min(current.len())..])
                .cloned()
                .collect();
            if let Some(executed) = replay_skipping(model, &candidate, property) {
                current = executed;
                chunks = (chunks - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if size == 1 {
                break;
            }
            chunks = (chunks * 2).min(current.len());
        }
    }
    current
}

/// Replays `actions` from the initial state, skipping each action that is
/// not enabled (a delivery of a message a removed step would have sent) or
/// whose state leaves the bounds, up to the first state that violates
/// `INVARIANTS[property]`: the actions executed, or None if no state does.
/// Skipping lets one removal take the steps that depended on it along.
pub fn replay_skipping(
    model: &RaftModel,
    actions: &[Action],
    property: usize,
) -> Option<Vec<Action>> {
    let holds = INVARIANTS[property].holds;
    let mut state = model.init_state();
    let mut executed = Vec::with_capacity(actions.len());
    for action in actions {
        let Some(next) = model.next_state(&state, action) else {
            continue;
        };
        if !model.within_bounds(&next) {
            continue;
        }
        state = next;
        executed.push(action.clone());
        if !holds(&state) {
            return Some(executed);
        }
    }
    None
}

/// The path of states `actions` takes from the initial state; the actions
/// must be a behaviour of the model.
pub fn path_of(model: &RaftModel, actions: &[Action]) -> Path {
    let mut state = model.init_state();
    let mut path = Vec::with_capacity(actions.len() + 1);
    for action in actions {
        let next = model
            .next_state(&state, action)
            .expect("a shrunk counterexample is a behaviour of the model");
        path.push((std::mem::replace(&mut state, next), Some(action.clone())));
    }
    path.push((state, None));
    path
}

/// The actions of a path.
pub fn actions_of(path: &Path) -> Vec<Action> {
    path.iter().filter_map(|(_, a)| a.clone()).collect()
}

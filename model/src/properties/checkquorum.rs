//! The transition properties of check-quorum (Raft thesis §6.2): the check only ever
//! makes a leader that heard from no majority a follower of its own term.

use super::transitions::Step;
use crate::state::{Action, Role, Server, State};

/// A `CheckQuorum` step's leader: its index and its states before and after (None for
/// other steps).
fn checked<'a>(step: &Step<'a>) -> Option<(usize, &'a Server, &'a Server)> {
    let Action::CheckQuorum(i) = step.action else {
        return None;
    };
    let i = *i as usize;
    let (b, a) = (&step.before.servers[i], &step.after.servers[i]);
    (b.role == Role::Leader).then_some((i, b, a))
}

/// Whether `leader` (server `i`) heard from a majority, itself counted once.
fn heard_from_majority(state: &State, i: usize, leader: &Server) -> bool {
    let heard = (leader.heard_from | 1 << i).count_ones() as usize;
    heard > state.servers.len() / 2
}

/// (a) A leader that steps down by CheckQuorum keeps its current_term and voted_for.
pub fn step_down_keeps_term_and_vote(step: &Step) -> bool {
    checked(step).is_none_or(|(_, b, a)| {
        a.role == Role::Leader || (b.current_term, b.voted_for) == (a.current_term, a.voted_for)
    })
}

/// (b) A CheckQuorum at a leader that heard from a majority changes nothing but clearing
/// what it heard from.
pub fn check_with_majority_changes_nothing(step: &Step) -> bool {
    checked(step).is_none_or(|(i, b, a)| {
        !heard_from_majority(step.before, i, b)
            || (*a
                == Server {
                    heard_from: 0,
                    ..b.clone()
                }
                && step.before.network == step.after.network)
    })
}

/// (c) A leader stays leader after a CheckQuorum only if it heard from a majority.
pub fn stays_leader_only_with_majority(step: &Step) -> bool {
    checked(step)
        .is_none_or(|(i, b, a)| a.role != Role::Leader || heard_from_majority(step.before, i, b))
}

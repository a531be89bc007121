//! The transition properties of check-quorum (Raft thesis §6.2): the check only ever
//! makes a leader that heard from no majority a follower of its own term.

use super::transitions::Step;
use crate::state::{Action, Role, Server, State};

/// The leader's before and after states of a `CheckQuorum` step (None for other steps).
fn checked<'a>(step: &Step<'a>) -> Option<(&'a Server, &'a Server)> {
    let Action::CheckQuorum(i) = step.action else {
        return None;
    };
    let i = *i as usize;
    let (b, a) = (&step.before.servers[i], &step.after.servers[i]);
    (b.role == Role::Leader).then_some((b, a))
}

/// Whether `leader` (server `i`) heard from a majority, itself counted once.
fn heard_from_majority(state: &State, i: usize, leader: &Server) -> bool {
    let heard = (leader.heard_from | 1 << i).count_ones() as usize;
    heard > state.servers.len() / 2
}

fn leader_index(step: &Step) -> usize {
    match step.action {
        Action::CheckQuorum(i) => *i as usize,
        _ => unreachable!("checked() matched CheckQuorum"),
    }
}

/// (a) A leader that steps down by CheckQuorum keeps its current_term and voted_for.
pub fn step_down_keeps_term_and_vote(step: &Step) -> bool {
    checked(step).is_none_or(|(b, a)| {
        a.role == Role::Leader || (b.current_term, b.voted_for) == (a.current_term, a.voted_for)
    })
}

/// (b) A CheckQuorum at a leader that heard from a majority changes nothing but clearing
/// what it heard from.
pub fn check_with_majority_changes_nothing(step: &Step) -> bool {
    checked(step).is_none_or(|(b, a)| {
        let i = leader_index(step);
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
    checked(step).is_none_or(|(b, a)| {
        a.role != Role::Leader || heard_from_majority(step.before, leader_index(step), b)
    })
}

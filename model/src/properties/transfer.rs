//! The transition properties of leadership transfer (Raft thesis §3.10), and the rule
//! of who may start an election, which transfer adds a third way to.

use super::transitions::{delivered, pairs, Step};
use crate::state::{Action, Envelope, Message, Role, Server, TimeoutNow};

/// §3.10: a leader sends TimeoutNow only once the target's log matches its own (a
/// target that is recovering will not stand, so its log may be short).
pub fn timeout_now_only_to_caught_up_target(step: &Step) -> bool {
    let after = step.after;
    step.sent.iter().all(|env| {
        let Message::TimeoutNow(_) = env.msg else {
            return true;
        };
        let (leader, target) = (
            &after.servers[env.from as usize],
            &after.servers[env.to as usize],
        );
        target.recovering() || target.logical_log().starts_with(&leader.logical_log())
    })
}

/// Figure 2, Followers and Candidates, with §9.6 and §3.10: a server starts an election
/// (becomes candidate of a new term) only on its election timeout, on winning its
/// pre-vote, or on a TimeoutNow of its term that found it a follower, not recovering.
pub fn elections_start_by_the_rules(step: &Step) -> bool {
    pairs(step.before, step.after).all(|(i, b, a)| {
        let stood = a.role == Role::Candidate
            && (b.role != Role::Candidate || a.current_term > b.current_term);
        !stood
            || match (step.action, delivered(step.action)) {
                (Action::ElectionTimeout(t), _) => *t == i,
                (_, Some(env)) if env.to == i => match &env.msg {
                    Message::PreVoteResponse(_) => b.role == Role::PreCandidate,
                    Message::TimeoutNow(tn) => obeys_timeout_now(b, tn),
                    _ => false,
                },
                _ => false,
            }
    })
}

/// Whether a server in state `b` may stand on `tn`: it is of the sender's term (or
/// below it, and so becomes a follower of it first), a follower there, not recovering.
fn obeys_timeout_now(b: &Server, tn: &TimeoutNow) -> bool {
    !b.recovering()
        && (b.current_term < tn.term || (b.current_term == tn.term && b.role == Role::Follower))
}

/// A RequestVote says it is a transfer's only when a TimeoutNow to its sender started
/// its election in this very step.
pub fn transfer_vote_follows_timeout_now(action: &Action, env: &Envelope) -> bool {
    matches!(delivered(action), Some(d) if d.to == env.from && matches!(d.msg, Message::TimeoutNow(_)))
}

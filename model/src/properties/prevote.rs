//! The transition property of pre-vote (Raft thesis §9.6): asking whether one
//! would win an election is not an election. Neither the pre-candidate nor any
//! voter changes its current_term or voted_for for it; only the term rule of
//! Figure 2 (a reply of a higher term) or the real election that a majority
//! of pre-votes starts may.

use super::transitions::{pairs, Step};
use crate::state::{Action, Message, Role};

/// A pre-vote step changes no server's current_term or voted_for. Pre-vote
/// steps: an election timeout that makes a pre-candidate; the delivery of a
/// PreVote; the delivery of a PreVoteResponse, unless its term is above the
/// receiver's (Figure 2's term rule) or it completes the majority that starts
/// the election.
pub fn pre_vote_changes_no_term_or_vote(step: &Step) -> bool {
    let (before, after) = (step.before, step.after);
    let pre_vote_step = match step.action {
        Action::ElectionTimeout(i) => after.servers[*i as usize].role == Role::PreCandidate,
        Action::Deliver(m) => match &m.msg {
            Message::PreVote(_) => true,
            Message::PreVoteResponse(r) => {
                let (b, a) = (
                    &before.servers[m.to as usize],
                    &after.servers[m.to as usize],
                );
                let term_rule = r.term > b.current_term;
                let election = b.role == Role::PreCandidate && a.role != Role::PreCandidate;
                !term_rule && !election
            }
            _ => false,
        },
        _ => false,
    };
    !pre_vote_step
        || pairs(before, after)
            .all(|(_, b, a)| (b.current_term, b.voted_for) == (a.current_term, a.voted_for))
}

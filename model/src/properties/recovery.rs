//! Transition properties of the data-loss fault's recovery (issue 14): a
//! server that restarted having lost entries it may have acknowledged is
//! recovering (`lost_up_to != 0`) until a leader has re-sent them.
//!
//! Without the rule, its vote can elect a leader that lacks an entry
//! committed with its acknowledgement (Leader Completeness); these
//! properties say where the rule itself is broken.

use super::transitions::{append_delivered_to, pairs, snapshot_delivered_to, Step};
use crate::state::{Action, Message, Role, Server, ServerId};

/// A recovering server grants no vote (it may lack entries its vote would
/// vouch for, §5.4.1) and does not time out: it stays a follower, sends no
/// granted RequestVoteResponse, and sets no new voted_for.
pub fn recovering_server_does_not_vote(step: &Step) -> bool {
    pairs(step.before, step.after).all(|(i, b, a)| {
        if !a.recovering() {
            return true;
        }
        let new_vote = a.voted_for.is_some()
            && (a.current_term != b.current_term || a.voted_for != b.voted_for);
        let granted = step.sent.iter().any(|env| {
            env.from == i
                && matches!(&env.msg,
                    Message::RequestVoteResponse(r) | Message::PreVoteResponse(r) if r.vote_granted)
        });
        a.role == Role::Follower && !new_vote && !granted
    })
}

/// lost_up_to rises only on a restart losing its tail, to the old last
/// index, and lost_term becomes the term of that restart; both fall to 0
/// exactly when the server accepts an AppendEntries whose verified prefix
/// (prev_log_index + entries) reaches lost_up_to or ends in an entry of a
/// term after lost_term, or such an InstallSnapshot; otherwise they stay.
pub fn lost_up_to_moves_by_the_rules(step: &Step) -> bool {
    pairs(step.before, step.after).all(|(i, b, a)| {
        let expected = match step.action {
            Action::RestartLosingTail(r) if *r == i => {
                (b.lost_up_to.max(b.last_index()), b.current_term)
            }
            _ if repaired(step, i, b) => (0, 0),
            _ => (b.lost_up_to, b.lost_term),
        };
        (a.lost_up_to, a.lost_term) == expected
    })
}

/// Whether server `i` (`b` before the step) accepted, in this step, a
/// request from a leader whose verified entries reach its lost_up_to.
fn repaired(step: &Step, i: ServerId, b: &Server) -> bool {
    let answered = |accepted: &dyn Fn(&Message) -> bool| {
        step.sent
            .iter()
            .any(|env| env.from == i && accepted(&env.msg))
    };
    if let Some((_, ae)) = append_delivered_to(step.action, i) {
        let last_new = ae.prev_log_index + ae.entries.len() as u8;
        let last_term = ae.entries.last().map_or(ae.prev_log_term, |e| e.term);
        let success = |m: &Message| matches!(m, Message::AppendEntriesResponse(r) if r.success);
        let reaches = last_new >= b.lost_up_to || last_term > b.lost_term;
        return reaches && answered(&success);
    }
    if let Some((_, is)) = snapshot_delivered_to(step.action, i) {
        // Installed or already covered: answered in the request's own term.
        let accepted =
            |m: &Message| matches!(m, Message::InstallSnapshotResponse(r) if r.term == is.term);
        let reaches = is.last_included_index >= b.lost_up_to || is.last_included_term > b.lost_term;
        return reaches && answered(&accepted);
    }
    false
}

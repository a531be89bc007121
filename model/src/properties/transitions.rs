//! Transition properties: the rules of Figure 2 that constrain a step, not
//! a state, checked on every step from the states before and after it.
//!
//! A wrong rule of this kind (what a new leader initialises, what a restart
//! keeps, what a reply claims, what may only grow) often leaves every state
//! invariant true at small bounds: it breaks liveness, or breaks safety only
//! at bounds no search finishes. Checked per step, it is caught where it
//! happens. [`history::observe`](crate::history::observe) evaluates them and
//! records each broken one in `history.broken`, which the matching entry of
//! [`INVARIANTS`](super::INVARIANTS) reads; the correct model never sets a
//! bit, so they cost no states.

use super::{checkquorum, prevote, recovery, transfer};
use crate::state::{
    Action, AppendEntries, ConflictHint, Envelope, Index, InstallSnapshot, Message, Role, Server,
    ServerId, State, Term,
};

/// A rule over one step.
pub struct Transition {
    pub name: &'static str,
    pub holds: fn(&Step) -> bool,
}

/// One step `before --action--> after`, with the messages servers sent in it.
pub struct Step<'a> {
    pub before: &'a State,
    pub action: &'a Action,
    pub after: &'a State,
    /// `after`'s network less `before`'s (less the message delivered). The
    /// network sends nothing of its own but a duplicate, which is not a
    /// server's message.
    pub sent: Vec<&'a Envelope>,
}

impl<'a> Step<'a> {
    pub fn new(before: &'a State, action: &'a Action, after: &'a State) -> Step<'a> {
        let mut sent = Vec::new();
        let consumed = delivered(action);
        // Servers only add messages: the count sent is the growth of the bag.
        let new = (after.network.len() + consumed.is_some() as usize)
            .saturating_sub(before.network.len());
        if new > 0 && !matches!(action, Action::Drop(_) | Action::Duplicate(_)) {
            let (old, mut j, mut skipped) = (&before.network, 0, false);
            for m in &after.network {
                if sent.len() == new {
                    break;
                }
                // Merge-walk both sorted bags, skipping one copy of the delivered message.
                while j < old.len() && ((!skipped && Some(&old[j]) == consumed) || old[j] < *m) {
                    skipped |= Some(&old[j]) == consumed;
                    j += 1;
                }
                if j < old.len() && old[j] == *m {
                    j += 1;
                } else {
                    sent.push(m);
                }
            }
        }
        Step {
            before,
            action,
            after,
            sent,
        }
    }
}

pub const TRANSITIONS: &[Transition] = &[
    Transition {
        name: "a new leader initialises its progress",
        holds: new_leader_initialises_progress,
    },
    Transition {
        name: "a restart keeps persistent state",
        holds: restart_keeps_persistent_state,
    },
    Transition {
        name: "a restart resets only volatile state",
        holds: restart_resets_only_volatile_state,
    },
    Transition {
        name: "a pre-vote changes no current_term or voted_for",
        holds: prevote::pre_vote_changes_no_term_or_vote,
    },
    Transition {
        name: "messages describe their sender",
        holds: messages_describe_their_sender,
    },
    Transition {
        name: "a conflict hint describes the follower's log",
        holds: conflict_hint_describes_the_log,
    },
    Transition {
        name: "progress moves only on a response of the leader's term",
        holds: progress_moves_only_on_current_term_responses,
    },
    Transition {
        name: "current_term never decreases",
        holds: current_term_never_decreases,
    },
    Transition {
        name: "commit_index never decreases",
        holds: commit_index_never_decreases,
    },
    Transition {
        name: "a vote stands for the whole term",
        holds: a_vote_stands_for_the_term,
    },
    Transition {
        name: "votes go only to up-to-date candidates",
        holds: votes_go_to_up_to_date_candidates,
    },
    Transition {
        name: "a follower removes only conflicting entries",
        holds: follower_removes_only_conflicting_entries,
    },
    Transition {
        name: "commit_index advances by Figure 2's rules",
        holds: commit_index_advances_by_the_rules,
    },
    Transition {
        name: "a snapshot never goes backwards",
        holds: snapshot_never_goes_backwards,
    },
    Transition {
        name: "a recovering server neither votes nor stands for election",
        holds: recovery::recovering_server_does_not_vote,
    },
    Transition {
        name: "lost_up_to moves only by the recovery rules",
        holds: recovery::lost_up_to_moves_by_the_rules,
    },
    Transition {
        name: "a leader that steps down by CheckQuorum keeps its current_term and voted_for",
        holds: checkquorum::step_down_keeps_term_and_vote,
    },
    Transition {
        name: "a CheckQuorum changes nothing at a leader that heard from a majority",
        holds: checkquorum::check_with_majority_changes_nothing,
    },
    Transition {
        name: "a leader that stays leader after a CheckQuorum heard from a majority",
        holds: checkquorum::stays_leader_only_with_majority,
    },
    Transition {
        name: "a TimeoutNow goes only to a caught-up target",
        holds: transfer::timeout_now_only_to_caught_up_target,
    },
    Transition {
        name: "an election starts only by a timeout, a won pre-vote or a TimeoutNow",
        holds: transfer::elections_start_by_the_rules,
    },
];

/// The bit per broken rule of the step `before --action--> after`.
pub fn broken(before: &State, action: &Action, after: &State) -> u32 {
    let step = Step::new(before, action, after);
    TRANSITIONS
        .iter()
        .enumerate()
        .filter(|(_, t)| !(t.holds)(&step))
        .fold(0, |bits, (i, _)| bits | 1 << i)
}

/// The servers with their state before and after the step.
pub(super) fn pairs<'a>(
    before: &'a State,
    after: &'a State,
) -> impl Iterator<Item = (ServerId, &'a Server, &'a Server)> {
    (0..)
        .zip(before.servers.iter().zip(&after.servers))
        .map(|(i, (b, a))| (i, b, a))
}

/// Whether server `i` restarted in this step, losing its tail or not.
pub(super) fn restarted(action: &Action, i: ServerId) -> bool {
    matches!(action, Action::Restart(r) | Action::RestartLosingTail(r) if *r == i)
}

fn same_leadership(b: &Server, a: &Server) -> bool {
    b.role == Role::Leader && a.role == Role::Leader && b.current_term == a.current_term
}

/// The message this step delivered, if any.
pub(super) fn delivered(action: &Action) -> Option<&Envelope> {
    match action {
        Action::Deliver(m) => Some(m),
        _ => None,
    }
}

/// The AppendEntries delivered to `to` in this step, if any.
pub(super) fn append_delivered_to(
    action: &Action,
    to: ServerId,
) -> Option<(&Envelope, &AppendEntries)> {
    match delivered(action)? {
        env @ Envelope {
            msg: Message::AppendEntries(ae),
            ..
        } if env.to == to => Some((env, ae)),
        _ => None,
    }
}

/// The InstallSnapshot delivered to `to` in this step, if any.
pub(super) fn snapshot_delivered_to(
    action: &Action,
    to: ServerId,
) -> Option<(&Envelope, &InstallSnapshot)> {
    match delivered(action)? {
        env @ Envelope {
            msg: Message::InstallSnapshot(is),
            ..
        } if env.to == to => Some((env, is)),
        _ => None,
    }
}

/// The term of the entry at `index` in `s`'s logical log (0 for index 0).
fn logical_term(s: &Server, index: Index) -> Option<Term> {
    match index {
        0 => Some(0),
        i => s.entry(i).map(|e| e.term),
    }
}

/// Figure 2, Leaders: upon election, nextIndex = last log index + 1 and
/// matchIndex = 0 for every other server.
fn new_leader_initialises_progress(step: &Step) -> bool {
    let (before, _, after) = (step.before, step.action, step.after);
    let n = after.servers.len();
    pairs(before, after).all(|(i, b, a)| {
        a.role != Role::Leader
            || same_leadership(b, a)
            || (a.next_index.len() == n
                && a.match_index.len() == n
                && (0..).zip(a.next_index.iter().zip(&a.match_index)).all(
                    |(p, (&next, &matched))| p == i || (next == a.last_index() + 1 && matched == 0),
                ))
    })
}

/// Figure 2, Persistent state: current_term, voted_for and log survive a
/// restart, and so do the snapshot (Figure 13) and lost_up_to. A restart
/// losing its tail loses exactly the last entry, and records the old last
/// index as possibly acknowledged and lost.
fn restart_keeps_persistent_state(step: &Step) -> bool {
    let (before, action, after) = (step.before, step.action, step.after);
    pairs(before, after).all(|(i, b, a)| {
        let persistent = |s: &Server| {
            (
                s.current_term,
                s.voted_for,
                s.log.clone(),
                s.snapshot.clone(),
                s.lost_up_to,
                s.lost_term,
            )
        };
        match action {
            Action::Restart(r) if *r == i => persistent(a) == persistent(b),
            Action::RestartLosingTail(r) if *r == i => {
                let mut kept = b.clone();
                kept.log.pop();
                kept.lost_up_to = b.lost_up_to.max(b.last_index());
                kept.lost_term = b.current_term;
                !b.log.is_empty() && persistent(a) == persistent(&kept)
            }
            _ => true,
        }
    })
}

/// Figure 2, Volatile state: a restarted server is a follower with no votes
/// or progress, and commit_index is what its snapshot holds (0 without
/// one); nothing else changes.
fn restart_resets_only_volatile_state(step: &Step) -> bool {
    let (before, action, after) = (step.before, step.action, step.after);
    let (Action::Restart(r) | Action::RestartLosingTail(r)) = action else {
        return true;
    };
    before.network == after.network
        && pairs(before, after).all(|(i, b, a)| {
            if i != *r {
                return b == a;
            }
            a.role == Role::Follower
                && a.commit_index == a.snapshot.last_included_index
                && a.votes_granted == 0
                && a.next_index.is_empty()
                && a.match_index.is_empty()
        })
}

/// Every message carries its sender's current term (a PreVote the next one)
/// and says only what is true of the sender's state: a (Pre)Vote request its last entry, an
/// AppendEntries the leader's entries and no more than its commit_index, a
/// granted vote its voted_for, a success the entries it now holds.
fn messages_describe_their_sender(step: &Step) -> bool {
    let (action, after) = (step.action, step.after);
    step.sent.iter().all(|env| {
        let Some(s) = after.servers.get(env.from as usize) else {
            return false;
        };
        // A PreVote asks for the term after the sender's (§9.6).
        let term = match env.msg {
            Message::PreVote(_) => s.current_term.checked_add(1),
            _ => Some(s.current_term),
        };
        if Some(env.msg.term()) != term {
            return false;
        }
        match &env.msg {
            Message::RequestVote(rv) | Message::PreVote(rv) => {
                let pre_vote = matches!(env.msg, Message::PreVote(_));
                (rv.last_log_index, rv.last_log_term) == (s.last_index(), s.last_term())
                    && (!rv.transfer
                        || !pre_vote && transfer::transfer_vote_follows_timeout_now(action, env))
            }
            // §3.10: from a leader to the target it is transferring to.
            Message::TimeoutNow(_) => s.role == Role::Leader && s.lead_transferee == Some(env.to),
            Message::PreVoteResponse(_) => true,
            Message::AppendEntries(ae) => {
                s.role == Role::Leader && holds_entries(s, ae) && ae.leader_commit <= s.commit_index
            }
            Message::RequestVoteResponse(r) => !r.vote_granted || s.voted_for == Some(env.to),
            Message::AppendEntriesResponse(r) => match append_delivered_to(action, env.from) {
                Some((req, ae)) if req.from == env.to => {
                    let acknowledged = ae.prev_log_index + ae.entries.len() as u8;
                    match (r.success, r.conflict) {
                        (true, _) => r.match_index == acknowledged && holds_entries(s, ae),
                        // A refusal without a hint answers a request of an older term.
                        (false, None) => ae.term < s.current_term,
                        (false, Some(_)) => true,
                    }
                }
                _ => false,
            },
            Message::InstallSnapshot(is) => {
                let own = &s.snapshot;
                s.role == Role::Leader
                    && (is.last_included_index, is.last_included_term, &is.entries)
                        == (
                            own.last_included_index,
                            own.last_included_term,
                            &own.entries,
                        )
            }
            Message::InstallSnapshotResponse(r) => match snapshot_delivered_to(action, env.from) {
                Some((req, is)) if req.from == env.to => {
                    if is.term < s.current_term {
                        r.match_index == 0
                    } else {
                        let n = is.last_included_index as usize;
                        let log = s.logical_log();
                        r.match_index == is.last_included_index
                            && log.len() >= n
                            && log[..n] == is.entries[..]
                    }
                }
                _ => false,
            },
        }
    })
}

/// `s`'s logical log holds the entry at `ae.prev_log_index` with
/// `ae.prev_log_term` and the entries of `ae` right after it.
fn holds_entries(s: &Server, ae: &AppendEntries) -> bool {
    let prev = ae.prev_log_index as usize;
    let log = s.logical_log();
    prev <= log.len()
        && logical_term(s, ae.prev_log_index) == Some(ae.prev_log_term)
        && log[prev..].starts_with(&ae.entries)
}

/// The 6.824 guide's fast backup: a refusal's hint is the follower's log
/// length, and the term and first index of its entry at prev_log_index
/// (no term when the log is shorter). Below the snapshot, the check is at
/// the snapshot's last index.
fn conflict_hint_describes_the_log(step: &Step) -> bool {
    let (action, after) = (step.action, step.after);
    step.sent.iter().all(|env| {
        let Message::AppendEntriesResponse(r) = &env.msg else {
            return true;
        };
        let (Some(h), Some((_, ae))) = (r.conflict, append_delivered_to(action, env.from)) else {
            return true;
        };
        let s = &after.servers[env.from as usize];
        let first = s.first_index();
        let first_of = |t| match s.log.iter().position(|e| e.term == t) {
            Some(k) => first + k as u8 + 1,
            None => first,
        };
        // The index checked, and the term the request claims there.
        let checked = ae.prev_log_index.max(first);
        let claimed = match (checked - ae.prev_log_index) as usize {
            0 => Some(ae.prev_log_term),
            k => ae.entries.get(k - 1).map(|e| e.term),
        };
        h.log_len == s.last_index()
            && match h.term {
                None => ae.prev_log_index > s.last_index(),
                Some(t) => {
                    s.term_at(checked) == Some(t)
                        && claimed != Some(t)
                        && h.first_index == first_of(t)
                }
            }
    })
}

/// Figure 2, Leaders: nextIndex and matchIndex for a follower change only
/// on that follower's response to this leader's AppendEntries; a response
/// of an older term answers an older leadership and says nothing now.
/// On a success matchIndex becomes the acknowledged index (never lower than
/// before); on a refusal whose hint points at or below matchIndex, the
/// follower lost entries it acknowledged, and matchIndex falls to just
/// below the hint (else it stays).
fn progress_moves_only_on_current_term_responses(step: &Step) -> bool {
    let (before, action, after) = (step.before, step.action, step.after);
    pairs(before, after).all(|(l, b, a)| {
        if !same_leadership(b, a) {
            return true;
        }
        // (from, success, acknowledged index, hint) of a response of this term to l.
        let response = match delivered(action) {
            Some(Envelope {
                from,
                to,
                msg: Message::AppendEntriesResponse(r),
            }) if *to == l && r.term == a.current_term => {
                Some((*from, r.success, r.match_index, r.conflict))
            }
            Some(Envelope {
                from,
                to,
                msg: Message::InstallSnapshotResponse(r),
            }) if *to == l && r.term == a.current_term => Some((*from, true, r.match_index, None)),
            _ => None,
        };
        (0..b.next_index.len()).all(|p| {
            let (bn, bm, an, am) = (
                b.next_index[p],
                b.match_index[p],
                a.next_index[p],
                a.match_index[p],
            );
            match response {
                Some((from, false, _, Some(h))) if from as usize == p => {
                    let next = hinted_next(b, h);
                    am == if next <= bm {
                        next.saturating_sub(1)
                    } else {
                        bm
                    }
                }
                _ if (bn, bm) == (an, am) => true,
                Some((from, success, m, _)) if from as usize == p => {
                    am == bm || (success && am == bm.max(m))
                }
                _ => false,
            }
        })
    })
}

/// The 6.824 guide's fast backup, from the leader `s`'s log: after its last
/// entry of the hint's term, else at the hint's first index of that term;
/// after the follower's log without a term.
fn hinted_next(s: &Server, h: ConflictHint) -> Index {
    let Some(t) = h.term else {
        return h.log_len + 1;
    };
    let last_of_term =
        (s.first_index().max(1)..=s.last_index()).rfind(|&i| s.term_at(i) == Some(t));
    last_of_term.map_or(h.first_index, |i| i + 1)
}

/// Figure 2, All Servers: current_term only grows (it is persistent).
fn current_term_never_decreases(step: &Step) -> bool {
    let (before, _, after) = (step.before, step.action, step.after);
    pairs(before, after).all(|(_, b, a)| a.current_term >= b.current_term)
}

/// commit_index only grows, but for the reset of a restart.
fn commit_index_never_decreases(step: &Step) -> bool {
    let (before, action, after) = (step.before, step.action, step.after);
    pairs(before, after).all(|(i, b, a)| restarted(action, i) || a.commit_index >= b.commit_index)
}

/// Figure 2, RequestVote receiver, step 2: a vote is given only if
/// voted_for is null (or already the candidate); it stands until the term
/// changes.
fn a_vote_stands_for_the_term(step: &Step) -> bool {
    let (before, _, after) = (step.before, step.action, step.after);
    pairs(before, after).all(|(_, b, a)| {
        a.current_term != b.current_term || b.voted_for.is_none() || a.voted_for == b.voted_for
    })
}

/// Figure 2, RequestVote receiver, step 2 and §5.4.1: a vote is granted
/// only to a candidate whose log is at least as up-to-date.
fn votes_go_to_up_to_date_candidates(step: &Step) -> bool {
    let (action, after) = (step.action, step.after);
    let Some(Envelope {
        from,
        to,
        msg: Message::RequestVote(rv),
    }) = delivered(action)
    else {
        return true;
    };
    let voter = &after.servers[*to as usize];
    let up_to_date = rv.last_log_term > voter.last_term()
        || (rv.last_log_term == voter.last_term() && rv.last_log_index >= voter.last_index());
    step.sent.iter().all(|env| match &env.msg {
        Message::RequestVoteResponse(r) if env.from == *to && env.to == *from => {
            !r.vote_granted || up_to_date
        }
        _ => true,
    })
}

/// Figure 2, AppendEntries receiver, step 3: an existing entry is deleted
/// only if it conflicts with a new one (same index, different term), and
/// then with all that follow it; entries before the first conflict stay.
/// Figure 13, step 6: a follower that holds the snapshot's last entry keeps
/// the entries after it. Compaction changes no logical log.
fn follower_removes_only_conflicting_entries(step: &Step) -> bool {
    let (before, action, after) = (step.before, step.action, step.after);
    pairs(before, after).all(|(i, b, a)| {
        let (old, new) = (b.logical_log(), a.logical_log());
        if same_leadership(b, a) || new.starts_with(&old) || restarted(action, i) {
            return true;
        }
        if let Some((_, is)) = snapshot_delivered_to(action, i) {
            return logical_term(b, is.last_included_index) != Some(is.last_included_term);
        }
        let Some((_, ae)) = append_delivered_to(action, i) else {
            return false; // Only an AppendEntries or InstallSnapshot changes a follower's log.
        };
        let prev = ae.prev_log_index as usize;
        let first_conflict = (prev..old.len())
            .zip(&ae.entries)
            .find(|(k, e)| old[*k].term != e.term)
            .map_or(usize::MAX, |(k, _)| k);
        let kept = first_conflict.min(old.len());
        new.len() >= kept && new[..kept] == old[..kept]
    })
}

/// Figure 2: a leader sets commitIndex = N only if a majority holds N and
/// log[N] is of its term; a follower, only to min(leaderCommit, index of
/// the last new entry) of the AppendEntries it just accepted.
fn commit_index_advances_by_the_rules(step: &Step) -> bool {
    let (before, action, after) = (step.before, step.action, step.after);
    let quorum = after.servers.len() / 2 + 1;
    pairs(before, after).all(|(i, b, a)| {
        if a.commit_index <= b.commit_index {
            return true;
        }
        let n = a.commit_index;
        if a.role == Role::Leader && b.role == Role::Leader {
            // (Committing an entry compacted away would be a snapshot bug the
            // snapshot invariants report.)
            let replicas = 1
                + (0..)
                    .zip(&a.match_index)
                    .filter(|&(p, &m)| p != i && m >= n)
                    .count();
            return a.entry(n).is_some_and(|e| e.term == a.current_term) && replicas >= quorum;
        }
        if let Some((_, is)) = snapshot_delivered_to(action, i) {
            return n <= is.last_included_index; // Figure 13, step 8: the snapshot's state.
        }
        match append_delivered_to(action, i) {
            Some((_, ae)) => {
                n <= ae
                    .leader_commit
                    .min(ae.prev_log_index + ae.entries.len() as u8)
            }
            None => false,
        }
    })
}

/// A server's snapshot only moves forward: Figure 13's receiver discards a
/// snapshot older than what it has (here: what it has committed).
fn snapshot_never_goes_backwards(step: &Step) -> bool {
    pairs(step.before, step.after)
        .all(|(_, b, a)| a.snapshot.last_included_index >= b.snapshot.last_included_index)
}

//! Malformed or impossible messages: refused, counted, logged, and the node
//! is left exactly as it was (not even the term changes).

use super::*;

/// Steps `msg` into a follower of term 2 with log [1, 2] and commit 1 and
/// checks it is refused with no effect; returns the error.
fn refuse(from: NodeId, to: NodeId, msg: Message) -> InvalidMessage {
    let mut f = restored(1, 3, 2, None, &[1, 2]);
    f.step(env(2, 1, ae(2, 2, 2, vec![], 1))).unwrap();
    drain(&mut f);
    refuse_at(&mut f, from, to, msg)
}

fn refuse_at(n: &mut RawNode, from: NodeId, to: NodeId, msg: Message) -> InvalidMessage {
    let (hs, log, commit, role, leader) = (
        n.hard_state(),
        n.status().log.to_vec(),
        n.commit_index(),
        n.role(),
        n.leader_id(),
    );
    let before = n.status().rejected_messages;
    let err = n.step(env(from, to, msg)).unwrap_err();
    assert_eq!(n.status().rejected_messages, before + 1, "counted");
    assert_eq!(
        (
            n.hard_state(),
            n.status().log,
            n.commit_index(),
            n.role(),
            n.leader_id()
        ),
        (hs, &log[..], commit, role, leader)
    );
    assert!(!n.has_ready(), "no reply, nothing to persist");
    n.check_invariants().unwrap();
    err
}

#[test]
fn bad_input_wrong_recipient() {
    assert_eq!(
        refuse(2, 3, ae(9, 0, 0, vec![], 0)),
        InvalidMessage::WrongRecipient { to: 3 }
    );
}

#[test]
fn bad_input_unknown_sender_or_self() {
    assert_eq!(
        refuse(4, 1, rv(9, 0, 0)),
        InvalidMessage::UnknownSender { from: 4 }
    );
    assert_eq!(
        refuse(1, 1, rv(9, 0, 0)),
        InvalidMessage::UnknownSender { from: 1 }
    );
}

#[test]
fn bad_input_term_zero() {
    for msg in [rv(0, 0, 0), rvr(0, true), ae(0, 0, 0, vec![], 0), ok(0, 0)] {
        let e = refuse(2, 1, msg);
        assert_eq!((e.clone(), e.field()), (InvalidMessage::ZeroTerm, "term"));
    }
}

#[test]
fn bad_input_request_vote_last_log_term() {
    assert!(matches!(
        refuse(2, 1, rv(3, 5, 4)),
        InvalidMessage::LastLogTermAboveTerm { .. }
    ));
    assert!(matches!(
        refuse(2, 1, rv(3, 0, 1)),
        InvalidMessage::LastLogInconsistent { .. }
    ));
    let e = refuse(2, 1, rv(3, 4, 0));
    assert_eq!(e.field(), "last_log_term");
}

#[test]
fn bad_input_append_entries_prev_log_term() {
    assert!(matches!(
        refuse(2, 1, ae(3, 2, 4, vec![], 0)),
        InvalidMessage::PrevLogTermAboveTerm { .. }
    ));
    assert!(matches!(
        refuse(2, 1, ae(3, 0, 1, vec![], 0)),
        InvalidMessage::PrevLogInconsistent { .. }
    ));
    assert_eq!(
        refuse(2, 1, ae(3, 5, 0, vec![], 0)).field(),
        "prev_log_term"
    );
}

#[test]
fn bad_input_append_entries_prev_log_index_overflow() {
    let e = refuse(
        2,
        1,
        ae(3, Index::MAX, 1, entries_from(Index::MAX, &[1]), 0),
    );
    assert!(matches!(e, InvalidMessage::PrevLogIndexOverflow { .. }));
    assert_eq!(e.field(), "prev_log_index");
}

#[test]
fn bad_input_entries_not_following_prev_log_index() {
    let e = refuse(2, 1, ae(3, 2, 2, entries_from(4, &[3]), 0));
    assert_eq!(
        e,
        InvalidMessage::EntryIndexNotConsecutive {
            position: 0,
            expected: 3,
            found: 4
        }
    );
    let mut gap = entries_from(3, &[3, 3]);
    gap[1].index = 5;
    assert!(matches!(
        refuse(2, 1, ae(3, 2, 2, gap, 0)),
        InvalidMessage::EntryIndexNotConsecutive { position: 1, .. }
    ));
    assert_eq!(
        refuse(2, 1, ae(3, 2, 2, entries_from(2, &[3]), 0)).field(),
        "entries.index"
    );
}

#[test]
fn bad_input_entry_terms_decrease() {
    let e = refuse(2, 1, ae(3, 2, 2, entries_from(3, &[3, 2]), 0));
    assert_eq!(
        e,
        InvalidMessage::EntryTermDecreases {
            position: 1,
            found: 2,
            prev: 3
        }
    );
    // Below prev_log_term, and term 0.
    assert!(matches!(
        refuse(2, 1, ae(3, 2, 2, entries_from(3, &[1]), 0)),
        InvalidMessage::EntryTermDecreases { position: 0, .. }
    ));
    assert!(matches!(
        refuse(2, 1, ae(3, 0, 0, entries_from(1, &[0]), 0)),
        InvalidMessage::EntryTermDecreases { .. }
    ));
}

#[test]
fn bad_input_entry_term_above_message_term() {
    let e = refuse(2, 1, ae(3, 2, 2, entries_from(3, &[3, 4]), 0));
    assert_eq!(
        e,
        InvalidMessage::EntryTermAboveTerm {
            position: 1,
            found: 4,
            term: 3
        }
    );
    assert_eq!(e.field(), "entries.term");
}

#[test]
fn bad_input_append_entries_contradicting_committed_entry() {
    // Commit is 1; an AppendEntries from prev 0 replacing entry 1 is impossible
    // from a legitimate leader (Leader Completeness), even of a higher term.
    let e = refuse(2, 1, ae(5, 0, 0, entries_from(1, &[5]), 0));
    assert_eq!(
        e,
        InvalidMessage::ConflictsWithCommitted {
            position: 0,
            index: 1,
            commit_index: 1
        }
    );
}

#[test]
fn bad_input_append_entries_to_leader_of_same_term() {
    let mut l = leader(3);
    let e = refuse_at(&mut l, 3, 1, ae(1, 0, 0, vec![], 0));
    assert_eq!(e.field(), "term");
}

#[test]
fn bad_input_append_response_fields() {
    let resp = |success, match_index, conflict| {
        Message::AppendEntriesResponse(AppendEntriesResponse {
            term: 2,
            success,
            match_index,
            conflict,
            read_round: 0,
        })
    };
    assert_eq!(
        refuse(2, 1, resp(true, 1, hint(None, 0, 1))),
        InvalidMessage::SuccessWithConflictHint
    );
    assert_eq!(
        refuse(2, 1, resp(false, 3, None)),
        InvalidMessage::FailureWithMatchIndex { match_index: 3 }
    );
    assert!(matches!(
        refuse(2, 1, resp(false, 0, hint(Some(0), 1, 1))),
        InvalidMessage::HintTermInvalid { .. }
    ));
    assert!(matches!(
        refuse(2, 1, resp(false, 0, hint(Some(3), 1, 1))),
        InvalidMessage::HintTermInvalid { .. }
    ));
    assert!(matches!(
        refuse(2, 1, resp(false, 0, hint(Some(1), 0, 1))),
        InvalidMessage::HintFirstIndexInvalid { .. }
    ));
    assert!(matches!(
        refuse(2, 1, resp(false, 0, hint(Some(1), 3, 2))),
        InvalidMessage::HintFirstIndexInvalid { .. }
    ));
    let e = refuse(2, 1, resp(false, 0, hint(None, 1, 2)));
    assert_eq!(e.field(), "conflict.first_index");
}

#[test]
fn bad_input_match_index_beyond_leader_log() {
    let mut l = leader(3);
    l.propose("a").unwrap();
    drain(&mut l);
    let e = refuse_at(&mut l, 2, 1, ok(1, 2));
    assert_eq!(
        e,
        InvalidMessage::MatchIndexBeyondLog {
            match_index: 2,
            last_index: 1
        }
    );
    assert_eq!(l.status().match_index(2), Some(0));
}

#[test]
fn bad_input_with_higher_term_does_not_raise_term() {
    let e = refuse(2, 1, ae(9, 2, 2, entries_from(3, &[10]), 0));
    assert!(matches!(e, InvalidMessage::EntryTermAboveTerm { .. }));
}

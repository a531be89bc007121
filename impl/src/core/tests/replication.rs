//! §5.3 log replication and §5.4.2 / Figure 8 commitment, in the conformance
//! configuration: rules 6, 7 and 8.

use super::*;

// ---- Rule 6: what a leader sends ----

#[test]
fn s5_3_heartbeat_sends_entries_from_next_index() {
    let mut l = restored(1, 3, 2, None, &[1, 1, 2]);
    l.election_timeout_now();
    l.step(env(2, 1, rvr(3, true))).unwrap();
    drain(&mut l);
    l.propose("x").unwrap();
    l.heartbeat_now().unwrap();
    // next_index = 4 for both: prev = 3 (term 2), entries = [4@3].
    let want = ae(3, 3, 2, l.status().log[3..].to_vec(), 0);
    assert_eq!(
        drain(&mut l),
        vec![env(1, 2, want.clone()), env(1, 3, want)]
    );
    // A refusal with hint moves next_index back; the next heartbeat carries more.
    l.step(env(2, 1, refused(3, hint(None, 0, 1)))).unwrap();
    assert!(!l.has_ready(), "conformance: no immediate resend");
    l.heartbeat_now().unwrap();
    let msgs = drain(&mut l);
    assert_eq!(
        msgs[0],
        env(1, 2, ae(3, 1, 1, l.status().log[1..].to_vec(), 0))
    );
}

#[test]
fn s5_3_replicate_now_sends_only_to_peers_missing_entries() {
    let mut l = leader(3);
    l.replicate_now().unwrap();
    assert!(!l.has_ready(), "nothing to replicate");
    l.propose("a").unwrap();
    l.replicate_now().unwrap();
    assert_eq!(drain(&mut l).len(), 2);
}

// ---- Rule 7: the follower side ----

#[test]
fn s5_3_consistency_check_fails_when_prev_beyond_log() {
    let mut f = restored(1, 3, 2, None, &[1, 2]);
    f.step(env(2, 1, ae(2, 5, 2, vec![], 9))).unwrap();
    assert_eq!(drain(&mut f), vec![env(1, 2, refused(2, hint(None, 0, 2)))]);
    assert_eq!((f.commit_index(), f.leader_id()), (0, Some(2)));
}

#[test]
fn fast_backup_follower_reports_conflicting_term_and_its_first_index() {
    let mut f = restored(1, 3, 4, None, &[1, 2, 2, 2, 3]);
    f.step(env(2, 1, ae(4, 4, 4, vec![], 0))).unwrap();
    assert_eq!(
        drain(&mut f),
        vec![env(1, 2, refused(4, hint(Some(2), 2, 5)))]
    );
    assert_eq!(
        terms(&f),
        vec![1, 2, 2, 2, 3],
        "a failed check changes no entry"
    );
}

#[test]
fn truncates_only_at_first_conflict() {
    let mut f = restored(1, 3, 3, None, &[1, 1, 2, 2, 2]);
    // prev = 1@1; entries 2@1 (same), 3@3 (conflict with 3@2).
    f.step(env(2, 1, ae(3, 1, 1, entries_from(2, &[1, 3]), 0)))
        .unwrap();
    assert_eq!(terms(&f), vec![1, 1, 3]);
    let rd = f.ready();
    assert_eq!(rd.truncate_from, Some(3));
    assert_eq!(rd.entries, entries_from(3, &[3]));
    assert_eq!(rd.messages, vec![env(1, 2, ok(3, 3))]);
}

#[test]
fn delayed_append_entries_does_not_delete_acknowledged_entries() {
    let mut f = node(1, 3);
    let full = entries_from(1, &[1, 1, 1]);
    f.step(env(2, 1, ae(1, 0, 0, full.clone(), 0))).unwrap();
    drain(&mut f);
    // An older AppendEntries carrying only the first entry arrives late.
    f.step(env(2, 1, ae(1, 0, 0, full[..1].to_vec(), 0)))
        .unwrap();
    assert_eq!(
        terms(&f),
        vec![1, 1, 1],
        "entries 2 and 3 were acknowledged: they stay"
    );
    let rd = f.ready();
    assert_eq!((rd.truncate_from, rd.entries.len()), (None, 0));
    assert_eq!(
        rd.messages,
        vec![env(1, 2, ok(1, 1))],
        "match_index is that of the request"
    );
}

#[test]
fn follower_commit_bounded_by_last_new_entry() {
    let mut f = restored(1, 3, 1, None, &[1, 1, 1, 1]);
    // Entries 1..=2 checked; leader commit 4; the follower's entries 3..=4
    // are not known to match the leader's.
    f.step(env(2, 1, ae(1, 1, 1, entries_from(2, &[1]), 4)))
        .unwrap();
    assert_eq!(f.commit_index(), 2);
    f.step(env(2, 1, ae(1, 4, 1, vec![], 3))).unwrap();
    assert_eq!(f.commit_index(), 3, "min(leader_commit, last new entry)");
}

#[test]
fn follower_commit_never_decreases() {
    let mut f = restored(1, 3, 1, None, &[1, 1, 1]);
    f.step(env(2, 1, ae(1, 3, 1, vec![], 3))).unwrap();
    assert_eq!(f.commit_index(), 3);
    f.step(env(2, 1, ae(1, 1, 1, vec![], 3))).unwrap();
    f.step(env(2, 1, ae(1, 3, 1, vec![], 1))).unwrap();
    assert_eq!(f.commit_index(), 3);
}

// ---- Rule 8: the leader side ----

#[test]
fn s5_3_leader_commits_once_a_majority_matches() {
    let mut l = leader(5);
    for _ in 0..3 {
        l.propose("x").unwrap();
    }
    l.step(env(2, 1, ok(1, 3))).unwrap();
    assert_eq!(l.commit_index(), 0, "2 of 5");
    l.step(env(3, 1, ok(1, 2))).unwrap();
    assert_eq!(l.commit_index(), 2, "3 of 5 hold index 2");
    let s = l.status();
    assert_eq!(
        (
            s.match_index(2),
            s.next_index(2),
            s.match_index(3),
            s.next_index(3)
        ),
        (Some(3), Some(4), Some(2), Some(3))
    );
}

#[test]
fn match_index_never_decreases_on_reordered_success() {
    let mut l = leader(3);
    l.propose("x").unwrap();
    l.propose("y").unwrap();
    l.step(env(2, 1, ok(1, 2))).unwrap();
    l.step(env(2, 1, ok(1, 1))).unwrap();
    let s = l.status();
    assert_eq!(
        (s.match_index(2), s.next_index(2), s.commit_index),
        (Some(2), Some(3), 2)
    );
}

#[test]
fn figure8_does_not_commit_previous_term_by_counting() {
    // S1 leads term 4 with log [1, 2]; entry 2 (term 2) reaches a majority.
    let mut l = restored(1, 5, 3, None, &[1, 2]);
    l.election_timeout_now();
    for p in [2, 3] {
        l.step(env(p, 1, rvr(4, true))).unwrap();
    }
    assert_eq!(l.role(), Role::Leader);
    l.step(env(2, 1, ok(4, 2))).unwrap();
    l.step(env(3, 1, ok(4, 2))).unwrap();
    assert_eq!(
        l.commit_index(),
        0,
        "entry 2 is from term 2: not committed by counting"
    );
    // Once an entry of term 4 is on a majority, everything before it commits.
    l.propose("x").unwrap();
    l.step(env(2, 1, ok(4, 3))).unwrap();
    assert_eq!(l.commit_index(), 0);
    l.step(env(3, 1, ok(4, 3))).unwrap();
    assert_eq!(l.commit_index(), 3);
}

#[test]
fn stale_reply_ignored() {
    let mut l = restored(1, 3, 1, None, &[1]);
    l.election_timeout_now();
    l.step(env(2, 1, rvr(2, true))).unwrap();
    drain(&mut l);
    l.step(env(2, 1, ok(1, 1))).unwrap();
    l.step(env(3, 1, refused(1, hint(None, 0, 0)))).unwrap();
    let s = l.status();
    assert_eq!(
        (
            s.match_index(2),
            s.next_index(3),
            s.commit_index,
            s.current_term
        ),
        (Some(0), Some(2), 0, 2)
    );
    assert!(!l.has_ready());
}

#[test]
fn hintless_refusal_of_same_term_ignored() {
    let mut l = restored(1, 3, 1, None, &[1, 1]);
    l.election_timeout_now();
    l.step(env(2, 1, rvr(2, true))).unwrap();
    l.step(env(3, 1, refused(2, None))).unwrap();
    assert_eq!(l.status().next_index(3), Some(3));
}

#[test]
fn fast_backup_short_follower_log() {
    let mut l = leader_with_log(&[1, 1, 2, 2, 2]);
    l.step(env(2, 1, refused(3, hint(None, 0, 2)))).unwrap();
    assert_eq!(l.status().next_index(2), Some(3), "log_len + 1");
}

#[test]
fn fast_backup_leader_has_conflict_term() {
    let mut l = leader_with_log(&[1, 1, 2, 2, 2]);
    l.step(env(2, 1, refused(3, hint(Some(1), 1, 5)))).unwrap();
    assert_eq!(
        l.status().next_index(2),
        Some(3),
        "after the leader's last entry of term 1"
    );
}

#[test]
fn fast_backup_leader_lacks_conflict_term() {
    let mut l = leader_with_log(&[1, 1, 3, 3, 3]); // leader of term 4
    l.step(env(2, 1, refused(4, hint(Some(2), 2, 4)))).unwrap();
    assert_eq!(
        l.status().next_index(2),
        Some(2),
        "the follower's first index of term 2"
    );
}

#[test]
fn fast_backup_below_match_index_lowers_it_and_never_goes_above_last_plus_one() {
    let mut l = leader_with_log(&[1, 1, 3, 3, 3]);
    l.step(env(2, 1, ok(4, 3))).unwrap();
    l.step(env(2, 1, refused(4, hint(Some(2), 2, 4)))).unwrap();
    // Protocol-aware recovery: the follower no longer holds what it acknowledged.
    assert_eq!(
        (l.status().next_index(2), l.status().match_index(2)),
        (Some(2), Some(1)),
        "follows the hint below match_index + 1 and stops counting the lost entries"
    );
    l.step(env(3, 1, refused(4, hint(None, 0, 9)))).unwrap();
    assert_eq!(
        l.status().next_index(3),
        Some(6),
        "never above last_index + 1"
    );
}

/// Node 1 of a cluster of 3 with log `terms`, elected leader in the term
/// after the log's last term.
fn leader_with_log(terms: &[Term]) -> RawNode {
    let last_term = terms.last().copied().unwrap_or(0);
    let mut l = restored(1, 3, last_term, None, terms);
    l.election_timeout_now();
    l.step(env(2, 1, rvr(last_term + 1, true))).unwrap();
    drain(&mut l);
    assert_eq!(l.status().next_index(2), Some(terms.len() as Index + 1));
    l
}

//! Parallel leader writes (`set_self_ack_on_persist`, Raft thesis §10.2.1): the leader counts
//! itself in the commit rule only once the runtime reports its entries durable.

use super::*;

/// A leader of term 1 (conformance config, no no-op) in a cluster of `n`, parallel writes on.
fn parallel_leader(n: u64) -> RawNode {
    let mut l = leader(n);
    l.set_self_ack_on_persist(true);
    l
}

#[test]
fn one_follower_ack_does_not_commit_until_the_leader_is_durable() {
    let mut l = parallel_leader(3);
    let (i, t) = l.propose("x").unwrap();
    assert_eq!(l.commit_index(), 0);
    l.step(env(2, 1, ok(1, i))).unwrap();
    assert_eq!(
        l.commit_index(),
        0,
        "committed on one durable copy of three"
    );
    l.on_persisted(i, t);
    assert_eq!(l.commit_index(), i);
}

#[test]
fn a_majority_of_followers_commits_without_the_leader() {
    let mut l = parallel_leader(3);
    let (i, _) = l.propose("x").unwrap();
    l.step(env(2, 1, ok(1, i))).unwrap();
    l.step(env(3, 1, ok(1, i))).unwrap();
    assert_eq!(l.commit_index(), i);
}

#[test]
fn the_leader_counts_itself_only_up_to_the_reported_entry() {
    let mut l = parallel_leader(3);
    let (i1, t1) = l.propose("a").unwrap();
    let (i2, _) = l.propose("b").unwrap();
    l.on_persisted(i1, t1);
    l.step(env(2, 1, ok(1, i2))).unwrap();
    assert_eq!(l.commit_index(), i1);
}

#[test]
fn a_report_that_no_longer_matches_the_log_is_ignored() {
    let mut l = parallel_leader(3);
    let (i, _) = l.propose("x").unwrap();
    l.on_persisted(i, 7); // no entry of term 7 there
    l.step(env(2, 1, ok(1, i))).unwrap();
    assert_eq!(l.commit_index(), 0);
    l.on_persisted(i + 5, 1); // beyond the log
    assert_eq!(l.commit_index(), 0);
}

#[test]
fn a_single_node_commits_once_durable() {
    let mut l = node(1, 1);
    l.set_self_ack_on_persist(true);
    assert!(l.election_timeout_now());
    assert_eq!(l.role(), Role::Leader);
    let (i, t) = l.propose("x").unwrap();
    assert_eq!(l.commit_index(), 0);
    l.on_persisted(i, t);
    assert_eq!(l.commit_index(), i);
}

#[test]
fn a_restored_log_counts_as_durable() {
    let mut l = restored(1, 3, 1, None, &[1, 1]);
    l.set_self_ack_on_persist(true);
    assert_eq!(l.self_match_index(), 2);
    let mut fresh = node(1, 3);
    fresh.set_self_ack_on_persist(true);
    assert_eq!(fresh.self_match_index(), 0);
}

#[test]
fn off_by_default_the_leader_counts_its_last_index() {
    let mut l = leader(3);
    let (i, _) = l.propose("x").unwrap();
    l.step(env(2, 1, ok(1, i))).unwrap();
    assert_eq!(l.commit_index(), i);
}

#[test]
fn a_truncation_below_the_reported_entry_counts_nothing_until_the_next_report() {
    let mut f = restored(2, 3, 1, None, &[1, 1, 1]);
    f.set_self_ack_on_persist(true);
    assert_eq!(f.self_match_index(), 3);
    // A leader of term 2 replaces entries 2..=3 with one entry of term 2.
    f.step(env(1, 2, ae(2, 1, 1, entries_from(2, &[2]), 0)))
        .unwrap();
    assert_eq!(terms(&f), vec![1, 2]);
    assert_eq!(f.self_match_index(), 0);
    f.on_persisted(2, 2);
    assert_eq!(f.self_match_index(), 2);
}

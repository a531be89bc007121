//! The snapshot checks can fail: synthetic histories that break each one, and a runtime
//! whose snapshots are wrong caught in a running cluster.

mod common;

use bytes::Bytes;
use raft_impl::core::Role;
use raft_impl::testing::entry;
use raft_impl::types::{Entry, Index, SnapshotMeta, Term};
use raft_sim::{Checker, Cluster, Invariant, RuntimeFault, SimConfig, SnapshotPolicy};

fn e(term: Term, index: Index, data: &str) -> Entry {
    entry(index, term, Bytes::copy_from_slice(data.as_bytes()))
}

fn meta(last_included_index: Index, last_included_term: Term) -> SnapshotMeta {
    SnapshotMeta {
        last_included_index,
        last_included_term,
    }
}

fn cmds(s: &[&str]) -> Vec<Bytes> {
    s.iter()
        .map(|c| Bytes::copy_from_slice(c.as_bytes()))
        .collect()
}

/// Node 1 leads term 1 and applied "a", "b" (term 1) at 1, 2; node 2 holds them too.
fn applied_ab() -> Checker {
    let mut c = Checker::new(vec![1, 2, 3]);
    let log = [e(1, 1, "a"), e(1, 2, "b")];
    c.log_append(0, &log);
    c.log_append(1, &log);
    c.observe(0, 1, Role::Leader, 2);
    c.applied(0, &log[0]);
    c.applied(0, &log[1]);
    assert!(c.finish_event().is_none());
    c
}

#[test]
fn correct_compaction_and_install_pass() {
    let mut c = applied_ab();
    c.log_snapshot(0, meta(2, 1), &cmds(&["a", "b"]), false);
    c.snapshot_bounds(0, 2, 2);
    // Node 3 held nothing: the leader's snapshot is its whole log (Figure 13 step 7).
    c.log_snapshot(2, meta(2, 1), &cmds(&["a", "b"]), true);
    c.restored(2, 2);
    c.log_append(2, &[e(1, 3, "c")]);
    assert!(c.finish_event().is_none(), "{:?}", c.finding());
}

#[test]
fn snapshot_beyond_what_was_ever_applied() {
    let mut c = applied_ab();
    c.log_append(0, &[e(1, 3, "c")]);
    c.log_snapshot(0, meta(3, 1), &cmds(&["a", "b", "c"]), false);
    let f = c.finish_event().expect("index 3 never applied");
    assert_eq!((f.invariant, f.index), (Invariant::SnapshotSafety, Some(3)));
}

#[test]
fn snapshot_content_differs_from_the_applied_record() {
    let mut c = applied_ab();
    c.log_snapshot(1, meta(2, 1), &cmds(&["a", "x"]), false);
    let f = c.finish_event().expect("command 2 differs");
    assert_eq!(f.invariant, Invariant::SnapshotSafety);
    assert!(f.detail.contains("index 2"), "{}", f.detail);
}

#[test]
fn snapshot_with_the_wrong_last_included_term() {
    let mut c = applied_ab();
    c.log_snapshot(2, meta(2, 2), &cmds(&["a", "b"]), true);
    let f = c.finish_event().expect("term 2 was not applied at 2");
    assert_eq!(f.invariant, Invariant::SnapshotSafety);
}

#[test]
fn commit_index_below_the_snapshot() {
    let mut c = applied_ab();
    c.snapshot_bounds(1, 2, 1);
    let f = c.finish_event().expect("commit 1 < snapshot 2");
    assert_eq!(f.invariant, Invariant::SnapshotSafety);
}

#[test]
fn restoring_an_older_snapshot_goes_back() {
    let mut c = applied_ab();
    c.log_snapshot(2, meta(2, 1), &cmds(&["a", "b"]), true);
    c.restored(2, 2);
    c.restored(2, 1);
    let f = c.finish_event().expect("state machine went back");
    assert_eq!(f.invariant, Invariant::ApplyOrder);
}

#[test]
fn a_log_contradicting_the_applied_prefix_is_caught_without_other_logs() {
    let mut c = applied_ab();
    // Every other log compacted or crashed: the record still stands for index 1..=2.
    c.node_down(0);
    c.node_down(1);
    c.log_append(2, &[e(1, 1, "z"), e(1, 2, "b")]);
    let f = c
        .finish_event()
        .expect("entry 2 of term 1 on a different prefix");
    assert_eq!(f.invariant, Invariant::LogMatching);
}

#[test]
fn restart_from_a_snapshot_is_checked_too() {
    let mut c = applied_ab();
    c.node_down(1);
    c.node_up_from(1, Some((meta(2, 1), &cmds(&["a", "b"]))), &[e(1, 3, "c")]);
    assert!(c.finish_event().is_none(), "{:?}", c.finding());
    c.node_down(1);
    c.node_up_from(1, Some((meta(2, 1), &cmds(&["a"]))), &[]);
    let f = c.finish_event().expect("snapshot at 2 with one command");
    assert_eq!(f.invariant, Invariant::SnapshotSafety);
}

/// A runtime whose snapshots lose the last command is caught by the running cluster.
#[test]
fn a_runtime_with_wrong_snapshots_is_caught() {
    let mut c = Cluster::new(SimConfig {
        core_config: common::lab_config,
        snapshot: SnapshotPolicy::EveryN(5),
        runtime_fault: Some(RuntimeFault::SnapshotMissesLastCommand),
        ..SimConfig::new(3, 9)
    });
    for k in 0..20u64 {
        if c.one(raft_sim::cmd(k), 3, true).is_err() {
            break;
        }
    }
    let v = c.violation().expect("the bad snapshot was noticed");
    assert_eq!(v.finding.invariant, Invariant::SnapshotSafety, "{v}");
}

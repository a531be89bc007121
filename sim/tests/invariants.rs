//! The invariant checker catches each property's violation (fed synthetic observations), and
//! the simulator is deterministic and records a replayable trace.

mod common;

use bytes::Bytes;
use common::make_cluster;
use raft_impl::core::Role;
use raft_impl::testing::entry;
use raft_impl::types::{Entry, Index, Term};
use raft_sim::{cmd, Checker, Cluster, EventKind, Invariant, SimConfig, SimError, Trace};

fn e(term: Term, index: Index, data: &str) -> Entry {
    entry(index, term, Bytes::copy_from_slice(data.as_bytes()))
}

fn checker() -> Checker {
    Checker::new(vec![1, 2, 3])
}

#[test]
fn election_safety_two_leaders_in_one_term() {
    let mut c = checker();
    c.observe(0, 2, Role::Leader, 0);
    c.observe(1, 3, Role::Leader, 0);
    assert!(
        c.finish_event().is_none(),
        "leaders of different terms are fine"
    );
    // Node 3 leads term 2 after node 1 did: over the whole history, that is two.
    c.observe(0, 3, Role::Follower, 0);
    c.observe(2, 2, Role::Leader, 0);
    let f = c.finish_event().expect("two leaders in term 2");
    assert_eq!(f.invariant, Invariant::ElectionSafety);
    assert_eq!(f.nodes, vec![1, 3]);
}

#[test]
fn log_matching_same_term_different_prefix() {
    let mut c = checker();
    c.log_append(0, &[e(1, 1, "a"), e(2, 2, "b")]);
    c.log_append(1, &[e(1, 1, "a"), e(2, 2, "b")]);
    assert!(c.finish_event().is_none());
    // Same term at index 2, but index 1 differs.
    c.log_append(2, &[e(1, 1, "x"), e(2, 2, "b")]);
    let f = c.finish_event().expect("prefixes differ");
    assert_eq!(f.invariant, Invariant::LogMatching);
    assert_eq!(
        f.index,
        Some(1),
        "first index where both hold the same term"
    );
    assert!(f.detail.contains("differ at index 1"), "{}", f.detail);
}

#[test]
fn log_matching_allows_divergent_uncommitted_suffixes() {
    let mut c = checker();
    c.log_append(0, &[e(1, 1, "a"), e(2, 2, "b")]);
    c.log_append(1, &[e(1, 1, "a"), e(3, 2, "c")]);
    assert!(c.finish_event().is_none());
    // A truncation and rewrite to match is fine too.
    c.log_truncate(1, 2);
    c.log_append(1, &[e(2, 2, "b")]);
    assert!(c.finish_event().is_none());
}

#[test]
fn state_machine_safety_different_commands_at_one_index() {
    let mut c = checker();
    c.log_append(0, &[e(1, 1, "a")]);
    c.observe(0, 1, Role::Leader, 1);
    c.applied(0, &e(1, 1, "a"));
    assert!(c.finish_event().is_none());
    c.applied(1, &e(1, 1, "b"));
    let f = c.finish_event().expect("two commands at index 1");
    assert_eq!(f.invariant, Invariant::StateMachineSafety);
    assert_eq!((f.nodes.clone(), f.index), (vec![1, 2], Some(1)));
}

#[test]
fn leader_completeness_later_leader_lacks_applied_entry() {
    let mut c = checker();
    c.log_append(0, &[e(1, 1, "a"), e(1, 2, "b")]);
    c.observe(0, 1, Role::Leader, 2);
    c.applied(0, &e(1, 1, "a"));
    c.applied(0, &e(1, 2, "b"));
    assert!(c.finish_event().is_none());
    // Node 2 becomes leader of term 2 with only index 1.
    c.log_append(1, &[e(1, 1, "a")]);
    c.observe(1, 2, Role::Leader, 0);
    let f = c.finish_event().expect("leader of term 2 lacks entry 2");
    assert_eq!(f.invariant, Invariant::LeaderCompleteness);
    assert_eq!(f.index, Some(2));
}

#[test]
fn leader_completeness_checks_past_leaders_when_an_entry_is_applied_late() {
    let mut c = checker();
    c.log_append(0, &[e(1, 1, "a")]);
    c.observe(0, 1, Role::Leader, 1); // committed in term 1
                                      // Node 2 led term 2 without entry 1, before anyone applied it.
    c.observe(1, 2, Role::Leader, 0);
    assert!(c.finish_event().is_none());
    c.applied(0, &e(1, 1, "a"));
    let f = c
        .finish_event()
        .expect("past leader of term 2 lacked entry 1");
    assert_eq!(f.invariant, Invariant::LeaderCompleteness);
}

#[test]
fn apply_order_gap_is_reported() {
    let mut c = checker();
    c.observe(0, 1, Role::Follower, 2);
    c.applied(0, &e(1, 2, "b"));
    let f = c.finish_event().expect("index 1 skipped");
    assert_eq!(f.invariant, Invariant::ApplyOrder);
}

fn traced_run(seed: u64) -> Result<Trace, SimError> {
    let mut cfg = SimConfig::new(3, seed);
    cfg.record_trace = true;
    let mut c = Cluster::new(cfg);
    c.set_unreliable(true);
    c.one(cmd(1), 3, true)?;
    let leader = c.check_one_leader()?;
    c.crash(leader);
    c.one(cmd(2), 2, true)?;
    c.restart(leader);
    c.one(cmd(3), 3, true)?;
    Ok(c.trace())
}

#[test]
fn same_seed_same_run_bit_for_bit() -> Result<(), SimError> {
    let a = traced_run(7)?.to_json();
    let b = traced_run(7)?.to_json();
    assert_eq!(a, b, "two runs of seed 7 differ");
    let other = traced_run(8)?.to_json();
    assert_ne!(a, other, "the seed does not influence the run");
    Ok(())
}

#[test]
fn trace_round_trips_through_json_and_describes_events() -> Result<(), SimError> {
    let t = traced_run(9)?;
    let back = Trace::from_json(&t.to_json()).expect("parses");
    assert_eq!(back, t);
    assert!(t.failure.is_none());
    for (i, ev) in t.events.iter().enumerate() {
        assert_eq!(ev.seq, i as u64, "events are numbered consecutively");
        assert_eq!(ev.state.len(), 3);
    }
    let kinds: std::collections::HashSet<_> = t.events.iter().map(|e| e.kind).collect();
    for k in [
        EventKind::Tick,
        EventKind::Deliver,
        EventKind::SyncDone,
        EventKind::Propose,
        EventKind::Crash,
        EventKind::Restart,
    ] {
        assert!(kinds.contains(&k), "no {k:?} event recorded");
    }
    let delivered = t.events.iter().filter(|e| e.kind == EventKind::Deliver);
    assert!(
        delivered.clone().all(|e| e.msg.is_some()),
        "deliveries carry their message"
    );
    // After the final event, node states agree with the cluster's.
    let last = t.events.last().expect("events");
    assert!(last.state.iter().all(|s| s.up));
    Ok(())
}

#[test]
fn checks_run_without_a_trace_too() -> Result<(), SimError> {
    let mut c = make_cluster(3, 5);
    c.one(cmd(1), 3, true)?;
    assert!(c.trace().events.is_empty());
    assert!(c.events() > 0);
    Ok(())
}

//! `accept-stale-reply` is harmless with 3 servers (the acknowledged prefix
//! sits on a majority, so every later leader keeps it); it needs 5 servers
//! and 4 terms. This hand-built scenario shows the violation with the bug
//! and its absence without it.

mod common;

use common::Scenario;
use raft_model::properties::violated;
use raft_model::state::Body;
use raft_model::{Action, Bug, Config};

fn config(bug: bool) -> Config {
    let mut c = Config {
        servers: 5,
        max_term: 4,
        max_log: 2,
        max_in_flight: 40,
        restarts: 0,
        drops: 0,
        duplicates: 0,
        ..Config::default()
    };
    if bug {
        c.bugs.insert(Bug::AcceptStaleReply);
    }
    c
}

/// s0 leads term 1 and gets two entries acknowledged by s1 (the reply is
/// held back); s2 leads term 2 with s3, s4 and overwrites s0; s0 leads term
/// 3 with s3, s4; the stale acknowledgement arrives.
fn run(bug: bool) -> Scenario {
    let mut sc = Scenario::new(config(bug));
    let has_entries = |b: &Body| matches!(b, Body::AppendEntries { entries, .. } if !entries.is_empty());
    // Term 1: s0 elected by s2, s3.
    sc.act(Action::Timeout(0));
    sc.deliver_term(0, 2, "RequestVote", 1).deliver_term(0, 3, "RequestVote", 1);
    sc.deliver_term(2, 0, "RequestVoteReply", 1).deliver_term(3, 0, "RequestVoteReply", 1);
    sc.act(Action::Propose(0, 1)).act(Action::Propose(0, 1));
    sc.act(Action::Heartbeat(0));
    // s1 acknowledges both entries; the reply stays in flight.
    sc.deliver_if(0, 1, "AppendEntries", has_entries);
    // Term 2: s2 elected by s3, s4 (both still empty).
    sc.act(Action::Timeout(2));
    sc.deliver_term(2, 3, "RequestVote", 2).deliver_term(2, 4, "RequestVote", 2);
    sc.deliver_term(3, 2, "RequestVoteReply", 2).deliver_term(4, 2, "RequestVoteReply", 2);
    sc.act(Action::Propose(2, 1)).act(Action::Heartbeat(2));
    // s0 steps down and its term-1 entries are overwritten.
    sc.deliver_if(2, 0, "AppendEntries", has_entries);
    // Term 3: s0 elected by s3, s4.
    sc.act(Action::Timeout(0));
    sc.deliver_term(0, 3, "RequestVote", 3).deliver_term(0, 4, "RequestVote", 3);
    sc.deliver_term(3, 0, "RequestVoteReply", 3).deliver_term(4, 0, "RequestVoteReply", 3);
    sc.act(Action::Propose(0, 1));
    // The stale term-1 acknowledgement from s1 arrives.
    sc.deliver_if(1, 0, "AppendEntriesReply", |b| matches!(b, Body::AppendEntriesReply { term: 1, .. }));
    // s3 catches up: rejected probe, back off, then accepts both entries.
    sc.act(Action::Heartbeat(0));
    sc.deliver_if(0, 3, "AppendEntries", |b| matches!(b, Body::AppendEntries { term: 3, prev_log_index: 1, .. }));
    sc.deliver_if(3, 0, "AppendEntriesReply", |b| matches!(b, Body::AppendEntriesReply { success: false, .. }));
    sc.act(Action::Heartbeat(0));
    sc.deliver_if(0, 3, "AppendEntries", |b| matches!(b, Body::AppendEntries { term: 3, prev_log_index: 0, .. }));
    sc.deliver_if(3, 0, "AppendEntriesReply", |b| matches!(b, Body::AppendEntriesReply { success: true, term: 3, .. }));
    sc
}

#[test]
fn stale_acknowledgement_commits_an_unreplicated_entry_and_a_later_leader_lacks_it() {
    let mut sc = run(true);
    // With the stale ack counted, s0 commits index 2 with only s0 and s3 holding it.
    assert_eq!(sc.state.servers[0].commit_index, 2);
    // Term 4: s2 steps down, then wins with s1 and s4, which lack the entry.
    sc.deliver_if(0, 2, "RequestVote", |b| matches!(b, Body::RequestVote { term: 3, .. }));
    sc.act(Action::Timeout(2));
    sc.deliver_if(2, 1, "RequestVote", |b| matches!(b, Body::RequestVote { term: 4, .. }));
    sc.deliver_if(2, 4, "RequestVote", |b| matches!(b, Body::RequestVote { term: 4, .. }));
    sc.deliver_if(1, 2, "RequestVoteReply", |b| matches!(b, Body::RequestVoteReply { term: 4, .. }));
    sc.deliver_if(4, 2, "RequestVoteReply", |b| matches!(b, Body::RequestVoteReply { term: 4, .. }));
    assert!(violated(&sc.state).contains(&"Leader Completeness"), "{:?}", violated(&sc.state));
}

#[test]
fn without_the_bug_the_stale_acknowledgement_is_ignored() {
    let sc = run(false);
    assert_eq!(sc.state.servers[0].commit_index, 0);
    assert_eq!(sc.state.servers[0].match_index[1], 0);
    assert!(violated(&sc.state).is_empty());
}

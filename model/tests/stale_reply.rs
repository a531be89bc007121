//! `accept-stale-reply` needs a deep scenario: a stale acknowledgement is
//! false only after another leader rewrote the acknowledged entries, which
//! takes five terms with 3 servers (a false match_index) and 5 servers and
//! four terms for a Figure 3 property (Leader Completeness). These
//! hand-built scenarios show the violations with the bug and their absence
//! without it.

mod common;

use common::Scenario;
use raft_model::properties::violated;
use raft_model::state::{
    AppendEntries, AppendEntriesResponse, Message, RequestVote, RequestVoteResponse,
};
use raft_model::{Action, Bug, Config};

/// No faults, room for every message the scenarios leave in flight.
fn config(servers: u8, max_term: u8, bug: bool) -> Config {
    let mut c = Config {
        servers,
        max_term,
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
    let mut sc = Scenario::new(config(5, 4, bug));
    let has_entries = |b: &Message| matches!(b, Message::AppendEntries(AppendEntries { entries, .. }) if !entries.is_empty());
    // Term 1: s0 elected by s2, s3.
    sc.act(Action::ElectionTimeout(0));
    sc.deliver_term(0, 2, "RequestVote", 1)
        .deliver_term(0, 3, "RequestVote", 1);
    sc.deliver_term(2, 0, "RequestVoteResponse", 1)
        .deliver_term(3, 0, "RequestVoteResponse", 1);
    sc.act(Action::Propose(0, 1)).act(Action::Propose(0, 1));
    sc.act(Action::Heartbeat(0));
    // s1 acknowledges both entries; the reply stays in flight.
    sc.deliver_if(0, 1, "AppendEntries", has_entries);
    // Term 2: s2 elected by s3, s4 (both still empty).
    sc.act(Action::ElectionTimeout(2));
    sc.deliver_term(2, 3, "RequestVote", 2)
        .deliver_term(2, 4, "RequestVote", 2);
    sc.deliver_term(3, 2, "RequestVoteResponse", 2)
        .deliver_term(4, 2, "RequestVoteResponse", 2);
    sc.act(Action::Propose(2, 1)).act(Action::Heartbeat(2));
    // s0 steps down and its term-1 entries are overwritten.
    sc.deliver_if(2, 0, "AppendEntries", has_entries);
    // Term 3: s0 elected by s3, s4.
    sc.act(Action::ElectionTimeout(0));
    sc.deliver_term(0, 3, "RequestVote", 3)
        .deliver_term(0, 4, "RequestVote", 3);
    sc.deliver_term(3, 0, "RequestVoteResponse", 3)
        .deliver_term(4, 0, "RequestVoteResponse", 3);
    sc.act(Action::Propose(0, 1));
    // The stale term-1 acknowledgement from s1 arrives: s0 now believes s1
    // holds its (rewritten) first two entries.
    assert!(violated(&sc.state).is_empty(), "{:?}", violated(&sc.state));
    sc.deliver_if(1, 0, "AppendEntriesResponse", |b| {
        matches!(
            b,
            Message::AppendEntriesResponse(AppendEntriesResponse { term: 1, .. })
        )
    });
    assert_eq!(
        violated(&sc.state).is_empty(),
        !bug,
        "{:?}",
        violated(&sc.state)
    );
    // s3 catches up: rejected probe, back off, then accepts both entries.
    sc.act(Action::Heartbeat(0));
    sc.deliver_if(0, 3, "AppendEntries", |b| {
        matches!(
            b,
            Message::AppendEntries(AppendEntries {
                term: 3,
                prev_log_index: 1,
                ..
            })
        )
    });
    sc.deliver_if(3, 0, "AppendEntriesResponse", |b| {
        matches!(
            b,
            Message::AppendEntriesResponse(AppendEntriesResponse { success: false, .. })
        )
    });
    sc.act(Action::Heartbeat(0));
    sc.deliver_if(0, 3, "AppendEntries", |b| {
        matches!(
            b,
            Message::AppendEntries(AppendEntries {
                term: 3,
                prev_log_index: 0,
                ..
            })
        )
    });
    sc.deliver_if(3, 0, "AppendEntriesResponse", |b| {
        matches!(
            b,
            Message::AppendEntriesResponse(AppendEntriesResponse {
                success: true,
                term: 3,
                ..
            })
        )
    });
    sc
}

#[test]
fn stale_acknowledgement_commits_an_unreplicated_entry_and_a_later_leader_lacks_it() {
    let mut sc = run(true);
    // With the stale ack counted, s0 commits index 2 with only s0 and s3 holding it.
    assert_eq!(sc.state.servers[0].commit_index, 2);
    // Term 4: s2 steps down, then wins with s1 and s4, which lack the entry.
    sc.deliver_if(0, 2, "RequestVote", |b| {
        matches!(b, Message::RequestVote(RequestVote { term: 3, .. }))
    });
    sc.act(Action::ElectionTimeout(2));
    sc.deliver_if(2, 1, "RequestVote", |b| {
        matches!(b, Message::RequestVote(RequestVote { term: 4, .. }))
    });
    sc.deliver_if(2, 4, "RequestVote", |b| {
        matches!(b, Message::RequestVote(RequestVote { term: 4, .. }))
    });
    sc.deliver_if(1, 2, "RequestVoteResponse", |b| {
        matches!(
            b,
            Message::RequestVoteResponse(RequestVoteResponse { term: 4, .. })
        )
    });
    sc.deliver_if(4, 2, "RequestVoteResponse", |b| {
        matches!(
            b,
            Message::RequestVoteResponse(RequestVoteResponse { term: 4, .. })
        )
    });
    assert!(
        violated(&sc.state).contains(&"Leader Completeness"),
        "{:?}",
        violated(&sc.state)
    );
}

fn has_entries(b: &Message) -> bool {
    matches!(b, Message::AppendEntries(AppendEntries { entries, .. }) if !entries.is_empty())
}

fn term_is(kind_term: u8) -> impl Fn(&Message) -> bool {
    move |b| b.term() == kind_term
}

/// Three servers: s0 (term 1) and s2 (term 2) each append an entry nobody
/// else holds; s0 leads term 3 and gets s1 to acknowledge its term-1 entry
/// (the reply is held back); s2 leads term 4 with s1's vote and rewrites
/// s1's entry; s0 leads term 5 with s1's vote; the stale acknowledgement
/// arrives. Returns the scenario just before it does.
fn three_servers(bug: bool) -> Scenario {
    let mut sc = Scenario::new(config(3, 5, bug));
    let reply_of = |t: u8| move |b: &Message| matches!(b, Message::AppendEntriesResponse(AppendEntriesResponse { term, .. }) if *term == t);
    // Term 1: s0 elected by s1; appends (1,1).
    sc.act(Action::ElectionTimeout(0));
    sc.deliver_term(0, 1, "RequestVote", 1)
        .deliver_term(1, 0, "RequestVoteResponse", 1);
    sc.act(Action::Propose(0, 1));
    // Term 2: s2 learns term 1, times out, is elected by s1 (still empty); appends (2,1).
    sc.deliver_term(0, 2, "RequestVote", 1);
    sc.act(Action::ElectionTimeout(2));
    sc.deliver_term(2, 1, "RequestVote", 2)
        .deliver_term(1, 2, "RequestVoteResponse", 2);
    sc.act(Action::Propose(2, 1));
    // Term 3: s0 steps down, is elected by s1, backs up and replicates (1,1).
    sc.deliver_term(2, 0, "RequestVote", 2);
    sc.act(Action::ElectionTimeout(0));
    sc.deliver_term(0, 1, "RequestVote", 3)
        .deliver_term(1, 0, "RequestVoteResponse", 3);
    sc.deliver_if(0, 1, "AppendEntries", term_is(3));
    sc.deliver_if(1, 0, "AppendEntriesResponse", reply_of(3));
    sc.act(Action::Heartbeat(0));
    sc.deliver_if(0, 1, "AppendEntries", |b| b.term() == 3 && has_entries(b));
    // s1's acknowledgement of index 1 (term 3) stays in flight; s0 appends (3,1).
    sc.act(Action::Propose(0, 1));
    // Term 4: s2 steps down, is elected by s1 (last term 2 > 1), rewrites s1.
    sc.deliver_term(0, 2, "RequestVote", 3);
    sc.act(Action::ElectionTimeout(2));
    sc.deliver_term(2, 1, "RequestVote", 4)
        .deliver_term(1, 2, "RequestVoteResponse", 4);
    sc.deliver_if(2, 1, "AppendEntries", term_is(4));
    sc.deliver_if(1, 2, "AppendEntriesResponse", reply_of(4));
    sc.act(Action::Heartbeat(2));
    sc.deliver_if(2, 1, "AppendEntries", |b| b.term() == 4 && has_entries(b));
    // Term 5: s0 steps down, is elected by s1 (last term 3 > 2).
    sc.deliver_term(2, 0, "RequestVote", 4);
    sc.act(Action::ElectionTimeout(0));
    sc.deliver_term(0, 1, "RequestVote", 5)
        .deliver_term(1, 0, "RequestVoteResponse", 5);
    assert_eq!(
        sc.state.servers[1].log,
        vec![raft_model::state::Entry { term: 2, value: 1 }]
    );
    assert!(violated(&sc.state).is_empty(), "{:?}", violated(&sc.state));
    sc
}

#[test]
fn with_three_servers_a_stale_acknowledgement_is_false_after_five_terms() {
    let mut sc = three_servers(true);
    sc.deliver_if(1, 0, "AppendEntriesResponse", |b| b.term() == 3);
    assert_eq!(sc.state.servers[0].match_index[1], 1);
    // The state invariant the stale acknowledgement breaks, and the rule it
    // broke in the step that took it.
    assert_eq!(
        violated(&sc.state),
        vec![
            "match_index is accurate",
            "progress moves only on a response of the leader's term"
        ]
    );
    assert_eq!(sc.steps.len(), 31);
}

#[test]
fn with_three_servers_the_correct_leader_ignores_the_stale_acknowledgement() {
    let mut sc = three_servers(false);
    sc.deliver_if(1, 0, "AppendEntriesResponse", |b| b.term() == 3);
    assert_eq!(sc.state.servers[0].match_index[1], 0);
    assert!(violated(&sc.state).is_empty());
}

#[test]
fn without_the_bug_the_stale_acknowledgement_is_ignored() {
    let sc = run(false);
    assert_eq!(sc.state.servers[0].commit_index, 0);
    assert_eq!(sc.state.servers[0].match_index[1], 0);
    assert!(violated(&sc.state).is_empty());
}

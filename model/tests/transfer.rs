//! Leadership transfer (Raft thesis §3.10, `--transfer`): the leader stops taking
//! proposals, sends TimeoutNow once its target is caught up, and the target stands at
//! once; the correct model keeps every property, and the default model has no transfer.

mod common;

use common::{fires, Scenario};
use raft_model::state::{Message, Role};
use raft_model::{Action, Config, RaftModel};

fn transfer(config: Config) -> Config {
    Config {
        transfer: true,
        ..config
    }
}

/// Room for a whole election's messages, for hand-driven scenarios.
fn roomy() -> Config {
    Config {
        max_in_flight: 8,
        max_term: 3,
        ..transfer(common::small())
    }
}

/// s0 leads term 1 with s1's vote, appends (1,1) and s1 stores it, its
/// acknowledgement in flight.
fn leader_with_entry() -> Scenario {
    let mut sc = Scenario::new(roomy());
    sc.s0_leads_and_s1_stores_one_entry();
    sc
}

fn timeout_nows(sc: &Scenario) -> usize {
    sc.state
        .network
        .iter()
        .filter(|m| matches!(m.msg, Message::TimeoutNow(_)))
        .count()
}

#[test]
fn transfer_is_off_by_default() {
    assert!(!Config::default().transfer);
    let mut sc = Scenario::new(common::small());
    sc.elect_s0();
    let model = RaftModel::new(common::small());
    assert!(!model.enabled(&sc.state, &Action::TransferLeadership(0, 1)));
}

#[test]
fn a_caught_up_target_gets_timeout_now_and_wins() {
    let mut sc = leader_with_entry();
    // s1's acknowledgement is not in yet: no TimeoutNow, and no proposals.
    sc.act(Action::TransferLeadership(0, 1));
    assert_eq!(sc.state.servers[0].lead_transferee, Some(1));
    assert_eq!(timeout_nows(&sc), 0, "s1 is not known to be caught up");
    let model = &sc.model;
    assert!(!model.enabled(&sc.state, &Action::Propose(0, 1)));
    assert!(!model.enabled(&sc.state, &Action::TransferLeadership(0, 2)));
    // The acknowledgement shows s1 caught up: TimeoutNow.
    sc.deliver(1, 0, "AppendEntriesResponse");
    assert_eq!(timeout_nows(&sc), 1);
    sc.deliver(0, 1, "TimeoutNow");
    let s1 = &sc.state.servers[1];
    assert_eq!((s1.role, s1.current_term), (Role::Candidate, 2));
    let rv = sc.find(1, 0, "RequestVote", |_| true);
    assert!(matches!(rv.msg, Message::RequestVote(rv) if rv.transfer));
    // s0 steps down on the higher term and votes for s1, which wins.
    sc.deliver(1, 0, "RequestVote");
    assert_eq!(sc.state.servers[0].role, Role::Follower);
    assert_eq!(sc.state.servers[0].lead_transferee, None);
    sc.deliver(0, 1, "RequestVoteResponse");
    assert_eq!(sc.state.servers[1].role, Role::Leader);
}

#[test]
fn an_abort_takes_proposals_again() {
    let mut sc = leader_with_entry();
    sc.act(Action::TransferLeadership(0, 2));
    sc.act(Action::AbortTransfer(0));
    assert_eq!(sc.state.servers[0].lead_transferee, None);
    // The log bound (one entry) is reached: the transfer may start again, not a proposal.
    assert!(sc
        .model
        .enabled(&sc.state, &Action::TransferLeadership(0, 2)));
    assert!(!sc.model.enabled(&sc.state, &Action::AbortTransfer(0)));
}

#[test]
fn timeout_now_is_ignored_by_a_non_follower_and_a_stale_term() {
    // A just-elected leader with an empty log: every peer matches it, TimeoutNow at once.
    let mut sc = Scenario::new(roomy());
    sc.elect_s0();
    sc.act(Action::TransferLeadership(0, 2));
    assert_eq!(timeout_nows(&sc), 1);
    // s2 stands for term 2 by its own timeout first: the TimeoutNow of term 1 is stale.
    sc.act(Action::ElectionTimeout(2));
    let before = sc.state.servers[2].clone();
    sc.deliver(0, 2, "TimeoutNow");
    assert_eq!(sc.state.servers[2], before, "ignored");
}

#[test]
fn with_check_quorum_a_transfer_vote_is_not_ignored_by_sticky_followers() {
    let mut sc = Scenario::new(Config {
        check_quorum: true,
        ..roomy()
    });
    sc.s0_leads_and_s1_stores_one_entry();
    assert!(sc.state.servers[1].heard_from_leader);
    sc.act(Action::TransferLeadership(0, 2));
    sc.deliver_if(
        0,
        2,
        "AppendEntries",
        |m| matches!(m, Message::AppendEntries(ae) if !ae.entries.is_empty()),
    );
    sc.deliver(2, 0, "AppendEntriesResponse")
        .deliver(0, 2, "TimeoutNow");
    assert_eq!(sc.state.servers[2].role, Role::Candidate);
    // s1 heard from s0 within its timeout, yet answers the transfer's RequestVote.
    sc.deliver(2, 1, "RequestVote");
    assert_eq!(sc.state.servers[1].current_term, 2);
    let reply = sc.find(1, 2, "RequestVoteResponse", |_| true);
    assert!(matches!(reply.msg, Message::RequestVoteResponse(r) if r.vote_granted));
}

#[test]
fn with_pre_vote_the_target_stands_without_a_pre_vote() {
    let mut sc = Scenario::new(Config {
        pre_vote: true,
        ..roomy()
    });
    sc.act(Action::ElectionTimeout(0));
    sc.deliver(0, 1, "PreVote").deliver(1, 0, "PreVoteResponse");
    sc.deliver(0, 1, "RequestVote")
        .deliver(1, 0, "RequestVoteResponse");
    sc.act(Action::TransferLeadership(0, 1));
    sc.deliver_if(0, 1, "AppendEntries", |_| true)
        .deliver(1, 0, "AppendEntriesResponse")
        .deliver(0, 1, "TimeoutNow");
    assert_eq!(sc.state.servers[1].role, Role::Candidate);
    assert_eq!(sc.state.servers[1].current_term, 2);
}

#[test]
fn a_timeout_now_goes_only_to_a_caught_up_target() {
    let mut sc = leader_with_entry();
    sc.deliver(1, 0, "AppendEntriesResponse");
    sc.act(Action::TransferLeadership(0, 1));
    assert_eq!(timeout_nows(&sc), 1);
    // Wrong (transfer-without-catch-up): the target lacks the leader's entry.
    fires(&sc, "a TimeoutNow goes only to a caught-up target", |s| {
        s.servers[1].log.clear()
    });
    // Wrong: a TimeoutNow to a server the leader is not transferring to.
    fires(&sc, "messages describe their sender", |s| {
        s.servers[0].lead_transferee = Some(2)
    });
}

#[test]
fn an_election_starts_only_by_the_rules() {
    let rule = "an election starts only by a timeout, a won pre-vote or a TimeoutNow";
    let mut sc = leader_with_entry();
    sc.deliver(1, 0, "AppendEntriesResponse");
    sc.act(Action::TransferLeadership(0, 1));
    sc.deliver(0, 1, "TimeoutNow");
    // The TimeoutNow found s1 a follower of its term: right. Wrong: s2 stands too.
    fires(&sc, rule, |s| {
        let s2 = &mut s.servers[2];
        s2.current_term = 2;
        s2.role = Role::Candidate;
        s2.voted_for = Some(2);
    });
    // Wrong: a heartbeat makes a follower stand.
    let mut sc = leader_with_entry();
    sc.act(Action::Heartbeat(0));
    fires(&sc, rule, |s| {
        let s2 = &mut s.servers[2];
        s2.current_term = 2;
        s2.role = Role::Candidate;
        s2.voted_for = Some(2);
    });
}

#[test]
fn the_correct_model_holds_with_transfer_and_reaches_its_events() {
    common::holds_and_reaches(
        &Config {
            max_in_flight: 4,
            ..transfer(common::small())
        },
        &[
            "a TimeoutNow starts an election",
            "a leadership transfer completes: its target is elected",
        ],
        "transfer",
    );
}

#[test]
fn a_transfer_trace_round_trips_through_itf() {
    let mut sc = leader_with_entry();
    sc.act(Action::TransferLeadership(0, 1));
    sc.deliver(1, 0, "AppendEntriesResponse")
        .deliver(0, 1, "TimeoutNow");
    let (json, table) = common::round_trip(&sc, "transfer");
    assert!(json.contains(r#""transfer": true"#) && json.contains("transfer_leadership"));
    assert!(json.contains(r#""lead_transferee""#) && json.contains("TimeoutNow"));
    assert!(table.contains("operator asks leader s0 to transfer its leadership to s1"));
    // A trace without transfer writes none of it.
    let json = common::plain_trace_json();
    assert!(!json.contains("transfer") && !json.contains("TimeoutNow"));
}

//! Pre-vote (Raft thesis §9.6, `--pre-vote`): an election timeout first asks
//! whether the server would win; the correct model keeps every property, and
//! the default model has no pre-vote.

mod common;

use common::Scenario;
use raft_model::state::{Message, Role};
use raft_model::{Action, Config, RaftModel};

fn pre_vote(config: Config) -> Config {
    Config {
        pre_vote: true,
        ..config
    }
}

/// Room for a whole election's messages, for hand-driven scenarios.
fn roomy() -> Config {
    Config {
        max_in_flight: 8,
        ..pre_vote(common::small())
    }
}

#[test]
fn pre_vote_is_off_by_default() {
    assert!(!Config::default().pre_vote);
    let model = RaftModel::new(Config::default());
    let next = model
        .next_state(&model.init_state(), &Action::ElectionTimeout(0))
        .unwrap();
    assert_eq!(next.servers[0].role, Role::Candidate);
    assert!(next
        .network
        .iter()
        .all(|m| matches!(m.msg, Message::RequestVote(_))));
}

#[test]
fn a_pre_vote_majority_starts_the_election() {
    let mut sc = Scenario::new(roomy());
    sc.act(Action::ElectionTimeout(0));
    let s0 = &sc.state.servers[0];
    assert_eq!(
        (s0.role, s0.current_term, s0.voted_for),
        (Role::PreCandidate, 0, None)
    );
    let asks = sc.find(0, 1, "PreVote", |_| true);
    assert_eq!(asks.msg.term(), 1, "asks for the next term");
    sc.deliver(0, 1, "PreVote");
    assert_eq!(
        sc.state.servers[1].current_term, 0,
        "the voter keeps its term"
    );
    sc.deliver(1, 0, "PreVoteResponse");
    let s0 = &sc.state.servers[0];
    assert_eq!(
        (s0.role, s0.current_term, s0.voted_for),
        (Role::Candidate, 1, Some(0))
    );
    sc.deliver(0, 1, "RequestVote")
        .deliver(1, 0, "RequestVoteResponse");
    assert_eq!(sc.state.servers[0].role, Role::Leader);
}

#[test]
fn a_follower_of_a_live_leader_refuses_a_pre_vote() {
    let mut sc = Scenario::new(roomy());
    sc.act(Action::ElectionTimeout(0));
    sc.deliver(0, 1, "PreVote").deliver(1, 0, "PreVoteResponse");
    sc.deliver(0, 1, "RequestVote")
        .deliver(1, 0, "RequestVoteResponse");
    sc.deliver(0, 2, "PreVote").deliver(0, 2, "RequestVote");
    sc.deliver(0, 1, "AppendEntries");
    assert!(sc.state.servers[1].heard_from_leader);
    // s2, which voted for s0 but never heard from it as leader, asks for term 2.
    sc.act(Action::ElectionTimeout(2));
    sc.deliver(2, 1, "PreVote").deliver(2, 0, "PreVote");
    for voter in [0, 1] {
        let reply = sc.find(voter, 2, "PreVoteResponse", |_| true);
        assert!(matches!(reply.msg, Message::PreVoteResponse(r) if !r.vote_granted && r.term == 1));
    }
    sc.deliver(1, 2, "PreVoteResponse")
        .deliver(0, 2, "PreVoteResponse");
    assert_eq!(sc.state.servers[2].role, Role::PreCandidate, "no election");
    assert_eq!(sc.state.servers[0].role, Role::Leader, "the leader stays");
    assert!(sc.state.servers.iter().all(|s| s.current_term == 1));
}

#[test]
fn the_correct_model_holds_with_pre_vote_and_reaches_both_outcomes() {
    common::holds_and_reaches(
        &pre_vote(common::small()),
        &[
            "a pre-vote is refused by a follower that hears from a leader",
            "a pre-candidate wins its pre-vote and stands",
        ],
        "pre-vote",
    );
}

#[test]
fn a_pre_vote_trace_round_trips_through_itf() {
    let mut sc = Scenario::new(roomy());
    sc.act(Action::ElectionTimeout(0));
    sc.deliver(0, 1, "PreVote").deliver(1, 0, "PreVoteResponse");
    sc.deliver(0, 1, "RequestVote")
        .deliver(1, 0, "RequestVoteResponse");
    sc.deliver(0, 1, "AppendEntries");
    let (json, table) = common::round_trip(&sc, "pre-vote");
    assert!(json.contains(r#""pre_vote": true"#) && json.contains("PreVoteResponse"));
    assert!(json.contains(r#""heard_from_leader": true"#));
    assert!(table.contains("role Follower -> PreCandidate"));
    // A trace without pre-vote writes neither field.
    let json = common::plain_trace_json();
    assert!(!json.contains("pre_vote") && !json.contains("heard_from_leader"));
}

//! Check-quorum (Raft thesis §6.2, `--check-quorum`): a leader that heard from no majority
//! since its last check steps down, and a server that hears from a leader ignores
//! RequestVote of a higher term (§4.2.3); the correct model keeps every property, and the
//! default model has neither.

mod common;

use common::Scenario;
use raft_model::state::{Message, Role};
use raft_model::{Action, Config, RaftModel};

fn check_quorum(config: Config) -> Config {
    Config {
        check_quorum: true,
        ..config
    }
}

/// Room for a whole election's messages, for hand-driven scenarios.
fn roomy() -> Config {
    Config {
        max_in_flight: 8,
        ..check_quorum(common::small())
    }
}

/// s0 elected leader of term 1 with s1's vote; s2 has not heard of it.
fn elected() -> Scenario {
    let mut sc = Scenario::new(roomy());
    sc.elect_s0();
    sc
}

#[test]
fn check_quorum_is_off_by_default() {
    assert!(!Config::default().check_quorum);
    let model = RaftModel::new(Config::default());
    let mut sc = Scenario::new(common::small());
    sc.elect_s0();
    assert!(!model.enabled(&sc.state, &Action::CheckQuorum(0)));
    assert_eq!(sc.state.servers[0].heard_from, 0, "nothing recorded");
}

#[test]
fn a_leader_that_heard_from_nobody_steps_down_in_its_term() {
    let mut sc = elected();
    sc.act(Action::CheckQuorum(0));
    let s0 = &sc.state.servers[0];
    assert_eq!(
        (s0.role, s0.current_term, s0.voted_for),
        (Role::Follower, 1, Some(0))
    );
    assert!(!sc.model.enabled(&sc.state, &Action::CheckQuorum(0)));
}

#[test]
fn a_leader_that_heard_from_a_majority_stays_and_starts_over() {
    let mut sc = elected();
    sc.deliver(0, 1, "AppendEntries")
        .deliver(1, 0, "AppendEntriesResponse");
    assert_eq!(sc.state.servers[0].heard_from, 1 << 1);
    sc.act(Action::CheckQuorum(0));
    let s0 = &sc.state.servers[0];
    assert_eq!((s0.role, s0.heard_from), (Role::Leader, 0));
    // Nothing heard in the next period: it steps down.
    sc.act(Action::CheckQuorum(0));
    assert_eq!(sc.state.servers[0].role, Role::Follower);
}

#[test]
fn a_follower_of_a_live_leader_ignores_a_higher_vote_request() {
    let mut sc = elected();
    sc.deliver(0, 1, "AppendEntries");
    assert!(sc.state.servers[1].heard_from_leader);
    // s2 never heard from s0 as leader and stands for term 2.
    sc.deliver(0, 2, "RequestVote");
    sc.act(Action::ElectionTimeout(2));
    let before = sc.state.network.len();
    sc.deliver(2, 1, "RequestVote");
    let s1 = &sc.state.servers[1];
    assert_eq!((s1.current_term, s1.voted_for), (1, Some(0)), "term kept");
    assert_eq!(sc.state.network.len(), before - 1, "no reply");
    // The leader ignores it too.
    sc.deliver(2, 0, "RequestVote");
    assert_eq!(sc.state.servers[0].role, Role::Leader);
    assert_eq!(sc.state.servers[0].current_term, 1);
    // Once s1's election timer fires it no longer counts the leader as live.
    sc.act(Action::ElectionTimeout(1));
    assert!(!sc.state.servers[1].heard_from_leader);
}

#[test]
fn without_check_quorum_a_higher_vote_request_deposes_the_term() {
    let mut sc = Scenario::new(Config {
        max_in_flight: 8,
        ..common::small()
    });
    sc.elect_s0();
    sc.deliver(0, 1, "AppendEntries");
    sc.deliver(0, 2, "RequestVote");
    sc.act(Action::ElectionTimeout(2));
    sc.deliver(2, 1, "RequestVote");
    assert_eq!(sc.state.servers[1].current_term, 2);
    let reply = sc.find(1, 2, "RequestVoteResponse", |_| true);
    assert!(matches!(reply.msg, Message::RequestVoteResponse(r) if r.vote_granted));
}

#[test]
fn the_correct_model_holds_with_check_quorum_and_reaches_its_events() {
    common::holds_and_reaches(
        &check_quorum(common::small()),
        &[
            "a leader steps down on lost quorum",
            "a vote request of a higher term is ignored by a server that hears from a leader",
        ],
        "quorum",
    );
}

#[test]
fn a_check_quorum_trace_round_trips_through_itf() {
    let mut sc = elected();
    sc.deliver(0, 1, "AppendEntries")
        .deliver(1, 0, "AppendEntriesResponse");
    sc.act(Action::CheckQuorum(0));
    sc.act(Action::CheckQuorum(0));
    let (json, table) = common::round_trip(&sc, "check-quorum");
    assert!(json.contains(r#""check_quorum": true"#) && json.contains("check_quorum"));
    assert!(json.contains(r#""heard_from""#));
    assert!(table.contains("check-quorum at leader s0"));
    // A trace without check-quorum writes neither field.
    let json = common::plain_trace_json();
    assert!(!json.contains("check_quorum") && !json.contains("heard_from\""));
}

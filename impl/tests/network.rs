//! The testing surface's own contract: what a test reads is what happened, a crash keeps only
//! what was durable, and `make_leader` wins real elections.

use raft_impl::core::Role;
use raft_impl::testing::{append, env, log_of, terms_of, vote, vote_granted, Delivery, Network};

#[test]
fn reading_the_outbox_consumes_nothing() {
    let mut net = Network::new(3);
    net.campaign(1);
    let first: Vec<_> = net.outbox(1).into_iter().cloned().collect();
    assert_eq!(
        first,
        vec![env(1, 2, vote(1, 0, 0)), env(1, 3, vote(1, 0, 0))]
    );
    assert_eq!(
        net.outbox(1).len(),
        2,
        "a second peek sees the same messages"
    );
    assert_eq!(net.in_flight().len(), 2);
    assert!(
        !net.node(1).unwrap().has_ready(),
        "flush handled the whole Ready"
    );
}

#[test]
fn deliver_steps_the_chosen_message_and_queues_the_reply() {
    let mut net = Network::new(3);
    net.campaign(1);
    let d = net.deliver(1, 3).expect("in flight");
    assert_eq!(d, Delivery::Delivered(env(1, 3, vote(1, 0, 0))));
    assert_eq!(net.outbox(3), vec![&env(3, 1, vote_granted(1))]);
    assert_eq!(net.deliver(1, 3), None, "only one message was on that link");
    assert_eq!(net.drop_message(1, 2), Some(env(1, 2, vote(1, 0, 0))));
    assert_eq!(
        net.node(2).unwrap().current_term(),
        0,
        "a dropped message never arrives"
    );
}

#[test]
fn make_leader_wins_exactly_the_requested_term() {
    let mut net = Network::new(3);
    net.make_leader(2, 5).unwrap();
    let l = net.node(2).unwrap();
    assert_eq!((l.role(), l.current_term()), (Role::Leader, 5));
    for f in [1, 3] {
        let n = net.node(f).unwrap();
        assert_eq!(
            (n.role(), n.current_term(), n.leader_id()),
            (Role::Follower, 5, Some(2))
        );
    }
    assert!(
        net.make_leader(2, 5).is_err(),
        "term 5 is not above its term"
    );
}

#[test]
fn make_leader_fails_when_no_majority_can_vote() {
    let mut net = Network::new(3);
    net.isolate(1);
    let err = net.make_leader(1, 1).unwrap_err();
    assert!(err.contains("did not win"), "{err}");
}

#[test]
fn restart_comes_back_from_durable_state_only() {
    let mut net = Network::new(3);
    net.make_leader(1, 1).unwrap();
    net.propose(1, "x").unwrap();
    net.stabilize();
    assert_eq!(terms_of(&net.durable(2).entries), vec![1]);
    net.crash(2);
    assert!(!net.is_up(2));
    assert!(matches!(
        net.deliver(1, 2),
        None | Some(Delivery::Lost(_, "down"))
    ));
    net.restart(2);
    let n = net.node(2).unwrap();
    assert_eq!(
        (n.current_term(), n.last_index(), n.commit_index()),
        (1, 1, 0)
    );
    assert_eq!(
        n.hard_state().voted_for,
        Some(1),
        "the vote survived the crash"
    );
    assert!(
        net.applied(2).is_empty(),
        "the state machine restarts empty"
    );
}

#[test]
fn a_cut_link_loses_messages_and_heal_restores_it() {
    let mut net = Network::new(3);
    net.partition(&[&[1], &[2, 3]]);
    net.campaign(1);
    let lost = net.stabilize();
    assert!(lost.iter().all(|d| matches!(d, Delivery::Lost(_, "cut"))));
    net.heal();
    net.campaign(1);
    net.stabilize();
    assert_eq!(net.node(1).unwrap().role(), Role::Leader);
}

#[test]
fn builders_make_what_the_core_accepts() {
    let mut net = Network::new(3);
    let entries = log_of(&[1, 1]);
    net.node_mut(2)
        .step(env(
            1,
            2,
            append(1).prev(0, 0).entries(entries.clone()).commit(1),
        ))
        .unwrap();
    net.flush(2);
    let n = net.node(2).unwrap();
    assert_eq!((n.last_index(), n.commit_index()), (2, 1));
    assert_eq!(net.applied(2), &entries[..1]);
}

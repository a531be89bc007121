//! Pre-vote (thesis §9.6): a node asks whether it would win before it raises its term.

use super::*;

/// Conformance config with pre-vote switched on.
fn pv_cfg(id: NodeId, n: u64) -> Config {
    Config {
        pre_vote: true,
        ..cfg(id, n)
    }
}

fn pre_vote(term: Term, last_log_index: Index, last_log_term: Term) -> Message {
    Message::PreVote(RequestVote {
        term,
        last_log_index,
        last_log_term,
        transfer: false,
    })
}

fn pvr(term: Term, vote_granted: bool) -> Message {
    Message::PreVoteResponse(RequestVoteResponse { term, vote_granted })
}

/// A pre-vote node restarted from `term`, `voted_for` and a log of `terms`.
fn pv_restored(id: NodeId, term: Term, voted_for: Option<NodeId>, log: &[Term]) -> RawNode {
    let hs = HardState {
        current_term: term,
        voted_for,
        lost_up_to: 0,
        lost_term: 0,
    };
    RawNode::restore(pv_cfg(id, 3), hs, log_of(log)).unwrap()
}

/// Three nodes, node 1 elected leader of term 1; node 3 then cut off while it times out
/// `timeouts` times, and healed: it times out once more with the network whole.
fn rejoin_after_partition(pre_vote: bool, timeouts: usize) -> Cluster {
    let mut c = Cluster::new(
        (1..=3)
            .map(|i| Config {
                pre_vote,
                ..cfg(i, 3)
            })
            .collect(),
    );
    assert!(c.node(1).election_timeout_now());
    c.settle();
    assert_eq!(
        (c.node(1).role(), c.node(1).current_term()),
        (Role::Leader, 1)
    );
    let cut = |_: usize, m: &Envelope| m.from == 3 || m.to == 3;
    for _ in 0..timeouts {
        c.node(3).election_timeout_now();
        c.run(cut);
    }
    c.node(3).election_timeout_now();
    c.settle();
    c
}

#[test]
fn s9_6_a_rejoining_partitioned_node_does_not_depose_the_leader() {
    let mut c = rejoin_after_partition(true, 3);
    assert_eq!(c.node(1).role(), Role::Leader, "the leader keeps leading");
    for id in 1..=3 {
        assert_eq!(c.node(id).current_term(), 1, "node {id}: term unchanged");
    }
    assert_eq!(c.node(3).role(), Role::PreCandidate, "refused by both");
    // The leader's next heartbeat brings it back as a follower.
    c.node(1).heartbeat_now().unwrap();
    c.settle();
    assert_eq!(c.node(3).role(), Role::Follower);
    assert_eq!(c.node(3).leader_id(), Some(1));
}

#[test]
fn without_pre_vote_the_rejoining_node_deposes_the_leader() {
    let mut c = rejoin_after_partition(false, 3);
    assert_eq!(c.node(3).current_term(), 5, "one term per timeout");
    assert_ne!(c.node(1).role(), Role::Leader, "the leader stepped down");
    assert_eq!(c.node(1).current_term(), 5);
}

#[test]
fn s9_6_a_pre_candidate_with_a_stale_log_gets_no_election() {
    // Nodes 1 and 2 hold an entry of term 1 that node 3 lacks; nobody knows a leader.
    let mut n1 = pv_restored(1, 1, Some(1), &[1]);
    let mut n2 = pv_restored(2, 1, Some(1), &[1]);
    let mut n3 = pv_restored(3, 1, Some(1), &[]);
    assert!(n3.election_timeout_now());
    assert_eq!(n3.role(), Role::PreCandidate);
    for m in drain(&mut n3) {
        assert_eq!(
            m.msg,
            pre_vote(2, 0, 0),
            "asks for term 2 without taking it"
        );
        let voter = if m.to == 1 { &mut n1 } else { &mut n2 };
        voter.step(m).unwrap();
        let reply = drain(voter);
        assert_eq!(reply.len(), 1);
        assert_eq!(
            reply[0].msg,
            pvr(1, false),
            "§5.4.1: node 3's log is behind"
        );
        n3.step(reply[0].clone()).unwrap();
    }
    assert_eq!(n3.role(), Role::PreCandidate, "no election");
    assert_eq!((n3.current_term(), n3.hard_state().voted_for), (1, Some(1)));
    assert!(drain(&mut n3).is_empty(), "no RequestVote");
    // Node 2, whose log is up to date, wins its pre-vote and starts the real election.
    assert!(n2.election_timeout_now());
    let asks = drain(&mut n2);
    let to_1 = asks.iter().find(|m| m.to == 1).unwrap().clone();
    n1.step(to_1).unwrap();
    let reply = drain(&mut n1);
    assert_eq!(reply[0].msg, pvr(1, true));
    n2.step(reply[0].clone()).unwrap();
    assert_eq!((n2.role(), n2.current_term()), (Role::Candidate, 2));
    assert_eq!(n2.hard_state().voted_for, Some(2));
    let votes: Vec<_> = drain(&mut n2).into_iter().map(|m| m.msg).collect();
    assert_eq!(votes, vec![rv(2, 1, 1), rv(2, 1, 1)]);
}

#[test]
fn s9_6_a_pre_vote_leaves_the_receiver_hard_state_unchanged() {
    let mut n = pv_restored(1, 3, Some(2), &[1, 3]);
    drain(&mut n);
    let before = n.hard_state();
    // Granted (a later term, an up-to-date log, no leader known) and refused (a stale log,
    // a term not above the receiver's): neither touches current_term or voted_for.
    for (msg, granted) in [
        (pre_vote(5, 2, 3), true),
        (pre_vote(4, 1, 1), false),
        (pre_vote(3, 2, 3), false),
    ] {
        n.step(env(3, 1, msg)).unwrap();
        assert_eq!(n.hard_state(), before);
        assert_eq!(n.role(), Role::Follower);
        let rd = n.ready();
        assert_eq!(rd.hard_state, None, "nothing to persist");
        assert_eq!(rd.messages.len(), 1);
        assert_eq!(rd.messages[0].msg, pvr(3, granted));
        n.advance(rd);
    }
}

#[test]
fn s9_6_a_follower_that_hears_from_a_leader_refuses_until_the_election_timeout() {
    let mut n = pv_restored(2, 1, None, &[]);
    n.step(env(1, 2, ae(1, 0, 0, vec![], 0))).unwrap();
    drain(&mut n);
    n.step(env(3, 2, pre_vote(2, 0, 0))).unwrap();
    assert_eq!(drain(&mut n)[0].msg, pvr(1, false), "the leader is alive");
    // The minimum election timeout passes without a word from the leader.
    for _ in 0..n.config().election_ticks {
        n.tick();
    }
    drain(&mut n);
    n.step(env(3, 2, pre_vote(2, 0, 0))).unwrap();
    assert_eq!(drain(&mut n)[0].msg, pvr(1, true));
    assert_eq!(n.current_term(), 1);
}

#[test]
fn s9_6_a_refusal_of_a_higher_term_ends_the_pre_vote() {
    let mut n = pv_restored(1, 1, Some(1), &[1]);
    assert!(n.election_timeout_now());
    drain(&mut n);
    // Figure 2's term rule applies to the reply: the pre-candidate adopts the term.
    n.step(env(2, 1, pvr(3, false))).unwrap();
    assert_eq!((n.role(), n.current_term()), (Role::Follower, 3));
    assert_eq!(n.hard_state().voted_for, None);
    // A grant arriving after the pre-vote ended counts for nothing.
    n.step(env(3, 1, pvr(1, true))).unwrap();
    assert_eq!((n.role(), n.current_term()), (Role::Follower, 3));
}

#[test]
fn s9_6_a_pre_candidate_steps_down_for_a_leader_of_its_term() {
    let mut n = pv_restored(3, 1, None, &[]);
    assert!(n.election_timeout_now());
    drain(&mut n);
    n.step(env(1, 3, ae(1, 0, 0, vec![], 0))).unwrap();
    assert_eq!((n.role(), n.leader_id()), (Role::Follower, Some(1)));
    assert_eq!(n.current_term(), 1);
}

#[test]
fn a_single_pre_vote_node_elects_itself() {
    let mut n = RawNode::new(Config {
        pre_vote: true,
        ..cfg(1, 1)
    })
    .unwrap();
    assert!(n.election_timeout_now());
    assert_eq!((n.role(), n.current_term()), (Role::Leader, 1));
}

#[test]
fn production_has_pre_vote_and_conformance_does_not() {
    assert!(Config::production(1, [2, 3], 0).pre_vote);
    assert!(!Config::conformance(1, [2, 3]).pre_vote);
}

//! Check-quorum (thesis §6.2): a leader that hears from no majority within an election
//! timeout steps down; leader stickiness (§4.2.3): a server that heard from a leader within
//! the election timeout ignores RequestVote of a higher term.

use super::*;

/// Conformance config with check-quorum switched on (election_ticks 10, heartbeat 1).
fn cq_cfg(id: NodeId, n: u64) -> Config {
    Config {
        check_quorum: true,
        ..cfg(id, n)
    }
}

/// Node 1 of a cluster `1..=n`, leader of term 1, with `check_quorum` as given.
fn cq_leader(n: u64, check_quorum: bool) -> RawNode {
    leader_with(Config {
        check_quorum,
        ..cfg(1, n)
    })
}

/// Ticks `l` `ticks` times, answering each of its AppendEntries from the `answering` peers
/// (success, nothing new) and dropping the rest.
fn tick_hearing_from(l: &mut RawNode, ticks: u32, answering: &[NodeId]) {
    for _ in 0..ticks {
        l.tick();
        for m in drain(l) {
            if answering.contains(&m.to) {
                let term = l.current_term();
                l.step(env(m.to, 1, ok(term, l.last_index()))).unwrap();
            }
        }
    }
}

#[test]
fn s6_2_a_partitioned_leader_steps_down_after_the_election_timeout_not_before() {
    let mut l = cq_leader(3, true);
    let hs = l.hard_state();
    tick_hearing_from(&mut l, 9, &[]);
    assert_eq!(l.role(), Role::Leader, "9 ticks: not yet");
    tick_hearing_from(&mut l, 1, &[]);
    assert_eq!(l.role(), Role::Follower, "10 ticks: no majority heard");
    assert_eq!(l.hard_state(), hs, "same current_term and voted_for");
    assert_eq!(l.leader_id(), None);
}

#[test]
fn s6_2_a_leader_hearing_from_a_majority_stays() {
    let mut l = cq_leader(3, true);
    tick_hearing_from(&mut l, 40, &[2]);
    assert_eq!(l.role(), Role::Leader, "node 2 and itself are a majority");
    // Heard-from starts over each period: a silent one deposes it (the answer to tick
    // 40's heartbeat, after that tick's check, counts in the period ending at tick 50).
    tick_hearing_from(&mut l, 10, &[]);
    assert_eq!(l.role(), Role::Leader);
    tick_hearing_from(&mut l, 10, &[]);
    assert_eq!(l.role(), Role::Follower);
}

#[test]
fn s6_2_the_leader_counts_itself_once() {
    let mut l = cq_leader(3, true);
    assert_eq!(l.check_quorum_now(), Ok(true), "3 nodes, nobody heard");
    assert_eq!(l.role(), Role::Follower);
    assert!(l.check_quorum_now().is_err(), "only a leader checks");
    for (heard, stays) in [(vec![2], false), (vec![2, 3], true)] {
        let mut l = cq_leader(5, true);
        let term = l.current_term();
        for &p in &heard {
            l.step(env(p, 1, ok(term, 0))).unwrap();
        }
        assert_eq!(l.status().heard_from, heard);
        assert_eq!(l.check_quorum_now(), Ok(!stays), "5 nodes, heard {heard:?}");
        assert_eq!(l.role() == Role::Leader, stays);
        assert!(l.status().heard_from.is_empty(), "the record starts over");
    }
}

#[test]
fn s6_2_replies_of_older_terms_do_not_count() {
    // Node 1 leader of term 2; node 2 answers an AppendEntries of term 1.
    let hs = HardState {
        current_term: 1,
        ..HardState::default()
    };
    let mut l = RawNode::restore(cq_cfg(1, 3), hs, Vec::new()).unwrap();
    assert!(l.election_timeout_now());
    l.step(env(2, 1, rvr(2, true))).unwrap();
    assert_eq!((l.role(), l.current_term()), (Role::Leader, 2));
    l.step(env(3, 1, refused(1, None))).unwrap();
    assert!(l.status().heard_from.is_empty());
    assert_eq!(l.check_quorum_now(), Ok(true));
}

#[test]
fn s4_2_3_stickiness_ignores_a_vote_request_while_the_lease_holds() {
    let mut f = RawNode::new(cq_cfg(2, 3)).unwrap();
    f.step(env(1, 2, ae(1, 0, 0, vec![], 0))).unwrap();
    drain(&mut f);
    for _ in 0..9 {
        f.tick();
    }
    f.step(env(3, 2, rv(2, 0, 0))).unwrap();
    assert!(drain(&mut f).is_empty(), "no reply");
    assert_eq!(f.hard_state().current_term, 1, "term not updated");
    assert_eq!(f.hard_state().voted_for, None);
    assert_eq!(f.leader_id(), Some(1));
    // One more tick: the lease (election_ticks = 10) has expired; the vote is granted.
    f.tick();
    f.step(env(3, 2, rv(2, 0, 0))).unwrap();
    assert_eq!(f.hard_state().current_term, 2);
    assert_eq!(f.hard_state().voted_for, Some(3));
    let reply = drain(&mut f);
    assert_eq!(reply.len(), 1);
    assert_eq!(reply[0].msg, rvr(2, true));
}

#[test]
fn s4_2_3_a_leader_ignores_a_higher_vote_request() {
    let mut l = cq_leader(3, true);
    l.step(env(3, 1, rv(2, 0, 0))).unwrap();
    assert_eq!((l.role(), l.current_term()), (Role::Leader, 1));
    assert!(drain(&mut l).is_empty());
}

#[test]
fn without_check_quorum_the_old_behaviour_stays() {
    let mut l = cq_leader(3, false);
    tick_hearing_from(&mut l, 50, &[]);
    assert_eq!(l.role(), Role::Leader, "a partitioned leader keeps leading");
    let mut f = node(2, 3);
    f.step(env(1, 2, ae(1, 0, 0, vec![], 0))).unwrap();
    drain(&mut f);
    f.step(env(3, 2, rv(2, 0, 0))).unwrap();
    assert_eq!(f.hard_state().voted_for, Some(3), "no stickiness");
    assert_eq!(f.current_term(), 2);
}

#[test]
fn production_has_check_quorum_and_conformance_does_not() {
    assert!(Config::production(1, [2, 3], 0).check_quorum);
    assert!(!Config::conformance(1, [2, 3]).check_quorum);
}

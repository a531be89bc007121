//! Leadership transfer (thesis §3.10): the leader hands over to a caught-up peer with
//! TimeoutNow; the target campaigns at once, past pre-vote and leader stickiness.

use super::*;
use crate::testing::{timeout_now, transfer_vote};

/// A three-node cluster in which node 1 leads term 1 and every node holds `entries` entries.
fn cluster_led_by_1(configs: Vec<Config>, entries: usize) -> Cluster {
    let mut c = Cluster::new(configs);
    assert!(c.node(1).election_timeout_now());
    c.settle();
    assert_eq!(c.node(1).role(), Role::Leader);
    for k in 0..entries {
        c.node(1).propose(vec![k as u8]).unwrap();
        c.node(1).replicate_now().unwrap();
        c.settle();
    }
    c
}

/// The queued messages of `kind`.
fn queued(c: &Cluster, kind: &str) -> Vec<Envelope> {
    c.net
        .iter()
        .filter(|m| m.msg.kind() == kind)
        .cloned()
        .collect()
}

/// Node 1 of a cluster `1..=n` re-creating `mutation`, leader of term 1 (empty logs).
fn mutated_leader(n: u64, mutation: Option<Mutation>) -> RawNode<Option<Mutation>> {
    let mut l =
        RawNode::restore_mutated(cfg(1, n), HardState::default(), None, Vec::new(), mutation)
            .unwrap();
    assert!(l.election_timeout_now());
    for p in 2..=n {
        if l.role() == Role::Leader {
            break;
        }
        l.step(env(p, 1, rvr(1, true))).unwrap();
    }
    assert_eq!(l.role(), Role::Leader);
    let rd = l.ready();
    l.advance(rd);
    l
}

#[test]
fn s3_10_a_caught_up_target_is_sent_timeout_now_at_once_and_wins_the_next_term() {
    let mut c = cluster_led_by_1((1..=3).map(|i| cfg(i, 3)).collect(), 2);
    assert_eq!(c.node(1).status().match_index(2), Some(2), "caught up");
    c.node(1).transfer_leader(2).unwrap();
    assert_eq!(c.node(1).status().lead_transferee, Some(2));
    c.flush();
    let sent: Vec<_> = c.net.iter().cloned().collect();
    assert_eq!(
        sent,
        vec![env(1, 2, timeout_now(1))],
        "TimeoutNow only, now"
    );
    c.settle();
    assert_eq!(
        (c.node(2).role(), c.node(2).current_term()),
        (Role::Leader, 2)
    );
    assert_eq!(c.node(1).role(), Role::Follower);
    assert_eq!(c.node(1).leader_id(), Some(2));
    assert_eq!(c.node(1).status().lead_transferee, None, "cleared");
    // The new leader serves proposals.
    c.node(2).propose("after").unwrap();
    c.node(2).replicate_now().unwrap();
    c.settle();
    c.node(2).heartbeat_now().unwrap();
    c.settle();
    assert!(c.applied.iter().all(|a| a.len() == 3));
    c.assert_applied_agree();
}

#[test]
fn s3_10_a_lagging_target_gets_timeout_now_only_once_its_reply_shows_it_caught_up() {
    let mut c = cluster_led_by_1((1..=3).map(|i| cfg(i, 3)).collect(), 1);
    // An entry that node 2 misses.
    c.node(1).propose("missed").unwrap();
    c.node(1).replicate_now().unwrap();
    c.run(|_, m| m.to == 2 || m.from == 2);
    assert_eq!(c.node(1).status().match_index(2), Some(1));
    assert_eq!(c.node(1).last_index(), 2);
    c.node(1).transfer_leader(2).unwrap();
    c.flush();
    assert!(c.net.is_empty(), "not caught up: nothing sent");
    // A reply short of the last index (a repeated acknowledgement) does not trigger it.
    c.node(1).step(env(2, 1, ok(1, 1))).unwrap();
    c.flush();
    assert!(queued(&c, "TimeoutNow").is_empty());
    c.net.clear();
    // The next heartbeat carries the missing entry; the reply brings TimeoutNow.
    c.node(1).heartbeat_now().unwrap();
    c.flush();
    let to_2 = c.net.iter().find(|m| m.to == 2).unwrap().clone();
    c.net.clear();
    c.node(2).step(to_2).unwrap();
    c.flush();
    let reply = c.net.pop_front().unwrap();
    assert_eq!(reply.msg, ok(1, 2));
    c.node(1).step(reply).unwrap();
    c.flush();
    assert_eq!(queued(&c, "TimeoutNow"), vec![env(1, 2, timeout_now(1))]);
    // Every such reply sends it again (as etcd does).
    c.net.clear();
    c.node(1).step(env(2, 1, ok(1, 2))).unwrap();
    c.flush();
    assert_eq!(queued(&c, "TimeoutNow").len(), 1);
    c.settle();
    assert_eq!(
        (c.node(2).role(), c.node(2).current_term()),
        (Role::Leader, 2)
    );
}

#[test]
fn s3_10_proposals_are_refused_during_a_transfer_and_accepted_after_abort() {
    let mut l = leader(3);
    l.propose("x").unwrap();
    l.transfer_leader(3).unwrap();
    assert_eq!(
        l.propose("y"),
        Err(ProposeError::TransferInProgress { target: 3 })
    );
    assert_eq!(l.last_index(), 1, "nothing appended");
    l.read_index(7).unwrap();
    assert_eq!(l.pending_reads(), 1, "ReadIndex reads still allowed");
    assert_eq!(l.abort_transfer_now(), Ok(true));
    assert_eq!(
        l.abort_transfer_now(),
        Ok(false),
        "nothing pending any more"
    );
    assert_eq!(l.status().lead_transferee, None);
    assert_eq!(l.propose("y"), Ok((2, 1)));
}

#[test]
fn s3_10_a_transfer_is_aborted_by_tick_after_the_election_timeout() {
    let mut l = leader(3);
    l.propose("x").unwrap();
    l.transfer_leader(2).unwrap();
    let ticks = l.config().election_ticks;
    for _ in 0..ticks - 1 {
        l.tick();
    }
    assert_eq!(l.lead_transferee(), Some(2), "not yet");
    assert!(l.propose("y").is_err());
    l.tick();
    assert_eq!(l.lead_transferee(), None, "aborted at election_ticks");
    assert_eq!(l.role(), Role::Leader);
    assert!(l.propose("y").is_ok());
}

#[test]
fn s3_10_the_same_target_again_is_a_no_op_another_target_restarts_the_timer() {
    let mut l = leader(3);
    l.transfer_leader(2).unwrap();
    assert_eq!(drain(&mut l), vec![env(1, 2, timeout_now(1))]);
    for _ in 0..9 {
        l.tick();
    }
    drain(&mut l);
    assert_eq!(l.transfer_leader(2), Ok(()));
    assert!(drain(&mut l).is_empty(), "no second TimeoutNow");
    l.tick();
    assert_eq!(l.lead_transferee(), None, "the timer was not restarted");
    l.transfer_leader(2).unwrap();
    for _ in 0..5 {
        l.tick();
    }
    drain(&mut l);
    assert_eq!(l.transfer_leader(3), Ok(()));
    assert_eq!(l.lead_transferee(), Some(3));
    assert_eq!(drain(&mut l), vec![env(1, 3, timeout_now(1))]);
    for _ in 0..9 {
        l.tick();
    }
    assert_eq!(l.lead_transferee(), Some(3), "the timer restarted");
    l.tick();
    assert_eq!(l.lead_transferee(), None);
}

#[test]
fn s3_10_bad_targets_and_non_leaders_get_named_errors() {
    let mut l = leader(3);
    assert_eq!(l.transfer_leader(1), Err(TransferError::ToSelf(1)));
    assert_eq!(l.transfer_leader(9), Err(TransferError::UnknownTarget(9)));
    assert_eq!(l.lead_transferee(), None);
    assert!(drain(&mut l).is_empty());
    let mut f = node(2, 3);
    f.step(env(1, 2, ae(1, 0, 0, vec![], 0))).unwrap();
    assert_eq!(
        f.transfer_leader(3),
        Err(TransferError::NotLeader(NotLeader {
            leader_hint: Some(1)
        }))
    );
    assert_eq!(
        f.abort_transfer_now(),
        Err(NotLeader {
            leader_hint: Some(1)
        })
    );
}

#[test]
fn s3_10_stepping_down_clears_the_transfer() {
    let mut l = leader(3);
    l.propose("x").unwrap();
    l.transfer_leader(2).unwrap();
    // Node 3 leads term 2.
    l.step(env(3, 1, ae(2, 0, 0, vec![], 0))).unwrap();
    assert_eq!(l.role(), Role::Follower);
    assert_eq!(l.lead_transferee(), None);
    assert_eq!(l.status().lead_transferee, None);
    // Leader again, in term 3: no transfer left over, proposals accepted.
    assert!(l.election_timeout_now());
    l.step(env(2, 1, rvr(3, true))).unwrap();
    assert_eq!((l.role(), l.current_term()), (Role::Leader, 3));
    assert_eq!(l.lead_transferee(), None);
    assert!(l.propose("y").is_ok());
}

#[test]
fn s3_10_a_follower_of_the_term_campaigns_with_a_transfer_vote() {
    let mut f = restored(2, 3, 1, Some(1), &[1]);
    f.step(env(1, 2, ae(1, 1, 1, vec![], 1))).unwrap();
    drain(&mut f);
    f.step(env(1, 2, timeout_now(1))).unwrap();
    assert_eq!((f.role(), f.current_term()), (Role::Candidate, 2));
    assert_eq!(f.hard_state().voted_for, Some(2));
    let asks: Vec<_> = drain(&mut f).into_iter().map(|m| (m.to, m.msg)).collect();
    assert_eq!(
        asks,
        vec![(1, transfer_vote(2, 1, 1)), (3, transfer_vote(2, 1, 1))]
    );
    // A higher term is adopted first (Figure 2, all servers), then acted on.
    let mut g = restored(3, 3, 1, None, &[1]);
    g.step(env(1, 3, timeout_now(4))).unwrap();
    assert_eq!((g.role(), g.current_term()), (Role::Candidate, 5));
}

#[test]
fn s3_10_timeout_now_is_ignored_by_candidates_leaders_stale_terms_and_recovering_nodes() {
    // A candidate.
    let mut c = restored(2, 3, 1, None, &[1]);
    assert!(c.election_timeout_now());
    drain(&mut c);
    c.step(env(1, 2, timeout_now(2))).unwrap();
    assert_eq!((c.role(), c.current_term()), (Role::Candidate, 2));
    assert!(drain(&mut c).is_empty(), "no reply, no new election");
    // A pre-candidate.
    let mut p = RawNode::restore(
        Config {
            pre_vote: true,
            ..cfg(2, 3)
        },
        HardState {
            current_term: 1,
            ..HardState::default()
        },
        Vec::new(),
    )
    .unwrap();
    assert!(p.election_timeout_now());
    drain(&mut p);
    p.step(env(1, 2, timeout_now(1))).unwrap();
    assert_eq!((p.role(), p.current_term()), (Role::PreCandidate, 1));
    assert!(drain(&mut p).is_empty());
    // A leader.
    let mut l = leader(3);
    l.step(env(2, 1, timeout_now(1))).unwrap();
    assert_eq!((l.role(), l.current_term()), (Role::Leader, 1));
    assert!(drain(&mut l).is_empty());
    // A stale term.
    let mut f = restored(2, 3, 3, None, &[1]);
    f.step(env(1, 2, timeout_now(2))).unwrap();
    assert_eq!((f.role(), f.current_term()), (Role::Follower, 3));
    assert!(drain(&mut f).is_empty());
    // A recovering node (it may lack entries it acknowledged): takes the term, no election.
    let hs = HardState {
        current_term: 1,
        voted_for: None,
        lost_up_to: 2,
        lost_term: 1,
    };
    let mut r = RawNode::restore(cfg(2, 3), hs, log_of(&[1])).unwrap();
    for term in [1, 2] {
        r.step(env(1, 2, timeout_now(term))).unwrap();
        assert_eq!((r.role(), r.current_term()), (Role::Follower, term));
        assert!(drain(&mut r).is_empty());
    }
}

/// Conformance config with check-quorum (leader stickiness) switched on.
fn cq_cfg(id: NodeId, n: u64) -> Config {
    Config {
        check_quorum: true,
        ..cfg(id, n)
    }
}

#[test]
fn s3_10_sticky_servers_answer_a_transfer_vote_but_ignore_an_ordinary_one() {
    let mut f = RawNode::new(cq_cfg(3, 3)).unwrap();
    f.step(env(1, 3, ae(1, 0, 0, vec![], 0))).unwrap();
    drain(&mut f);
    assert!(f.within_leader_lease());
    f.step(env(2, 3, rv(2, 0, 0))).unwrap();
    assert!(drain(&mut f).is_empty(), "§4.2.3: ignored");
    assert_eq!(f.current_term(), 1);
    f.step(env(2, 3, transfer_vote(2, 0, 0))).unwrap();
    assert_eq!(f.current_term(), 2);
    assert_eq!(f.hard_state().voted_for, Some(2));
    assert_eq!(drain(&mut f), vec![env(3, 2, rvr(2, true))]);
    // A sticky leader, too, steps down for a transfer vote.
    let mut l = leader_with(cq_cfg(1, 3));
    l.step(env(2, 1, rv(2, 0, 0))).unwrap();
    assert_eq!(l.role(), Role::Leader);
    l.step(env(2, 1, transfer_vote(2, 0, 0))).unwrap();
    assert_eq!((l.role(), l.current_term()), (Role::Follower, 2));
    assert_eq!(drain(&mut l), vec![env(1, 2, rvr(2, true))]);
}

#[test]
fn s3_10_a_transfer_completes_with_check_quorum_and_pre_vote_on() {
    let configs = (1..=3)
        .map(|i| Config {
            pre_vote: true,
            ..cq_cfg(i, 3)
        })
        .collect();
    let mut c = Cluster::new(configs);
    assert!(c.node(1).election_timeout_now());
    c.settle();
    assert_eq!(
        (c.node(1).role(), c.node(1).current_term()),
        (Role::Leader, 1)
    );
    c.node(1).propose("x").unwrap();
    c.node(1).replicate_now().unwrap();
    c.settle();
    c.node(1).transfer_leader(3).unwrap();
    c.flush();
    let tn = c.net.pop_front().unwrap();
    assert_eq!(tn, env(1, 3, timeout_now(1)));
    c.node(3).step(tn).unwrap();
    // The target skips pre-vote: a real RequestVote of term 2, marked as a transfer.
    assert_eq!(c.node(3).role(), Role::Candidate);
    c.flush();
    assert_eq!(queued(&c, "PreVote"), vec![]);
    assert_eq!(queued(&c, "RequestVote").len(), 2);
    assert!(queued(&c, "RequestVote")
        .iter()
        .all(|m| m.msg == transfer_vote(2, 1, 1)));
    c.settle();
    assert_eq!(
        (c.node(3).role(), c.node(3).current_term()),
        (Role::Leader, 2)
    );
    assert_eq!(c.node(1).leader_id(), Some(3));
}

#[test]
fn transfer_without_catch_up_mutant_sends_timeout_now_to_a_lagging_target() {
    for (mutation, sent) in [
        (None, false),
        (Some(Mutation::TransferWithoutCatchUp), true),
    ] {
        let mut l = mutated_leader(3, mutation);
        l.propose("x").unwrap();
        assert_eq!(l.status().match_index(2), Some(0), "node 2 lags");
        l.transfer_leader(2).unwrap();
        let rd = l.ready();
        let msgs = rd.messages.clone();
        l.advance(rd);
        let expected = if sent {
            vec![env(1, 2, timeout_now(1))]
        } else {
            vec![]
        };
        assert_eq!(msgs, expected, "{mutation:?}");
    }
}

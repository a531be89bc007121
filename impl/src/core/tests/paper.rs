//! One test per rule of Figure 2 and §5 (elections, terms, restarts), in the
//! conformance configuration.

use super::*;

// ---- §5.1: terms ----

#[test]
fn s5_1_step_down_on_higher_term() {
    let mut l = leader(3);
    l.step(env(2, 1, ok(5, 0))).unwrap();
    let s = l.status();
    assert_eq!(
        (s.role, s.current_term, s.voted_for, s.leader_id),
        (Role::Follower, 5, None, None)
    );
    assert!(s.progress.is_empty(), "leader state reset");
}

#[test]
fn s5_1_candidate_steps_down_on_higher_term_vote_request_and_may_grant() {
    let mut c = node(1, 3);
    c.election_timeout_now();
    drain(&mut c);
    c.step(env(2, 1, rv(4, 0, 0))).unwrap();
    assert_eq!((c.role(), c.current_term()), (Role::Follower, 4));
    assert_eq!(
        c.status().voted_for,
        Some(2),
        "voted_for cleared by the new term, then granted"
    );
    assert_eq!(drain(&mut c), vec![env(1, 2, rvr(4, true))]);
}

#[test]
fn s5_1_higher_term_append_entries_learns_leader() {
    let mut f = restored(1, 3, 2, Some(3), &[]);
    f.step(env(2, 1, ae(3, 0, 0, vec![], 0))).unwrap();
    let s = f.status();
    assert_eq!(
        (s.current_term, s.voted_for, s.leader_id),
        (3, None, Some(2))
    );
}

#[test]
fn s5_1_rejects_stale_request_vote() {
    let mut f = restored(1, 3, 5, None, &[]);
    f.step(env(2, 1, rv(4, 9, 4))).unwrap();
    assert_eq!(drain(&mut f), vec![env(1, 2, rvr(5, false))]);
    assert_eq!(f.status().voted_for, None);
}

#[test]
fn s5_1_rejects_stale_append_entries() {
    let mut f = restored(1, 3, 5, None, &[1]);
    f.step(env(2, 1, ae(4, 1, 1, log_of(&[1, 4])[1..].to_vec(), 2)))
        .unwrap();
    assert_eq!(drain(&mut f), vec![env(1, 2, refused(5, None))]);
    assert_eq!(terms(&f), vec![1]);
    assert_eq!(f.leader_id(), None);
}

// ---- §5.2: leader election ----

#[test]
fn s5_2_election_timeout_starts_election() {
    let mut f = restored(1, 3, 2, None, &[1, 2]);
    assert!(f.election_timeout_now());
    let s = f.status();
    assert_eq!(
        (s.role, s.current_term, s.voted_for),
        (Role::Candidate, 3, Some(1))
    );
    let msgs = drain(&mut f);
    assert_eq!(msgs, vec![env(1, 2, rv(3, 2, 2)), env(1, 3, rv(3, 2, 2))]);
}

#[test]
fn s5_2_candidate_restarts_election_on_timeout() {
    let mut c = node(1, 3);
    c.election_timeout_now();
    c.election_timeout_now();
    assert_eq!((c.role(), c.current_term()), (Role::Candidate, 2));
    let msgs = drain(&mut c);
    assert!(msgs.iter().all(|m| m.msg.term() <= 2) && msgs.len() == 4);
}

#[test]
fn s5_2_leader_ignores_election_timeout() {
    let mut l = leader(3);
    assert!(!l.election_timeout_now());
    assert_eq!((l.role(), l.current_term()), (Role::Leader, 1));
    assert!(!l.has_ready());
}

#[test]
fn s5_2_single_node_becomes_leader_at_once_and_commits_at_once() {
    let mut n = RawNode::new(Config::conformance(7, [])).unwrap();
    n.election_timeout_now();
    assert_eq!((n.role(), n.leader_id()), (Role::Leader, Some(7)));
    assert_eq!(n.propose("x").unwrap(), (1, 1));
    assert_eq!(n.commit_index(), 1);
    let rd = n.ready();
    assert_eq!(rd.entries.len(), 1);
    assert_eq!(rd.committed_entries.len(), 1);
    assert!(rd.messages.is_empty());
}

#[test]
fn s5_2_candidate_wins_with_majority_and_sends_append_entries_in_same_step() {
    let mut c = restored(1, 3, 1, None, &[1]);
    c.election_timeout_now();
    drain(&mut c);
    c.step(env(3, 1, rvr(2, true))).unwrap();
    assert_eq!(c.role(), Role::Leader);
    let s = c.status();
    assert_eq!((s.next_index(2), s.match_index(2)), (Some(2), Some(0)));
    assert_eq!((s.next_index(3), s.match_index(3)), (Some(2), Some(0)));
    assert_eq!(
        drain(&mut c),
        vec![
            env(1, 2, ae(2, 1, 1, vec![], 0)),
            env(1, 3, ae(2, 1, 1, vec![], 0))
        ]
    );
}

#[test]
fn s5_2_candidate_needs_votes_from_a_majority_of_distinct_servers() {
    let mut c = node(1, 5);
    c.election_timeout_now();
    assert_eq!(c.status().votes_granted, vec![1], "its own vote");
    c.step(env(2, 1, rvr(1, true))).unwrap();
    c.step(env(2, 1, rvr(1, true))).unwrap(); // duplicate: same voter
    c.step(env(3, 1, rvr(1, false))).unwrap();
    assert_eq!(c.role(), Role::Candidate);
    assert_eq!(
        c.status().votes_granted,
        vec![1, 2],
        "the tally is a set of voters"
    );
    c.step(env(4, 1, rvr(1, true))).unwrap();
    assert_eq!(c.role(), Role::Leader);
    assert!(
        c.status().votes_granted.is_empty(),
        "only a candidate has a tally"
    );
}

#[test]
fn s5_2_vote_response_ignored_unless_candidate_of_that_term() {
    let mut c = node(1, 5);
    c.election_timeout_now(); // term 1
    c.election_timeout_now(); // term 2
    c.step(env(2, 1, rvr(1, true))).unwrap();
    c.step(env(3, 1, rvr(1, true))).unwrap();
    assert_eq!(
        c.role(),
        Role::Candidate,
        "votes of term 1 do not count in term 2"
    );
    let mut f = restored(1, 3, 1, None, &[]);
    f.step(env(2, 1, rvr(1, true))).unwrap();
    assert_eq!(
        f.role(),
        Role::Follower,
        "a follower ignores vote responses"
    );
}

#[test]
fn s5_2_at_most_one_vote_per_term() {
    let mut f = node(1, 3);
    f.step(env(2, 1, rv(1, 0, 0))).unwrap();
    f.step(env(3, 1, rv(1, 0, 0))).unwrap();
    f.step(env(2, 1, rv(1, 0, 0))).unwrap(); // a retry by the same candidate is granted again
    assert_eq!(
        drain(&mut f),
        vec![
            env(1, 2, rvr(1, true)),
            env(1, 3, rvr(1, false)),
            env(1, 2, rvr(1, true))
        ]
    );
    assert_eq!(f.status().voted_for, Some(2));
}

#[test]
fn s5_2_candidate_becomes_follower_on_append_entries_of_its_term() {
    let mut c = node(1, 3);
    c.election_timeout_now();
    drain(&mut c);
    c.step(env(2, 1, ae(1, 0, 0, vec![], 0))).unwrap();
    let s = c.status();
    assert_eq!(
        (s.role, s.current_term, s.voted_for, s.leader_id),
        (Role::Follower, 1, Some(1), Some(2))
    );
    assert_eq!(drain(&mut c), vec![env(1, 2, ok(1, 0))]);
}

#[test]
fn s5_2_leader_drops_append_entries_of_its_own_term() {
    let mut l = leader(3);
    let err = l.step(env(2, 1, ae(1, 0, 0, vec![], 0))).unwrap_err();
    assert!(matches!(
        err,
        InvalidMessage::AppendEntriesToLeader { from: 2, term: 1 }
    ));
    assert_eq!(l.role(), Role::Leader);
    assert_eq!(l.status().rejected_messages, 1);
    assert!(!l.has_ready(), "no reply");
}

#[test]
fn s5_2_leader_refuses_vote_in_its_term() {
    let mut l = leader(3);
    l.step(env(3, 1, rv(1, 5, 1))).unwrap();
    assert_eq!(drain(&mut l), vec![env(1, 3, rvr(1, false))]);
    assert_eq!(l.role(), Role::Leader);
}

// ---- §5.4.1: election restriction ----

#[test]
fn s5_4_1_rejects_vote_for_stale_log() {
    // Lower last term, even if longer.
    let mut f = restored(1, 3, 3, None, &[1, 3]);
    f.step(env(2, 1, rv(4, 9, 2))).unwrap();
    // Same last term, shorter.
    let mut g = restored(1, 3, 3, None, &[1, 3, 3]);
    g.step(env(2, 1, rv(4, 2, 3))).unwrap();
    assert_eq!(drain(&mut f), vec![env(1, 2, rvr(4, false))]);
    assert_eq!(drain(&mut g), vec![env(1, 2, rvr(4, false))]);
    assert_eq!((f.status().voted_for, g.status().voted_for), (None, None));
}

#[test]
fn s5_4_1_grants_vote_for_up_to_date_log() {
    // Higher last term wins even if shorter.
    let mut f = restored(1, 3, 3, None, &[1, 1, 1, 2]);
    f.step(env(2, 1, rv(4, 2, 3))).unwrap();
    // Same last term, same length.
    let mut g = restored(1, 3, 3, None, &[1, 3]);
    g.step(env(3, 1, rv(3, 2, 3))).unwrap();
    assert_eq!(drain(&mut f), vec![env(1, 2, rvr(4, true))]);
    assert_eq!(drain(&mut g), vec![env(1, 3, rvr(3, true))]);
    assert_eq!(
        (f.status().voted_for, g.status().voted_for),
        (Some(2), Some(3))
    );
}

// ---- Rule 5: proposals ----

#[test]
fn s5_3_propose_appends_at_leader_and_sends_nothing() {
    let mut l = leader(3);
    assert_eq!(l.propose("a").unwrap(), (1, 1));
    assert_eq!(l.propose("b").unwrap(), (2, 1));
    let rd = l.ready();
    assert!(rd.messages.is_empty());
    assert_eq!(
        rd.entries.iter().map(|e| e.index).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(l.commit_index(), 0, "not yet replicated");
}

#[test]
fn s5_1_propose_at_follower_fails_with_leader_hint() {
    let mut f = node(1, 3);
    assert_eq!(
        f.propose("a"),
        Err(ProposeError::NotLeader { leader_hint: None })
    );
    f.step(env(3, 1, ae(1, 0, 0, vec![], 0))).unwrap();
    assert_eq!(
        f.propose("a"),
        Err(ProposeError::NotLeader {
            leader_hint: Some(3)
        })
    );
    assert_eq!(
        f.heartbeat_now(),
        Err(NotLeader {
            leader_hint: Some(3)
        })
    );
    assert!(f.status().log.is_empty());
}

// ---- Rule 9: restart ----

#[test]
fn restart_keeps_persistent_state_and_resets_volatile() {
    let mut c = Cluster::conformance(3);
    c.node(1).election_timeout_now();
    c.settle();
    c.node(1).propose("a").unwrap();
    c.node(1).replicate_now().unwrap();
    c.settle();
    c.node(1).heartbeat_now().unwrap();
    c.settle();
    assert_eq!(c.node(2).commit_index(), 1);
    let before = c.node(2).hard_state();
    let log = c.node(2).status().log.to_vec();
    let r = RawNode::restore(cfg(2, 3), before, log.clone()).unwrap();
    let s = r.status();
    assert_eq!(
        (s.role, s.current_term, s.voted_for, s.leader_id),
        (Role::Follower, 1, Some(1), None)
    );
    assert_eq!((s.log, s.commit_index, s.applied_index), (&log[..], 0, 0));
    assert!(!r.has_ready(), "restored state is already durable");
}

// ---- Timers ----

#[test]
fn tick_fires_election_timeout_within_randomized_range() {
    let mut fired_at = Vec::new();
    for seed in 0..20 {
        let mut c = cfg(1, 3);
        c.seed = seed;
        let mut n = RawNode::restore(c, HardState::default(), vec![]).unwrap();
        let mut t = 0;
        while n.role() == Role::Follower {
            n.tick();
            t += 1;
            assert!(t < 20, "timeout must be below 2 * election_ticks");
        }
        assert!(t >= 10, "timeout must be at least election_ticks");
        fired_at.push(t);
    }
    fired_at.dedup();
    assert!(fired_at.len() > 1, "timeouts are randomised");
}

#[test]
fn tick_at_leader_sends_heartbeats() {
    let mut l = leader(3);
    l.tick();
    assert_eq!(
        drain(&mut l),
        vec![
            env(1, 2, ae(1, 0, 0, vec![], 0)),
            env(1, 3, ae(1, 0, 0, vec![], 0))
        ]
    );
}

#[test]
fn append_entries_from_leader_resets_election_timer() {
    let mut f = node(1, 3);
    for _ in 0..100 {
        f.tick();
        f.step(env(2, 1, ae(1, 0, 0, vec![], 0))).unwrap();
    }
    assert_eq!(f.role(), Role::Follower);
}

// ---- Construction ----

#[test]
fn config_is_validated_once() {
    let bad = |f: fn(&mut Config)| {
        let mut c = cfg(1, 3);
        f(&mut c);
        RawNode::new(c).unwrap_err()
    };
    assert_eq!(
        bad(|c| c.peers.push(1)),
        InitError::Config(ConfigError::SelfInPeers(1))
    );
    assert_eq!(
        bad(|c| c.peers.push(2)),
        InitError::Config(ConfigError::DuplicatePeer(2))
    );
    assert!(matches!(
        bad(|c| c.election_ticks = 0),
        InitError::Config(ConfigError::ElectionTicks { .. })
    ));
    assert!(matches!(
        bad(|c| c.heartbeat_ticks = 10),
        InitError::Config(ConfigError::HeartbeatTicks { .. })
    ));
    assert_eq!(
        bad(|c| c.max_entries_per_append = 0),
        InitError::Config(ConfigError::ZeroMaxEntries)
    );
    assert_eq!(
        bad(|c| c.max_bytes_per_append = 0),
        InitError::Config(ConfigError::ZeroMaxBytes)
    );
    assert_eq!(
        bad(|c| c.max_inflight = Some(0)),
        InitError::Config(ConfigError::ZeroMaxInflight)
    );
    assert!(Config::production(1, [2, 3], 9).validate().is_ok());
}

#[test]
fn restore_validates_persisted_state() {
    let hs = |t, v| HardState {
        current_term: t,
        voted_for: v,
        lost_up_to: 0,
        lost_term: 0,
    };
    let r = |h, l| RawNode::restore(cfg(1, 3), h, l).unwrap_err();
    assert_eq!(r(hs(1, Some(9)), vec![]), InitError::VotedForUnknown(9));
    assert!(matches!(
        r(hs(3, None), entries_from(2, &[1])),
        InitError::NonContiguousLog { .. }
    ));
    assert!(matches!(
        r(hs(3, None), log_of(&[2, 1])),
        InitError::TermDecreases { index: 2, .. }
    ));
    assert!(matches!(
        r(hs(3, None), log_of(&[0])),
        InitError::ZeroTermEntry { index: 1 }
    ));
    assert!(matches!(
        r(hs(1, None), log_of(&[2])),
        InitError::EntryTermAboveCurrentTerm { .. }
    ));
}

//! Cases after etcd-io/raft's `raft_paper_test.go`, written against the public API with the
//! `testing` surface: the follower's AppendEntries rules (Figure 2, receiver steps 1-5), the
//! vote rules, and the leader's commit rule (§5.4.2).

use raft_impl::core::{Config, Envelope, Message, RawNode, Role};
use raft_impl::testing::{
    append, append_ok, append_refused, entries_from, env, log_of, stored, terms_of, vote,
    vote_granted, vote_refused, Network,
};
use raft_impl::types::{HardState, Term};

fn follower(term: Term, log: &[Term]) -> RawNode {
    let hs = HardState {
        current_term: term,
        voted_for: None,
        lost_up_to: 0,
        lost_term: 0,
    };
    RawNode::restore(Config::conformance(1, [2, 3]), hs, log_of(log)).unwrap()
}

fn replies(n: &mut RawNode) -> Vec<Envelope> {
    let rd = n.ready();
    let msgs = rd.messages.clone();
    n.advance(rd);
    msgs
}

#[test]
fn receiver_step_1_refuses_a_stale_term() {
    let mut f = follower(3, &[1]);
    f.step(env(
        2,
        1,
        append(2).prev(1, 1).entries(entries_from(2, &[2])),
    ))
    .unwrap();
    assert_eq!(replies(&mut f), vec![env(1, 2, append_refused(3, None))]);
    assert_eq!(terms_of(f.status().log), vec![1]);
}

#[test]
fn receiver_step_2_refuses_without_a_matching_prev_log_entry() {
    for (prev_index, prev_term) in [(2, 1), (1, 2)] {
        let mut f = follower(2, &[1]);
        f.step(env(2, 1, append(2).prev(prev_index, prev_term)))
            .unwrap();
        let r = replies(&mut f);
        let [Envelope {
            msg: Message::AppendEntriesResponse(resp),
            ..
        }] = &r[..]
        else {
            panic!("prev {prev_index}/{prev_term}: expected one response, got {r:?}");
        };
        assert!(!resp.success, "prev {prev_index}/{prev_term}: {resp:?}");
    }
}

#[test]
fn receiver_steps_3_and_4_delete_a_conflict_and_append() {
    let mut f = follower(3, &[1, 1, 2, 2]);
    f.step(env(
        2,
        1,
        append(3).prev(2, 1).entries(entries_from(3, &[3])),
    ))
    .unwrap();
    assert_eq!(
        terms_of(f.status().log),
        vec![1, 1, 3],
        "index 3 and all after it replaced"
    );
    assert_eq!(replies(&mut f), vec![env(1, 2, append_ok(3, 3))]);
}

#[test]
fn receiver_step_5_commits_up_to_the_last_new_entry_only() {
    let mut f = follower(2, &[1, 1, 1]);
    f.step(env(
        2,
        1,
        append(2)
            .prev(1, 1)
            .entries(entries_from(2, &[1]))
            .commit(3),
    ))
    .unwrap();
    assert_eq!(
        f.commit_index(),
        2,
        "min(leader_commit, index of last new entry)"
    );
}

#[test]
fn a_voter_grants_once_per_term_and_only_to_an_up_to_date_log() {
    let mut f = follower(1, &[1, 1]);
    f.step(env(2, 1, vote(2, 1, 1))).unwrap();
    assert_eq!(
        replies(&mut f),
        vec![env(1, 2, vote_refused(2))],
        "shorter log"
    );
    f.step(env(3, 1, vote(2, 2, 1))).unwrap();
    assert_eq!(replies(&mut f), vec![env(1, 3, vote_granted(2))]);
    f.step(env(2, 1, vote(2, 5, 2))).unwrap();
    assert_eq!(
        replies(&mut f),
        vec![env(1, 2, vote_refused(2))],
        "already voted for 3"
    );
}

#[test]
fn a_leader_commits_a_previous_term_entry_only_through_one_of_its_own() {
    // Node 1 holds 1@1 and an uncommitted 2@1; it leads term 2 and replicates 2@1 to node 2.
    let mut net = Network::new(3);
    for id in 1..=3 {
        let log = if id == 3 { vec![1] } else { vec![1, 1] };
        net.restore(id, stored(1, None, &log));
    }
    net.make_leader(1, 2).unwrap();
    net.node_mut(1).heartbeat_now().unwrap();
    net.stabilize();
    let l = net.node(1).unwrap();
    assert_eq!(l.role(), Role::Leader);
    assert_eq!(l.status().match_index(3), Some(2), "every node stores 2@1");
    assert_eq!(
        l.commit_index(),
        0,
        "counting replicas of a term-1 entry commits nothing"
    );
    net.propose(1, "x").unwrap();
    net.stabilize();
    assert_eq!(
        net.node(1).unwrap().commit_index(),
        3,
        "3@2 commits 1@1 and 2@1 with it"
    );
    assert_eq!(terms_of(net.applied(1)), vec![1, 1, 2]);
}

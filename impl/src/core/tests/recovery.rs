//! Protocol-aware recovery: a node that lost entries it acknowledged (a damaged disk) is not a
//! voter until a leader has re-sent them, and a leader repairs a follower whose log no longer
//! reaches its `match_index` instead of clamping `next_index` above it.

use crate::core::{Message, Role};
use crate::testing::{vote, Network};

/// Three nodes; node 1 leads term 1 with `n` committed entries everywhere.
fn cluster_with_entries(n: u8) -> Network {
    let mut net = Network::new(3);
    net.make_leader(1, 1).unwrap();
    for k in 0..n {
        net.propose(1, vec![k]).unwrap();
        net.stabilize();
    }
    // One more heartbeat carries the leader's commit_index to the followers.
    net.node_mut(1).heartbeat_now().unwrap();
    net.stabilize();
    for id in 1..=3 {
        assert_eq!(net.node(id).unwrap().commit_index(), n as u64, "node {id}");
    }
    net
}

fn votes_granted_by(net: &Network, voter: u64) -> usize {
    net.sent()
        .iter()
        .filter(|e| e.from == voter)
        .filter(|e| matches!(e.msg, Message::RequestVoteResponse(r) if r.vote_granted))
        .count()
}

#[test]
fn a_recovering_node_neither_votes_nor_campaigns() {
    let mut net = cluster_with_entries(3);
    net.restart_losing_tail(2, 1, true);
    let n2 = net.node(2).unwrap();
    assert_eq!((n2.last_index(), n2.status().lost_up_to), (2, 3));
    assert_eq!(
        n2.hard_state().lost_up_to,
        3,
        "persisted, so a second restart keeps it"
    );
    // Election timeouts pass: no campaign.
    for _ in 0..100 {
        net.tick(2);
    }
    assert_eq!(net.node(2).unwrap().role(), Role::Follower);
    assert_eq!(net.node(2).unwrap().current_term(), 1);
    assert!(
        net.outbox(2).is_empty(),
        "no RequestVote: {:?}",
        net.outbox(2)
    );
    // A candidate with an up-to-date log of a newer term is refused anyway.
    let before = votes_granted_by(&net, 2);
    net.node_mut(2)
        .step(crate::testing::env(3, 2, vote(2, 3, 1)))
        .unwrap();
    net.flush(2);
    assert_eq!(
        votes_granted_by(&net, 2),
        before,
        "no vote while recovering"
    );
    assert_eq!(net.node(2).unwrap().status().voted_for, None);
    // It survives another restart (the watermark is durable).
    net.crash(2);
    net.restart(2);
    assert_eq!(net.node(2).unwrap().status().lost_up_to, 3);
}

#[test]
fn the_leader_repairs_a_follower_below_its_match_index_and_then_it_votes_again() {
    let mut net = cluster_with_entries(3);
    assert_eq!(net.node(1).unwrap().status().match_index(2), Some(3));
    net.restart_losing_tail(2, 2, true);
    // The next heartbeat: node 2 refuses prev_log_index 3 with its log ending at 1.
    net.node_mut(1).heartbeat_now().unwrap();
    net.flush(1);
    net.deliver(1, 2).unwrap();
    net.deliver(2, 1).unwrap();
    let leader = net.node(1).unwrap().status();
    assert_eq!(
        leader.match_index(2),
        Some(1),
        "the lost entries are no longer counted"
    );
    assert_eq!(
        leader.next_index(2),
        Some(2),
        "not clamped at match_index + 1"
    );
    assert_eq!(leader.lost_entries_reports, 1);
    // Heartbeats re-send the entries (one per AppendEntries in this config).
    for _ in 0..3 {
        net.node_mut(1).heartbeat_now().unwrap();
        net.stabilize();
    }
    let n2 = net.node(2).unwrap();
    assert_eq!(
        (n2.last_index(), n2.status().lost_up_to),
        (3, 0),
        "repaired"
    );
    assert_eq!(net.durable(2).hard_state.lost_up_to, 0, "repair persisted");
    assert_eq!(net.node(1).unwrap().status().match_index(2), Some(3));
    // A voter again.
    let before = votes_granted_by(&net, 2);
    net.node_mut(2)
        .step(crate::testing::env(3, 2, vote(2, 3, 1)))
        .unwrap();
    net.flush(2);
    assert_eq!(votes_granted_by(&net, 2), before + 1);
}

#[test]
fn an_undetected_loss_is_repaired_by_the_leader_too() {
    // A wiped or silently truncated log: the follower does not know, the leader does.
    let mut net = cluster_with_entries(2);
    net.restart_losing_tail(3, 2, false);
    assert_eq!(net.node(3).unwrap().status().lost_up_to, 0);
    for _ in 0..3 {
        net.node_mut(1).heartbeat_now().unwrap();
        net.stabilize();
    }
    assert_eq!(net.node(3).unwrap().last_index(), 2);
    assert_eq!(net.node(1).unwrap().status().lost_entries_reports, 1);
    // Without node 2, node 3's copy now makes the majority for a new entry.
    net.isolate(2);
    net.propose(1, b"after".to_vec()).unwrap();
    net.stabilize();
    assert_eq!(net.node(1).unwrap().commit_index(), 3);
}

#[test]
fn a_single_node_cannot_be_repaired_and_goes_on() {
    let mut net = Network::new(1);
    net.campaign(1);
    net.propose(1, b"x".to_vec()).unwrap();
    net.restart_losing_tail(1, 1, true);
    assert_eq!(net.node(1).unwrap().status().lost_up_to, 0);
    assert!(net.node_mut(1).election_timeout_now(), "it campaigns");
}

#[test]
fn an_entry_of_a_later_term_ends_the_recovery_when_the_leader_lacks_the_watermark() {
    // Five nodes. Node 1 (term 1) replicates two entries to node 2 only: never committed.
    let mut net = Network::new(5);
    net.make_leader(1, 1).unwrap();
    net.partition(&[&[1, 2], &[3, 4, 5]]);
    net.propose(1, b"a".to_vec()).unwrap();
    net.propose(1, b"b".to_vec()).unwrap();
    net.stabilize();
    assert_eq!(net.node(2).unwrap().last_index(), 2);
    net.restart_losing_tail(2, 1, true);
    let s2 = net.node(2).unwrap().status();
    assert_eq!((s2.lost_up_to, s2.lost_term), (2, 1));
    // Node 3 wins term 2 without node 2's vote; its log is empty, shorter than the watermark.
    net.heal();
    net.partition(&[&[1], &[2, 3, 4, 5]]);
    net.make_leader(3, 2).unwrap();
    assert_eq!(
        net.node(2).unwrap().status().lost_up_to,
        2,
        "still recovering"
    );
    // Its first entry (term 2, index 1) is below the watermark but of a later term: every entry
    // committed with node 2's lost acknowledgements would be before it. Node 2 is repaired.
    net.propose(3, b"c".to_vec()).unwrap();
    net.stabilize();
    let s2 = net.node(2).unwrap().status();
    assert_eq!((s2.lost_up_to, s2.lost_term, s2.last_index()), (0, 0, 1));
    assert_eq!(net.durable(2).hard_state.lost_up_to, 0);
}

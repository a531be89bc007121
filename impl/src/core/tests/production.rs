//! Production extras (batching, pipelining, immediate retry) and whole
//! clusters under message loss.

use super::*;

fn prod(id: NodeId, n: u64) -> Config {
    Config::production(id, (1..=n).filter(|&p| p != id), id)
}

fn prod_leader(c: Config) -> RawNode {
    let pre_vote = c.pre_vote;
    let mut l = RawNode::new(c).unwrap();
    l.election_timeout_now();
    if pre_vote {
        // §9.6: node 2's pre-vote first (it replies with its term, 0).
        let granted = RequestVoteResponse {
            term: 0,
            vote_granted: true,
        };
        l.step(env(2, 1, Message::PreVoteResponse(granted)))
            .unwrap();
    }
    l.step(env(2, 1, rvr(1, true))).unwrap();
    assert_eq!(l.role(), Role::Leader);
    drain(&mut l);
    l
}

fn sent_entries(msgs: &[Envelope], to: NodeId) -> Vec<Vec<Index>> {
    msgs.iter()
        .filter(|m| m.to == to)
        .filter_map(|m| match &m.msg {
            Message::AppendEntries(a) => Some(a.entries.iter().map(|e| e.index).collect()),
            _ => None,
        })
        .collect()
}

#[test]
fn batching_limits_entries_and_bytes_per_append() {
    let mut c = cfg(1, 3);
    c.max_entries_per_append = 2;
    let mut l = prod_leader(c);
    for _ in 0..5 {
        l.propose("0123456789").unwrap();
    }
    l.heartbeat_now().unwrap();
    assert_eq!(sent_entries(&drain(&mut l), 2), vec![vec![1, 2]]);

    let mut c = cfg(1, 3);
    c.max_bytes_per_append = 25;
    let mut l = prod_leader(c);
    for _ in 0..5 {
        l.propose("0123456789").unwrap();
    }
    l.heartbeat_now().unwrap();
    assert_eq!(sent_entries(&drain(&mut l), 2), vec![vec![1, 2]]);
    // A single entry above the byte limit still goes (alone).
    l.propose(vec![0u8; 100]).unwrap();
    l.step(env(2, 1, ok(1, 5))).unwrap();
    l.heartbeat_now().unwrap();
    assert_eq!(sent_entries(&drain(&mut l), 2), vec![vec![6]]);
}

#[test]
fn pipelining_sends_optimistically_up_to_the_inflight_limit() {
    let mut c = prod(1, 3);
    c.max_inflight = Some(2);
    c.max_entries_per_append = 1;
    let mut l = prod_leader(c);
    // Probe: the election's AppendEntries is out; wait for its reply.
    l.propose("a").unwrap();
    l.replicate_now().unwrap();
    assert!(sent_entries(&drain(&mut l), 2).is_empty());
    l.step(env(2, 1, ok(1, 0))).unwrap();
    assert_eq!(l.status().progress[0].state, ProgressState::Replicate);
    assert_eq!(
        sent_entries(&drain(&mut l), 2),
        vec![vec![1]],
        "the ack unblocks at once"
    );
    for _ in 0..4 {
        l.propose("b").unwrap();
    }
    l.replicate_now().unwrap();
    l.replicate_now().unwrap();
    assert_eq!(
        sent_entries(&drain(&mut l), 2),
        vec![vec![2]],
        "two in flight: [1] and [2]"
    );
    assert_eq!(l.status().next_index(2), Some(3), "optimistic next_index");
    // An ack frees room and the leader uses it at once.
    l.step(env(2, 1, ok(1, 2))).unwrap();
    assert_eq!(sent_entries(&drain(&mut l), 2), vec![vec![3]]);
    // A rejection falls back to probing from the hint and retries at once.
    l.step(env(2, 1, refused(1, hint(None, 0, 2)))).unwrap();
    let s = l.status();
    assert_eq!(
        (s.progress[0].state, s.next_index(2)),
        (ProgressState::Probe, Some(3))
    );
    assert_eq!(sent_entries(&drain(&mut l), 2), vec![vec![3]]);
}

#[test]
fn conformance_config_waits_for_heartbeat_after_rejection() {
    let mut l = leader(3);
    l.propose("a").unwrap();
    drain(&mut l);
    l.step(env(2, 1, refused(1, hint(None, 0, 0)))).unwrap();
    assert!(!l.has_ready());
    let mut c = cfg(1, 3);
    c.retry_on_reject = true;
    let mut l = prod_leader(c);
    l.propose("a").unwrap();
    drain(&mut l);
    l.step(env(2, 1, refused(1, hint(None, 0, 0)))).unwrap();
    assert_eq!(sent_entries(&drain(&mut l), 2), vec![vec![1]]);
}

/// Runs a cluster with every `drop_every`-th message lost, driving it with
/// ticks and proposals; checks State Machine Safety and eventual progress.
fn lossy_cluster(configs: Vec<Config>, drop_every: usize, proposals: usize) {
    let n = configs.len();
    let mut c = Cluster::new(configs);
    let mut k = 0usize;
    let mut proposed = 0;
    for _round in 0..3000 {
        for i in 0..n {
            c.nodes[i].tick();
        }
        if let Some(l) = c.nodes.iter_mut().find(|x| x.role() == Role::Leader) {
            if proposed < proposals {
                for _ in 0..3 {
                    l.propose(format!("p{proposed}")).unwrap();
                    proposed += 1;
                }
                l.replicate_now().unwrap();
            }
        }
        c.run(|_, _| {
            k += 1;
            k.checked_rem(drop_every) == Some(0)
        });
        c.assert_applied_agree();
        if proposed >= proposals && c.applied.iter().all(|a| a.len() >= proposals) {
            break;
        }
    }
    assert!(
        c.applied.iter().all(|a| a.len() >= proposals),
        "cluster stalled: {:?}",
        c.applied.iter().map(Vec::len).collect::<Vec<_>>()
    );
    for node in &c.nodes {
        node.check_invariants().unwrap();
    }
}

#[test]
fn production_cluster_commits_under_message_loss() {
    lossy_cluster((1..=5).map(|i| prod(i, 5)).collect(), 7, 60);
}

#[test]
fn conformance_cluster_commits_under_message_loss() {
    let configs = (1..=3)
        .map(|i| {
            let mut c = cfg(i, 3);
            c.seed = i;
            c.heartbeat_ticks = 3;
            c
        })
        .collect();
    lossy_cluster(configs, 5, 30);
}

//! The `Ready` contract: every message leaves in the same Ready as (or a
//! later one than) the persistent state it depends on; committed entries
//! are handed out once, never before they are handed to storage.

use super::*;

/// For each message of `rd`, the state it depends on is in `rd` itself or
/// was in an earlier Ready (`durable` tracks what earlier Readies persisted).
struct Durable {
    hs: HardState,
    last_index: Index,
}

impl Durable {
    fn new() -> Self {
        Durable {
            hs: HardState::default(),
            last_index: 0,
        }
    }

    /// Applies the persist step of `rd` and checks every message against the result.
    fn persist_then_check(&mut self, rd: &Ready, me: NodeId) {
        if let Some(hs) = rd.hard_state {
            self.hs = hs;
        }
        if let Some(t) = rd.truncate_from {
            self.last_index = t - 1;
        }
        if let Some(e) = rd.entries.last() {
            assert_eq!(
                rd.entries[0].index,
                self.last_index + 1,
                "entries contiguous with storage"
            );
            self.last_index = e.index;
        }
        for m in &rd.messages {
            match &m.msg {
                Message::RequestVote(r) => {
                    assert_eq!(
                        (self.hs.current_term, self.hs.voted_for),
                        (r.term, Some(me)),
                        "RequestVote before its term is durable"
                    );
                }
                Message::RequestVoteResponse(r) if r.vote_granted => {
                    assert_eq!(
                        (self.hs.current_term, self.hs.voted_for),
                        (r.term, Some(m.to)),
                        "vote grant before voted_for is durable"
                    );
                }
                Message::AppendEntriesResponse(r) if r.success => {
                    assert!(
                        self.last_index >= r.match_index,
                        "ack of entries not yet durable"
                    );
                }
                Message::AppendEntries(a) => {
                    assert!(self.hs.current_term >= a.term);
                    if let Some(e) = a.entries.last() {
                        assert!(
                            self.last_index >= e.index,
                            "leader sends entries it has not persisted"
                        );
                    }
                }
                _ => {}
            }
            assert!(
                self.hs.current_term >= m.msg.term(),
                "message of a term not yet durable"
            );
        }
    }
}

#[test]
fn persist_before_send() {
    // Drive a 3-node cluster through an election, replication and a
    // leader change, checking every Ready of every node.
    let mut c = Cluster::conformance(3);
    let mut durable: Vec<Durable> = (0..3).map(|_| Durable::new()).collect();
    let mut step = |c: &mut Cluster| {
        for (i, (n, d)) in c.nodes.iter_mut().zip(durable.iter_mut()).enumerate() {
            if n.has_ready() {
                let rd = n.ready();
                d.persist_then_check(&rd, i as NodeId + 1);
                c.net.extend(rd.messages.iter().cloned());
                n.advance(rd);
            }
        }
        if let Some(m) = c.net.pop_front() {
            let to = m.to;
            c.node(to).step(m).unwrap();
            true
        } else {
            false
        }
    };
    c.node(1).election_timeout_now();
    while step(&mut c) {}
    for k in 0..5 {
        c.node(1).propose(format!("{k}")).unwrap();
    }
    c.node(1).replicate_now().unwrap();
    while step(&mut c) {}
    c.node(2).election_timeout_now();
    while step(&mut c) {}
    assert_eq!(c.node(2).role(), Role::Leader);
    c.node(2).propose("after").unwrap();
    c.node(2).heartbeat_now().unwrap();
    while step(&mut c) {}
    assert_eq!(c.node(2).commit_index(), 6);
}

#[test]
fn vote_grant_travels_with_its_hard_state() {
    let mut f = node(1, 3);
    f.step(env(2, 1, rv(1, 0, 0))).unwrap();
    let rd = f.ready();
    assert_eq!(
        rd.hard_state,
        Some(HardState {
            current_term: 1,
            voted_for: Some(2),
            lost_up_to: 0,
            lost_term: 0,
        })
    );
    assert_eq!(rd.messages, vec![env(1, 2, rvr(1, true))]);
    f.advance(rd);
    // A refusal does not change hard state: none is reported.
    f.step(env(3, 1, rv(1, 0, 0))).unwrap();
    let rd = f.ready();
    assert_eq!((rd.hard_state, rd.messages.len()), (None, 1));
}

#[test]
fn append_ack_travels_with_its_entries() {
    let mut f = node(1, 3);
    f.step(env(2, 1, ae(1, 0, 0, log_of(&[1, 1]), 1))).unwrap();
    let rd = f.ready();
    assert_eq!(rd.entries, log_of(&[1, 1]));
    assert_eq!(rd.messages, vec![env(1, 2, ok(1, 2))]);
    assert_eq!(
        rd.committed_entries,
        log_of(&[1]),
        "applied after the same Ready persists it"
    );
}

#[test]
fn committed_entries_handed_out_exactly_once_in_order() {
    let mut c = Cluster::conformance(3);
    c.node(1).election_timeout_now();
    c.settle();
    for round in 0..4 {
        for k in 0..3 {
            c.node(1).propose(format!("{round}.{k}")).unwrap();
        }
        c.node(1).replicate_now().unwrap();
        c.settle();
        c.node(1).heartbeat_now().unwrap();
        c.settle();
    }
    for a in &c.applied {
        assert_eq!(
            a.iter().map(|e| e.index).collect::<Vec<_>>(),
            (1..=12).collect::<Vec<_>>()
        );
    }
    assert_eq!(c.node(3).status().applied_index, 12);
    assert!(!c.node(1).has_ready());
}

#[test]
fn outstanding_readies_do_not_repeat_work() {
    let mut l = leader(3);
    l.propose("a").unwrap();
    let r1 = l.ready();
    l.propose("b").unwrap();
    let r2 = l.ready();
    assert_eq!(
        r1.entries.iter().map(|e| e.index).collect::<Vec<_>>(),
        vec![1]
    );
    assert_eq!(
        r2.entries.iter().map(|e| e.index).collect::<Vec<_>>(),
        vec![2]
    );
    l.advance(r1);
    l.advance(r2);
    assert!(!l.has_ready());
    assert!(l.ready().is_empty());
}

#[test]
fn candidate_request_vote_travels_with_incremented_term() {
    let mut f = restored(1, 3, 4, Some(2), &[]);
    f.election_timeout_now();
    let rd = f.ready();
    assert_eq!(
        rd.hard_state,
        Some(HardState {
            current_term: 5,
            voted_for: Some(1),
            lost_up_to: 0,
            lost_term: 0,
        })
    );
    assert_eq!(rd.messages.len(), 2);
    assert!(rd.must_persist());
}

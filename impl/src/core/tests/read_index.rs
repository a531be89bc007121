//! ReadIndex (thesis §6.4) and the leader's no-op.

use super::*;

/// Conformance config plus the leader no-op.
fn noop_cfg(id: NodeId, n: u64) -> Config {
    Config {
        leader_noop: true,
        ..cfg(id, n)
    }
}

/// Node 1 of a 3-node cluster, leader of term 1 (its no-op at index 1, not yet committed).
fn noop_leader() -> RawNode {
    let mut l = RawNode::new(noop_cfg(1, 3)).unwrap();
    l.election_timeout_now();
    l.step(env(2, 1, rvr(1, true))).unwrap();
    assert_eq!(l.role(), Role::Leader);
    drain(&mut l);
    l
}

/// A successful AppendEntriesResponse echoing `round`.
fn ack(term: Term, match_index: Index, round: u64) -> Message {
    Message::AppendEntriesResponse(AppendEntriesResponse {
        term,
        success: true,
        match_index,
        conflict: None,
        read_round: round,
    })
}

/// The read round carried by the AppendEntries to `to` among `msgs`.
fn rounds_to(msgs: &[Envelope], to: NodeId) -> Vec<u64> {
    msgs.iter()
        .filter(|m| m.to == to)
        .filter_map(|m| match &m.msg {
            Message::AppendEntries(a) => Some(a.read_round),
            _ => None,
        })
        .collect()
}

fn read_states(l: &mut RawNode) -> (Vec<ReadState>, Vec<u64>) {
    let rd = l.ready();
    let out = (rd.read_states.clone(), rd.dropped_reads.clone());
    l.advance(rd);
    out
}

#[test]
fn new_leader_appends_an_empty_noop_of_its_term_and_commits_it() {
    let mut l = RawNode::new(noop_cfg(1, 3)).unwrap();
    l.election_timeout_now();
    l.step(env(2, 1, rvr(1, true))).unwrap();
    let rd = l.ready();
    assert_eq!(rd.entries.len(), 1);
    assert_eq!((rd.entries[0].index, rd.entries[0].term), (1, 1));
    assert!(rd.entries[0].data.is_empty());
    let carries_noop = rd.messages.iter().any(|m| {
        matches!(&m.msg, Message::AppendEntries(a) if a.entries.len() == 1 && a.entries[0].data.is_empty())
    });
    assert!(
        carries_noop,
        "the no-op is sent with the first AppendEntries"
    );
    l.advance(rd);
    l.step(env(2, 1, ack(1, 1, 0))).unwrap();
    assert_eq!(l.commit_index(), 1);
    // Conformance mode has no no-op.
    let mut c = node(1, 3);
    c.election_timeout_now();
    c.step(env(2, 1, rvr(1, true))).unwrap();
    assert_eq!(c.last_index(), 0);
}

#[test]
fn read_index_at_a_follower_is_refused_with_the_leader_hint() {
    let mut f = node(2, 3);
    assert_eq!(f.read_index(1), Err(NotLeader { leader_hint: None }));
    f.step(env(1, 2, ae(1, 0, 0, vec![], 0))).unwrap();
    assert_eq!(
        f.read_index(1),
        Err(NotLeader {
            leader_hint: Some(1)
        })
    );
}

#[test]
fn a_new_leader_serves_no_read_before_its_noop_commits() {
    let mut l = noop_leader();
    l.read_index(7).unwrap();
    let round = *rounds_to(&drain(&mut l), 2).last().unwrap();
    assert!(round > 0);
    // Both peers confirm leadership for the round, but neither has the no-op yet.
    l.step(env(2, 1, ack(1, 0, round))).unwrap();
    l.step(env(3, 1, ack(1, 0, round))).unwrap();
    assert_eq!(l.commit_index(), 0);
    assert_eq!(read_states(&mut l), (vec![], vec![]));
    assert_eq!(l.pending_reads(), 1);
    // The no-op commits: the read is served at the commit index.
    l.step(env(2, 1, ack(1, 1, round))).unwrap();
    assert_eq!(l.commit_index(), 1);
    assert_eq!(read_states(&mut l).0, vec![ReadState { ctx: 7, index: 1 }]);
    assert_eq!(l.pending_reads(), 0);
}

#[test]
fn read_index_is_the_commit_index_at_request_time_and_needs_a_fresh_round() {
    let mut l = noop_leader();
    l.step(env(2, 1, ack(1, 1, 0))).unwrap();
    assert_eq!(l.commit_index(), 1);
    let (index, _) = l.propose("x").unwrap();
    assert_eq!(index, 2);
    l.read_index(9).unwrap();
    let msgs = drain(&mut l);
    let round = rounds_to(&msgs, 3)[0];
    assert_eq!(
        rounds_to(&msgs, 2),
        vec![round],
        "a heartbeat round goes to every peer"
    );
    // An acknowledgement of an older round (sent before the request) does not confirm.
    l.step(env(3, 1, ack(1, 1, round - 1))).unwrap();
    assert_eq!(read_states(&mut l).0, vec![]);
    // One fresh acknowledgement plus the leader is a majority of 3.
    l.step(env(3, 1, ack(1, 1, round))).unwrap();
    assert_eq!(read_states(&mut l).0, vec![ReadState { ctx: 9, index: 1 }]);
}

#[test]
fn a_hinted_refusal_of_this_term_confirms_leadership_but_a_hintless_one_does_not() {
    let mut l = noop_leader();
    l.step(env(2, 1, ack(1, 1, 0))).unwrap();
    l.read_index(4).unwrap();
    let round = rounds_to(&drain(&mut l), 2)[0];
    let refusal = |conflict| {
        Message::AppendEntriesResponse(AppendEntriesResponse {
            term: 1,
            success: false,
            match_index: 0,
            conflict,
            read_round: round,
        })
    };
    l.step(env(3, 1, refusal(None))).unwrap();
    assert_eq!(read_states(&mut l).0, vec![]);
    l.step(env(3, 1, refusal(hint(None, 0, 0)))).unwrap();
    assert_eq!(read_states(&mut l).0, vec![ReadState { ctx: 4, index: 1 }]);
}

#[test]
fn a_stale_leader_cannot_complete_a_read_and_drops_it_on_stepping_down() {
    // Node 1 leads term 1, then is partitioned; 2 and 3 elect 2 in term 2 and commit there.
    let mut l = noop_leader();
    l.step(env(2, 1, ack(1, 1, 0))).unwrap();
    l.read_index(5).unwrap();
    let round = rounds_to(&drain(&mut l), 2)[0];
    // No acknowledgement from the term-1 followers gets through; many heartbeats go out.
    for _ in 0..20 {
        l.tick();
    }
    assert_eq!(read_states(&mut l), (vec![], vec![]));
    assert_eq!(l.pending_reads(), 1);
    // A reply from the new term (to a delayed heartbeat) reaches it: it steps down.
    let newer = Message::AppendEntriesResponse(AppendEntriesResponse {
        term: 2,
        success: false,
        match_index: 0,
        conflict: None,
        read_round: round,
    });
    l.step(env(3, 1, newer)).unwrap();
    assert_eq!(l.role(), Role::Follower);
    assert_eq!(read_states(&mut l), (vec![], vec![5]));
    assert_eq!(l.pending_reads(), 0);
    // A late acknowledgement of its old round changes nothing.
    l.step(env(2, 1, ack(1, 1, round))).unwrap();
    assert_eq!(read_states(&mut l), (vec![], vec![]));
}

#[test]
fn a_single_node_reads_at_once() {
    let mut l = RawNode::new(noop_cfg(1, 1)).unwrap();
    l.election_timeout_now();
    assert_eq!(l.role(), Role::Leader);
    assert_eq!(l.commit_index(), 1);
    l.propose("x").unwrap();
    l.read_index(3).unwrap();
    assert_eq!(read_states(&mut l).0, vec![ReadState { ctx: 3, index: 2 }]);
}

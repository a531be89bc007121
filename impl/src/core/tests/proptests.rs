//! Random — frequently malformed — messages never make a node panic or break
//! its invariants, whatever role it is in.

use proptest::prelude::*;

use super::*;

fn entry() -> impl Strategy<Value = Entry> {
    (0u64..6, 0u64..8, any::<bool>()).prop_map(|(term, index, big)| Entry {
        term,
        index,
        data: if big {
            Bytes::from_static(b"payload")
        } else {
            Bytes::new()
        },
    })
}

/// Entries that are often well-formed (consecutive, non-decreasing terms).
fn entries(prev: Index, prev_term: Term) -> impl Strategy<Value = Vec<Entry>> {
    prop_oneof![
        prop::collection::vec(entry(), 0..4),
        prop::collection::vec(0u64..3, 0..4).prop_map(move |bumps| {
            let mut t = prev_term.max(1);
            bumps
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    t += b;
                    Entry {
                        term: t,
                        index: prev + 1 + i as Index,
                        data: Bytes::new(),
                    }
                })
                .collect()
        }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let hint = prop_oneof![
        Just(None),
        (prop::option::of(0u64..6), 0u64..8, 0u64..8).prop_map(
            |(term, first_index, log_len)| Some(ConflictHint {
                term,
                first_index,
                log_len
            })
        ),
    ];
    prop_oneof![
        (0u64..6, 0u64..8, 0u64..6, any::<bool>()).prop_map(
            |(term, last_log_index, last_log_term, transfer)| {
                Message::RequestVote(RequestVote {
                    term,
                    last_log_index,
                    last_log_term,
                    transfer,
                })
            }
        ),
        (0u64..6, any::<bool>()).prop_map(|(t, g)| rvr(t, g)),
        (0u64..6, 0u64..8, 0u64..6).prop_map(|(term, last_log_index, last_log_term)| {
            Message::PreVote(RequestVote {
                term,
                last_log_index,
                last_log_term,
                transfer: false,
            })
        }),
        (0u64..6).prop_map(|term| Message::TimeoutNow(TimeoutNow { term })),
        (0u64..6, any::<bool>()).prop_map(|(term, vote_granted)| {
            Message::PreVoteResponse(RequestVoteResponse { term, vote_granted })
        }),
        (0u64..6, 0u64..6, 0u64..6, 0u64..8).prop_flat_map(
            |(t, pi, pt, c)| entries(pi, pt).prop_map(move |es| ae(t, pi, pt, es, c))
        ),
        (0u64..6, any::<bool>(), 0u64..8, hint).prop_map(
            |(term, success, match_index, conflict)| {
                Message::AppendEntriesResponse(AppendEntriesResponse {
                    term,
                    success,
                    match_index,
                    conflict,
                    read_round: 0,
                })
            }
        ),
        (
            0u64..6,
            0u64..8,
            0u64..6,
            0u64..6,
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(
                |(term, last_included_index, last_included_term, offset, big, done)| {
                    Message::InstallSnapshot(InstallSnapshot {
                        term,
                        last_included_index,
                        last_included_term,
                        offset,
                        data: if big {
                            Bytes::from_static(b"state")
                        } else {
                            Bytes::new()
                        },
                        done,
                    })
                }
            ),
        (0u64..6, 0u64..8, 0u64..8, 0u64..6).prop_map(
            |(term, match_index, last_included_index, received)| {
                Message::InstallSnapshotResponse(InstallSnapshotResponse {
                    term,
                    match_index,
                    last_included_index,
                    received,
                })
            }
        ),
    ]
}

#[derive(Clone, Debug)]
enum Input {
    Msg(NodeId, NodeId, Message),
    /// A message whose term is re-based on the node's current term (plus 0
    /// or 1), so that same-term traffic (votes, acks) is common.
    Relative(NodeId, Message),
    /// A vote granted in the current term.
    Grant(NodeId),
    /// A plausible successful AppendEntriesResponse of the current term.
    Ack(NodeId, Index),
    Timeout,
    Heartbeat,
    Propose,
    Tick,
    Ready,
    Compact,
    /// Leadership transfer (thesis §3.10) to a peer, itself (1) or an unknown id (0).
    Transfer(NodeId),
    AbortTransfer,
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        6 => (0u64..5, prop_oneof![9 => Just(1u64), 1 => 0u64..4], message()).prop_map(|(f, t, m)| Input::Msg(f, t, m)),
        4 => (1u64..4, message()).prop_map(|(f, m)| Input::Relative(f, m)),
        1 => (2u64..4).prop_map(Input::Grant),
        2 => (2u64..4, 0u64..10).prop_map(|(f, m)| Input::Ack(f, m)),
        1 => Just(Input::Timeout),
        1 => Just(Input::Heartbeat),
        1 => Just(Input::Propose),
        1 => Just(Input::Tick),
        1 => Just(Input::Ready),
        1 => Just(Input::Compact),
        1 => (0u64..4).prop_map(Input::Transfer),
        1 => Just(Input::AbortTransfer),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_inputs_never_panic_and_keep_invariants(
        pre_vote in any::<bool>(),
        check_quorum in any::<bool>(),
        inputs in prop::collection::vec(input(), 1..60),
    ) {
        let mut n = RawNode::new(Config { pre_vote, check_quorum, ..cfg(1, 3) }).unwrap();
        let mut applied: Index = 0;
        let mut durable_last: Index = 0;
        for i in inputs {
            let before_rejected = n.status().rejected_messages;
            match i {
                Input::Msg(from, to, m) => {
                    let term_before = n.current_term();
                    if n.step(env(from, to, m)).is_err() {
                        prop_assert_eq!(n.status().rejected_messages, before_rejected + 1);
                        prop_assert_eq!(n.current_term(), term_before);
                    }
                }
                Input::Relative(from, mut m) => {
                    let term = n.current_term() + m.term() % 2;
                    set_term(&mut m, term);
                    let _ = n.step(env(from, 1, m));
                }
                Input::Grant(from) => {
                    n.step(env(from, 1, rvr(n.current_term().max(1), true))).unwrap();
                }
                Input::Ack(from, m) => {
                    let m = m.min(n.last_index());
                    n.step(env(from, 1, ok(n.current_term().max(1), m))).unwrap();
                }
                Input::Timeout => { n.election_timeout_now(); }
                Input::Heartbeat => { let _ = n.heartbeat_now(); }
                Input::Propose => { let _ = n.propose("p"); }
                Input::Tick => n.tick(),
                Input::Transfer(target) => {
                    let r = n.transfer_leader(target);
                    let leader = n.role() == Role::Leader;
                    prop_assert_eq!(r.is_ok(), leader && (2..4).contains(&target), "{:?}", r);
                    if leader && r.is_ok() {
                        prop_assert_eq!(n.lead_transferee(), Some(target));
                        prop_assert!(n.propose("p").is_err(), "no proposal during transfer");
                    }
                }
                Input::AbortTransfer => {
                    let pending = n.lead_transferee().is_some();
                    prop_assert_eq!(n.abort_transfer_now().ok(), (n.role() == Role::Leader).then_some(pending));
                    prop_assert_eq!(n.lead_transferee(), None);
                }
                Input::Compact => {
                    let a = n.status().applied_index;
                    let before = n.status().last_included_index;
                    let r = n.compact(a, "state");
                    prop_assert_eq!(r.is_ok(), a > before, "{:?}", r);
                }
                Input::Ready => {
                    let rd = n.ready();
                    if let Some(s) = &rd.snapshot {
                        let lii = s.meta.last_included_index;
                        if rd.restore_snapshot {
                            prop_assert!(lii > applied, "a leader's snapshot goes forward");
                            applied = lii;
                            durable_last = match rd.entries.first() {
                                Some(e) => e.index - 1,
                                None => durable_last.max(lii),
                            };
                        } else {
                            prop_assert!(lii <= applied, "own compaction of applied entries only");
                        }
                    }
                    if let Some(t) = rd.truncate_from {
                        prop_assert!(t > applied, "truncating applied entries");
                        durable_last = t - 1;
                    }
                    if let Some(first) = rd.entries.first() {
                        prop_assert_eq!(first.index, durable_last + 1);
                        durable_last = rd.entries.last().unwrap().index;
                    }
                    for e in &rd.committed_entries {
                        prop_assert_eq!(e.index, applied + 1, "applied in order, exactly once");
                        prop_assert!(e.index <= durable_last, "applied before persisted");
                        applied = e.index;
                    }
                    n.advance(rd);
                }
            }
            prop_assert!(n.check_invariants().is_ok(), "{:?}", n.check_invariants());
        }
    }
}

fn set_term(m: &mut Message, t: Term) {
    match m {
        Message::RequestVote(x) => x.term = t,
        Message::RequestVoteResponse(x) => x.term = t,
        Message::AppendEntries(x) => x.term = t,
        Message::AppendEntriesResponse(x) => x.term = t,
        Message::InstallSnapshot(x) => x.term = t,
        Message::InstallSnapshotResponse(x) => x.term = t,
        Message::PreVote(x) => x.term = t,
        Message::PreVoteResponse(x) => x.term = t,
        Message::TimeoutNow(x) => x.term = t,
    }
}

//! The mapping's own tests.
use super::*;
use bytes::Bytes;
use raft_impl::core as raft_core;
use raft_impl::types::Entry as CoreEntry;
use raft_model::state::{Entry, Role, Server};

fn msgs() -> Vec<model::Envelope> {
    use model::Message as M;
    let e = |term, value| Entry { term, value };
    let env = |from, to, msg| model::Envelope { from, to, msg };
    vec![
        env(
            0,
            2,
            M::RequestVote(model::RequestVote {
                term: 3,
                last_log_index: 2,
                last_log_term: 1,
                transfer: false,
            }),
        ),
        env(
            2,
            0,
            M::RequestVoteResponse(model::RequestVoteResponse {
                term: 3,
                vote_granted: true,
            }),
        ),
        env(
            1,
            0,
            M::AppendEntries(model::AppendEntries {
                term: 2,
                prev_log_index: 1,
                prev_log_term: 1,
                entries: vec![e(1, 2), e(2, 1)],
                leader_commit: 1,
            }),
        ),
        env(
            0,
            1,
            M::AppendEntriesResponse(model::AppendEntriesResponse {
                term: 2,
                success: false,
                match_index: 0,
                conflict: Some(model::ConflictHint {
                    term: Some(1),
                    first_index: 1,
                    log_len: 3,
                }),
            }),
        ),
        env(
            1,
            2,
            M::InstallSnapshot(model::InstallSnapshot {
                term: 3,
                last_included_index: 2,
                last_included_term: 1,
                entries: vec![e(1, 2), e(1, 1)],
            }),
        ),
        env(
            2,
            1,
            M::InstallSnapshotResponse(model::InstallSnapshotResponse {
                term: 3,
                match_index: 2,
            }),
        ),
        env(
            2,
            1,
            M::InstallSnapshotResponse(model::InstallSnapshotResponse {
                term: 4,
                match_index: 0,
            }),
        ),
        env(
            1,
            2,
            M::RequestVote(model::RequestVote {
                term: 4,
                last_log_index: 2,
                last_log_term: 1,
                transfer: true,
            }),
        ),
        env(0, 1, M::TimeoutNow(model::TimeoutNow { term: 3 })),
    ]
}

#[test]
fn messages_round_trip_and_ids_shift_by_one() {
    for m in msgs() {
        let env = to_core_msg(&m).unwrap();
        assert_eq!(env.from, u64::from(m.from) + 1);
        assert_eq!(to_model_msg(&env, 3), Ok(m));
    }
}

#[test]
fn entries_carry_their_index_and_one_byte() {
    let env = to_core_msg(&msgs()[2]).unwrap();
    let raft_core::Message::AppendEntries(ae) = env.msg else {
        panic!("an AppendEntries maps to an AppendEntries")
    };
    assert_eq!(
        ae.entries.iter().map(|e| e.index).collect::<Vec<_>>(),
        vec![2, 3]
    );
    assert_eq!(ae.entries[0].data.as_ref(), &[2]);
}

#[test]
fn unrepresentable_values_are_errors() {
    let mut env = to_core_msg(&msgs()[0]).unwrap();
    env.from = 9;
    assert!(to_model_msg(&env, 3).unwrap_err().0.contains("node id 9"));
    let big = CoreEntry {
        term: 300,
        index: 1,
        data: payload(1),
    };
    assert!(to_model_entry(&big).unwrap_err().0.contains("300"));
    let wide = CoreEntry {
        term: 1,
        index: 1,
        data: Bytes::from_static(b"ab"),
    };
    assert!(to_model_entry(&wide).unwrap_err().0.contains("2 bytes"));
}

#[test]
fn max_batch_maps_to_the_core_batching_limit() {
    let mut c = Config::default();
    assert_eq!(core_config(1, &c).max_entries_per_append, usize::MAX);
    c.max_batch = 1;
    let cfg = core_config(1, &c);
    assert_eq!(cfg.max_entries_per_append, 1);
    assert_eq!((cfg.id, cfg.peers.clone()), (2, vec![1, 3]));
}

#[test]
fn comparable_blanks_only_unobservable_fields() {
    let mut s = Server::new();
    s.role = Role::Leader;
    s.votes_granted = 0b11;
    s.next_index = vec![3, 2, 1];
    s.match_index = vec![0, 1, 0];
    let c = comparable(&s, 0);
    assert_eq!(c.votes_granted, 0b11);
    assert_eq!(c.next_index, vec![0, 2, 1]);
    assert_eq!(c.match_index, vec![0, 1, 0]);
}

#[test]
fn a_snapshot_is_sent_whole_with_its_content_as_data() {
    let env = to_core_msg(&msgs()[4]).unwrap();
    let raft_core::Message::InstallSnapshot(is) = env.msg else {
        panic!("an InstallSnapshot maps to an InstallSnapshot")
    };
    assert_eq!((is.offset, is.done), (0, true));
    assert_eq!(is.data.as_ref(), &[1, 2, 1, 1]);
    let mut chunk = to_core_msg(&msgs()[4]).unwrap();
    if let raft_core::Message::InstallSnapshot(is) = &mut chunk.msg {
        is.done = false;
    }
    assert!(to_model_msg(&chunk, 3).unwrap_err().0.contains("chunk"));
    assert!(snapshot_entries(&[1, 2, 3])
        .unwrap_err()
        .0
        .contains("3 bytes"));
    let partial = raft_core::Envelope {
        from: 2,
        to: 1,
        msg: raft_core::Message::InstallSnapshotResponse(raft_core::InstallSnapshotResponse {
            term: 2,
            match_index: 0,
            last_included_index: 4,
            received: 10,
        }),
    };
    assert!(to_model_msg(&partial, 3)
        .unwrap_err()
        .0
        .contains("10 bytes"));
}

#[test]
fn the_application_snapshots_what_it_applied() {
    let log: Vec<CoreEntry> = (3..=5)
        .map(|index| CoreEntry {
            term: 2,
            index,
            data: payload(index as u8),
        })
        .collect();
    let status = raft_impl::core::Status {
        id: 1,
        current_term: 2,
        voted_for: None,
        role: raft_impl::core::Role::Follower,
        leader_id: None,
        log: &log,
        first_index: 3,
        last_included_index: 2,
        last_included_term: 1,
        incoming_snapshot: None,
        commit_index: 4,
        applied_index: 4,
        votes_granted: Vec::new(),
        heard_from: Vec::new(),
        lead_transferee: None,
        progress: Vec::new(),
        rejected_messages: 0,
        lost_up_to: 0,
        lost_term: 0,
        lost_entries_reports: 0,
    };
    let old = snapshot_data(&[Entry { term: 1, value: 7 }, Entry { term: 1, value: 8 }]);
    let (index, data) = snapshot_content(&status, &old, Application::default()).unwrap();
    assert_eq!((index, data.as_ref()), (4, &[1, 7, 1, 8, 2, 3, 2, 4][..]));
    let beyond = Application {
        compact_to_last_index: true,
        ..Application::default()
    };
    let (index, data) = snapshot_content(&status, &old, beyond).unwrap();
    assert_eq!((index, data.len()), (5, 10));
    let short = Application {
        state_one_entry_short: true,
        ..Application::default()
    };
    let (index, data) = snapshot_content(&status, &old, short).unwrap();
    assert_eq!((index, data.as_ref()), (4, &[1, 7, 1, 8, 2, 3][..]));
    let abs = abstract_server(&status, &old, 3, state::Switches::default()).unwrap();
    assert_eq!(abs.snapshot.last_included_index, 2);
    assert_eq!(abs.snapshot.entries.len(), 2);
    assert_eq!(abs.log.len(), 3);
    assert_eq!(abs.last_index(), 5);
}

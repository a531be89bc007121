//! The MIT 6.824 Lab 3B kvraft scenarios (snapshots, `maxraftstate`) on the simulated
//! network, every history checked for linearizability against the sequential key/value
//! specification (stateright).
//!
//! With `KvSimConfig::max_raft_state` a server whose node's stored Raft state reaches it
//! snapshots its state machine (map and session table) into the core, which compacts its log;
//! lagging followers catch up by InstallSnapshot and restarted servers load their snapshot and
//! replay only the log after it. Every scenario also asserts that snapshots were taken (and,
//! where the scenario is about it, restored), so none passes without exercising them.
//!
//! Every scenario runs with Gets through the log and, the `*_read_index` twins (same seeds),
//! with ReadIndex Gets (`ReadMode::ReadIndex`, thesis §6.4): no log entry per Get, so the
//! checks that count entries depend on the mode.
//!
//! Time is simulated and a seed fixes the run bit for bit (the failure message names it).

mod common;

use common::kvsim::{Generic, SnapshotStats, SETTLE};
use raft_kv::command::Op;
use raft_kv::sim::{KvSim, KvSimConfig, ServiceFault};
use raft_kv::ReadMode;
use raft_sim::{SimError, ELECTION_TIMEOUT, MS, SEC};

/// 6.824's `maxraftstate` in the 3B tests, bytes.
const MAX_RAFT_STATE: u64 = 1000;
/// Seeds per generic scenario (as 3A; the two with 15-20 clients run half as many).
const SEEDS: u64 = 8;

fn put(key: &str, value: &str) -> Op {
    Op::Put {
        key: key.into(),
        value: value.into(),
    }
}

fn snapshot_config(servers: usize, clients: usize, seed: u64) -> KvSimConfig {
    snapshot_config_in(servers, clients, seed, ReadMode::Log)
}

fn snapshot_config_in(servers: usize, clients: usize, seed: u64, mode: ReadMode) -> KvSimConfig {
    KvSimConfig {
        max_raft_state: Some(MAX_RAFT_STATE),
        read_mode: mode,
        ..KvSimConfig::new(servers, clients, seed)
    }
}

/// 6.824 `LogSize`: the largest stored Raft state among the servers.
fn log_size(sim: &KvSim) -> u64 {
    let c = sim.cluster();
    (0..c.servers())
        .map(|i| c.raft_state_size(i))
        .max()
        .unwrap_or(0)
}

fn generic(clients: usize, mode: ReadMode) -> Generic {
    Generic {
        max_raft_state: Some(MAX_RAFT_STATE),
        seeds: SEEDS,
        read_mode: mode,
        ..Generic::new(clients)
    }
}

/// Log entries applied at server `i` per Get: one through the log, none with ReadIndex.
fn entries_per_get(mode: ReadMode) -> u64 {
    u64::from(mode == ReadMode::Log)
}

/// Runs `g` on its seeds; every run took snapshots, and (`restores`) restored from one.
fn run_snapshot_seeds(g: &Generic, first: u64, restores: bool) -> Result<(), SimError> {
    let stats = g.run_seeds_stats(first)?;
    for (k, s) in stats.iter().enumerate() {
        let seed = first + k as u64;
        eprintln!("seed {seed}: {s:?}");
        assert!(s.taken > 0, "seed {seed}: no server took a snapshot: {s:?}");
        assert!(
            !restores || s.restored > 0,
            "seed {seed}: no state machine was restored from a snapshot: {s:?}"
        );
        assert!(
            s.max_raft_state_seen <= 8 * MAX_RAFT_STATE,
            "seed {seed}: {s:?}"
        );
    }
    Ok(())
}

/// 6.824 `TestSnapshotRPC3B`: puts in a majority {0, 1} while server 2 is cut off; then a
/// majority {0, 2} that needs server 2, which must catch up by InstallSnapshot (the log it
/// lacks was compacted away); then everybody.
#[test]
fn snapshot_rpc() -> Result<(), SimError> {
    snapshot_rpc_in(ReadMode::Log)
}

#[test]
fn snapshot_rpc_read_index() -> Result<(), SimError> {
    snapshot_rpc_in(ReadMode::ReadIndex)
}

fn snapshot_rpc_in(mode: ReadMode) -> Result<(), SimError> {
    // Client 0 reaches every server, client 1 the first majority, client 2 the second.
    let mut sim = KvSim::new(snapshot_config_in(3, 3, 20_000, mode));
    sim.connect_client(1, &[0, 1]);
    sim.connect_client(2, &[0, 2]);
    sim.op(0, put("a", "A"), SETTLE)?;
    assert_eq!(sim.get(0, "a", SETTLE)?.as_deref(), Some("A"));

    sim.partition(&[0, 0, 1]);
    for i in 0..50 {
        sim.op(1, put(&i.to_string(), &i.to_string()), SETTLE)?;
    }
    sim.run_for(ELECTION_TIMEOUT)?;
    sim.op(1, put("b", "B"), SETTLE)?;
    // The majority threw away most of its log.
    let sz = log_size(&sim);
    assert!(
        sz <= 8 * MAX_RAFT_STATE,
        "logs were not trimmed ({sz} > 8*{MAX_RAFT_STATE})"
    );
    assert!(sim.cluster().first_index(0) > 1 && sim.cluster().first_index(1) > 1);
    assert_eq!(sim.cluster().first_index(2), 1, "server 2 was cut off");
    let installs_before = sim.cluster().install_snapshot_sent();

    sim.partition(&[0, 1, 0]);
    sim.op(2, put("c", "C"), SETTLE)?;
    sim.op(2, put("d", "D"), SETTLE)?;
    for (k, v) in [("a", "A"), ("b", "B"), ("1", "1"), ("49", "49")] {
        assert_eq!(sim.get(2, k, SETTLE)?.as_deref(), Some(v), "key {k}");
    }
    // Server 2 caught up through a leader's snapshot, and its KV state came with it.
    assert!(sim.cluster().install_snapshot_sent() > installs_before);
    assert!(sim.cluster().snapshots_restored(2) >= 1);
    assert!(
        sim.snapshots_restored(2) >= 1,
        "server 2's KvServer restored"
    );
    assert!(sim.cluster().first_index(2) > 1);
    assert_eq!(sim.server(2).state_machine().peek("49"), Some("49"));

    sim.heal_servers();
    sim.op(0, put("e", "E"), SETTLE)?;
    sim.run_for(SEC)?; // every server applies what is committed so far
    let applied = sim.server(0).state_machine().last_applied();
    let gets = [("c", "C"), ("e", "E"), ("1", "1")];
    for (k, v) in gets {
        assert_eq!(sim.get(0, k, SETTLE)?.as_deref(), Some(v), "key {k}");
    }
    sim.run_for(SEC)?;
    // Mode-dependent: a log Get takes an entry, a ReadIndex Get none.
    let grew = sim.server(0).state_machine().last_applied() - applied;
    assert_eq!(grew, gets.len() as u64 * entries_per_get(mode), "{mode:?}");
    sim.check_linearizable()
}

/// Runs `op` at client `c` to completion, sampling every server's stored Raft state each
/// simulated millisecond; returns the largest seen.
fn op_watching_size(sim: &mut KvSim, c: usize, op: Op) -> Result<u64, SimError> {
    let mut max = log_size(sim);
    sim.submit(c, op);
    let deadline = sim.now() + SETTLE;
    while !sim.client(c).is_idle() {
        if sim.now() > deadline {
            return Err(sim.failed(format!("client {c}: operation did not complete")));
        }
        sim.run_for(MS)?;
        max = max.max(log_size(sim));
    }
    Ok(max)
}

/// 6.824 `TestSnapshotSize3B`: 200 rounds of Put/Get/Put/Get of one key. 6.824 checks at the
/// end that the Raft state is within 8x `maxraftstate` and the snapshot within 500 bytes;
/// here the Raft state is sampled every simulated millisecond while the client runs and must
/// stay within `maxraftstate` plus a few entries (a server snapshots as soon as it applies
/// the entry that reaches the threshold, so only entries not yet applied can exceed it).
#[test]
fn snapshot_size() -> Result<(), SimError> {
    snapshot_size_in(ReadMode::Log)
}

#[test]
fn snapshot_size_read_index() -> Result<(), SimError> {
    snapshot_size_in(ReadMode::ReadIndex)
}

fn snapshot_size_in(mode: ReadMode) -> Result<(), SimError> {
    const SLACK: u64 = 300;
    const MAX_SNAPSHOT_STATE: u64 = 500;
    let mut sim = KvSim::new(snapshot_config_in(3, 1, 20_100, mode));
    let mut max_seen = 0;
    for _ in 0..200 {
        for v in ["0", "1"] {
            max_seen = max_seen.max(op_watching_size(&mut sim, 0, put("x", v))?);
            let get = Op::Get { key: "x".into() };
            max_seen = max_seen.max(op_watching_size(&mut sim, 0, get)?);
            let (_, got) = sim.client(0).results.last().expect("done").clone();
            assert_eq!(got, raft_kv::command::OpResult::Value(Some(v.into())));
        }
    }
    eprintln!("snapshot_size: largest Raft state seen {max_seen} bytes");
    assert!(
        max_seen <= MAX_RAFT_STATE + SLACK,
        "Raft state reached {max_seen} > {MAX_RAFT_STATE} + {SLACK}"
    );
    for i in 0..3 {
        let ssz = sim.cluster().snapshot_size(i);
        assert!(ssz > 0, "server {i} has no snapshot");
        assert!(
            ssz <= MAX_SNAPSHOT_STATE,
            "server {i}: snapshot too large ({ssz} > {MAX_SNAPSHOT_STATE})"
        );
        assert!(sim.snapshots_taken(i) > 10, "server {i} rarely snapshotted");
    }
    // Mode-dependent: 400 Puts always take entries, the 400 Gets only through the log; the
    // rest are leader no-ops (one per election, none expected beyond the first few).
    let logged = 400 * (1 + entries_per_get(mode));
    let applied = sim.server(0).state_machine().last_applied();
    assert!(
        (logged..=logged + 3).contains(&applied),
        "{mode:?}: {applied} entries applied, expected {logged} + no-ops"
    );
    sim.check_linearizable()
}

/// 6.824 `TestSnapshotRecover3B`: one client, every server crashed and restarted each round.
#[test]
fn snapshot_recover() -> Result<(), SimError> {
    snapshot_recover_in(ReadMode::Log)
}

#[test]
fn snapshot_recover_read_index() -> Result<(), SimError> {
    snapshot_recover_in(ReadMode::ReadIndex)
}

fn snapshot_recover_in(mode: ReadMode) -> Result<(), SimError> {
    let g = Generic {
        crash: true,
        ..generic(1, mode)
    };
    run_snapshot_seeds(&g, 21_000, true)
}

/// 6.824 `TestSnapshotRecoverManyClients3B`: 20 clients, crashes.
#[test]
fn snapshot_recover_many_clients() -> Result<(), SimError> {
    snapshot_recover_many_clients_in(ReadMode::Log)
}

#[test]
fn snapshot_recover_many_clients_read_index() -> Result<(), SimError> {
    snapshot_recover_many_clients_in(ReadMode::ReadIndex)
}

fn snapshot_recover_many_clients_in(mode: ReadMode) -> Result<(), SimError> {
    let g = Generic {
        crash: true,
        seeds: 4,
        ..generic(20, mode)
    };
    run_snapshot_seeds(&g, 22_000, true)
}

/// 6.824 `TestSnapshotUnreliable3B`: 5 clients over an unreliable network.
#[test]
fn snapshot_unreliable() -> Result<(), SimError> {
    snapshot_unreliable_in(ReadMode::Log)
}

#[test]
fn snapshot_unreliable_read_index() -> Result<(), SimError> {
    snapshot_unreliable_in(ReadMode::ReadIndex)
}

fn snapshot_unreliable_in(mode: ReadMode) -> Result<(), SimError> {
    let g = Generic {
        unreliable: true,
        ..generic(5, mode)
    };
    run_snapshot_seeds(&g, 23_000, false)
}

/// 6.824 `TestSnapshotUnreliableRecover3B`: unreliable network and crashes.
#[test]
fn snapshot_unreliable_recover() -> Result<(), SimError> {
    snapshot_unreliable_recover_in(ReadMode::Log)
}

#[test]
fn snapshot_unreliable_recover_read_index() -> Result<(), SimError> {
    snapshot_unreliable_recover_in(ReadMode::ReadIndex)
}

fn snapshot_unreliable_recover_in(mode: ReadMode) -> Result<(), SimError> {
    let g = Generic {
        unreliable: true,
        crash: true,
        ..generic(5, mode)
    };
    run_snapshot_seeds(&g, 24_000, true)
}

/// 6.824 `TestSnapshotUnreliableRecoverConcurrentPartition3B`: unreliable network, crashes
/// and random partitions.
#[test]
fn snapshot_unreliable_recover_concurrent_partition() -> Result<(), SimError> {
    snapshot_unreliable_recover_concurrent_partition_in(ReadMode::Log)
}

#[test]
fn snapshot_unreliable_recover_concurrent_partition_read_index() -> Result<(), SimError> {
    snapshot_unreliable_recover_concurrent_partition_in(ReadMode::ReadIndex)
}

fn snapshot_unreliable_recover_concurrent_partition_in(mode: ReadMode) -> Result<(), SimError> {
    let g = Generic {
        unreliable: true,
        crash: true,
        partitions: true,
        ..generic(5, mode)
    };
    run_snapshot_seeds(&g, 25_000, true)
}

/// 6.824 `TestSnapshotUnreliableRecoverConcurrentPartitionLinearizable3B`: 15 clients over 7
/// servers, every client on every key, all faults at once.
#[test]
fn snapshot_unreliable_recover_concurrent_partition_linearizable() -> Result<(), SimError> {
    snapshot_unreliable_recover_concurrent_partition_linearizable_in(ReadMode::Log)
}

#[test]
fn snapshot_unreliable_recover_concurrent_partition_linearizable_read_index() -> Result<(), SimError>
{
    snapshot_unreliable_recover_concurrent_partition_linearizable_in(ReadMode::ReadIndex)
}

fn snapshot_unreliable_recover_concurrent_partition_linearizable_in(
    mode: ReadMode,
) -> Result<(), SimError> {
    let g = Generic {
        servers: 7,
        unreliable: true,
        crash: true,
        partitions: true,
        random_keys: true,
        seeds: 4,
        ..generic(15, mode)
    };
    run_snapshot_seeds(&g, 26_000, true)
}

/// Not in 6.824: a restarted server loads its snapshot and is handed only the log entries
/// after it, and ends with the same state as the others.
#[test]
fn restart_restores_the_snapshot_and_replays_only_the_log_after_it() -> Result<(), SimError> {
    let mut sim = KvSim::new(snapshot_config(3, 1, 27_000));
    for i in 0..60 {
        sim.op(0, put(&format!("k{}", i % 7), &i.to_string()), SETTLE)?;
    }
    sim.run_for(SEC)?;
    let applied = sim.server(0).state_machine().last_applied();
    sim.crash(0);
    let first = sim.cluster().first_index(0);
    assert!(first > 1, "server 0 has no durable snapshot");
    let restored_before = sim.snapshots_restored(0);
    sim.restart(0);
    sim.run_for(2 * SEC)?;
    assert_eq!(sim.snapshots_restored(0), restored_before + 1);
    let now = sim.server(0).state_machine().last_applied();
    assert!(
        now >= applied,
        "server 0 did not catch up ({now} < {applied})"
    );
    assert_eq!(
        sim.entries_applied(0),
        now - (first - 1),
        "replayed exactly the entries after the snapshot at {}",
        first - 1
    );
    for k in 0..7 {
        let key = format!("k{k}");
        assert_eq!(
            sim.server(0).state_machine().peek(&key),
            sim.server(1).state_machine().peek(&key)
        );
    }
    sim.check_linearizable()
}

// ---- the checks can fail ----

/// An Append whose reply is lost; its entry is applied and snapshotted everywhere; every
/// server crashes and restarts from its snapshot; the Clerk's retry (same sequence number)
/// reaches the new leader. Returns the final value of the key.
fn retried_append_after_restore(fault: Option<ServiceFault>) -> Result<(KvSim, String), SimError> {
    let mut cfg = snapshot_config(3, 1, 28_000);
    // Snapshot after every applied entry: the Append's is then inside every snapshot.
    cfg.max_raft_state = Some(1);
    cfg.fault = fault;
    let mut sim = KvSim::new(cfg);
    sim.op(0, put("k", ""), SETTLE)?;
    sim.submit(
        0,
        Op::Append {
            key: "k".into(),
            value: "a".into(),
        },
    );
    // Cut the client off once a server holds the request, so the reply is lost.
    let deadline = sim.now() + SEC;
    while (0..3).all(|i| sim.server(i).waiting() == 0) {
        if sim.now() > deadline {
            return Err(sim.failed("the Append reached no server"));
        }
        sim.run_for(50)?;
    }
    sim.connect_client(0, &[]);
    sim.run_for(SEC)?;
    for i in 0..3 {
        assert_eq!(sim.server(i).state_machine().peek("k"), Some("a"));
        assert!(sim.snapshots_taken(i) > 0);
    }
    assert!(!sim.client(0).is_idle(), "the Append's reply was not lost");
    for i in 0..3 {
        sim.crash(i);
    }
    sim.run_for(100 * MS)?;
    for i in 0..3 {
        sim.restart(i);
    }
    sim.connect_client_all(0);
    sim.wait_all_idle(SETTLE)?;
    let v = sim.get(0, "k", SETTLE)?.unwrap_or_default();
    Ok((sim, v))
}

#[test]
fn retried_append_after_a_restore_is_applied_once() -> Result<(), SimError> {
    let (sim, v) = retried_append_after_restore(None)?;
    assert_eq!(v, "a");
    assert!((0..3).all(|i| sim.snapshots_restored(i) > 0));
    sim.check_linearizable()
}

/// 6.824 Lab 3B's classic bug: a snapshot without the session table. The restored servers
/// no longer know the Append was executed, execute its retry again, and the linearizability
/// check catches the doubled value.
#[test]
fn checker_catches_snapshot_without_sessions() -> Result<(), SimError> {
    let (sim, v) = retried_append_after_restore(Some(ServiceFault::SnapshotWithoutSessions))?;
    assert_eq!(v, "aa", "the retried Append was executed twice");
    assert!(
        sim.check_linearizable().is_err(),
        "the double execution was not caught"
    );
    Ok(())
}

#[test]
fn generic_without_max_raft_state_takes_no_snapshot() -> Result<(), SimError> {
    let g = Generic {
        crash: true,
        seeds: 1,
        ..Generic::new(2)
    };
    let stats = g.run_seeds_stats(29_000)?;
    assert_eq!(stats[0].taken, 0);
    assert_eq!(stats[0].restored, 0);
    assert!(
        stats[0] != SnapshotStats::default(),
        "the run measured nothing"
    );
    Ok(())
}

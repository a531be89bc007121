//! The MIT 6.824 Lab 3A kvraft scenarios on the simulated network, every history checked for
//! linearizability against the sequential key/value specification (stateright).
//!
//! Every scenario runs with Gets through the log and, the `*_read_index` twins, with ReadIndex
//! Gets (`ReadMode::ReadIndex`).
//!
//! Time is simulated: a "5 second" phase costs milliseconds of real time, and a seed fixes the
//! run bit for bit (the failure message names it).

mod common;

use common::kvsim::{config, Generic, SETTLE};
use raft_kv::command::{Op, OpResult};
use raft_kv::sim::{KvSim, KvSimConfig, ServiceFault};
use raft_kv::ReadMode;
use raft_sim::{SimError, MS, SEC};

#[test]
fn basic() -> Result<(), SimError> {
    basic_in(ReadMode::Log)
}

#[test]
fn basic_read_index() -> Result<(), SimError> {
    basic_in(ReadMode::ReadIndex)
}

fn basic_in(mode: ReadMode) -> Result<(), SimError> {
    let mut sim = KvSim::new(config(5, 1, 1, mode));
    assert_eq!(sim.get(0, "a", 5 * SEC)?, None);
    let put = Op::Put {
        key: "a".into(),
        value: "1".into(),
    };
    assert_eq!(sim.op(0, put, 5 * SEC)?, OpResult::Done);
    sim.op(
        0,
        Op::Append {
            key: "a".into(),
            value: "2".into(),
        },
        5 * SEC,
    )?;
    assert_eq!(sim.get(0, "a", 5 * SEC)?.as_deref(), Some("12"));
    sim.run_for(SEC)?; // every server applies what is committed so far
    let log_entries = sim.server(0).state_machine().last_applied();
    assert_eq!(sim.get(0, "a", 5 * SEC)?.as_deref(), Some("12"));
    sim.run_for(SEC)?;
    // A log Get takes an entry; a ReadIndex Get does not.
    let grew = sim.server(0).state_machine().last_applied() - log_entries;
    assert_eq!(grew, u64::from(mode == ReadMode::Log));
    Generic {
        read_mode: mode,
        ..Generic::new(1)
    }
    .run_seeds(1000)
}

#[test]
fn concurrent() -> Result<(), SimError> {
    Generic::new(5).run_seeds(2000)
}

#[test]
fn concurrent_read_index() -> Result<(), SimError> {
    Generic::new(5).read_index().run_seeds(2000)
}

#[test]
fn unreliable_read_index() -> Result<(), SimError> {
    Generic {
        unreliable: true,
        ..Generic::new(5)
    }
    .read_index()
    .run_seeds(3000)
}

#[test]
fn unreliable() -> Result<(), SimError> {
    Generic {
        unreliable: true,
        ..Generic::new(5)
    }
    .run_seeds(3000)
}

/// 6.824 `TestUnreliableOneKey`: concurrent appends to one key over an unreliable network;
/// every append must appear exactly once, each client's in its order. Each client also reads
/// the key after each append: the reads pin down the order of the appends, which keeps the
/// linearizability search small (appends alone return nothing to order them by).
#[test]
fn unreliable_one_key() -> Result<(), SimError> {
    let (clients, upto) = (5, 10);
    let mut sim = KvSim::new(KvSimConfig::new(5, clients, 104));
    sim.set_unreliable(true);
    sim.op(
        0,
        Op::Put {
            key: "k".into(),
            value: String::new(),
        },
        SETTLE,
    )?;
    let mut next = vec![0; clients];
    let mut read_next = vec![false; clients];
    let deadline = sim.now() + 60 * SEC;
    while next.iter().any(|&n| n < upto) {
        for c in 0..clients {
            if sim.client(c).is_idle() && next[c] < upto {
                read_next[c] = !read_next[c];
                if read_next[c] {
                    let value = format!("x {c} {} y", next[c]);
                    sim.submit(
                        c,
                        Op::Append {
                            key: "k".into(),
                            value,
                        },
                    );
                } else {
                    sim.submit(c, Op::Get { key: "k".into() });
                    next[c] += 1;
                }
            }
        }
        sim.run_for(5 * MS)?;
        if sim.now() > deadline {
            return Err(sim.failed("appends did not finish"));
        }
    }
    sim.wait_all_idle(SETTLE)?;
    sim.set_unreliable(false);
    let v = sim.get(0, "k", SETTLE)?.unwrap_or_default();
    for c in 0..clients {
        let mut last = None;
        for j in 0..upto {
            let needle = format!("x {c} {j} y");
            let found: Vec<_> = v.match_indices(&needle).collect();
            if found.len() != 1 {
                return Err(
                    sim.failed(format!("{needle:?} appears {} times in {v:?}", found.len()))
                );
            }
            if last.is_some_and(|l| found[0].0 < l) {
                return Err(sim.failed(format!("{needle:?} out of order in {v:?}")));
            }
            last = Some(found[0].0);
        }
    }
    sim.check_linearizable()
}

/// 6.824 `TestOnePartition`: operations in a majority partition complete; in the minority
/// they do not, and they complete once the partition heals.
#[test]
fn one_partition() -> Result<(), SimError> {
    one_partition_in(ReadMode::Log)
}

#[test]
fn one_partition_read_index() -> Result<(), SimError> {
    one_partition_in(ReadMode::ReadIndex)
}

fn one_partition_in(mode: ReadMode) -> Result<(), SimError> {
    let mut sim = KvSim::new(config(5, 3, 105, mode));
    sim.op(
        0,
        Op::Put {
            key: "1".into(),
            value: "13".into(),
        },
        10 * SEC,
    )?;
    let leader = sim.leader().ok_or_else(|| sim.failed("no leader"))?;
    let others: Vec<usize> = (0..5).filter(|&i| i != leader).collect();
    let majority = vec![leader, others[0], others[1]];
    let minority = vec![others[2], others[3]];
    let group: Vec<usize> = (0..5).map(|i| usize::from(minority.contains(&i))).collect();
    sim.partition(&group);
    sim.connect_client(0, &majority);
    sim.connect_client(1, &minority);
    sim.connect_client(2, &minority);

    sim.op(
        0,
        Op::Put {
            key: "1".into(),
            value: "14".into(),
        },
        10 * SEC,
    )?;
    assert_eq!(sim.get(0, "1", 10 * SEC)?.as_deref(), Some("14"));

    sim.submit(
        1,
        Op::Put {
            key: "1".into(),
            value: "15".into(),
        },
    );
    sim.submit(2, Op::Get { key: "1".into() });
    sim.run_for(SEC)?;
    if !sim.client(1).is_idle() || !sim.client(2).is_idle() {
        // Expected: no progress in the minority.
    } else {
        return Err(sim.failed("an operation completed in the minority partition"));
    }
    // The majority keeps working meanwhile.
    assert_eq!(sim.get(0, "1", 10 * SEC)?.as_deref(), Some("14"));

    sim.heal_servers();
    for c in 0..3 {
        sim.connect_client_all(c);
    }
    sim.wait_all_idle(SETTLE)?;
    assert_eq!(sim.get(0, "1", 10 * SEC)?.as_deref(), Some("15"));
    sim.check_linearizable()
}

#[test]
fn many_partitions_one_client() -> Result<(), SimError> {
    Generic {
        partitions: true,
        ..Generic::new(1)
    }
    .run_seeds(6000)
}

#[test]
fn many_partitions_many_clients() -> Result<(), SimError> {
    Generic {
        partitions: true,
        ..Generic::new(5)
    }
    .run_seeds(7000)
}

#[test]
fn many_partitions_many_clients_read_index() -> Result<(), SimError> {
    Generic {
        partitions: true,
        ..Generic::new(5)
    }
    .read_index()
    .run_seeds(7000)
}

#[test]
fn persist_one_client() -> Result<(), SimError> {
    Generic {
        crash: true,
        ..Generic::new(1)
    }
    .run_seeds(8000)
}

#[test]
fn persist_concurrent() -> Result<(), SimError> {
    Generic {
        crash: true,
        ..Generic::new(5)
    }
    .run_seeds(9000)
}

#[test]
fn persist_concurrent_unreliable() -> Result<(), SimError> {
    Generic {
        crash: true,
        unreliable: true,
        ..Generic::new(5)
    }
    .run_seeds(10000)
}

#[test]
fn persist_partition() -> Result<(), SimError> {
    Generic {
        crash: true,
        partitions: true,
        ..Generic::new(5)
    }
    .run_seeds(11000)
}

#[test]
fn persist_partition_unreliable() -> Result<(), SimError> {
    Generic {
        crash: true,
        partitions: true,
        unreliable: true,
        ..Generic::new(5)
    }
    .run_seeds(12000)
}

/// 6.824 `TestPersistPartitionUnreliableLinearizable`: 15 clients over 7 servers, every client
/// on every key, all faults at once.
#[test]
fn persist_partition_unreliable_linearizable() -> Result<(), SimError> {
    Generic {
        servers: 7,
        crash: true,
        partitions: true,
        unreliable: true,
        random_keys: true,
        ..Generic::new(15)
    }
    .run_seeds(13000)
}

#[test]
fn persist_partition_unreliable_linearizable_read_index() -> Result<(), SimError> {
    Generic {
        servers: 7,
        crash: true,
        partitions: true,
        unreliable: true,
        random_keys: true,
        ..Generic::new(15)
    }
    .read_index()
    .run_seeds(13000)
}

#[test]
fn persist_partition_unreliable_read_index() -> Result<(), SimError> {
    Generic {
        crash: true,
        partitions: true,
        unreliable: true,
        ..Generic::new(5)
    }
    .read_index()
    .run_seeds(12000)
}

// ---- the checks can fail ----

/// Without sessions, a retry after a lost reply appends twice; the linearizability check (and
/// the exactly-once count) must notice on some seed.
#[test]
fn checker_catches_duplicate_execution_without_sessions() {
    let caught = (0..10).any(|seed| {
        let mut cfg = KvSimConfig::new(5, 3, 50_000 + seed);
        cfg.fault = Some(ServiceFault::NoSessions);
        let mut sim = KvSim::new(cfg);
        sim.set_unreliable(true);
        for c in 0..3 {
            sim.start_workload(c, vec!["k".into()]);
        }
        sim.run_for(5 * SEC).expect("raft stays safe");
        sim.stop_workloads();
        sim.wait_all_idle(SETTLE).expect("clients finish");
        sim.check_linearizable().is_err()
    });
    assert!(caught, "duplicate executions went unnoticed on every seed");
}

/// Reads answered locally by a server cut off from the majority miss a completed Put.
#[test]
fn checker_catches_stale_local_reads() -> Result<(), SimError> {
    let mut cfg = KvSimConfig::new(5, 2, 51_000);
    cfg.fault = Some(ServiceFault::LocalReads);
    let mut sim = KvSim::new(cfg);
    sim.op(
        0,
        Op::Put {
            key: "1".into(),
            value: "13".into(),
        },
        10 * SEC,
    )?;
    sim.run_for(SEC)?; // every server learns the commit and applies it
    let leader = sim.leader().ok_or_else(|| sim.failed("no leader"))?;
    let minority: Vec<usize> = (0..5).filter(|&i| i != leader).take(2).collect();
    let group: Vec<usize> = (0..5).map(|i| usize::from(minority.contains(&i))).collect();
    sim.partition(&group);
    sim.connect_client(1, &minority);
    sim.op(
        0,
        Op::Put {
            key: "1".into(),
            value: "14".into(),
        },
        10 * SEC,
    )?;
    assert_eq!(
        sim.get(1, "1", 10 * SEC)?.as_deref(),
        Some("13"),
        "the read is stale"
    );
    assert!(
        sim.check_linearizable().is_err(),
        "the stale read was not caught"
    );
    Ok(())
}

/// A deposed leader cut off with a minority: ReadIndex cannot confirm its leadership, so its
/// Get waits until the partition heals and then sees the newer Put; with the heartbeat round
/// skipped (`ServiceFault::ReadIndexWithoutHeartbeat`) it answers from its stale commit index
/// and the checker catches the stale read.
fn stale_leader_read(fault: Option<ServiceFault>) -> Result<KvSim, SimError> {
    let mut cfg = config(5, 2, 52_000, ReadMode::ReadIndex);
    cfg.fault = fault;
    let mut sim = KvSim::new(cfg);
    let put = |v: &str| Op::Put {
        key: "1".into(),
        value: v.into(),
    };
    sim.op(0, put("13"), 10 * SEC)?;
    sim.run_for(SEC)?;
    let old = sim.leader().ok_or_else(|| sim.failed("no leader"))?;
    let minority = [old, (old + 1) % 5];
    let group: Vec<usize> = (0..5).map(|i| usize::from(minority.contains(&i))).collect();
    sim.partition(&group);
    let majority: Vec<usize> = (0..5).filter(|i| !minority.contains(i)).collect();
    sim.connect_client(0, &majority);
    sim.connect_client(1, &[old]);
    sim.op(0, put("14"), 10 * SEC)?;
    sim.submit(1, Op::Get { key: "1".into() });
    sim.run_for(SEC)?;
    Ok(sim)
}

#[test]
fn read_index_at_a_deposed_leader_waits_for_the_partition_to_heal() -> Result<(), SimError> {
    let mut sim = stale_leader_read(None)?;
    assert!(
        !sim.client(1).is_idle(),
        "a read completed at a deposed leader"
    );
    sim.heal_servers();
    sim.connect_client_all(1);
    sim.wait_all_idle(SETTLE)?;
    let (_, result) = sim
        .client(1)
        .results
        .last()
        .expect("the Get finished")
        .clone();
    assert_eq!(result, OpResult::Value(Some("14".into())));
    sim.check_linearizable()
}

#[test]
fn checker_catches_read_index_without_heartbeat_round() -> Result<(), SimError> {
    let sim = stale_leader_read(Some(ServiceFault::ReadIndexWithoutHeartbeat))?;
    assert!(
        sim.client(1).is_idle(),
        "the faulty read should be answered at once"
    );
    let (_, result) = sim
        .client(1)
        .results
        .last()
        .expect("the Get finished")
        .clone();
    assert_eq!(
        result,
        OpResult::Value(Some("13".into())),
        "the read is stale"
    );
    assert!(
        sim.check_linearizable().is_err(),
        "the stale read was not caught"
    );
    Ok(())
}

//! The MIT 6.824 Lab 3A kvraft scenarios on the simulated network, every history checked for
//! linearizability against the sequential key/value specification (stateright).
//!
//! Time is simulated: a "5 second" phase costs milliseconds of real time, and a seed fixes the
//! run bit for bit (the failure message names it).

use raft_impl::sim::{SimError, ELECTION_TIMEOUT, MS, SEC};
use raft_kv::command::{Op, OpResult};
use raft_kv::sim::{KvSim, KvSimConfig, ServiceFault};
use rand::Rng;

/// Bound on waiting for clients to finish once faults stop (6.824 budgets are similar).
const SETTLE: u64 = 30 * SEC;
/// Seeds per generic scenario.
const SEEDS: u64 = 8;

struct Generic {
    servers: usize,
    clients: usize,
    unreliable: bool,
    crash: bool,
    partitions: bool,
    /// Clients pick among every client's key (contention) instead of their own key.
    random_keys: bool,
}

impl Generic {
    fn new(clients: usize) -> Self {
        Generic {
            servers: 5,
            clients,
            unreliable: false,
            crash: false,
            partitions: false,
            random_keys: false,
        }
    }

    fn keys(&self, c: usize) -> Vec<String> {
        if self.random_keys {
            (0..self.clients).map(|k| format!("k{k}")).collect()
        } else {
            vec![format!("k{c}")]
        }
    }

    /// [`Generic::run`] for seeds `first..first + SEEDS` (runs are cheap: simulated time).
    fn run_seeds(&self, first: u64) -> Result<(), SimError> {
        (first..first + SEEDS).try_for_each(|s| self.run(s))
    }

    /// 6.824 `GenericTest`: three rounds of 5 s of client load under the chosen faults, then
    /// heal / crash-and-restart, wait for every client, and check the whole history.
    fn run(&self, seed: u64) -> Result<(), SimError> {
        let mut sim = KvSim::new(KvSimConfig::new(self.servers, self.clients, seed));
        for round in 0..3 {
            sim.set_unreliable(self.unreliable);
            let before: Vec<usize> = (0..self.clients)
                .map(|c| sim.client(c).results.len())
                .collect();
            for c in 0..self.clients {
                sim.start_workload(c, self.keys(c));
            }
            let end = sim.now() + 5 * SEC;
            if self.partitions {
                while sim.now() < end {
                    let groups: Vec<usize> = (0..self.servers)
                        .map(|_| sim.rng().random_range(0..2))
                        .collect();
                    sim.partition(&groups);
                    let d = ELECTION_TIMEOUT + sim.rng().random_range(0..200 * MS);
                    sim.run_for(d)?;
                }
            } else {
                sim.run_until(end)?;
            }
            sim.stop_workloads();
            if self.partitions {
                sim.heal_servers();
                sim.run_for(ELECTION_TIMEOUT)?;
            }
            if self.crash {
                for i in 0..self.servers {
                    sim.crash(i);
                }
                sim.run_for(100 * MS)?;
                for i in 0..self.servers {
                    sim.restart(i);
                }
            }
            sim.wait_all_idle(SETTLE)?;
            for (c, &done_before) in before.iter().enumerate() {
                if sim.client(c).results.len() == done_before {
                    return Err(sim.failed(format!("round {round}: client {c} completed nothing")));
                }
            }
        }
        // Everyone reads every key once more, with no faults: the history's end state.
        sim.set_unreliable(false);
        for c in 0..self.clients {
            for k in self.keys(c) {
                sim.get(c, &k, SETTLE)?;
            }
        }
        sim.check_linearizable()?;
        // No leaked waiters: with the cluster healthy every waiting request has been answered.
        sim.run_for(2 * SEC)?;
        for i in 0..self.servers {
            if sim.server(i).waiting() != 0 {
                return Err(sim.failed(format!("server {i} still has waiting requests")));
            }
        }
        Ok(())
    }
}

#[test]
fn basic() -> Result<(), SimError> {
    let mut sim = KvSim::new(KvSimConfig::new(5, 1, 1));
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
    Generic::new(1).run_seeds(1000)
}

#[test]
fn concurrent() -> Result<(), SimError> {
    Generic::new(5).run_seeds(2000)
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
    let mut sim = KvSim::new(KvSimConfig::new(5, 3, 105));
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

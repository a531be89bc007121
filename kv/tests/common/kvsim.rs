//! 6.824's `GenericTest` on the simulated KV cluster, shared by the Lab 3A (`kvraft.rs`) and
//! Lab 3B (`kvraft_snapshots.rs`) scenarios.

use raft_kv::sim::{KvSim, KvSimConfig};
use raft_kv::ReadMode;
use raft_sim::{SimError, ELECTION_TIMEOUT, MS, SEC};
use rand::Rng;

/// Bound on waiting for clients to finish once faults stop (6.824 budgets are similar).
pub const SETTLE: u64 = 30 * SEC;
/// Seeds per generic scenario.
pub const SEEDS: u64 = 8;

pub fn config(servers: usize, clients: usize, seed: u64, read_mode: ReadMode) -> KvSimConfig {
    KvSimConfig {
        read_mode,
        ..KvSimConfig::new(servers, clients, seed)
    }
}

pub struct Generic {
    pub servers: usize,
    pub clients: usize,
    pub unreliable: bool,
    pub crash: bool,
    pub partitions: bool,
    /// Clients pick among every client's key (contention) instead of their own key.
    pub random_keys: bool,
    pub read_mode: ReadMode,
    /// 6.824 `maxraftstate` (`KvSimConfig::max_raft_state`); `None`: no snapshots.
    pub max_raft_state: Option<u64>,
    /// Seeds [`Generic::run_seeds`] runs.
    pub seeds: u64,
}

/// What snapshots did over one [`Generic::run`], summed over the servers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Snapshots servers took of their state machines.
    pub taken: u64,
    /// State machines restored from a snapshot (a leader's, or the durable one at restart).
    pub restored: u64,
    /// Largest stored Raft state seen at a server at the end of a round, bytes.
    pub max_raft_state_seen: u64,
}

impl Generic {
    pub fn new(clients: usize) -> Self {
        Generic {
            servers: 5,
            clients,
            unreliable: false,
            crash: false,
            partitions: false,
            random_keys: false,
            read_mode: ReadMode::Log,
            max_raft_state: None,
            seeds: SEEDS,
        }
    }

    pub fn read_index(self) -> Self {
        Generic {
            read_mode: ReadMode::ReadIndex,
            ..self
        }
    }

    fn keys(&self, c: usize) -> Vec<String> {
        if self.random_keys {
            (0..self.clients).map(|k| format!("k{k}")).collect()
        } else {
            vec![format!("k{c}")]
        }
    }

    /// [`Generic::run`] for seeds `first..first + self.seeds` (runs are cheap: simulated
    /// time).
    pub fn run_seeds(&self, first: u64) -> Result<(), SimError> {
        self.run_seeds_stats(first).map(drop)
    }

    /// [`Generic::run_seeds`], with the snapshot statistics of each run.
    pub fn run_seeds_stats(&self, first: u64) -> Result<Vec<SnapshotStats>, SimError> {
        (first..first + self.seeds).map(|s| self.run(s)).collect()
    }

    /// 6.824 `GenericTest`: three rounds of 5 s of client load under the chosen faults, then
    /// heal / crash-and-restart, wait for every client, and check the whole history. With
    /// `max_raft_state`, as 6.824: after each round no server's Raft state exceeds 8 times it
    /// (the logs were trimmed); without it, no server took a snapshot.
    pub fn run(&self, seed: u64) -> Result<SnapshotStats, SimError> {
        let mut cfg = config(self.servers, self.clients, seed, self.read_mode);
        cfg.max_raft_state = self.max_raft_state;
        let mut sim = KvSim::new(cfg);
        let mut stats = SnapshotStats::default();
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
            self.check_trimmed(&sim, round, &mut stats)?;
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
        stats.taken = (0..self.servers).map(|i| sim.snapshots_taken(i)).sum();
        stats.restored = (0..self.servers).map(|i| sim.snapshots_restored(i)).sum();
        Ok(stats)
    }

    /// 6.824 `GenericTest`'s end-of-round size checks.
    fn check_trimmed(
        &self,
        sim: &KvSim,
        round: usize,
        stats: &mut SnapshotStats,
    ) -> Result<(), SimError> {
        for i in 0..self.servers {
            let size = sim.cluster().raft_state_size(i);
            stats.max_raft_state_seen = stats.max_raft_state_seen.max(size);
            match self.max_raft_state {
                Some(max) if size > 8 * max => {
                    let what = format!(
                        "round {round}: server {i}: logs were not trimmed ({size} > 8*{max})"
                    );
                    return Err(sim.failed(what));
                }
                None if sim.cluster().snapshot_size(i) > 0 => {
                    let what =
                        format!("round {round}: server {i} snapshotted without maxraftstate");
                    return Err(sim.failed(what));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

//! Soak testing: random fault schedules, one per seed, with client load, invariant checks after
//! every event and a liveness check once the faults stop.
//!
//! A seed fixes everything (cluster, schedule, network), so a failing seed is reproduced by
//! running it alone. Failing seeds are re-run with trace recording to capture their
//! [`Trace`]; a run without recording is the same run, only cheaper.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::clients::ClientPool;
use crate::cluster::{derive_seed, Cluster, SimConfig, MS, SEC};
use crate::error::{SimError, Violation};
use crate::harness::cmd;
use crate::leadership::ElectionCount;
use crate::node::RuntimeFault;
use crate::state_machine::SnapshotPolicy;
use crate::trace::Trace;
use raft_impl::core::Config;
use raft_impl::types::NodeId;

/// What to run for each seed.
#[derive(Clone, Debug)]
pub struct SoakOptions {
    pub servers: usize,
    /// Simulated time with faults injected and clients proposing.
    pub fault_time_us: u64,
    /// After healing, a new entry must be applied by every server within this simulated time.
    pub liveness_bound_us: u64,
    /// A deliberate runtime bug (self-test of the checks); `None` in real soak runs.
    pub runtime_fault: Option<RuntimeFault>,
    /// Log compaction (§7). Default: random points, at most 40 applied entries apart.
    pub snapshot: SnapshotPolicy,
    /// InstallSnapshot chunk size; `None` draws one per seed (64 B, 1 KiB, 16 KiB or 1 MiB),
    /// so transfers take one to about a thousand chunks. (With 16 B, a 90 KB snapshot takes
    /// 5,500 round trips, restarted by each newer compaction: seed 723 then needs more than
    /// the 10 s liveness bound.)
    pub max_snapshot_chunk: Option<usize>,
    /// Builds each node's core config (default: `Config::production`).
    pub core_config: fn(NodeId, Vec<NodeId>, u64) -> Config,
}

impl Default for SoakOptions {
    fn default() -> Self {
        SoakOptions {
            servers: 5,
            fault_time_us: 20 * SEC,
            liveness_bound_us: 10 * SEC,
            runtime_fault: None,
            snapshot: SnapshotPolicy::Random { max_gap: 40 },
            max_snapshot_chunk: None,
            core_config: Config::production,
        }
    }
}

/// How one seed ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Violation(Box<Violation>),
    /// The healed cluster did not commit a new entry in time (the message says what failed).
    LivenessFailure(String),
}

/// The result of one seed.
#[derive(Clone, Debug)]
pub struct SeedReport {
    pub seed: u64,
    pub outcome: Outcome,
    pub events: u64,
    pub sim_time_us: u64,
    /// What compaction did in this seed.
    pub snapshots: SnapshotStats,
    /// Elections started and won, transfers accepted.
    pub elections: ElectionCount,
    /// Recorded for failing seeds by [`run_seeds`].
    pub trace: Option<Trace>,
}

/// Compaction activity (§7), summed over a seed's nodes or a batch of seeds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Nodes compacting their own logs.
    pub compactions: u64,
    /// State machines replaced by a leader's snapshot (transfers completed).
    pub restored: u64,
    /// InstallSnapshot chunks sent (with resends).
    pub chunks_sent: u64,
}

impl SnapshotStats {
    fn of(c: &Cluster) -> Self {
        SnapshotStats {
            compactions: (0..c.servers()).map(|i| c.compactions(i)).sum(),
            restored: (0..c.servers()).map(|i| c.snapshots_restored(i)).sum(),
            chunks_sent: c.install_snapshot_sent(),
        }
    }

    fn add(&mut self, o: SnapshotStats) {
        self.compactions += o.compactions;
        self.restored += o.restored;
        self.chunks_sent += o.chunks_sent;
    }
}

/// Runs one seed's schedule. With `record_trace`, the report carries the trace.
pub fn run_seed(seed: u64, opts: &SoakOptions, record_trace: bool) -> SeedReport {
    let mut cfg = SimConfig::new(opts.servers, seed);
    cfg.record_trace = record_trace;
    cfg.runtime_fault = opts.runtime_fault;
    // Vary the environment per seed, from a stream separate from the cluster's own RNG.
    let mut env = StdRng::seed_from_u64(derive_seed(seed, 0x50A4));
    cfg.sync_delay_us = (env.random_range(0..500), env.random_range(500..5 * MS));
    cfg.net.drop_prob = env.random_range(0.02..0.3);
    cfg.net.dup_prob = env.random_range(0.0..0.2);
    cfg.snapshot = opts.snapshot;
    const CHUNKS: [usize; 4] = [64, 1 << 10, 16 << 10, 1 << 20];
    let chunk = CHUNKS[env.random_range(0..CHUNKS.len())];
    cfg.max_snapshot_chunk = Some(opts.max_snapshot_chunk.unwrap_or(chunk));
    cfg.core_config = opts.core_config;
    let mut c = Cluster::new(cfg);
    let result = schedule(&mut c, opts).and_then(|()| liveness(&mut c, opts));
    let outcome = match result {
        Ok(()) => Outcome::Passed,
        Err(SimError::Violation(v)) => Outcome::Violation(v),
        Err(e @ SimError::Failed { .. }) => Outcome::LivenessFailure(e.to_string()),
    };
    let mut trace = record_trace.then(|| c.trace());
    if let (Some(t), Outcome::LivenessFailure(msg)) = (trace.as_mut(), &outcome) {
        t.failure = Some(format!("liveness: {msg}"));
    }
    SeedReport {
        seed,
        outcome,
        events: c.events(),
        sim_time_us: c.now(),
        snapshots: SnapshotStats::of(&c),
        elections: c.elections().clone(),
        trace,
    }
}

/// The fault phase: random steps of 20 ms - 1.5 s, each maybe changing one thing (a
/// partition, a cut link, a crash, a restart, the network's reliability, a leadership
/// transfer), while two clients propose.
fn schedule(c: &mut Cluster, opts: &SoakOptions) -> Result<(), SimError> {
    let n = c.servers();
    let mut clients = ClientPool::new(2, c.now());
    let end = c.now() + opts.fault_time_us;
    while c.now() < end {
        let roll = c.rng().random_range(0..100);
        match roll {
            0..15 => partition(c),
            15..20 => {
                let (a, b) = (c.rng().random_range(0..n), c.rng().random_range(0..n));
                if a != b {
                    c.set_link_one_way(a, b, false);
                    c.note_links(format!("cut {} -> {}", c.id(a), c.id(b)));
                }
            }
            20..30 => {
                for i in 0..n {
                    for j in 0..n {
                        if i != j {
                            c.set_link(i, j, true);
                        }
                    }
                }
                c.note_links("heal links");
            }
            30..36 => {
                let i = c.rng().random_range(0..n);
                c.crash_random(i);
            }
            36..42 => {
                // Aim the crash at a node's write/sync window, where a runtime that acts on
                // unsynced state would be caught.
                let up: Vec<usize> = (0..n).filter(|&i| c.is_up(i)).collect();
                if !up.is_empty() {
                    let i = up[c.rng().random_range(0..up.len())];
                    c.run_until_pred(c.now() + 500 * MS, |c| c.has_unsynced(i))?;
                    c.crash_random(i);
                }
            }
            42..56 => {
                let i = c.rng().random_range(0..n);
                c.restart(i);
            }
            56..64 => {
                let on = c.rng().random_bool(0.5);
                c.set_unreliable(on);
            }
            64..68 => {
                let on = c.rng().random_bool(0.3);
                c.set_long_reordering(on);
            }
            68..72 => transfer(c),
            _ => {}
        }
        let step = c.rng().random_range(20..1_500) * MS;
        clients.run_for(c, step.min(end.saturating_sub(c.now()).max(1)))?;
    }
    Ok(())
}

/// Thesis §3.10: the leader (if any) is asked to hand over to a random other node; now and
/// then an operator aborts a pending transfer instead.
fn transfer(c: &mut Cluster) {
    let n = c.servers();
    let Some(leader) = (0..n).find(|&i| c.get_state(i).is_some_and(|(_, l)| l)) else {
        return;
    };
    if c.lead_transferee(leader).is_some() && c.rng().random_bool(0.3) {
        let _ = c.abort_transfer(leader);
        return;
    }
    let target = c.rng().random_range(0..n);
    if target != leader {
        // Refusals (not leader any more) are part of the schedule, not failures.
        let _ = c.transfer_leader(leader, target);
    }
}

/// Splits the servers into two or three random groups, connected only inside each group.
fn partition(c: &mut Cluster) {
    let n = c.servers();
    let groups = c.rng().random_range(2..=3);
    let group: Vec<usize> = (0..n).map(|_| c.rng().random_range(0..groups)).collect();
    for i in 0..n {
        for j in 0..n {
            if i != j {
                c.set_link(i, j, group[i] == group[j]);
            }
        }
    }
    c.note_partition(&group);
}

/// Heal everything, restart everyone, and require a new entry on every server in time.
fn liveness(c: &mut Cluster, opts: &SoakOptions) -> Result<(), SimError> {
    c.heal();
    for i in 0..c.servers() {
        c.restart(i);
    }
    let deadline = c.now() + opts.liveness_bound_us;
    let x = cmd(c.rng().random::<u64>());
    while c.now() < deadline {
        let index = (0..c.servers()).find_map(|i| c.start(i, x.clone()).map(|(ix, _)| ix));
        let Some(index) = index else {
            c.run_for(50 * MS)?;
            continue;
        };
        // Give this attempt until the deadline or 2 s, whichever comes first, then re-propose
        // (the leader may have been deposed and the entry overwritten).
        let attempt_end = (c.now() + 2 * SEC).min(deadline);
        while c.now() < attempt_end {
            let (nd, got) = c.n_committed(index)?;
            if nd == c.servers() && got.as_ref() == Some(&x) {
                return Ok(());
            }
            c.run_for(20 * MS)?;
        }
    }
    Err(c.failed(format!(
        "no new entry applied by all {} servers within {:.1}s of healing",
        c.servers(),
        opts.liveness_bound_us as f64 / SEC as f64
    )))
}

/// Totals of a batch of seeds.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub seeds: u64,
    pub violations: u64,
    pub liveness_failures: u64,
    pub events: u64,
    pub sim_time_us: u64,
    pub snapshots: SnapshotStats,
    pub elections: ElectionCount,
    /// Failing seeds, in seed order, with their traces.
    pub failures: Vec<SeedReport>,
}

/// Progress of [`run_seeds`], reported every `progress_every`.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub violations: u64,
    pub liveness_failures: u64,
    pub elapsed: Duration,
}

/// Runs seeds `start..start + count` on `jobs` threads. Failing seeds are re-run with trace
/// recording (on the same thread) so the summary carries their traces.
pub fn run_seeds(
    opts: &SoakOptions,
    start: u64,
    count: u64,
    jobs: usize,
    progress_every: Duration,
    on_progress: &mut dyn FnMut(&Progress),
) -> Summary {
    let t0 = Instant::now();
    let next = AtomicU64::new(0);
    let (tx, rx) = mpsc::channel::<SeedReport>();
    let mut summary = Summary::default();
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= count {
                    return;
                }
                let seed = start + k;
                let mut report = run_seed(seed, opts, false);
                if report.outcome != Outcome::Passed {
                    let again = run_seed(seed, opts, true);
                    report.trace = again.trace;
                }
                if tx.send(report).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        let mut last = Instant::now();
        loop {
            match rx.recv_timeout(progress_every) {
                Ok(r) => {
                    summary.seeds += 1;
                    summary.events += r.events;
                    summary.sim_time_us += r.sim_time_us;
                    summary.snapshots.add(r.snapshots);
                    summary.elections.add(&r.elections);
                    match r.outcome {
                        Outcome::Passed => {}
                        Outcome::Violation(_) => summary.violations += 1,
                        Outcome::LivenessFailure(_) => summary.liveness_failures += 1,
                    }
                    if r.outcome != Outcome::Passed {
                        summary.failures.push(r);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if last.elapsed() >= progress_every {
                last = Instant::now();
                on_progress(&Progress {
                    done: summary.seeds,
                    total: count,
                    violations: summary.violations,
                    liveness_failures: summary.liveness_failures,
                    elapsed: t0.elapsed(),
                });
            }
        }
    });
    summary.failures.sort_by_key(|r| r.seed);
    summary
}

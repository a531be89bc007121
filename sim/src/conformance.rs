//! Conformance mode: the simulator as the model's environment, and a seeded fault schedule
//! that records a [`StepTrace`] for trace validation (`raft-conformance validate`).
//!
//! What the mode changes, and why each is needed for one event to be exactly one model action:
//! - nodes run [`Config::conformance`] (unlimited batches, no pipelining, no immediate retry:
//!   the model's rules) with the simulator's timers and jitter seed;
//! - storage syncs complete within the event that wrote (`sync_delay_us = (0, 0)`), so an
//!   action's state change and its messages happen together, as in the model;
//! - a proposal sends nothing (no `replicate_now`): the next heartbeat carries it, as in the
//!   model; commands are single bytes `1..=values`, the model's values.
//!
//! What it keeps: the event queue and timers (elections and heartbeats fire from `tick`), and
//! the whole faulty network — loss, duplication, random delays (hence reordering), long
//! reordering of responses, partitions and one-way cuts — and crashes with later restarts.
//! Those are recorded as the model's `Drop`, `Duplicate` and `Restart` actions.

use rand::Rng;

use crate::cluster::{Cluster, SimConfig, MS};
use crate::error::SimError;
use crate::steps::StepTrace;
use raft_impl::core::{Config, Role};
use raft_impl::types::NodeId;

impl SimConfig {
    /// `servers` nodes in conformance mode (see the module docs): the conformance core config,
    /// synchronous syncs, step-trace recording, default network faults.
    pub fn conformance(servers: usize, seed: u64) -> Self {
        SimConfig {
            sync_delay_us: (0, 0),
            core_config: conformance_core_config,
            conformance: true,
            ..SimConfig::new(servers, seed)
        }
    }
}

/// [`Config::conformance`] with the simulator's jitter seed and the production timers
/// (heartbeat every 2 ticks, so a leader does not flood the network every tick).
pub fn conformance_core_config(id: NodeId, peers: Vec<NodeId>, seed: u64) -> Config {
    Config {
        seed,
        heartbeat_ticks: 2,
        ..Config::conformance(id, peers)
    }
}

/// How long a recorded run is and what it proposes.
#[derive(Clone, Debug)]
pub struct ConformanceRun {
    pub servers: usize,
    /// Commands are the single bytes `1..=values`.
    pub values: u8,
    /// Stop once this many steps are recorded.
    pub steps: usize,
    /// Stop proposing at a leader whose log has this many entries (the model's `max_log`).
    pub max_log: usize,
    /// Stop once a node reaches this term (the model's `max_term`).
    pub max_term: u64,
}

impl Default for ConformanceRun {
    fn default() -> Self {
        ConformanceRun {
            servers: 3,
            values: 3,
            steps: 1_000,
            max_log: 200,
            max_term: 200,
        }
    }
}

/// Runs one seed in conformance mode under a random fault schedule (partitions, one-way cuts,
/// healing, crashes, restarts, loss/duplication on and off, long reordering on and off) with
/// proposals at the leader, and returns its step trace.
pub fn record_run(seed: u64, run: &ConformanceRun) -> Result<StepTrace, SimError> {
    let mut c = Cluster::new(SimConfig::conformance(run.servers, seed));
    let n = c.servers();
    while c.steps_recorded() < run.steps && !at_term_bound(&c, run.max_term) {
        match c.rng().random_range(0..100) {
            0..8 => random_partition(&mut c),
            8..11 => {
                let (a, b) = (c.rng().random_range(0..n), c.rng().random_range(0..n));
                if a != b {
                    c.set_link_one_way(a, b, false);
                    c.note_links(format!("cut {} -> {}", c.id(a), c.id(b)));
                }
            }
            11..20 => c.heal(),
            20..24 => {
                let i = c.rng().random_range(0..n);
                c.crash(i);
            }
            24..34 => {
                let i = c.rng().random_range(0..n);
                c.restart(i);
            }
            34..42 => {
                let on = c.rng().random_bool(0.6);
                c.set_unreliable(on);
            }
            42..46 => {
                let on = c.rng().random_bool(0.3);
                c.set_long_reordering(on);
            }
            46..70 => propose(&mut c, run),
            _ => {}
        }
        let step = c.rng().random_range(5..300) * MS;
        c.run_for(step)?;
    }
    Ok(c.step_trace().expect("conformance mode records steps"))
}

fn at_term_bound(c: &Cluster, max_term: u64) -> bool {
    (0..c.servers()).any(|i| c.get_state(i).is_some_and(|(t, _)| t >= max_term))
}

/// Proposes a random value at every leader whose log is below the bound.
fn propose(c: &mut Cluster, run: &ConformanceRun) {
    for i in 0..c.servers() {
        let room = c
            .raw(i)
            .is_some_and(|r| r.role() == Role::Leader && r.status().log.len() < run.max_log);
        if room {
            let v = c.rng().random_range(1..=run.values);
            c.start(i, vec![v]);
        }
    }
}

fn random_partition(c: &mut Cluster) {
    let n = c.servers();
    let group: Vec<usize> = (0..n).map(|_| c.rng().random_range(0..2)).collect();
    for i in 0..n {
        for j in 0..n {
            if i != j {
                c.set_link(i, j, group[i] == group[j]);
            }
        }
    }
    c.note_partition(&group);
}

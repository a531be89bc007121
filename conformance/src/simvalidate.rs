//! Trace validation of simulator runs: the simulator chooses, the model judges.
//!
//! Each seed runs `raft_sim` in conformance mode under a random fault schedule
//! ([`raft_sim::conformance::record_run`]): its timers fire elections and heartbeats,
//! its network loses, duplicates, delays and reorders messages and is partitioned, nodes crash
//! and restart, and clients propose the values `1..=3`. The run's [`StepTrace`] says, for every
//! step, which protocol action it was and every node's full state plus the messages in flight
//! after it. Each step is mapped with the existing mapping ([`crate::mapping`]: the same
//! action correspondence and abstraction function as replay) to a model action and abstract
//! state, and [`validate::check`] requires the action to be enabled in the model's previous
//! state and to produce exactly the recorded abstract state and network.
//!
//! The model's bounds are lifted: terms and logs up to 250 (its types are u8; the schedule
//! stops at term 200), unlimited in-flight messages and fault budgets.

use crate::mapping::{self, MapError};
use crate::validate::{self, Failure, Recorded};
use raft_impl::core::{PeerProgress, ProgressState, Status};
use raft_model::state::{Envelope, Server};
use raft_model::trace::table::action_text;
use raft_model::{Action, Config};
use raft_sim::conformance::{record_run, ConformanceRun};
use raft_sim::{NodeState, StepAction, StepTrace};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// The model with its bounds lifted for simulator runs of `servers` servers.
pub fn lifted_config(servers: u8, values: u8) -> Config {
    Config {
        servers,
        values,
        max_term: 250,
        max_log: 250,
        max_in_flight: 255,
        max_batch: 0,
        restarts: 255,
        drops: 255,
        duplicates: 255,
        ..Config::default()
    }
}

/// The schedule of one validated simulator run.
pub fn run_options(steps: usize) -> ConformanceRun {
    ConformanceRun {
        servers: 3,
        values: 3,
        steps,
        max_log: 200,
        max_term: 200,
    }
}

/// A recorded node state as a model server, through the same abstraction function as replay
/// (`mapping::abstract_server` of the node's `Status`).
pub fn abstract_node(n: &NodeState, servers: usize) -> Result<Server, MapError> {
    let status = Status {
        id: n.id,
        current_term: n.current_term,
        voted_for: n.voted_for,
        role: n.role,
        leader_id: None,
        log: &n.log,
        first_index: 1,
        last_included_index: 0,
        last_included_term: 0,
        incoming_snapshot: None,
        commit_index: n.commit_index,
        applied_index: 0,
        votes_granted: n.votes_granted.clone(),
        heard_from: Vec::new(),
        lead_transferee: None,
        progress: n
            .progress
            .iter()
            .map(|&(id, next_index, match_index)| PeerProgress {
                id,
                next_index,
                match_index,
                state: ProgressState::Probe,
                snapshot: None,
            })
            .collect(),
        rejected_messages: 0,
        // The simulator's crashes keep the disk whole: nothing to recover.
        lost_up_to: 0,
        lost_term: 0,
        lost_entries_reports: 0,
    };
    // The simulator in conformance mode does not compact: no snapshot data.
    // Nor does it run pre-vote (`Config::conformance`).
    mapping::abstract_server(&status, &[], servers, mapping::state::Switches::default())
}

/// The model action of one recorded step.
pub fn model_action(a: &StepAction, servers: usize) -> Result<Action, MapError> {
    let sid = |id| mapping::server_id(id, servers);
    Ok(match a {
        StepAction::Deliver(env) => Action::Deliver(mapping::to_model_msg(env, servers)?),
        StepAction::ElectionTimeout(id) => Action::ElectionTimeout(sid(*id)?),
        StepAction::Heartbeat(id) => Action::Heartbeat(sid(*id)?),
        StepAction::Propose { node, data } => match data.as_ref() {
            [v] => Action::Propose(sid(*node)?, *v),
            other => {
                return Err(MapError(format!(
                    "a proposal of {} bytes; model values are one byte",
                    other.len()
                )))
            }
        },
        StepAction::Restart(id) => Action::Restart(sid(*id)?),
        StepAction::Drop(env) => Action::Drop(mapping::to_model_msg(env, servers)?),
        StepAction::Duplicate(env) => Action::Duplicate(mapping::to_model_msg(env, servers)?),
        StepAction::Unexplained { kind, node } => {
            return Err(MapError(format!(
                "simulator event `{kind}` at node {node:?} changed the state but is no model action"
            )))
        }
    })
}

/// Maps a step trace to recorded model steps; stops at the first step that does not map
/// (returned with its index).
pub fn to_recorded(trace: &StepTrace) -> (Vec<Recorded>, Option<(usize, MapError)>) {
    let n = trace.servers;
    let mut out = Vec::with_capacity(trace.steps.len());
    for (k, step) in trace.steps.iter().enumerate() {
        let mapped = (|| {
            let action = model_action(&step.action, n)?;
            let servers = step
                .nodes
                .iter()
                .map(|s| abstract_node(s, n))
                .collect::<Result<Vec<_>, _>>()?;
            let mut network = step
                .in_flight
                .iter()
                .map(|e| mapping::to_model_msg(e, n))
                .collect::<Result<Vec<Envelope>, _>>()?;
            network.sort();
            Ok(Recorded {
                action,
                servers,
                network,
            })
        })();
        match mapped {
            Ok(r) => out.push(r),
            Err(e) => return (out, Some((k, e))),
        }
    }
    (out, None)
}

/// Where a step trace stops being a behaviour of the model.
#[derive(Clone, Debug)]
pub struct SimFailure {
    /// 1-based step number in the trace.
    pub step: usize,
    /// The step's action (the model's, or the simulator's if it does not map).
    pub action: String,
    pub details: Vec<String>,
}

impl From<Failure> for SimFailure {
    fn from(f: Failure) -> Self {
        SimFailure {
            step: f.step,
            action: action_text(&f.action),
            details: f.details,
        }
    }
}

/// Checks one step trace: the number of steps that are model behaviours and the first
/// failure, if any.
pub fn check_trace(config: &Config, trace: &StepTrace) -> (usize, Option<SimFailure>) {
    let (recorded, map_err) = to_recorded(trace);
    let (states, failure) = validate::check(config, &recorded);
    let valid = states.len() - 1;
    if let Some(f) = failure {
        return (valid, Some(f.into()));
    }
    let failure = map_err.map(|(k, e)| SimFailure {
        step: k + 1,
        action: format!("{:?}", trace.steps[k].action),
        details: vec![format!("unmappable step: {e}")],
    });
    (valid, failure)
}

#[derive(Clone, Debug, Default)]
pub struct SimSummary {
    pub seeds: u64,
    pub steps: usize,
    pub failures: u64,
    pub secs: f64,
}

impl SimSummary {
    pub fn line(&self) -> String {
        format!(
            "seeds={} steps={} failures={} secs={:.1}",
            self.seeds, self.steps, self.failures, self.secs
        )
    }
}

/// Records and validates `seeds` simulator runs of `steps` steps each. The first failure's
/// step trace (JSON) and model prefix (ITF) are written to `trace_out` if given.
pub fn run(seeds: u64, steps: usize, trace_out: Option<&Path>, out: &mut dyn Write) -> SimSummary {
    let opts = run_options(steps);
    let config = lifted_config(opts.servers as u8, opts.values);
    let start = Instant::now();
    let mut summary = SimSummary::default();
    let _ = writeln!(
        out,
        "validating simulator runs (conformance mode, {} steps each) against the model: {}",
        steps,
        config.summary()
    );
    for seed in 0..seeds {
        summary.seeds += 1;
        let trace = match record_run(seed, &opts) {
            Ok(t) => t,
            Err(e) => {
                summary.failures += 1;
                let _ = writeln!(out, "FAILURE seed={seed}: the simulator's own checks: {e}");
                continue;
            }
        };
        let (valid, failure) = check_trace(&config, &trace);
        summary.steps += valid;
        if let Some(f) = failure {
            summary.failures += 1;
            report(out, seed, &trace, &f);
            if let (Some(path), 1) = (trace_out, summary.failures) {
                write_failure(path, &config, seed, &trace, &f);
            }
        }
        if seed % 10 == 9 {
            let _ = writeln!(
                out,
                "progress: seeds={} steps={} failures={} elapsed={:.1}s",
                summary.seeds,
                summary.steps,
                summary.failures,
                start.elapsed().as_secs_f64()
            );
        }
    }
    summary.secs = start.elapsed().as_secs_f64();
    summary
}

/// The failure with seed, simulator event, simulated time, action and the field diff.
pub fn report(out: &mut dyn Write, seed: u64, trace: &StepTrace, f: &SimFailure) {
    let step = &trace.steps[f.step - 1];
    let _ = writeln!(
        out,
        "FAILURE seed={seed} step {} (simulator event {}, t={:.6}s): `{}`",
        f.step,
        step.event,
        step.time_us as f64 / 1e6,
        f.action
    );
    for d in &f.details {
        let _ = writeln!(out, "    {d}");
    }
}

fn write_failure(path: &Path, config: &Config, seed: u64, trace: &StepTrace, f: &SimFailure) {
    let steps_path = path.with_extension("steps.json");
    let _ = std::fs::write(&steps_path, trace.to_json());
    let (recorded, _) = to_recorded(trace);
    let (states, _) = validate::check(config, &recorded[..f.step.min(recorded.len())]);
    let description = format!(
        "validate (simulator) seed={seed}: model prefix before step {}",
        f.step
    );
    validate::write_prefix(path, config, states, &recorded, description);
}

//! Trace validation, the other direction: the core chooses, the model judges.
//!
//! A seeded random driver runs a core cluster through the harness: at every
//! event it picks, from what the core shows (the messages in flight, which
//! nodes are leaders), a delivery, a loss, a duplication, an election
//! timeout, a heartbeat, a proposal or a restart. It records each event and
//! the abstract state it left. The validator then checks that every recorded
//! step is an enabled transition of the correct model producing the
//! recorded abstract state (on the compared fields and the network).
//!
//! The model's bounds are lifted for this: terms and logs up to 15 (its
//! hard limits; the driver stays inside them), 255 messages in flight, and
//! fault budgets no run can exhaust.
//!
//! Why not the simulator's trace (`raft_sim::trace`): its records carry
//! each node's last index and term but not its log or a leader's progress,
//! entries are reduced to their terms, messages leave a node only when its
//! asynchronous sync completes, and it runs the production configuration
//! (pipelining, batching, immediate retry), none of which the model has.

use crate::cluster::Cluster;
use crate::mapping::comparable;
use crate::replay::server_diff;
use raft_model::state::{Envelope, Faults, Server};
use raft_model::trace::table::multiset_minus;
use raft_model::trace::table::{action_text, envelope_text};
use raft_model::trace::{write_trace, TraceFile};
use raft_model::{Action, Config, RaftModel, State};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// The model with its bounds lifted for validation.
pub fn lifted_config() -> Config {
    Config {
        servers: 3,
        values: 2,
        max_term: 15,
        max_log: 15,
        max_in_flight: 255,
        max_batch: 0,
        restarts: 255,
        drops: 255,
        duplicates: 255,
        ..Config::default()
    }
}

/// One recorded event of a core run: what happened and what it left.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub action: Action,
    pub servers: Vec<Server>,
    pub network: Vec<Envelope>,
}

/// Runs the core for `events` random events from `seed`.
pub fn record(config: &Config, seed: u64, events: usize) -> Vec<Recorded> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cluster = Cluster::new(config, None);
    let mut out = Vec::with_capacity(events);
    let model = RaftModel::new(config.clone());
    let mut faults = Faults::default();
    for _ in 0..events {
        let state = State {
            servers: cluster
                .abstract_servers()
                .expect("the correct core stays representable"),
            network: cluster.network(),
            faults,
            history: Default::default(),
        };
        let Some(action) = choose(&mut rng, &model, &state) else {
            break;
        };
        match action {
            Action::Restart(_) => faults.restarts += 1,
            Action::Drop(_) => faults.drops += 1,
            Action::Duplicate(_) => faults.duplicates += 1,
            _ => {}
        }
        // A refused input leaves the core as it was; the record shows it.
        let _ = cluster.apply(&action);
        out.push(Recorded {
            action,
            servers: cluster
                .abstract_servers()
                .expect("the correct core stays representable"),
            network: cluster.network(),
        });
    }
    out
}

/// The driver: mostly deliveries, sometimes a fault or a timer; only
/// actions the model enables in the core's abstract `state`.
fn choose(rng: &mut StdRng, model: &RaftModel, state: &State) -> Option<Action> {
    let n = state.servers.len() as u8;
    let network = &state.network;
    // Re-roll until something is possible; nothing is once every term is at
    // the bound, no node leads and the network is empty.
    for _ in 0..1000 {
        let roll = rng.random_range(0..100);
        let i = rng.random_range(0..n);
        let pick = |rng: &mut StdRng| {
            (!network.is_empty()).then(|| network[rng.random_range(0..network.len())].clone())
        };
        let action = match roll {
            0..=69 => pick(rng).map(Action::Deliver),
            70..=73 => pick(rng).map(Action::Drop),
            74..=76 => pick(rng).map(Action::Duplicate),
            77..=79 => Some(Action::ElectionTimeout(i)),
            81..=88 => Some(Action::Heartbeat(i)),
            89..=96 => Some(Action::Propose(
                i,
                rng.random_range(1..=model.config.values),
            )),
            97..=99 => Some(Action::Restart(i)),
            _ => None,
        };
        if let Some(action) = action.filter(|a| model.enabled(state, a)) {
            return Some(action);
        }
    }
    None
}

/// Where a recorded run stops being a behaviour of the model.
#[derive(Clone, Debug)]
pub struct Failure {
    pub step: usize,
    pub action: Action,
    pub details: Vec<String>,
}

/// Checks a recorded run against `config`'s model. Returns the model's
/// states along the run (as far as it is a behaviour) and the failure, if any.
pub fn check(config: &Config, run: &[Recorded]) -> (Vec<State>, Option<Failure>) {
    let model = RaftModel::new(config.clone());
    let mut states = vec![model.init_state()];
    let mut enabled = Vec::new();
    for (k, rec) in run.iter().enumerate() {
        // Unlimited fault budgets: the model counts faults in u8 budgets, which long runs
        // exceed; the count is bookkeeping, not protocol state, so each step starts from an
        // unspent budget.
        let mut prev = states.last().expect("a behaviour has a state").clone();
        prev.faults = Faults::default();
        let prev = &prev;
        enabled.clear();
        model.actions(prev, &mut enabled);
        let fail = |details: Vec<String>| Failure {
            step: k + 1,
            action: rec.action.clone(),
            details,
        };
        let next = match enabled
            .contains(&rec.action)
            .then(|| model.next_state(prev, &rec.action))
            .flatten()
        {
            Some(next) => next,
            None => {
                return (
                    states,
                    Some(fail(vec!["not an enabled transition of the model".into()])),
                )
            }
        };
        let mut details = Vec::new();
        for (i, (m, c)) in next.servers.iter().zip(&rec.servers).enumerate() {
            let me = i as u8;
            details.extend(server_diff(me, &comparable(m, me), &comparable(c, me)));
        }
        for m in multiset_minus(&next.network, &rec.network) {
            details.push(format!(
                "the model sent, the core did not: {}",
                envelope_text(m)
            ));
        }
        for m in multiset_minus(&rec.network, &next.network) {
            details.push(format!(
                "the core sent, the model did not: {}",
                envelope_text(m)
            ));
        }
        if !details.is_empty() {
            return (states, Some(fail(details)));
        }
        states.push(next);
    }
    (states, None)
}

/// Writes the model's states along a validated prefix of `recorded` as an
/// ITF trace, so the prefix can be replayed and explored.
pub fn write_prefix(
    path: &Path,
    config: &Config,
    states: Vec<State>,
    recorded: &[Recorded],
    description: String,
) {
    let mut steps: Vec<_> = states
        .into_iter()
        .zip(recorded.iter().map(|r| Some(r.action.clone())))
        .collect();
    if let Some(last) = steps.last_mut() {
        last.1 = None;
    }
    let file = TraceFile {
        config: config.clone(),
        violation: None,
        description,
        steps,
    };
    let _ = write_trace(path, &file);
}

#[derive(Clone, Debug, Default)]
pub struct ValidateSummary {
    pub runs: u64,
    pub steps: usize,
    pub failures: u64,
    pub secs: f64,
}

impl ValidateSummary {
    pub fn line(&self) -> String {
        format!(
            "runs={} steps={} failures={} secs={:.1}",
            self.runs, self.steps, self.failures, self.secs
        )
    }
}

/// Validates `seeds` runs of `events` events each; the first failing run's
/// model prefix is written to `trace_out` (as an ITF trace) if given.
pub fn run(
    seeds: u64,
    events: usize,
    trace_out: Option<&Path>,
    out: &mut dyn Write,
) -> ValidateSummary {
    let config = lifted_config();
    let start = Instant::now();
    let mut summary = ValidateSummary::default();
    let _ = writeln!(
        out,
        "validating core runs against the model: {}",
        config.summary()
    );
    for seed in 0..seeds {
        let recorded = record(&config, seed, events);
        let (states, failure) = check(&config, &recorded);
        summary.runs += 1;
        summary.steps += states.len() - 1;
        if let Some(f) = failure {
            summary.failures += 1;
            let _ = writeln!(
                out,
                "FAILURE seed={seed} step {}: `{}`",
                f.step,
                action_text(&f.action)
            );
            for d in &f.details {
                let _ = writeln!(out, "    {d}");
            }
            if let (Some(path), 1) = (trace_out, summary.failures) {
                let description =
                    format!("validate seed={seed}: model prefix before step {}", f.step);
                write_prefix(path, &config, states, &recorded, description);
            }
        }
        if seed % 50 == 49 {
            let _ = writeln!(
                out,
                "progress: runs={} steps={} failures={}",
                summary.runs, summary.steps, summary.failures
            );
        }
    }
    summary.secs = start.elapsed().as_secs_f64();
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_core_runs_are_model_behaviours() {
        let config = lifted_config();
        for seed in 0..10 {
            let run = record(&config, seed, 300);
            let (states, failure) = check(&config, &run);
            assert!(failure.is_none(), "seed {seed}: {failure:?}");
            assert_eq!(states.len(), run.len() + 1);
        }
    }

    #[test]
    fn a_tampered_record_is_caught_with_the_field() {
        let config = lifted_config();
        let mut run = record(&config, 1, 100);
        let k = run
            .iter()
            .position(|r| matches!(r.action, Action::ElectionTimeout(_)))
            .expect("some timeout");
        run[k].servers[0].current_term += 1;
        run[k].servers[1].current_term += 1;
        let (_, failure) = check(&config, &run);
        let f = failure.expect("a wrong term is not a model state");
        assert_eq!(f.step, k + 1);
        assert!(
            f.details.iter().any(|d| d.contains("current_term")),
            "{:?}",
            f.details
        );
    }
}

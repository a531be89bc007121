//! Running the checker: search strategy, progress lines, and an honest verdict.
//!
//! - `adapter`: the model as a stateright `Model`, with the search's own
//!   controls (stop, canonical successors, first-failure reporting, events).
//! - `hunt`: swarm random walks for bounds too large to exhaust.
//! - `shrink`: delta debugging of a counterexample that is not shortest.
//!
//! stateright 0.31 has traps this module steps around:
//! - BFS ignores `.symmetry()`: symmetry is only ever used with DFS.
//! - DFS with `target_max_depth` is incomplete: no depth bound is ever set;
//!   the model's own bounds make the state space finite.
//! - A run stopped by a timeout or state cap still "passes": a run that hit
//!   either limit is reported as incomplete, never as a proof.

pub mod adapter;
pub mod hunt;
pub mod shrink;

use crate::config::Config;
use crate::history::Event;
use crate::properties::{INVARIANTS, SANITY, STATE_INVARIANTS};
use crate::raft::RaftModel;
use crate::state::{Action, State};
use crate::symmetry::symmetric;
use adapter::Searched;
use stateright::{Checker, HasDiscoveries, Model};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// DFS with symmetry for the proof; on a violation, BFS again for the
    /// shortest counterexample.
    Auto,
    Dfs,
    Bfs,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub strategy: Strategy,
    pub symmetry: bool,
    pub threads: usize,
    pub timeout: Option<Duration>,
    pub max_states: Option<usize>,
    /// How often to print a progress line (None: never).
    pub progress_every: Option<Duration>,
    /// Check only these invariants (bit i is `INVARIANTS[i]`).
    pub invariants: u64,
}

/// Every invariant.
pub const ALL_INVARIANTS: u64 = (1 << INVARIANTS.len()) - 1;

/// The state invariants only (no transition properties).
pub const STATE_INVARIANTS_MASK: u64 = (1 << STATE_INVARIANTS) - 1;

/// The mask of the invariants named in `names`, or the first unknown name.
pub fn invariant_mask<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<u64, &'a str> {
    names.into_iter().try_fold(0, |mask, name| {
        let i = INVARIANTS
            .iter()
            .position(|inv| inv.name.eq_ignore_ascii_case(name))
            .ok_or(name)?;
        Ok(mask | 1 << i)
    })
}

impl Default for Options {
    fn default() -> Self {
        Options {
            strategy: Strategy::Auto,
            symmetry: true,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            timeout: None,
            max_states: None,
            progress_every: Some(Duration::from_secs(3)),
            invariants: ALL_INVARIANTS,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Violation,
    Incomplete,
    /// Exhaustive and no violation, but a sanity property was not reached:
    /// the bounds may be too small to mean anything, so this is no proof.
    Vacuous,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Violation => "violation",
            Verdict::Incomplete => "incomplete",
            Verdict::Vacuous => "vacuous",
        }
    }

    /// The CLI contract's exit code.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Ok => 0,
            Verdict::Violation => 1,
            Verdict::Incomplete => 3,
            Verdict::Vacuous => 4,
        }
    }
}

/// A path of the search: each state with the action taken from it (None for the last).
pub type Path = Vec<(State, Option<Action>)>;

pub struct Counterexample {
    pub property: &'static str,
    pub steps: Path,
    /// True when a breadth-first search produced it (so no shorter one exists).
    pub shortest: bool,
}

pub struct Outcome {
    pub verdict: Verdict,
    pub states: usize,
    pub unique_states: usize,
    pub max_depth: usize,
    pub secs: f64,
    pub exhaustive: bool,
    pub counterexample: Option<Counterexample>,
    /// Each sanity property and whether the search reached it.
    pub sanity: Vec<(&'static str, bool)>,
}

impl Outcome {
    /// The last line of `check`: scripts rely on its shape.
    pub fn verdict_line(&self) -> String {
        let reached = self.sanity.iter().filter(|(_, r)| *r).count();
        format!(
            "verdict: {} states={} unique_states={} max_depth={} secs={:.1} exhaustive={} sanity={}/{}",
            self.verdict.name(),
            self.states,
            self.unique_states,
            self.max_depth,
            self.secs,
            self.exhaustive,
            reached,
            self.sanity.len()
        )
    }
}

#[derive(Clone, Copy)]
enum Search {
    Dfs { symmetry: bool },
    Bfs { symmetry: bool },
}

struct Phase {
    states: usize,
    unique_states: usize,
    max_depth: usize,
    secs: f64,
    stopped_early: bool,
    violation: Option<(&'static str, Path)>,
    sanity: Vec<(&'static str, bool)>,
}

/// Checks `config` and returns the outcome; progress goes to `progress`.
pub fn check(config: &Config, opts: &Options, progress: &mut dyn Write) -> Outcome {
    let first = match opts.strategy {
        Strategy::Bfs => Search::Bfs {
            symmetry: opts.symmetry,
        },
        Strategy::Dfs | Strategy::Auto => Search::Dfs {
            symmetry: opts.symmetry,
        },
    };
    let label = match first {
        Search::Bfs { symmetry: true } => "bfs+symmetry",
        Search::Bfs { symmetry: false } => "bfs",
        Search::Dfs { symmetry: true } => "dfs+symmetry",
        Search::Dfs { symmetry: false } => "dfs",
    };
    let _ = writeln!(
        progress,
        "checking ({label}, {} threads): {}",
        opts.threads,
        config.summary()
    );
    if opts.invariants != ALL_INVARIANTS {
        let names: Vec<&str> = checked_invariants(opts.invariants).collect();
        let _ = writeln!(progress, "checking only: {}", names.join(", "));
    }
    let phase = run(config, first, opts.threads, opts, progress);
    let mut outcome = Outcome {
        verdict: if phase.violation.is_some() {
            Verdict::Violation
        } else if phase.stopped_early {
            Verdict::Incomplete
        } else {
            Verdict::Ok
        },
        states: phase.states,
        unique_states: phase.unique_states,
        max_depth: phase.max_depth,
        secs: phase.secs,
        exhaustive: phase.violation.is_none() && !phase.stopped_early,
        counterexample: phase.violation.map(|(property, steps)| Counterexample {
            property,
            steps,
            shortest: matches!(first, Search::Bfs { .. }) && opts.threads == 1,
        }),
        sanity: phase.sanity,
    };
    let needs_shortest = opts.strategy == Strategy::Auto
        && outcome.counterexample.as_ref().is_some_and(|c| !c.shortest);
    if needs_shortest {
        let _ = writeln!(
            progress,
            "violation found; searching breadth-first for the shortest counterexample"
        );
        // One thread keeps BFS strictly level by level.
        let bfs = run(
            config,
            Search::Bfs {
                symmetry: opts.symmetry,
            },
            1,
            opts,
            progress,
        );
        outcome.secs += bfs.secs;
        if let Some((property, steps)) = bfs.violation {
            outcome.counterexample = Some(Counterexample {
                property,
                steps,
                shortest: true,
            });
        } else if let Some(cx) = outcome.counterexample.as_mut() {
            let model = RaftModel::new(config.clone());
            let property = INVARIANTS
                .iter()
                .position(|i| i.name == cx.property)
                .expect("a counterexample names an invariant");
            let actions = shrink::actions_of(&cx.steps);
            let shrunk = shrink::shrink(&model, &actions, property);
            let _ = writeln!(
                progress,
                "breadth-first search stopped early; the depth-first counterexample is shrunk by delta debugging from {} to {} steps (not necessarily shortest)",
                actions.len(),
                shrunk.len()
            );
            cx.steps = shrink::path_of(&model, &shrunk);
        }
    }
    if outcome.verdict == Verdict::Ok && outcome.sanity.iter().any(|(_, r)| !r) {
        outcome.verdict = Verdict::Vacuous;
    }
    outcome
}

fn run(
    config: &Config,
    search: Search,
    threads: usize,
    opts: &Options,
    progress: &mut dyn Write,
) -> Phase {
    let mut model = Searched::new(RaftModel::new(config.clone()));
    model.canonical = matches!(search, Search::Bfs { symmetry: true });
    model.only_invariants(opts.invariants);
    // No stateright timeout or state target: a single-threaded DFS never
    // consults its timeout. `drive` stops the search through the model.
    let builder = model
        .checker()
        .threads(threads.max(1))
        .finish_when(HasDiscoveries::AnyFailures);
    let start = Instant::now();
    match search {
        Search::Dfs { symmetry: true } => {
            drive(builder.symmetry().spawn_dfs(), start, opts, progress)
        }
        Search::Dfs { symmetry: false } => drive(builder.spawn_dfs(), start, opts, progress),
        Search::Bfs { .. } => drive(builder.spawn_bfs(), start, opts, progress),
    }
}

/// Maps a path of canonical states (from a BFS over the quotient graph)
/// back to a path of the real model with the same server names throughout:
/// at each step, the real action whose successor is symmetric to the next
/// canonical state.
fn decanonicalize(config: &Config, path: Path) -> Path {
    let model = RaftModel::new(config.clone());
    let mut real = model.init_state();
    let mut out = Vec::with_capacity(path.len());
    for (target, _) in path.iter().skip(1) {
        let mut actions = Vec::new();
        model.actions(&real, &mut actions);
        let found = actions.into_iter().find_map(|a| {
            let next = model.next_state(&real, &a)?;
            (model.within_bounds(&next) && symmetric(&next, target)).then_some((a, next))
        });
        let (action, next) =
            found.expect("a canonical path is symmetric to a real one step by step");
        out.push((std::mem::replace(&mut real, next), Some(action)));
    }
    out.push((real, None));
    out
}

fn drive<C: Checker<Searched>>(
    checker: C,
    start: Instant,
    opts: &Options,
    progress: &mut dyn Write,
) -> Phase {
    let mut last_print = Instant::now();
    let mut last_states = 0;
    let stop = &checker.model().stop;
    while !checker.is_done() {
        std::thread::sleep(Duration::from_millis(50));
        let timed_out = opts.timeout.is_some_and(|t| start.elapsed() >= t);
        let capped = opts.max_states.is_some_and(|n| checker.state_count() >= n);
        if timed_out || capped {
            stop.store(true, Ordering::Relaxed);
        }
        if let Some(every) = opts.progress_every {
            if last_print.elapsed() >= every {
                let states = checker.state_count();
                let rate = (states - last_states) as f64 / last_print.elapsed().as_secs_f64();
                let _ = writeln!(
                    progress,
                    "progress: states={} unique_states={} depth={} rate={:.0}/s elapsed={:.0}s",
                    states,
                    checker.unique_state_count(),
                    checker.max_depth(),
                    rate,
                    start.elapsed().as_secs_f64()
                );
                last_print = Instant::now();
                last_states = states;
            }
        }
    }
    let checker = checker.join();
    let secs = start.elapsed().as_secs_f64();
    let model = checker.model();
    // Paths are rebuilt by replaying actions: the model must be whole again.
    let stopped_early = model.stop.swap(false, Ordering::Relaxed);
    let discoveries = checker.discoveries();
    // A discovery of an "always" property is a violation. Several may be
    // found in the same block of work: report the shortest path, the first
    // in catalog order among equals, so the choice is stable.
    let violation = INVARIANTS
        .iter()
        .enumerate()
        .filter(|(i, _)| opts.invariants & (1 << i) != 0)
        .filter_map(|(_, inv)| Some((inv.name, discoveries.get(inv.name)?.clone().into_vec())))
        .min_by_key(|(_, path)| path.len())
        .map(|(name, path)| {
            let path = if model.canonical {
                decanonicalize(&model.model.config, path)
            } else {
                path
            };
            (name, path)
        });
    let mut sanity: Vec<(&'static str, bool)> = SANITY
        .iter()
        .map(|s| (s.name, discoveries.contains_key(s.name)))
        .collect();
    let config = &model.model.config;
    let possible = Event::ALL.iter().filter(|e| e.possible(config));
    sanity.extend(possible.map(|e| (e.name(), model.seen(*e))));
    Phase {
        states: checker.state_count(),
        unique_states: checker.unique_state_count(),
        max_depth: checker.max_depth(),
        secs,
        stopped_early,
        violation,
        sanity,
    }
}

/// Checks `config` exhaustively with default options and no output; for tests.
pub fn check_quietly(config: &Config, strategy: Strategy, symmetry: bool) -> Outcome {
    let mut opts = Options {
        strategy,
        symmetry,
        progress_every: None,
        ..Options::default()
    };
    if strategy == Strategy::Bfs {
        opts.threads = 1; // Strictly level by level: shortest counterexamples.
    }
    check(config, &opts, &mut std::io::sink())
}

/// The names of the invariants in `mask`, in catalog order.
pub fn checked_invariants(mask: u64) -> impl Iterator<Item = &'static str> {
    INVARIANTS
        .iter()
        .enumerate()
        .filter(move |(i, _)| mask & (1u64 << i) != 0)
        .map(|(_, inv)| inv.name)
}

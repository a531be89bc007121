//! The generated suite: transition coverage in a small bound, the catalog's
//! counterexamples steered into the correct model, and random walks in
//! larger bounds, all replayed on the core against the correct model.

use crate::coverage::{self, Graph};
use crate::replay::{render, Divergence, Replay};
use crate::{catalog, walks, Behaviour, Mutant};
use raft_model::{Action, Bug, Config, RaftModel, State};
use std::io::Write;
use std::time::Instant;

/// What the suite runs.
#[derive(Clone, Debug)]
pub struct SuiteOptions {
    /// The bounds whose every edge is covered.
    pub coverage: Vec<Config>,
    /// Random walks: (bound, seeds, steps per walk).
    pub walks: Vec<(Config, u64, usize)>,
    /// Replay the catalog counterexamples (steered into the correct model).
    pub catalog: bool,
    /// The system carries this catalog bug.
    pub mutant: Option<Mutant>,
    /// Stop at the first divergence (used with a mutant).
    pub fail_fast: bool,
}

impl SuiteOptions {
    /// The small bounds of the coverage part: 3 servers, two terms, one
    /// entry; every fault once with 2 messages in flight, or no faults with 3;
    /// and compaction: one term and one snapshot with 3 in flight (a follower
    /// caught up by InstallSnapshot; restarts from a snapshot, two terms and
    /// longer logs are left to the catalog and the walks, which keeps this
    /// graph at 74,007 edges).
    pub fn coverage_bounds() -> Vec<Config> {
        let faults = Config {
            servers: 3,
            values: 1,
            max_term: 2,
            max_log: 1,
            max_in_flight: 2,
            max_batch: 0,
            restarts: 1,
            drops: 1,
            duplicates: 1,
            snapshots: 0,
            ..Config::default()
        };
        let no_faults = Config {
            max_in_flight: 3,
            restarts: 0,
            drops: 0,
            duplicates: 0,
            ..faults.clone()
        };
        let snapshots = Config {
            max_term: 1,
            snapshots: 1,
            ..no_faults.clone()
        };
        // Issue 14: a restart that loses the log's tail, its recovering
        // state and the leader's repair (term 1 keeps it small).
        let lost_tail = Config {
            max_term: 1,
            lose_tail: 1,
            ..no_faults.clone()
        };
        // Pre-vote (thesis §9.6): elections only (with one entry the graph is
        // 212,394 edges, as large as the rest together; the walks have logs),
        // two terms, so a follower of term 1's leader refuses a pre-vote for term 2.
        let pre_vote = Config {
            max_log: 0,
            pre_vote: true,
            ..no_faults.clone()
        };
        // Check-quorum (thesis §6.2): elections only, two terms, so a leader steps down on
        // lost quorum and a follower of term 1's leader ignores a RequestVote for term 2.
        let check_quorum = Config {
            max_log: 0,
            check_quorum: true,
            ..no_faults.clone()
        };
        // Leadership transfer (thesis §3.10): one entry, so a target can lag and catch up.
        let transfer = Config {
            transfer: true,
            ..no_faults.clone()
        };
        vec![
            faults,
            no_faults,
            snapshots,
            lost_tail,
            pre_vote,
            check_quorum,
            transfer,
        ]
    }

    /// The CI suite: coverage, catalog, and walks in larger bounds, spelled
    /// out here so they do not move when the model's defaults do: 3 servers
    /// with 3 terms and every fault once; the same with 2 values and 3
    /// entries; 5 servers with 4 terms (where stale replies matter); the
    /// last two with two compactions per run; 3 and 5 servers with pre-vote, and with
    /// check-quorum;
    /// and every catalog bug's preferred bound with the bug switched off.
    pub fn full(mutant: Option<Mutant>) -> SuiteOptions {
        let three = Config {
            servers: 3,
            values: 1,
            max_term: 3,
            max_log: 2,
            max_in_flight: 4,
            max_batch: 0,
            restarts: 1,
            drops: 1,
            duplicates: 1,
            snapshots: 0,
            ..Config::default()
        };
        let two_values = Config {
            values: 2,
            max_log: 3,
            ..three.clone()
        };
        let five = Config {
            servers: 5,
            max_term: 4,
            max_in_flight: 8,
            ..three.clone()
        };
        // Compaction: two snapshots per run, with the faults and longer logs.
        let compacting = Config {
            values: 2,
            max_log: 3,
            snapshots: 2,
            ..three.clone()
        };
        let five_compacting = Config {
            snapshots: 2,
            ..five.clone()
        };
        let three_pre_vote = Config {
            pre_vote: true,
            ..three.clone()
        };
        let five_pre_vote = Config {
            pre_vote: true,
            ..five.clone()
        };
        let three_check_quorum = Config {
            check_quorum: true,
            ..three.clone()
        };
        let five_check_quorum = Config {
            check_quorum: true,
            ..five.clone()
        };
        let three_transfer = Config {
            transfer: true,
            check_quorum: true,
            ..three.clone()
        };
        let mut walks = vec![
            (three_transfer, 200, 80),
            (three_pre_vote, 200, 80),
            (five_pre_vote, 100, 120),
            (three_check_quorum, 200, 80),
            (five_check_quorum, 100, 120),
            (three, 300, 80),
            (two_values, 300, 80),
            (five, 200, 120),
            (compacting, 300, 100),
            (five_compacting, 200, 120),
        ];
        for bug in Bug::ALL {
            let c = bug.preferred_config();
            if !walks.iter().any(|(w, _, _)| *w == c) {
                walks.push((c, 100, 80));
            }
        }
        SuiteOptions {
            coverage: Self::coverage_bounds(),
            walks,
            catalog: true,
            mutant,
            fail_fast: mutant.is_some(),
        }
    }

    /// A smaller suite for unit tests.
    pub fn quick(mutant: Option<Mutant>) -> SuiteOptions {
        let mut o = SuiteOptions::full(mutant);
        o.coverage.truncate(1);
        for w in &mut o.walks {
            w.1 = w.1.min(30);
        }
        o
    }
}

/// The first divergence with where it came from.
#[derive(Clone, Debug)]
pub struct Found {
    /// Which trace: `coverage #12`, `walk seed=3 (...)`, `catalog NAME`.
    pub source: String,
    pub divergence: Divergence,
    pub prefix: Vec<Action>,
    /// Seconds from the start of the suite.
    pub at_secs: f64,
}

#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub traces: usize,
    pub steps: usize,
    pub edges_covered: usize,
    pub edges_total: usize,
    pub divergences: usize,
    pub secs: f64,
    pub first: Option<Found>,
}

impl Summary {
    /// The suite's last stdout line; scripts rely on its shape.
    pub fn line(&self) -> String {
        format!(
            "traces={} steps={} edges={}/{} divergences={} secs={:.1}",
            self.traces,
            self.steps,
            self.edges_covered,
            self.edges_total,
            self.divergences,
            self.secs
        )
    }

    pub fn passed(&self) -> bool {
        self.divergences == 0 && self.edges_covered == self.edges_total
    }
}

/// Replays `steps` from `init` on a fresh core cluster. Returns the steps
/// that matched, and the divergence that ended the replay, if any.
pub fn replay_steps<'a>(
    config: &Config,
    mutation: Option<Mutant>,
    init: &State,
    steps: impl Iterator<Item = (&'a Action, &'a State)>,
) -> (usize, Option<Divergence>) {
    let mut r = Replay::new(config, mutation, false);
    if let Err(d) = r.start(init) {
        return (0, Some(d));
    }
    let mut ok = 0;
    for (action, next) in steps {
        if let Err(d) = r.step(action, next) {
            return (ok, Some(d));
        }
        ok += 1;
    }
    (ok, None)
}

pub fn replay_behaviour(
    config: &Config,
    mutation: Option<Mutant>,
    b: &Behaviour,
) -> (usize, Option<Divergence>) {
    replay_steps(
        config,
        mutation,
        &b.states[0],
        b.actions.iter().zip(&b.states[1..]),
    )
}

struct Run<'o> {
    opts: &'o SuiteOptions,
    start: Instant,
    summary: Summary,
    out: &'o mut dyn Write,
}

impl Run<'_> {
    /// Records one replayed trace; true if the suite should stop.
    fn record(
        &mut self,
        source: String,
        ok: usize,
        div: Option<Divergence>,
        actions: &dyn Fn(usize) -> Vec<Action>,
    ) -> bool {
        self.summary.traces += 1;
        self.summary.steps += ok;
        let Some(d) = div else { return false };
        self.summary.divergences += 1;
        if self.summary.first.is_none() {
            let found = Found {
                source: source.clone(),
                prefix: actions(d.step),
                divergence: d,
                at_secs: self.start.elapsed().as_secs_f64(),
            };
            let _ = writeln!(
                self.out,
                "DIVERGENCE in {source} ({:.2}s into the suite)",
                found.at_secs
            );
            let _ = write!(self.out, "{}", render(&found.divergence, &found.prefix));
            self.summary.first = Some(found);
        } else if self.summary.divergences <= 10 {
            let _ = writeln!(
                self.out,
                "DIVERGENCE in {source}: step {} {}",
                d.step,
                d.verdict.name()
            );
        }
        self.opts.fail_fast
    }

    fn progress(&mut self, what: &str) {
        let _ = writeln!(
            self.out,
            "progress: {what}: traces={} steps={} divergences={} elapsed={:.1}s",
            self.summary.traces,
            self.summary.steps,
            self.summary.divergences,
            self.start.elapsed().as_secs_f64()
        );
    }

    fn coverage(&mut self, config: &Config) -> Result<bool, String> {
        let model = RaftModel::new(config.clone());
        let g: Graph = coverage::explore(&model, 2_000_000)?;
        let paths = coverage::cover(&g);
        self.summary.edges_total += g.edge_count();
        let _ = writeln!(
            self.out,
            "coverage: {} (states={} edges={} traces={})",
            config.summary(),
            g.states.len(),
            g.edge_count(),
            paths.len()
        );
        let mut covered = std::collections::HashSet::new();
        let init = &g.states[0];
        for (k, p) in paths.iter().enumerate() {
            let (ok, div) = replay_steps(config, self.opts.mutant, init, p.steps(&g));
            covered.extend(p.edges[..ok].iter().copied());
            let prefix = |n: usize| p.steps(&g).take(n).map(|(a, _)| a.clone()).collect();
            if self.record(format!("coverage trace #{k}"), ok, div, &prefix) {
                self.summary.edges_covered += covered.len();
                return Ok(true);
            }
            if k % 2000 == 1999 {
                self.progress("coverage");
            }
        }
        self.summary.edges_covered += covered.len();
        self.progress("coverage done");
        Ok(false)
    }

    fn catalog(&mut self) -> Result<bool, String> {
        for bug in Bug::ALL {
            let Some(cx) = catalog::saved(bug) else {
                continue;
            };
            let cx = cx.map_err(|e| format!("saved counterexample of {bug}: {e}"))?;
            let b = catalog::steer(&cx);
            let mut config = cx.config.clone();
            config.bugs.clear();
            let (ok, div) = replay_behaviour(&config, self.opts.mutant, &b);
            let prefix = |n: usize| b.actions[..n.min(b.actions.len())].to_vec();
            if self.record(
                format!("catalog {bug} (steered, {} steps)", b.actions.len()),
                ok,
                div,
                &prefix,
            ) {
                return Ok(true);
            }
        }
        self.progress("catalog done");
        Ok(false)
    }

    fn walks(&mut self) -> bool {
        for (config, seeds, len) in &self.opts.walks {
            let model = RaftModel::new(config.clone());
            for seed in 0..*seeds {
                let b = walks::walk(&model, seed, *len);
                let (ok, div) = replay_behaviour(config, self.opts.mutant, &b);
                let prefix = |n: usize| b.actions[..n.min(b.actions.len())].to_vec();
                let source = format!("walk seed={seed} in {}", config.summary());
                if self.record(source, ok, div, &prefix) {
                    return true;
                }
            }
            self.progress(&format!("walks in {}", config.summary()));
        }
        false
    }
}

/// Runs the suite, printing progress and divergences to `out` (but not the
/// summary line, which the caller prints last).
pub fn run(opts: &SuiteOptions, out: &mut dyn Write) -> Result<Summary, String> {
    let mut run = Run {
        opts,
        start: Instant::now(),
        summary: Summary::default(),
        out,
    };
    if let Some(m) = opts.mutant {
        let site = m.core().map_or("the application only", |c| c.site());
        let _ = writeln!(run.out, "mutant: {m} ({site})");
    }
    // Stopping at the first divergence, the catalog's few targeted traces go
    // first; otherwise the order does not matter: everything runs.
    let mut stopped = opts.fail_fast && opts.catalog && run.catalog()?;
    for config in &opts.coverage {
        stopped = stopped || run.coverage(config)?;
    }
    let catalog_last = opts.catalog && !opts.fail_fast;
    let _stopped = stopped || (catalog_last && run.catalog()?) || run.walks();
    run.summary.secs = run.start.elapsed().as_secs_f64();
    Ok(run.summary)
}

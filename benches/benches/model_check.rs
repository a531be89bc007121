//! Unique states per second of the model checker, with 1 and 2 threads,
//! with and without symmetry reduction; states per second of `hunt`'s swarm
//! walks on the same bounds; and the time each takes to find a deep bug.
//!
//! The configuration is the default one without faults, so that one
//! exhaustive run takes a second or two and criterion can repeat it;
//! `docs/performance.md` also times the full default configuration as a
//! whole command.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use raft_model::search::hunt::{hunt, HuntOptions, HuntOutcome};
use raft_model::search::{check, Options, Strategy, Verdict};
use raft_model::{Bug, Config, RaftModel};
use std::time::Duration;

fn bench_config() -> Config {
    Config {
        restarts: 0,
        drops: 0,
        duplicates: 0,
        ..Config::default()
    }
}

fn run(config: &Config, threads: usize, symmetry: bool) -> usize {
    let opts = Options {
        strategy: Strategy::Dfs,
        symmetry,
        threads,
        progress_every: None,
        ..Options::default()
    };
    let outcome = check(config, &opts, &mut std::io::sink());
    assert_eq!(outcome.verdict, Verdict::Ok);
    outcome.unique_states
}

fn unique_states_per_second(c: &mut Criterion) {
    let config = bench_config();
    let mut group = c.benchmark_group("model_check");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));
    for symmetry in [false, true] {
        // The unique-state count is the same for every thread count.
        let unique = run(&config, 1, symmetry);
        group.throughput(Throughput::Elements(unique as u64));
        for threads in [1, 2] {
            let name = format!("threads={threads}/symmetry={symmetry}");
            group.bench_function(name, |b| b.iter(|| run(&config, threads, symmetry)));
        }
    }
    group.finish();
}

/// A silent hunt of `walks` walks with no timeout.
fn quiet_hunt(model: &RaftModel, threads: usize, walks: u64) -> HuntOutcome {
    let opts = HuntOptions {
        walks: Some(walks),
        threads,
        timeout: None,
        progress_every: None,
        ..HuntOptions::default()
    };
    hunt(model, &opts, &mut std::io::sink())
}

fn hunt_walks(model: &RaftModel, threads: usize, walks: u64) -> u64 {
    let outcome = quiet_hunt(model, threads, walks);
    assert_eq!(outcome.verdict, Verdict::Incomplete);
    outcome.states
}

/// Swarm walks of the correct model on the same bounds: states visited per
/// second (repeats included, as a walk keeps no visited set).
fn hunt_states_per_second(c: &mut Criterion) {
    let model = RaftModel::new(bench_config());
    let mut group = c.benchmark_group("hunt");
    group.sample_size(10);
    let states = hunt_walks(&model, 1, 500);
    group.throughput(Throughput::Elements(states));
    for threads in [1, 2] {
        group.bench_function(format!("threads={threads}/walks=500"), |b| {
            b.iter(|| hunt_walks(&model, threads, 500))
        });
    }
    group.finish();
}

/// Time to a counterexample of `accept-stale-reply` (in its preferred
/// configuration): stateright's DFS with symmetry against the hunt.
fn time_to_deep_bug(c: &mut Criterion) {
    let bug = Bug::AcceptStaleReply;
    let mut config = bug.preferred_config();
    config.bugs.insert(bug);
    let model = RaftModel::new(config.clone());
    let mut group = c.benchmark_group("find_accept_stale_reply");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("stateright_dfs_symmetry", |b| {
        b.iter(|| {
            let opts = Options {
                strategy: Strategy::Dfs,
                progress_every: None,
                ..Options::default()
            };
            let outcome = check(&config, &opts, &mut std::io::sink());
            assert_eq!(outcome.verdict, Verdict::Violation);
        })
    });
    group.bench_function("hunt", |b| {
        b.iter(|| {
            let threads = HuntOptions::default().threads;
            let outcome = quiet_hunt(&model, threads, 100_000);
            assert_eq!(outcome.verdict, Verdict::Violation);
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    unique_states_per_second,
    hunt_states_per_second,
    time_to_deep_bug
);
criterion_main!(benches);

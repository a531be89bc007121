//! Unique states per second of the model checker, with 1 and 2 threads,
//! with and without symmetry reduction.
//!
//! The configuration is the default one without faults, so that one
//! exhaustive run takes a second or two and criterion can repeat it;
//! `docs/performance.md` also times the full default configuration as a
//! whole command.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use raft_model::search::{check, Options, Strategy, Verdict};
use raft_model::Config;
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

criterion_group!(benches, unique_states_per_second);
criterion_main!(benches);

//! Conformance replay throughput: model steps replayed on the core per second.
//!
//! Each step applies one model action to a cluster of three `RawNode`s
//! (persisting every Ready in `MemStorage`), abstracts every node to the
//! model's state and compares it, and the in-flight messages, with the
//! model's next state. Two workloads: the transition-coverage traces of the
//! suite's small bound (many short traces: cluster setup counts), and random
//! walks of 80 steps in the model's default bound. Throughput is in replayed
//! steps (`Throughput::Elements`). Figures and the command are in
//! `docs/performance.md` ("Conformance").

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use raft_conformance::coverage;
use raft_conformance::suite::{replay_behaviour, replay_steps, SuiteOptions};
use raft_conformance::walks::walk;
use raft_model::{Config, RaftModel};

fn coverage_traces(c: &mut Criterion) {
    let config = SuiteOptions::coverage_bounds().remove(0);
    let model = RaftModel::new(config.clone());
    let g = coverage::explore(&model, 1_000_000).expect("the coverage bound is small");
    let paths: Vec<_> = coverage::cover(&g).into_iter().take(2_000).collect();
    let steps: usize = paths.iter().map(|p| p.edges.len()).sum();
    let mut group = c.benchmark_group("conformance_replay");
    group.throughput(Throughput::Elements(steps as u64));
    group.bench_function("coverage_2000_traces", |b| {
        b.iter(|| {
            for p in &paths {
                let (ok, div) = replay_steps(&config, None, &g.states[0], p.steps(&g));
                assert!(div.is_none());
                criterion::black_box(ok);
            }
        })
    });
    group.finish();
}

fn random_walks(c: &mut Criterion) {
    let config = Config {
        max_term: 3,
        max_log: 2,
        ..Config::default()
    };
    let model = RaftModel::new(config.clone());
    let walks: Vec<_> = (0..100).map(|seed| walk(&model, seed, 80)).collect();
    let steps: usize = walks.iter().map(|w| w.actions.len()).sum();
    let mut group = c.benchmark_group("conformance_replay");
    group.throughput(Throughput::Elements(steps as u64));
    group.bench_function("walks_100x80_default_bound", |b| {
        b.iter(|| {
            for w in &walks {
                let (ok, div) = replay_behaviour(&config, None, w);
                assert!(div.is_none());
                criterion::black_box(ok);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, coverage_traces, random_walks);
criterion_main!(benches);

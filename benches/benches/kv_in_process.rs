//! The KV service in one process: 3 node loops over `VolatileStorage` (no fsync), a channel
//! transport, and N concurrent Clerk sessions as tokio tasks, each with one Put outstanding
//! (openraft's `benchmarks/minimal` setup). One iteration is one Put by every client, so
//! criterion's element throughput is operations per second. Latency percentiles:
//! `raftkv bench --in-process` (docs/performance.md, "KV service").

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use raft_kv::net::LocalCluster;
use raft_kv::ClerkConfig;

fn kv_in_process(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let cluster = LocalCluster::start(3, Duration::from_millis(50));
    let limit = Some(Duration::from_secs(10));
    // Wait out the first election.
    rt.block_on(async {
        cluster
            .clerk(ClerkConfig::default(), limit)
            .put("warmup", "x")
            .await
            .expect("warm-up put")
    });
    let value = "x".repeat(16);
    let mut group = c.benchmark_group("kv_in_process");
    group.sample_size(10);
    for clients in [1u64, 16, 256] {
        group.throughput(Throughput::Elements(clients));
        group.bench_with_input(BenchmarkId::new("put", clients), &clients, |b, &clients| {
            b.iter_custom(|iters| {
                let clerks: Vec<_> = (0..clients)
                    .map(|_| cluster.clerk(ClerkConfig::default(), limit))
                    .collect();
                rt.block_on(async {
                    let start = Instant::now();
                    let mut tasks = tokio::task::JoinSet::new();
                    for (c, mut clerk) in clerks.into_iter().enumerate() {
                        let value = value.clone();
                        tasks.spawn(async move {
                            let key = format!("k{c}");
                            for _ in 0..iters {
                                clerk.put(&key, &value).await.expect("put");
                            }
                        });
                    }
                    while let Some(r) = tasks.join_next().await {
                        r.expect("client task");
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
    cluster.shutdown().expect("in-memory nodes do not fail");
}

criterion_group!(benches, kv_in_process);
criterion_main!(benches);

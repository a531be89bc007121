//! Append-and-fsync throughput of `FileStorage`: what group commit buys.
//!
//! Each iteration appends a batch of ~100-byte entries and calls `sync` (one fdatasync of the
//! log). Throughput is reported in entries, so the variants compare directly: one entry per
//! fsync is what a runtime without batching would do; 64 per fsync is group commit.
//! Figures and the command that produced them are in `docs/performance.md`.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use raft_impl::storage::{FileStorage, Storage};
use raft_impl::types::Entry;

const ENTRY_BYTES: usize = 100;

fn append_and_fsync(c: &mut Criterion) {
    let mut group = c.benchmark_group("storage_fsync");
    // An iteration costs an fsync (milliseconds): fewer samples keep the run short.
    group.sample_size(30);
    for entries_per_fsync in [1u64, 8, 64] {
        group.throughput(Throughput::Elements(entries_per_fsync));
        group.bench_function(format!("{entries_per_fsync}_entries_per_fsync"), |b| {
            let dir = tempfile::tempdir().expect("temp dir");
            let mut storage = FileStorage::open(dir.path()).expect("open storage");
            let data = Bytes::from(vec![0xab; ENTRY_BYTES]);
            let mut next_index = 1;
            let mut batch = Vec::with_capacity(entries_per_fsync as usize);
            b.iter(|| {
                batch.clear();
                for _ in 0..entries_per_fsync {
                    batch.push(Entry {
                        term: 1,
                        index: next_index,
                        data: data.clone(),
                    });
                    next_index += 1;
                }
                storage.append(&batch).expect("append");
                storage.sync().expect("sync");
            });
        });
    }
    group.finish();
}

criterion_group!(benches, append_and_fsync);
criterion_main!(benches);

//! Commit throughput of the sans-IO core: three `RawNode`s in one process.
//!
//! The bench is the network and the storage: every `Ready` is "persisted" at
//! once (no I/O), its messages are queued and delivered in order, and its
//! committed entries are dropped. The leader keeps a window of proposals in
//! flight (proposed, not yet committed): 1, 16 or 256. Throughput is in
//! committed entries (`Throughput::Elements`), so the variants compare
//! directly. Production config (batching, pipelining). Figures and the command
//! that produced them are in `docs/performance.md`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use raft_impl::core::{Config, Envelope, RawNode, Role};
use raft_impl::types::NodeId;

const NODES: u64 = 3;
/// Rebuild the cluster (outside the timed section) once the log is this long:
/// the core keeps the whole log in memory.
const MAX_LOG: u64 = 200_000;
const PAYLOAD: &[u8] = b"0123456789abcdef0123456789abcdef";

struct Cluster {
    nodes: Vec<RawNode>,
    net: VecDeque<Envelope>,
    applied: u64,
}

impl Cluster {
    /// Three nodes with node 1 elected leader.
    fn new() -> Self {
        let nodes = (1..=NODES)
            .map(|id| {
                let peers = (1..=NODES).filter(|&p| p != id);
                RawNode::new(Config::production(id, peers, id)).expect("valid config")
            })
            .collect();
        let mut c = Cluster {
            nodes,
            net: VecDeque::new(),
            applied: 0,
        };
        c.nodes[0].election_timeout_now();
        while c.pump() {}
        assert_eq!(c.nodes[0].role(), Role::Leader);
        c
    }

    fn node(&mut self, id: NodeId) -> &mut RawNode {
        &mut self.nodes[(id - 1) as usize]
    }

    /// Handles every node's Ready (persist = no-op, then send, apply, advance)
    /// and delivers the queued messages. Returns whether anything moved.
    fn pump(&mut self) -> bool {
        let mut moved = false;
        for n in &mut self.nodes {
            if n.has_ready() {
                let rd = n.ready();
                self.net.extend(rd.messages.iter().cloned());
                self.applied += rd.committed_entries.len() as u64;
                n.advance(rd);
                moved = true;
            }
        }
        for _ in 0..self.net.len() {
            let m = self.net.pop_front().expect("counted");
            let to = m.to;
            self.node(to).step(m).expect("well-formed traffic");
            moved = true;
        }
        moved
    }

    /// Commits `count` new entries at the leader, keeping `window` in flight.
    fn commit(&mut self, count: u64, window: u64) {
        let payload = Bytes::from_static(PAYLOAD);
        let target = self.nodes[0].commit_index() + count;
        while self.nodes[0].commit_index() < target {
            let leader = &mut self.nodes[0];
            let in_flight = leader.last_index() - leader.commit_index();
            let room = window
                .saturating_sub(in_flight)
                .min(target - leader.last_index());
            for _ in 0..room {
                leader.propose(payload.clone()).expect("node 1 leads");
            }
            if room > 0 {
                leader.replicate_now().expect("node 1 leads");
            }
            self.pump();
        }
    }
}

fn commit_throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("core_commit");
    // One element = one entry committed by the leader.
    group.throughput(Throughput::Elements(1));
    for window in [1u64, 16, 256] {
        group.bench_function(format!("{window}_in_flight"), |b| {
            let mut cluster = Cluster::new();
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    if cluster.nodes[0].last_index() >= MAX_LOG {
                        cluster = Cluster::new();
                    }
                    let chunk = left.min(MAX_LOG - cluster.nodes[0].last_index()).max(1);
                    let start = Instant::now();
                    cluster.commit(chunk, window);
                    elapsed += start.elapsed();
                    left = left.saturating_sub(chunk);
                }
                elapsed
            });
            assert!(
                cluster.nodes[0].commit_index() > 0,
                "entries were committed"
            );
        });
    }
    group.finish();
}

criterion_group!(benches, commit_throughput);
criterion_main!(benches);

//! Leader throughput while a follower is caught up by InstallSnapshot (§7), against steady
//! state: three `RawNode`s in one process, production config (1 MiB snapshot chunks).
//!
//! Only the leader's own work is timed (`propose`, `replicate_now`, `step` of the messages to
//! it, `ready`/`advance`): in a cluster each node has its own CPU, so the followers' work
//! (including assembling the snapshot) does not slow the leader. The bench is the network
//! (in-order delivery, instant) and the storage (every Ready "persisted" at once). The leader
//! keeps 256 proposals of 32 bytes in flight; one element is one entry committed.
//!
//! - `steady`: both followers keep up.
//! - `catching_up`: each cycle node 3 is cut off while the leader commits 4 windows and
//!   compacts its log into a 4 MiB snapshot; when node 3 is back (a heartbeat tells the
//!   leader), the leader sends it the snapshot in 4 chunks and then the entries after it. The
//!   figure covers the commits made from then until node 3's log has passed the snapshot and
//!   ends within a window of the leader's last entry. The cut-off period, the compaction and
//!   the heartbeat are outside the timing.
//!
//! Figures and the command that produced them are in `docs/performance.md`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use raft_impl::core::{Config, Envelope, RawNode, Role};

const NODES: u64 = 3;
const WINDOW: u64 = 256;
const MAX_LOG: u64 = 200_000;
const SNAPSHOT_BYTES: usize = 4 << 20;
const PAYLOAD: &[u8] = b"0123456789abcdef0123456789abcdef";

fn config(id: u64) -> Config {
    Config::production(id, (1..=NODES).filter(|&p| p != id), id)
}

struct Cluster {
    nodes: Vec<RawNode>,
    net: VecDeque<Envelope>,
    /// Time spent in the leader's (node 1's) calls.
    leader_time: Duration,
    /// Node 3 is cut off: messages to and from it are lost.
    node3_down: bool,
}

impl Cluster {
    fn new() -> Self {
        let nodes = (1..=NODES)
            .map(|id| RawNode::new(config(id)).expect("valid config"))
            .collect();
        let mut c = Cluster {
            nodes,
            net: VecDeque::new(),
            leader_time: Duration::ZERO,
            node3_down: false,
        };
        c.nodes[0].election_timeout_now();
        while c.pump() {}
        assert_eq!(c.nodes[0].role(), Role::Leader);
        c
    }

    /// Runs `f` on node `i`, timing it if it is the leader.
    fn on<T>(&mut self, i: usize, f: impl FnOnce(&mut RawNode) -> T) -> T {
        if i != 0 {
            return f(&mut self.nodes[i]);
        }
        let start = Instant::now();
        let out = f(&mut self.nodes[0]);
        self.leader_time += start.elapsed();
        out
    }

    /// Every node's Ready (persist = no-op, send, advance), then delivery of what is queued.
    fn pump(&mut self) -> bool {
        let mut moved = false;
        for i in 0..self.nodes.len() {
            let rd = self.on(i, |n| n.has_ready().then(|| n.ready()));
            if let Some(rd) = rd {
                self.net.extend(rd.messages.iter().cloned());
                self.on(i, |n| n.advance(rd));
                moved = true;
            }
        }
        for _ in 0..self.net.len() {
            let m = self.net.pop_front().expect("counted");
            if self.node3_down && (m.to == 3 || m.from == 3) {
                continue;
            }
            let i = (m.to - 1) as usize;
            self.on(i, |n| n.step(m)).expect("well-formed traffic");
            moved = true;
        }
        moved
    }

    /// One round: top the window up with proposals, replicate, pump once.
    fn round(&mut self) {
        let payload = Bytes::from_static(PAYLOAD);
        self.on(0, |leader| {
            let room = WINDOW.saturating_sub(leader.last_index() - leader.commit_index());
            for _ in 0..room {
                leader.propose(payload.clone()).expect("node 1 leads");
            }
            if room > 0 {
                leader.replicate_now().expect("node 1 leads");
            }
        });
        self.pump();
    }

    /// Node 3 is being caught up: its log ends below the leader's snapshot, or more than a
    /// window behind the leader's last entry.
    fn catching_up(&self) -> bool {
        let leader = &self.nodes[0];
        let lii = leader.first_index() - 1;
        let last = self.nodes[2].last_index();
        last < lii || last + WINDOW < leader.last_index()
    }

    /// Untimed: node 3 is cut off while the leader commits a few windows and compacts its
    /// log past node 3's last entry; then node 3 is back, and a heartbeat tells the leader.
    fn start_catch_up(&mut self, snapshot: &Bytes) {
        while self.pump() {}
        self.node3_down = true;
        let target = self.nodes[0].commit_index() + 4 * WINDOW;
        while self.nodes[0].commit_index() < target {
            self.round();
        }
        while self.pump() {}
        let leader = &mut self.nodes[0];
        let applied = leader.commit_index();
        leader.compact(applied, snapshot.clone()).expect("applied");
        self.node3_down = false;
        leader.heartbeat_now().expect("node 1 leads");
    }
}

/// Commits at least `iters` entries, steady or in catch-up cycles; returns the leader's time
/// scaled to exactly `iters` entries.
fn run(cluster: &mut Cluster, iters: u64, catch_up: bool, snapshot: &Bytes) -> Duration {
    let mut committed = 0;
    let mut time = Duration::ZERO;
    while committed < iters {
        if cluster.nodes[0].last_index() >= MAX_LOG {
            *cluster = Cluster::new();
        }
        if catch_up {
            cluster.start_catch_up(snapshot);
            assert!(cluster.catching_up(), "node 3 is behind the snapshot");
        }
        cluster.leader_time = Duration::ZERO;
        let before = cluster.nodes[0].commit_index();
        let mut rounds = 0u64;
        loop {
            rounds += 1;
            assert!(
                rounds < 100_000,
                "no progress: leader last {} first {}, node 3 first {} last {}, progress {:?}",
                cluster.nodes[0].last_index(),
                cluster.nodes[0].first_index(),
                cluster.nodes[2].first_index(),
                cluster.nodes[2].last_index(),
                cluster.nodes[0].status().progress
            );
            cluster.round();
            // The core keeps its log in memory: rebuild (untimed) once it is long.
            let done = cluster.nodes[0].last_index() >= MAX_LOG
                || if catch_up {
                    !cluster.catching_up()
                } else {
                    cluster.nodes[0].commit_index() - before >= iters - committed
                };
            if done {
                break;
            }
        }
        committed += cluster.nodes[0].commit_index() - before;
        time += cluster.leader_time;
    }
    time.mul_f64(iters as f64 / committed as f64)
}

fn catchup_throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot_catchup");
    group.throughput(Throughput::Elements(1));
    let snapshot = Bytes::from(vec![0x5a; SNAPSHOT_BYTES]);
    for (name, catch_up) in [("steady", false), ("catching_up", true)] {
        group.bench_function(name, |b| {
            let mut cluster = Cluster::new();
            b.iter_custom(|iters| run(&mut cluster, iters, catch_up, &snapshot));
            assert!(
                cluster.nodes[0].commit_index() > 0,
                "entries were committed"
            );
        });
    }
    group.finish();
}

criterion_group!(benches, catchup_throughput);
criterion_main!(benches);

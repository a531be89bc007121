//! `raftkv bench`: a closed-loop load generator. Each of N clients runs its own Clerk session
//! and issues one operation at a time for D seconds; every completed operation's latency is
//! recorded. Reports throughput, p50 and p99.
//!
//! Clients are tokio tasks driving the Clerk's retry logic ([`AsyncClerk`]), so 256 of them
//! cost two threads rather than 256; `--blocking` runs the blocking [`Clerk`] on one OS thread
//! per client instead. `--in-process` benchmarks a cluster started inside this process:
//! `VolatileStorage` (no fsync) and channels for a transport, the real node loop and service.
//!
//! [`Clerk`]: raft_kv::Clerk

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use raft_impl::types::NodeId;
use raft_kv::history::{History, Operation};
use raft_kv::net::{
    tcp_clerk, AsyncClerk, AsyncTcpTransport, AsyncTransport, ClientSecurity, LocalCluster,
    MuxTcpTransport,
};
use raft_kv::{ClerkConfig, Op, OpResult};

use crate::security::ClientTlsArgs;
use crate::{ReadModeArg, Target};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Server addresses ADDR,ADDR,... (node ids 1, 2, ... in this order) or ID=ADDR,...
    #[arg(long, value_parser = crate::parse_server, value_delimiter = ',',
          required_unless_present = "in_process", conflicts_with = "in_process")]
    cluster: Vec<(Option<NodeId>, SocketAddr)>,
    /// Give up (and fail the run) after this many seconds without a successful answer.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Start a cluster inside this process (in-memory storage, channel transport) and load it.
    #[arg(long)]
    in_process: bool,
    /// Nodes of the in-process cluster.
    #[arg(long, default_value_t = 3, requires = "in_process",
          value_parser = clap::value_parser!(u64).range(1..=9))]
    nodes: u64,
    /// Raft tick of the in-process cluster, in milliseconds.
    #[arg(long, default_value_t = 50, requires = "in_process",
          value_parser = clap::value_parser!(u64).range(1..))]
    tick_ms: u64,
    /// How the in-process cluster serves Gets (a TCP cluster's mode is set where it runs).
    #[arg(long, value_enum, default_value_t = ReadModeArg::Log, conflicts_with = "cluster")]
    read_mode: ReadModeArg,
    /// One OS thread with a blocking Clerk per client (TCP only).
    #[arg(long, conflicts_with = "in_process")]
    blocking: bool,
    /// All clients share one connection per server, replies routed by request id, as a
    /// pooled client library does (TCP only; each client is still its own session).
    #[arg(long, conflicts_with_all = ["in_process", "blocking"])]
    shared_connections: bool,
    /// Concurrent clients (one session each).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=4096))]
    clients: u64,
    /// Seconds of load.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Bytes per value.
    #[arg(long, default_value_t = 16)]
    value_size: usize,
    /// Percentage of operations that are Gets (the rest are Puts).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    get_percent: u8,
    /// All clients share this many keys (default: 100 keys of its own per client).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    keys: Option<u64>,
    /// Record every operation and write the history (raft-kv-history JSON) to FILE. The
    /// checker is exponential in concurrent operations per key: keep such a run short (a few
    /// seconds, a few clients, a few keys, some Gets).
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    #[command(flatten)]
    tls: ClientTlsArgs,
}

/// What one run measured.
struct Outcome {
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// Every client's operations (empty unless recording).
    ops: Vec<Operation>,
    /// Clients that gave up: how many, and the first error.
    failed: Option<(usize, String)>,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let dur = Duration::from_secs_f64(args.duration.max(0.1));
    let limit = Duration::from_secs_f64(args.timeout.max(0.001));
    let value: Arc<str> = "x".repeat(args.value_size).into();
    let load = Load {
        clients: args.clients,
        dur,
        limit,
        shape: Shape {
            value,
            get_percent: args.get_percent as u64,
            keys: args.keys,
            record: args.history.is_some(),
            prefix: match args.history {
                Some(_) => format!("bench-{}-", run_tag()).into(),
                None => "bench-".into(),
            },
        },
    };
    let (what, out) = if args.in_process {
        let what = format!("in-process cluster of {} nodes", args.nodes);
        let rt = runtime()?;
        let cluster = LocalCluster::start_with(
            args.nodes as usize,
            Duration::from_millis(args.tick_ms),
            args.read_mode.into(),
        );
        let out =
            rt.block_on(load.run_async(|| cluster.clerk(ClerkConfig::default(), Some(limit))));
        cluster
            .shutdown()
            .map_err(|e| anyhow::anyhow!("in-process node failed: {e}"))?;
        (what, out)
    } else {
        let target = Target {
            cluster: args.cluster.clone(),
            timeout: args.timeout,
            tls: args.tls.clone(),
        };
        let security = target.tls.security()?;
        let (ids, addrs) = target.servers();
        let what = format!("cluster {}", target.addr_list());
        let out = if args.blocking {
            load.run_blocking(&ids, &addrs, &security)
        } else if args.shared_connections {
            let rt = runtime()?;
            let shared = MuxTcpTransport::new(addrs.clone(), security.clone());
            rt.block_on(load.run_async(|| {
                AsyncClerk::new(
                    ids.clone(),
                    shared.clone(),
                    ClerkConfig::default(),
                    Some(limit),
                )
            }))
        } else {
            let rt = runtime()?;
            rt.block_on(load.run_async(|| {
                AsyncClerk::new(
                    ids.clone(),
                    AsyncTcpTransport::new(addrs.clone(), security.clone()),
                    ClerkConfig::default(),
                    Some(limit),
                )
            }))
        };
        (what, out)
    };
    let Outcome {
        elapsed,
        mut latencies,
        ops,
        failed,
    } = out.with_context(|| what.clone())?;
    if let Some(path) = &args.history {
        write_history(path, ops)?;
    }
    if let Some((n, first)) = failed {
        bail!("{n} of {} clients failed; first: {first}", args.clients);
    }
    if latencies.is_empty() {
        bail!("no operation completed ({what})");
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "clients={} duration={:.1}s ops={} throughput={:.0} ops/s p50={:.2}ms p99={:.2}ms \
         p99.9={:.2}ms max={:.2}ms",
        args.clients,
        elapsed.as_secs_f64(),
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        pct(0.999).as_secs_f64() * 1e3,
        latencies[latencies.len() - 1].as_secs_f64() * 1e3,
    );
    Ok(())
}

/// A tag no earlier run used: microseconds since the epoch, in base 36.
fn run_tag() -> String {
    let mut n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let mut tag = Vec::new();
    while n > 0 {
        tag.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
    }
    tag.reverse();
    String::from_utf8(tag).expect("ASCII")
}

/// Writes the recorded operations as a history file (also after a failed run: an operation
/// that got no answer is recorded as such).
fn write_history(path: &Path, ops: Vec<Operation>) -> Result<()> {
    let n = ops.len();
    let history = History::from_operations(ops)
        .map_err(|e| anyhow::anyhow!("the recorded history is malformed: {e}"))?;
    std::fs::write(path, history.to_json("us"))
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "history: {n} operations written to {} (judge it: raftkv check-history {0})",
        path.display()
    );
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

struct Load {
    clients: u64,
    dur: Duration,
    limit: Duration,
    shape: Shape,
}

/// What the clients ask for.
#[derive(Clone)]
struct Shape {
    value: Arc<str>,
    get_percent: u64,
    keys: Option<u64>,
    record: bool,
    /// Key prefix. A recorded run's keys are its own (`bench-<run>-`), so its history starts
    /// from keys nobody wrote, even on a cluster that served earlier runs.
    prefix: Arc<str>,
}

impl Shape {
    /// Operation `i` of client `c`: a cheap deterministic mix, no RNG needed for a load shape.
    fn op(&self, c: u64, i: u64) -> Op {
        let key = match self.keys {
            Some(k) => format!("{}k{}", self.prefix, (i * 7 + c) % k),
            None => format!("{}{c}-{}", self.prefix, i % 100),
        };
        if (i * 37 + c) % 100 < self.get_percent {
            return Op::Get { key };
        }
        let value = if self.record {
            // Unique, so the checker can tell which write a Get saw.
            let tag = format!("c{c}.{i}.");
            let pad = self.value.len().saturating_sub(tag.len());
            tag + &self.value[..pad]
        } else {
            self.value.to_string()
        };
        Op::Put { key, value }
    }
}

/// One client's run: latencies, its operations if recording, and why it stopped early.
#[derive(Default)]
struct ClientRun {
    latencies: Vec<Duration>,
    ops: Vec<Operation>,
    error: Option<String>,
}

impl ClientRun {
    /// Before operation `op` is sent: its invocation, if recording.
    fn invoke(&mut self, shape: &Shape, c: u64, op: &Op, start: Instant) {
        if shape.record {
            self.ops.push(Operation {
                client: c as usize,
                op: op.clone(),
                invoke: start.elapsed().as_micros() as u64,
                ret: None,
            });
        }
    }

    /// Its answer (`Err`: none; the operation may or may not have taken effect).
    fn ret(&mut self, shape: &Shape, r: Result<OpResult, String>, t: Instant, start: Instant) {
        match r {
            Ok(result) => {
                self.latencies.push(t.elapsed());
                if shape.record {
                    let last = self.ops.last_mut().expect("invoked first");
                    last.ret = Some((start.elapsed().as_micros() as u64, result));
                }
            }
            Err(e) => self.error = Some(e),
        }
    }
}

impl Load {
    /// Async clients. One warm-up Put (waits out the first election) before the clock starts.
    async fn run_async<T, F>(&self, mut make: F) -> Result<Outcome>
    where
        T: AsyncTransport + Send + 'static,
        F: FnMut() -> AsyncClerk<T>,
    {
        let mut warm = make();
        warm.put("bench-warmup", "x")
            .await
            .map_err(|e| anyhow::anyhow!("warm-up put failed: {e}"))?;
        let start = Instant::now();
        let end = start + self.dur;
        let mut tasks = tokio::task::JoinSet::new();
        for c in 0..self.clients {
            let mut clerk = make();
            let shape = self.shape.clone();
            tasks.spawn(async move {
                let mut run = ClientRun::default();
                let mut i = 0u64;
                while Instant::now() < end && run.error.is_none() {
                    let op = shape.op(c, i);
                    run.invoke(&shape, c, &op, start);
                    let t = Instant::now();
                    let r = clerk.run(op).await.map_err(|e| e.to_string());
                    run.ret(&shape, r, t, start);
                    i += 1;
                }
                run
            });
        }
        self.collect(
            start,
            async move {
                let mut all = Vec::new();
                while let Some(r) = tasks.join_next().await {
                    all.push(r.unwrap_or_else(|_| ClientRun {
                        error: Some("client task panicked".into()),
                        ..ClientRun::default()
                    }));
                }
                all
            }
            .await,
        )
    }

    /// One OS thread and blocking Clerk per client.
    fn run_blocking(
        &self,
        ids: &[NodeId],
        addrs: &[SocketAddr],
        security: &ClientSecurity,
    ) -> Result<Outcome> {
        let mut warm = tcp_clerk(
            ids.to_vec(),
            addrs.to_vec(),
            security.clone(),
            ClerkConfig::default(),
            Some(self.limit),
        );
        warm.put("bench-warmup", "x")
            .map_err(|e| anyhow::anyhow!("warm-up put failed: {e}"))?;
        let start = Instant::now();
        let end = start + self.dur;
        let threads: Vec<_> = (0..self.clients)
            .map(|c| {
                let (ids, addrs, shape) = (ids.to_vec(), addrs.to_vec(), self.shape.clone());
                let (limit, security) = (self.limit, security.clone());
                std::thread::spawn(move || {
                    let mut clerk =
                        tcp_clerk(ids, addrs, security, ClerkConfig::default(), Some(limit));
                    let mut run = ClientRun::default();
                    let mut i = 0u64;
                    while Instant::now() < end && run.error.is_none() {
                        let op = shape.op(c, i);
                        run.invoke(&shape, c, &op, start);
                        let t = Instant::now();
                        let r = clerk.run(op).map_err(|e| e.to_string());
                        run.ret(&shape, r, t, start);
                        i += 1;
                    }
                    run
                })
            })
            .collect();
        let results = threads
            .into_iter()
            .map(|t| {
                t.join().unwrap_or_else(|_| ClientRun {
                    error: Some("client thread panicked".into()),
                    ..ClientRun::default()
                })
            })
            .collect();
        self.collect(start, results)
    }

    fn collect(&self, start: Instant, results: Vec<ClientRun>) -> Result<Outcome> {
        let elapsed = start.elapsed();
        let (mut latencies, mut ops, mut failures) = (Vec::new(), Vec::new(), Vec::new());
        for r in results {
            latencies.extend(r.latencies);
            ops.extend(r.ops);
            failures.extend(r.error);
        }
        let failed = failures.first().map(|e| (failures.len(), e.clone()));
        Ok(Outcome {
            elapsed,
            latencies,
            ops,
            failed,
        })
    }
}

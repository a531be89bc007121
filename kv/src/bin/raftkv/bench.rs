//! `raftkv bench`: a closed-loop load generator. Each of N clients runs its own Clerk session
//! and issues one operation at a time for D seconds; every completed operation's latency is
//! recorded. Reports throughput, p50 and p99.
//!
//! Clients are tokio tasks driving the Clerk's retry logic ([`AsyncClerk`]), so 256 of them
//! cost two threads rather than 256; `--blocking` runs the blocking [`Clerk`] on one OS thread
//! per client instead. `--in-process` benchmarks a cluster started inside this process:
//! `MemStorage` (no fsync) and channels for a transport, the real node loop and service.
//!
//! [`Clerk`]: raft_kv::Clerk

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use raft_impl::types::NodeId;
use raft_kv::net::{
    tcp_clerk, AsyncClerk, AsyncTcpTransport, AsyncTransport, ClientSecurity, LocalCluster,
    MuxTcpTransport,
};
use raft_kv::ClerkConfig;

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
    #[command(flatten)]
    tls: ClientTlsArgs,
}

/// What one run measured.
struct Outcome {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let dur = Duration::from_secs_f64(args.duration.max(0.1));
    let limit = Duration::from_secs_f64(args.timeout.max(0.001));
    let value: Arc<str> = "x".repeat(args.value_size).into();
    let load = Load {
        clients: args.clients,
        dur,
        limit,
        value,
        get_percent: args.get_percent as u64,
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
    } = out.with_context(|| what.clone())?;
    if latencies.is_empty() {
        bail!("no operation completed ({what})");
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "clients={} duration={:.1}s ops={} throughput={:.0} ops/s p50={:.2}ms p99={:.2}ms",
        args.clients,
        elapsed.as_secs_f64(),
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
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
    value: Arc<str>,
    get_percent: u64,
}

/// Operation `i` of client `c`: a cheap deterministic mix, no RNG needed for a load shape.
fn is_get(c: u64, i: u64, get_percent: u64) -> bool {
    (i * 37 + c) % 100 < get_percent
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
            let value = self.value.clone();
            let get_percent = self.get_percent;
            tasks.spawn(async move {
                let mut lat = Vec::new();
                let mut i = 0u64;
                while Instant::now() < end {
                    let key = format!("bench-{c}-{}", i % 100);
                    let t = Instant::now();
                    let r = if is_get(c, i, get_percent) {
                        clerk.get(&key).await.map(|_| ())
                    } else {
                        clerk.put(&key, &value).await
                    };
                    r.map_err(|e| e.to_string())?;
                    lat.push(t.elapsed());
                    i += 1;
                }
                Ok::<_, String>(lat)
            });
        }
        self.collect(
            start,
            async move {
                let mut all = Vec::new();
                while let Some(r) = tasks.join_next().await {
                    all.push(r.unwrap_or_else(|_| Err("client task panicked".into())));
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
                let (ids, addrs, value) = (ids.to_vec(), addrs.to_vec(), self.value.clone());
                let (limit, get_percent) = (self.limit, self.get_percent);
                let security = security.clone();
                std::thread::spawn(move || -> Result<Vec<Duration>, String> {
                    let mut clerk =
                        tcp_clerk(ids, addrs, security, ClerkConfig::default(), Some(limit));
                    let mut lat = Vec::new();
                    let mut i = 0u64;
                    while Instant::now() < end {
                        let key = format!("bench-{c}-{}", i % 100);
                        let t = Instant::now();
                        let r = if is_get(c, i, get_percent) {
                            clerk.get(&key).map(|_| ())
                        } else {
                            clerk.put(&key, &value)
                        };
                        r.map_err(|e| e.to_string())?;
                        lat.push(t.elapsed());
                        i += 1;
                    }
                    Ok(lat)
                })
            })
            .collect();
        let results = threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err("client thread panicked".into()))
            })
            .collect();
        self.collect(start, results)
    }

    fn collect(
        &self,
        start: Instant,
        results: Vec<Result<Vec<Duration>, String>>,
    ) -> Result<Outcome> {
        let elapsed = start.elapsed();
        let mut latencies = Vec::new();
        let mut failures = Vec::new();
        for r in results {
            match r {
                Ok(l) => latencies.extend(l),
                Err(e) => failures.push(e),
            }
        }
        if !failures.is_empty() {
            bail!(
                "{} of {} clients failed; first: {}",
                failures.len(),
                self.clients,
                failures[0]
            );
        }
        Ok(Outcome { elapsed, latencies })
    }
}

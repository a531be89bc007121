//! `raftkv bench`: a closed-loop load generator. Each of N client threads runs its own Clerk
//! and issues one operation at a time for D seconds; every completed operation's latency is
//! recorded. Reports throughput, p50 and p99.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use raft_kv::net::tcp_clerk;
use raft_kv::ClerkConfig;

use crate::Target;

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    target: Target,
    /// Concurrent clients (one thread and one session each).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=4096))]
    clients: u64,
    /// Seconds of load.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Bytes per value.
    #[arg(long, default_value_t = 16)]
    value_size: usize,
    /// Percentage of operations that are Gets (the rest are Puts); both go through the log.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    get_percent: u8,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let (ids, addrs) = args.target.servers();
    let dur = Duration::from_secs_f64(args.duration.max(0.1));
    let value = "x".repeat(args.value_size);
    let start = Instant::now();
    let end = start + dur;
    let threads: Vec<_> = (0..args.clients)
        .map(|c| {
            let (ids, addrs, value) = (ids.clone(), addrs.clone(), value.clone());
            let limit = args.target.time_limit();
            let get_percent = args.get_percent as u64;
            std::thread::spawn(move || -> Result<Vec<Duration>, String> {
                let mut clerk = tcp_clerk(ids, addrs, ClerkConfig::default(), Some(limit));
                let mut lat = Vec::new();
                let mut i = 0u64;
                while Instant::now() < end {
                    let key = format!("bench-{c}-{}", i % 100);
                    let t = Instant::now();
                    // A cheap deterministic mix; no RNG needed for a load shape.
                    let r = if (i * 37 + c) % 100 < get_percent {
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
    let mut all = Vec::new();
    let mut failures = Vec::new();
    for t in threads {
        match t.join() {
            Ok(Ok(l)) => all.extend(l),
            Ok(Err(e)) => failures.push(e),
            Err(_) => failures.push("client thread panicked".into()),
        }
    }
    let elapsed = start.elapsed();
    if !failures.is_empty() {
        bail!(
            "{} of {} clients failed (cluster {}); first: {}",
            failures.len(),
            args.clients,
            args.target.addr_list(),
            failures[0]
        );
    }
    if all.is_empty() {
        bail!("no operation completed");
    }
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "clients={} duration={:.1}s ops={} throughput={:.0} ops/s p50={:.2}ms p99={:.2}ms",
        args.clients,
        elapsed.as_secs_f64(),
        all.len(),
        all.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
    );
    Ok(())
}

//! `raft-sim`: soak-tests the Raft core in the deterministic simulator.
//!
//! ```sh
//! cargo run --release -p raft-sim -- --seeds 10000 [--start S] [--servers K]
//! ```
//!
//! Runs one random fault schedule per seed (partitions, loss, duplication, reordering, crashes
//! and restarts, crashes inside a storage sync, client proposals), checks Raft's safety
//! invariants after every event and liveness once the faults stop. Prints progress to stderr,
//! and as its last stdout line `seeds=N violations=V liveness_failures=L`. Exits 0 only if
//! both counts are zero. Each failing seed's trace is written to
//! `<trace-dir>/raft-sim-seed-<S>.trace.json`; rerun it alone with `--start S --seeds 1`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use raft_sim::soak::{run_seeds, Outcome, SoakOptions};
use raft_sim::{SnapshotPolicy, SEC};

#[derive(Parser, Debug)]
#[command(about = "Soak-test the Raft core with random fault schedules in the simulator")]
struct Args {
    /// Number of seeds (schedules) to run.
    #[arg(long)]
    seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Servers per cluster.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=9))]
    servers: u64,
    /// Worker threads (default: available parallelism).
    #[arg(long)]
    jobs: Option<usize>,
    /// Simulated seconds of faults per seed.
    #[arg(long, default_value_t = 20)]
    fault_secs: u64,
    /// Simulated seconds the healed cluster has to commit a new entry.
    #[arg(long, default_value_t = 10)]
    liveness_secs: u64,
    /// Log compaction: each node snapshots at random points at most this many applied entries
    /// apart (0: never compact).
    #[arg(long, default_value_t = 40)]
    snapshot_max_gap: u64,
    /// InstallSnapshot chunk size in bytes (default: drawn per seed, 64 B to 1 MiB).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    snapshot_chunk: Option<u64>,
    /// Where to write the traces of failing seeds.
    #[arg(long, default_value = ".")]
    trace_dir: PathBuf,
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let opts = SoakOptions {
        servers: args.servers as usize,
        fault_time_us: args.fault_secs * SEC,
        liveness_bound_us: args.liveness_secs * SEC,
        runtime_fault: None,
        snapshot: match args.snapshot_max_gap {
            0 => SnapshotPolicy::Off,
            max_gap => SnapshotPolicy::Random { max_gap },
        },
        max_snapshot_chunk: args.snapshot_chunk.map(|c| c as usize),
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    eprintln!(
        "raft-sim: seeds {}..{} servers={} jobs={jobs} snapshot={:?}",
        args.start,
        args.start + args.seeds,
        args.servers,
        opts.snapshot
    );
    let summary = run_seeds(
        &opts,
        args.start,
        args.seeds,
        jobs,
        Duration::from_secs(2),
        &mut |p| {
            let secs = p.elapsed.as_secs_f64();
            eprintln!(
                "[{secs:7.1}s] {}/{} seeds ({:.1} seeds/s) violations={} liveness_failures={}",
                p.done,
                p.total,
                p.done as f64 / secs.max(1e-9),
                p.violations,
                p.liveness_failures
            );
        },
    );
    for r in &summary.failures {
        let what = match &r.outcome {
            Outcome::Violation(v) => format!("VIOLATION {v}"),
            Outcome::LivenessFailure(m) => format!("LIVENESS {m}"),
            Outcome::Passed => continue,
        };
        println!("seed {}: {what}", r.seed);
        if let Some(trace) = &r.trace {
            std::fs::create_dir_all(&args.trace_dir)
                .with_context(|| format!("creating {}", args.trace_dir.display()))?;
            let path = args
                .trace_dir
                .join(format!("raft-sim-seed-{}.trace.json", r.seed));
            std::fs::write(&path, trace.to_json())
                .with_context(|| format!("writing {}", path.display()))?;
            println!(
                "  trace: {} ({} events); reproduce: raft-sim --start {} --seeds 1 --servers {} \
                 --fault-secs {} --liveness-secs {} --snapshot-max-gap {}{}",
                path.display(),
                trace.events.len(),
                r.seed,
                args.servers,
                args.fault_secs,
                args.liveness_secs,
                args.snapshot_max_gap,
                args.snapshot_chunk
                    .map_or(String::new(), |c| format!(" --snapshot-chunk {c}"))
            );
        }
    }
    eprintln!(
        "done: {} events, {:.0} simulated seconds",
        summary.events,
        summary.sim_time_us as f64 / SEC as f64
    );
    eprintln!(
        "snapshots: compactions={} restored_from_leader={} install_snapshot_chunks={}",
        summary.snapshots.compactions, summary.snapshots.restored, summary.snapshots.chunks_sent
    );
    println!(
        "seeds={} violations={} liveness_failures={}",
        summary.seeds, summary.violations, summary.liveness_failures
    );
    Ok(
        if summary.violations == 0 && summary.liveness_failures == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

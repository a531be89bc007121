//! `raft-sim`: soak-tests the Raft core in the deterministic simulator.
//!
//! ```sh
//! cargo run --release -p raft-sim -- --seeds 10000 [--start S] [--servers K] [--no-pre-vote]
//! ```
//!
//! Runs one random fault schedule per seed (partitions, loss, duplication, reordering, crashes
//! and restarts, crashes inside a storage sync, client proposals), checks Raft's safety
//! invariants after every event and liveness once the faults stop. Prints progress to stderr,
//! and as its last stdout line `seeds=N violations=V liveness_failures=L`. Exits 0 only if
//! both counts are zero. Each failing seed's trace is written to
//! `<trace-dir>/raft-sim-seed-<S>.trace.json`; rerun it alone (and draw it) with `--seed S`.
//!
//! ```sh
//! cargo run --release -p raft-sim -- --seed S --html FILE [--runtime-fault send-before-sync]
//! ```
//!
//! runs one seed with its trace recorded and draws it as a timeline (one lane per node, see
//! `raft_sim::timeline`). Exit 0 if it passed, 1 if it failed, 2 on bad arguments or when the
//! page cannot be written.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use raft_sim::soak::{run_seed, run_seeds, Outcome, SoakOptions};
use raft_sim::{production_with, timeline, RuntimeFault, SnapshotPolicy, SEC};

#[derive(Parser, Debug)]
#[command(about = "Soak-test the Raft core with random fault schedules in the simulator")]
struct Args {
    /// Number of seeds (schedules) to run.
    #[arg(long, required_unless_present = "seed")]
    seeds: Option<u64>,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Run this one seed alone, recording its trace (with --html: draw it).
    #[arg(long, conflicts_with_all = ["seeds", "start", "jobs"])]
    seed: Option<u64>,
    /// With --seed: write the run's timeline (a self-contained HTML page) to FILE.
    #[arg(long, value_name = "FILE", requires = "seed")]
    html: Option<PathBuf>,
    /// A deliberate runtime bug, to see what a violation looks like (a self-test of the
    /// checks; never in a real soak).
    #[arg(long, value_enum)]
    runtime_fault: Option<FaultArg>,
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
    /// Run the nodes without pre-vote (thesis §9.6; on in the production config).
    #[arg(long)]
    no_pre_vote: bool,
    /// Run the nodes without check-quorum and leader stickiness (thesis §6.2, §4.2.3; on in
    /// the production config).
    #[arg(long)]
    no_check_quorum: bool,
    /// Where to write the traces of failing seeds.
    #[arg(long, default_value = ".")]
    trace_dir: PathBuf,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum FaultArg {
    /// Messages leave before the state they depend on is durable.
    SendBeforeSync,
    /// Snapshot bytes miss the state machine's last command.
    SnapshotMissesLastCommand,
}

impl From<FaultArg> for RuntimeFault {
    fn from(f: FaultArg) -> Self {
        match f {
            FaultArg::SendBeforeSync => RuntimeFault::SendBeforeSync,
            FaultArg::SnapshotMissesLastCommand => RuntimeFault::SnapshotMissesLastCommand,
        }
    }
}

/// `--seed S`: one recorded run, its outcome on stdout, its timeline with `--html`.
fn one_seed(seed: u64, opts: &SoakOptions, html: Option<&Path>) -> ExitCode {
    let r = run_seed(seed, opts, true);
    let outcome = match &r.outcome {
        Outcome::Passed => "passed".to_string(),
        Outcome::Violation(v) => format!("VIOLATION {v}"),
        Outcome::LivenessFailure(m) => format!("LIVENESS {m}"),
    };
    println!(
        "seed {seed}: {outcome} ({} events, {:.1} simulated seconds)",
        r.events,
        r.sim_time_us as f64 / SEC as f64
    );
    if let (Some(path), Some(trace)) = (html, &r.trace) {
        if let Err(e) = std::fs::write(path, timeline::html(trace)) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
        println!("timeline written to {}", path.display());
    }
    if r.outcome == Outcome::Passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The protocol switches of `args`, as they are written on the command line.
fn protocol_flags(args: &Args) -> String {
    let mut f = String::new();
    if args.no_pre_vote {
        f.push_str(" --no-pre-vote");
    }
    if args.no_check_quorum {
        f.push_str(" --no-check-quorum");
    }
    f
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let opts = SoakOptions {
        servers: args.servers as usize,
        fault_time_us: args.fault_secs * SEC,
        liveness_bound_us: args.liveness_secs * SEC,
        runtime_fault: args.runtime_fault.map(RuntimeFault::from),
        snapshot: match args.snapshot_max_gap {
            0 => SnapshotPolicy::Off,
            max_gap => SnapshotPolicy::Random { max_gap },
        },
        max_snapshot_chunk: args.snapshot_chunk.map(|c| c as usize),
        core_config: production_with(!args.no_pre_vote, !args.no_check_quorum),
    };
    if let Some(seed) = args.seed {
        return Ok(one_seed(seed, &opts, args.html.as_deref()));
    }
    let seeds = args.seeds.expect("clap requires --seeds without --seed");
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    eprintln!(
        "raft-sim: seeds {}..{} servers={} jobs={jobs} snapshot={:?} pre_vote={} check_quorum={}",
        args.start,
        args.start + seeds,
        args.servers,
        opts.snapshot,
        !args.no_pre_vote,
        !args.no_check_quorum
    );
    let summary = run_seeds(
        &opts,
        args.start,
        seeds,
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
                "  trace: {} ({} events); draw it: raft-sim --seed {} --servers {} \
                 --fault-secs {} --liveness-secs {} --snapshot-max-gap {}{}{}{} --html seed-{}.html",
                path.display(),
                trace.events.len(),
                r.seed,
                args.servers,
                args.fault_secs,
                args.liveness_secs,
                args.snapshot_max_gap,
                args.snapshot_chunk
                    .map_or(String::new(), |c| format!(" --snapshot-chunk {c}")),
                args.runtime_fault
                    .and_then(|f| f.to_possible_value())
                    .map_or(String::new(), |v| format!(
                        " --runtime-fault {}",
                        v.get_name()
                    )),
                protocol_flags(&args),
                r.seed
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
    eprintln!(
        "leadership: elections_started={} leaders_elected={} transfers_accepted={}",
        summary.elections.started, summary.elections.leaders, summary.elections.transfers
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

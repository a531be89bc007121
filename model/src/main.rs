//! `raft-model`: check, replay and explore the Raft model.
//!
//! Exit codes of `check` (and `hunt`): 0 every property holds on an exhaustive search,
//! 1 violation, 2 bad arguments, 3 the search stopped early, 4 exhaustive
//! and no violation but a sanity property was not reached (vacuous).

use clap::{Args, Parser, Subcommand, ValueEnum};

// The checker allocates and frees states at a high rate.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use raft_model::replay::replay;
use raft_model::search::adapter::Searched;
use raft_model::search::hunt::{hunt, HuntOptions};
use raft_model::search::{self, Options, Strategy};
use raft_model::trace::{self, diagram, table, TraceFile};
use raft_model::{Bug, Config, Fix, RaftModel};
use stateright::Model;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "raft-model",
    version,
    about = "Exhaustive model checking of Raft"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Model-check the Figure 3 properties and the project's invariants.
    Check(CheckArgs),
    /// List the bug catalog: name<TAB>description.
    Bugs,
    /// List the proposed fixes: name<TAB>description.
    Fixes,
    /// Re-check a saved trace against the chosen model.
    Replay(ReplayArgs),
    /// Hunt for bugs by swarm random walks, at bounds too large to exhaust
    /// (never a proof: finding nothing exits 3).
    Hunt(HuntArgs),
    /// Serve stateright's Explorer to browse states.
    Explore(ExploreArgs),
    /// Draw a saved trace as a space-time diagram (HTML page and/or SVG).
    Render(RenderArgs),
}

/// Where to draw a trace: a self-contained HTML page, an SVG, or both.
#[derive(Args, Clone, Default)]
struct PictureArgs {
    /// Write the trace as a self-contained HTML page with a space-time diagram
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Write the space-time diagram as an SVG file (for embedding)
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

impl PictureArgs {
    /// Writes the pictures asked for; false (after saying why) if one failed.
    fn write(&self, file: &TraceFile) -> bool {
        let pictures = [
            (&self.html, diagram::html as fn(&TraceFile) -> String),
            (&self.svg, diagram::svg),
        ];
        let mut ok = true;
        for (path, draw) in pictures {
            let Some(path) = path else { continue };
            match std::fs::write(path, draw(file)) {
                Ok(()) => println!("diagram written to {}", path.display()),
                Err(e) => {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    ok = false;
                }
            }
        }
        ok
    }

    fn any(&self) -> bool {
        self.html.is_some() || self.svg.is_some()
    }
}

/// Where to write a counterexample: a trace file and pictures.
#[derive(Args, Clone, Default)]
struct OutputArgs {
    /// Write the counterexample as an ITF JSON trace
    #[arg(long, value_name = "FILE")]
    trace_out: Option<PathBuf>,
    #[command(flatten)]
    pictures: PictureArgs,
}

impl OutputArgs {
    fn any(&self) -> bool {
        self.trace_out.is_some() || self.pictures.any()
    }
}

#[derive(Args)]
struct RenderArgs {
    /// A trace written by `check --trace-out`
    file: PathBuf,
    #[command(flatten)]
    pictures: PictureArgs,
}

#[derive(Args, Clone, Default)]
struct ModelArgs {
    /// Number of servers [default: 3]
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=7))]
    servers: Option<u8>,
    /// Number of distinct client values [default: 1]
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=15))]
    values: Option<u8>,
    /// Highest term an election may reach [default: 2]
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=15))]
    max_term: Option<u8>,
    /// Longest log a leader may grow [default: 1]
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=15))]
    max_log: Option<u8>,
    /// Most messages in flight at once [default: 3; with --servers N, 2N - 1 - quorum]
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=64))]
    max_in_flight: Option<u8>,
    /// Most entries per AppendEntries, 0 for no limit [default: 0]
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=15))]
    max_batch: Option<u8>,
    /// Restart budget [default: 1]
    #[arg(long)]
    restarts: Option<u8>,
    /// Message-loss budget [default: 1]
    #[arg(long)]
    drops: Option<u8>,
    /// Message-duplication budget [default: 1]
    #[arg(long)]
    duplicates: Option<u8>,
    /// Compaction budget: Snapshot actions in a run [default: 1]
    #[arg(long)]
    snapshots: Option<u8>,
    /// Data-loss budget: restarts that lose the log's last entry, which the
    /// server may have acknowledged [default: 0, off]
    #[arg(long, value_name = "N")]
    lose_tail: Option<u8>,
    /// Pre-vote (Raft thesis §9.6): an election timeout first asks for pre-votes
    /// [default: off]
    #[arg(long)]
    pre_vote: bool,
    /// Check-quorum (Raft thesis §6.2): a leader that heard from no majority since its
    /// last check steps down; a server that heard from a leader ignores RequestVote of a
    /// higher term [default: off]
    #[arg(long)]
    check_quorum: bool,
    /// Leadership transfer (Raft thesis §3.10): an operator may ask a leader to hand over
    /// to a peer, which it does by TimeoutNow once the peer is caught up [default: off]
    #[arg(long)]
    transfer: bool,
    /// Switch restarts off (same as --restarts 0)
    #[arg(long)]
    no_restart: bool,
    /// Switch message loss off (same as --drops 0)
    #[arg(long)]
    no_loss: bool,
    /// Switch message duplication off (same as --duplicates 0)
    #[arg(long)]
    no_duplication: bool,
    /// Switch snapshots off (same as --snapshots 0)
    #[arg(long)]
    no_snapshots: bool,
    /// Switch on a known bug (repeatable; see `raft-model bugs`)
    #[arg(long = "bug", value_name = "NAME", value_parser = parse_bug)]
    bugs: Vec<Bug>,
    /// Switch on a proposed fix (repeatable; see `raft-model fixes`)
    #[arg(long = "fix", value_name = "NAME", value_parser = parse_fix)]
    fixes: Vec<Fix>,
}

#[derive(Clone, Copy, ValueEnum)]
enum SearchArg {
    Auto,
    Dfs,
    Bfs,
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// auto: DFS with symmetry for the proof, then BFS for a shortest counterexample
    #[arg(long, value_enum, default_value = "auto")]
    search: SearchArg,
    /// Do not reduce over server identities
    #[arg(long)]
    no_symmetry: bool,
    /// Checker threads [default: all cores]
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
    /// Stop after this many seconds (the verdict is then `incomplete`)
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// Stop after this many states (the verdict is then `incomplete`)
    #[arg(long, value_name = "N")]
    max_states: Option<usize>,
    #[command(flatten)]
    output: OutputArgs,
    /// Check only this invariant (repeatable; names as printed, e.g.
    /// "Leader Completeness"); the others are not checked
    #[arg(long = "property", value_name = "NAME")]
    properties: Vec<String>,
    /// Check only the state invariants (Figure 3's and the project's), not
    /// the transition properties: the shortest path to a bug's consequence
    /// rather than to the rule it breaks
    #[arg(long, conflicts_with = "properties")]
    no_transitions: bool,
}

#[derive(Args)]
struct HuntArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Seed of the hunt: walk K of seed S is the same on every run
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop after this many walks [default: until the timeout]
    #[arg(long, value_name = "N")]
    walks: Option<u64>,
    /// Run only walk K of the seed (to reproduce a hunt's find)
    #[arg(long, value_name = "K", conflicts_with = "walks")]
    walk: Option<u64>,
    /// The longest walk, in steps
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    depth: u32,
    /// Stop after this many seconds
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    timeout: u64,
    /// Hunting threads [default: all cores]
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
    /// Check only the state invariants, not the transition properties:
    /// hunt for a bug's consequence rather than the rule it breaks
    #[arg(long)]
    no_transitions: bool,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
struct ReplayArgs {
    /// A trace written by `check --trace-out`
    file: PathBuf,
    /// Bugs of the model to replay against (default: the correct model)
    #[arg(long = "bug", value_name = "NAME", value_parser = parse_bug)]
    bugs: Vec<Bug>,
    /// Fixes of the model to replay against
    #[arg(long = "fix", value_name = "NAME", value_parser = parse_fix)]
    fixes: Vec<Fix>,
}

#[derive(Args)]
struct ExploreArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Address to serve the Explorer on
    #[arg(long, default_value = "localhost:3000")]
    addr: String,
}

fn parse_bug(s: &str) -> Result<Bug, String> {
    Bug::from_name(s).ok_or_else(|| {
        let names: Vec<_> = Bug::ALL.iter().map(|b| b.name()).collect();
        format!("unknown bug `{s}`; known bugs: {}", names.join(", "))
    })
}

fn parse_fix(s: &str) -> Result<Fix, String> {
    Fix::from_name(s).ok_or_else(|| {
        let names: Vec<_> = Fix::ALL.iter().map(|f| f.name()).collect();
        format!("unknown fix `{s}`; known fixes: {}", names.join(", "))
    })
}

impl ModelArgs {
    /// The configuration: the default one, or the single bug's preferred
    /// one, with every flag given on the command line applied on top.
    fn config(&self) -> (Config, Option<Bug>) {
        let preferred = match self.bugs.as_slice() {
            [bug] => Some(*bug),
            _ => None,
        };
        let mut c = preferred.map_or_else(Config::default, Bug::preferred_config);
        let set = |field: &mut u8, flag: Option<u8>| {
            if let Some(v) = flag {
                *field = v;
            }
        };
        if let Some(n) = self.servers {
            c.servers = n;
            c.max_in_flight = Config::default_in_flight(n);
        }
        set(&mut c.values, self.values);
        set(&mut c.max_term, self.max_term);
        set(&mut c.max_log, self.max_log);
        set(&mut c.max_in_flight, self.max_in_flight);
        set(&mut c.max_batch, self.max_batch);
        set(&mut c.restarts, self.restarts);
        set(&mut c.drops, self.drops);
        set(&mut c.duplicates, self.duplicates);
        set(&mut c.snapshots, self.snapshots);
        set(&mut c.lose_tail, self.lose_tail);
        if self.pre_vote {
            c.pre_vote = true;
        }
        if self.check_quorum {
            c.check_quorum = true;
        }
        if self.transfer {
            c.transfer = true;
        }
        if self.no_restart {
            c.restarts = 0;
        }
        if self.no_loss {
            c.drops = 0;
        }
        if self.no_duplication {
            c.duplicates = 0;
        }
        if self.no_snapshots {
            c.snapshots = 0;
        }
        c.bugs = self.bugs.iter().copied().collect();
        c.fixes = self.fixes.iter().copied().collect();
        (c, preferred)
    }

    /// The validated configuration, after saying which bug configuration
    /// and notes apply; or the exit code of bad arguments.
    fn checked_config(&self) -> Result<Config, ExitCode> {
        let (config, preferred) = self.config();
        if let Err(e) = config.validate() {
            return Err(bad_args(e));
        }
        if let Some(bug) = preferred {
            eprintln!("using the configuration chosen for bug {bug} (flags override it; see docs/bug-catalog.md)");
        }
        for note in config.bugs.iter().filter_map(|b| b.note()) {
            eprintln!("note: {note}");
        }
        Ok(config)
    }
}

fn bad_args(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Check(args) => run_check(args),
        Cmd::Bugs => {
            for b in Bug::ALL {
                println!("{}\t{}", b.name(), b.description());
            }
            ExitCode::SUCCESS
        }
        Cmd::Fixes => {
            for f in Fix::ALL {
                println!("{}\t{}", f.name(), f.description());
            }
            ExitCode::SUCCESS
        }
        Cmd::Replay(args) => run_replay(args),
        Cmd::Hunt(args) => run_hunt(args),
        Cmd::Explore(args) => run_explore(args),
        Cmd::Render(args) => run_render(args),
    }
}

fn run_check(args: CheckArgs) -> ExitCode {
    let config = match args.model.checked_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut opts = Options {
        strategy: match args.search {
            SearchArg::Auto => Strategy::Auto,
            SearchArg::Dfs => Strategy::Dfs,
            SearchArg::Bfs => Strategy::Bfs,
        },
        symmetry: !args.no_symmetry,
        timeout: args.timeout.map(Duration::from_secs),
        max_states: args.max_states,
        ..Options::default()
    };
    if let Some(t) = args.threads {
        opts.threads = t as usize;
    }
    if args.no_transitions {
        opts.invariants = search::STATE_INVARIANTS_MASK;
    }
    if !args.properties.is_empty() {
        match search::invariant_mask(args.properties.iter().map(String::as_str)) {
            Ok(mask) => opts.invariants = mask,
            Err(name) => {
                let known: Vec<&str> = raft_model::properties::INVARIANTS
                    .iter()
                    .map(|i| i.name)
                    .collect();
                return bad_args(format!(
                    "--property: unknown invariant {name:?} (known: {})",
                    known.join(", ")
                ));
            }
        }
    }
    let outcome = search::check(&config, &opts, &mut std::io::stderr());

    if let Some(cx) = &outcome.counterexample {
        let how = if cx.shortest {
            "a shortest counterexample"
        } else {
            "not necessarily shortest"
        };
        let found_by = "found by raft-model check";
        report_counterexample(&config, cx.property, &cx.steps, how, found_by, &args.output);
    } else {
        if args.output.any() {
            println!("no counterexample: no trace or diagram written");
        }
        for (name, reached) in &outcome.sanity {
            if *reached {
                println!("sanity: reached: {name}");
            } else {
                println!("sanity: NOT REACHED: {name} (the search may be vacuous here; raise the bounds)");
            }
        }
        for name in search::checked_invariants(opts.invariants) {
            let status = if outcome.exhaustive {
                "holds"
            } else {
                "not violated so far"
            };
            println!("property: {status}: {name}");
        }
    }
    if outcome.verdict == search::Verdict::Vacuous {
        let missed: Vec<&str> = outcome
            .sanity
            .iter()
            .filter(|(_, r)| !r)
            .map(|(n, _)| *n)
            .collect();
        println!(
            "vacuous: exhaustive, but not reached: {} (no proof; exit 4)",
            missed.join("; ")
        );
    }
    println!("{}", outcome.verdict_line());
    ExitCode::from(outcome.verdict.exit_code() as u8)
}

/// Prints a counterexample (table and explanation) and writes the files asked for.
fn report_counterexample(
    config: &Config,
    property: &str,
    steps: &search::Path,
    how: &str,
    found_by: &str,
    output: &OutputArgs,
) {
    println!(
        "VIOLATION of {property} after {} steps ({how}):",
        steps.len() - 1
    );
    print!("{}", table::render(steps));
    if let Some((last, _)) = steps.last() {
        for line in raft_model::properties::explain::explain(property, last) {
            println!("why: {line}");
        }
    }
    let file = TraceFile {
        config: config.clone(),
        violation: Some(property.to_string()),
        description: format!("counterexample to {property} {found_by}"),
        steps: steps.clone(),
    };
    if let Some(path) = &output.trace_out {
        match trace::write_trace(path, &file) {
            Ok(()) => println!("trace written to {}", path.display()),
            Err(e) => eprintln!("error: cannot write trace to {}: {e}", path.display()),
        }
    }
    output.pictures.write(&file);
}

fn run_hunt(args: HuntArgs) -> ExitCode {
    let config = match args.model.checked_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut opts = HuntOptions {
        seed: args.seed,
        walks: args.walks,
        only_walk: args.walk,
        max_depth: args.depth as usize,
        timeout: Some(Duration::from_secs(args.timeout)),
        ..HuntOptions::default()
    };
    if args.no_transitions {
        opts.invariants = search::STATE_INVARIANTS_MASK;
    }
    if let Some(t) = args.threads {
        opts.threads = t as usize;
    }
    eprintln!(
        "hunting (swarm walks, seed {}, {} threads, depth <= {}): {}",
        opts.seed,
        opts.threads,
        opts.max_depth,
        config.summary()
    );
    let model = RaftModel::new(config.clone());
    let outcome = hunt(&model, &opts, &mut std::io::stderr());
    match &outcome.found {
        Some(found) => {
            let how = format!(
                "found by walk {} of seed {} after {} steps, shrunk by delta debugging; not necessarily shortest",
                found.walk, opts.seed, found.walk_steps
            );
            let by = format!("found by raft-model hunt --seed {} --walk {}", opts.seed, found.walk);
            report_counterexample(&config, found.property, &found.steps, &how, &by, &args.output);
        }
        None => println!(
            "no violation found in {} walks: this is no proof (exit 3); `raft-model check` proves, at bounds it can exhaust",
            outcome.walks
        ),
    }
    println!("{}", outcome.verdict_line());
    ExitCode::from(outcome.verdict.exit_code() as u8)
}

fn run_render(args: RenderArgs) -> ExitCode {
    if !args.pictures.any() {
        return bad_args("render: give --html FILE and/or --svg FILE");
    }
    let file = match trace::read_trace(&args.file) {
        Ok(f) => f,
        Err(e) => return bad_args(format!("{}: {e}", args.file.display())),
    };
    if args.pictures.write(&file) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn run_replay(args: ReplayArgs) -> ExitCode {
    let file = match trace::read_trace(&args.file) {
        Ok(f) => f,
        Err(e) => return bad_args(format!("{}: {e}", args.file.display())),
    };
    let mut config = file.config.clone();
    config.bugs = args.bugs.iter().copied().collect();
    config.fixes = args.fixes.iter().copied().collect();
    if let Err(e) = config.validate() {
        return bad_args(format!("{}: config: {e}", args.file.display()));
    }
    println!(
        "replaying {} ({} steps) against: {}",
        args.file.display(),
        file.steps.len() - 1,
        config.summary()
    );
    let report = replay(&RaftModel::new(config), &file);
    print!("{}", report.summary());
    if report.violation.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn run_explore(args: ExploreArgs) -> ExitCode {
    let (config, _) = args.model.config();
    if let Err(e) = config.validate() {
        return bad_args(e);
    }
    // stateright panics if it cannot bind; check first for a clear error.
    if let Err(e) = std::net::TcpListener::bind(&args.addr) {
        return bad_args(format!("cannot listen on {}: {e}", args.addr));
    }
    println!(
        "Explorer for {} at http://{}/ (Ctrl-C to stop)",
        config.summary(),
        args.addr
    );
    Searched::new(RaftModel::new(config))
        .checker()
        .serve(args.addr.as_str());
    ExitCode::SUCCESS
}

//! `raft-conformance`: the command line.
//!
//! Exit status: 0 pass, 1 divergence / violation / incomplete coverage,
//! 2 bad input (an unreadable trace, an unknown mutant).

use clap::{Parser, Subcommand};
use raft_conformance::suite::{self, SuiteOptions};
use raft_conformance::{
    catalog, divergence_html, fixcheck, simvalidate, validate, Mutant, Mutation,
};
use raft_model::Bug;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "raft-conformance",
    about = "Checks the Raft core against the Raft model"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the generated suite (coverage, catalog, random walks) on the core.
    Run {
        /// Run it on a core carrying this catalog bug (see `mutants`); stops at the first divergence.
        #[arg(long, value_name = "NAME")]
        mutant: Option<String>,
        /// A smaller suite (coverage in a smaller bound, fewer walks).
        #[arg(long)]
        quick: bool,
        /// Leave out the catalog's saved counterexamples: does the generated suite alone find
        /// the mutant?
        #[arg(long)]
        no_catalog: bool,
    },
    /// Replay a saved ITF trace on the core, evaluating the model's invariants on it.
    Replay {
        file: PathBuf,
        #[arg(long, value_name = "NAME")]
        mutant: Option<String>,
        /// Also write a self-contained HTML page: the model's diagram of the prefix and the
        /// divergent step side by side (model vs core, differing fields marked).
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// List the mutants: name<TAB>where in the core.
    Mutants,
    /// Check runs against the model (trace validation): simulator runs in conformance mode
    /// (`--source sim`, the default) or the harness's own random driver (`--source own`).
    Validate {
        /// Where the runs come from.
        #[arg(long, value_enum, default_value_t = Source::Sim)]
        source: Source,
        /// Number of seeds (runs).
        #[arg(long, default_value_t = 200)]
        seeds: u64,
        /// Steps recorded per simulator run (`own`: events per run).
        #[arg(long, default_value_t = 400)]
        events: usize,
        /// Write the first failing run's model prefix here (an ITF file `replay` reads); for
        /// `sim`, its step trace also goes to FILE with extension `.steps.json`.
        #[arg(long, value_name = "FILE")]
        trace_out: Option<PathBuf>,
    },
    /// Regenerate the saved catalog counterexamples with the model checker.
    Counterexamples {
        #[arg(long, default_value = "conformance/traces")]
        out: PathBuf,
        /// Give up on a bug after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Source {
    /// `raft_sim` in conformance mode under random faults.
    Sim,
    /// The conformance harness's own random driver.
    Own,
}

fn mutant(name: Option<&str>) -> Result<Option<Mutant>, ExitCode> {
    match name {
        None => Ok(None),
        Some(n) => match Mutant::from_name(n) {
            Some(m) => Ok(Some(m)),
            None => {
                eprintln!("error: unknown mutant `{n}` (see `raft-conformance mutants`)");
                Err(ExitCode::from(2))
            }
        },
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            mutant: name,
            quick,
            no_catalog,
        } => {
            let m = match mutant(name.as_deref()) {
                Ok(m) => m,
                Err(code) => return code,
            };
            let mut opts = if quick {
                SuiteOptions::quick(m)
            } else {
                SuiteOptions::full(m)
            };
            opts.catalog &= !no_catalog;
            let mut out = std::io::stdout();
            match suite::run(&opts, &mut out) {
                Ok(summary) => {
                    if let (Some(m), Some(f)) = (m, &summary.first) {
                        println!(
                            "mutant {m} detected: {} at step {} of {} after {:.2}s",
                            f.divergence.verdict.name(),
                            f.divergence.step,
                            f.source,
                            f.at_secs
                        );
                    }
                    println!("{}", summary.line());
                    let _ = out.flush();
                    ExitCode::from(if summary.passed() { 0 } else { 1 })
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Replay {
            file,
            mutant: name,
            html,
        } => {
            let m = match mutant(name.as_deref()) {
                Ok(m) => m,
                Err(code) => return code,
            };
            let trace = match raft_model::trace::read_trace(&file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            println!(
                "replaying {}: {} steps, {}; core: {}",
                file.display(),
                trace.steps.len() - 1,
                trace.config.summary(),
                m.map_or("correct".to_string(), |m| format!("mutant {m}"))
            );
            let report = fixcheck::replay_trace(&trace, m);
            print!("{}", report.text());
            if let Some(path) = html {
                let core = m.map_or("correct core".to_string(), |m| format!("mutant {m}"));
                let page = divergence_html::html(&trace, &report, &core);
                if let Err(e) = std::fs::write(&path, page) {
                    eprintln!("error: {}: {e}", path.display());
                    return ExitCode::from(2);
                }
                println!("html written to {}", path.display());
            }
            ExitCode::from(if report.failed() { 1 } else { 0 })
        }
        Command::Mutants => {
            for m in Mutant::all() {
                let core = m.core().map(Mutation::site);
                let app = m.application();
                let app = [
                    (
                        app.compact_to_last_index,
                        "application: compacts up to its last index",
                    ),
                    (
                        app.state_one_entry_short,
                        "application: snapshot state one entry short",
                    ),
                ]
                .into_iter()
                .filter_map(|(on, what)| on.then_some(what));
                let sites: Vec<&str> = core.into_iter().chain(app).collect();
                println!("{m}\t{}", sites.join("; "));
            }
            ExitCode::SUCCESS
        }
        Command::Validate {
            source,
            seeds,
            events,
            trace_out,
        } => {
            let mut out = std::io::stdout();
            let (line, failures) = match source {
                Source::Sim => {
                    let s = simvalidate::run(seeds, events, trace_out.as_deref(), &mut out);
                    (s.line(), s.failures)
                }
                Source::Own => {
                    let s = validate::run(seeds, events, trace_out.as_deref(), &mut out);
                    (s.line(), s.failures)
                }
            };
            println!("{line}");
            ExitCode::from(if failures == 0 { 0 } else { 1 })
        }
        Command::Counterexamples { out, timeout } => {
            let mut code = ExitCode::SUCCESS;
            for bug in Bug::ALL {
                let path = out.join(format!("{bug}.json"));
                match catalog::generate(bug, Duration::from_secs(timeout)) {
                    Some(t) => match raft_model::trace::write_trace(&path, &t) {
                        Ok(()) => {
                            println!("{bug}: {} steps -> {}", t.steps.len() - 1, path.display())
                        }
                        Err(e) => {
                            eprintln!("error: {}: {e}", path.display());
                            code = ExitCode::from(2);
                        }
                    },
                    None => {
                        println!("{bug}: no counterexample in its preferred config (or timed out)")
                    }
                }
            }
            code
        }
    }
}

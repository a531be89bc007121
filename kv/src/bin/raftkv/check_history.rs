//! `raftkv check-history FILE [--html OUT]`: is a recorded history linearizable?

use std::path::PathBuf;
use std::process::ExitCode;

use raft_kv::history::{linearize, timeline, History};

#[derive(clap::Args)]
pub struct CheckHistoryArgs {
    /// A history in the raft-kv-history JSON format (`raftkv bench --history`, the tests)
    file: PathBuf,
    /// Also draw it: a timeline per client, as a self-contained HTML page
    #[arg(long, value_name = "OUT")]
    html: Option<PathBuf>,
    /// Most states the partial-linearization search visits per key (for the picture)
    #[arg(long, default_value_t = 2_000_000)]
    budget: usize,
}

/// Exit 0: linearizable; 1: not; 2: the file cannot be read.
pub fn run(args: CheckHistoryArgs) -> ExitCode {
    let history = match std::fs::read_to_string(&args.file)
        .map_err(|e| e.to_string())
        .and_then(|text| History::from_json(&text))
    {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    let verdict = history.check();
    let line = match &verdict {
        Ok(()) => format!(
            "linearizable: {} operations ({} completed)",
            history.operations().len(),
            history.completed()
        ),
        Err(e) => format!("NOT linearizable: {e}"),
    };
    println!("{line}");
    if let Some(out) = &args.html {
        let reports = if verdict.is_ok() {
            Vec::new()
        } else {
            linearize::analyze(&history, args.budget)
        };
        for r in reports.iter().filter(|r| !r.linearizable) {
            println!(
                "key {:?}: longest linearization places {} operations; {} cannot be placed",
                r.key,
                r.order.len(),
                r.unplaced.len()
            );
        }
        if let Err(e) = std::fs::write(out, timeline::html(&history, &reports, &line)) {
            eprintln!("error: cannot write {}: {e}", out.display());
            return ExitCode::from(2);
        }
        println!("timeline written to {}", out.display());
    }
    if verdict.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

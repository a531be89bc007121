//! Refreshes the real outputs in docs/bug-catalog.md.
//!
//! ```sh
//! cargo build --release -p raft-model
//! cargo run --release -p raft-model --example catalog_doc -- docs/bug-catalog.md
//! ```
//!
//! Every `<!-- check: ARGS -->` line is followed by a `<details>` block with
//! the output of `raft-model check ARGS` (the step table, the `why:` lines
//! and the verdict); the block between `<!-- summary-table -->` and
//! `<!-- /summary-table -->` becomes a table of every catalog bug: the rule
//! it breaks first, and its consequence among the state invariants, each
//! with its steps and wall-clock seconds measured in this run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

struct Run {
    /// "VIOLATION of X after N steps (...)" or the verdict line.
    headline: String,
    body: String,
    secs: f64,
}

fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the example's own path");
    // target/release/examples/catalog_doc -> target/release/raft-model
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("raft-model")
}

fn run(args: &[String]) -> Run {
    let start = Instant::now();
    let out = Command::new(binary())
        .arg("check")
        .args(args)
        .output()
        .expect("raft-model runs");
    let secs = start.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let config = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("checking (")
                .and_then(|l| l.split_once("): "))
                .map(|(_, c)| c)
        })
        .unwrap_or("");
    let headline = stdout
        .lines()
        .find(|l| l.starts_with("VIOLATION of"))
        .or_else(|| stdout.lines().last())
        .unwrap_or("")
        .to_string();
    let body: Vec<&str> = stdout
        .lines()
        .filter(|l| {
            !l.starts_with("VIOLATION of")
                && !l.starts_with("property: ")
                && !l.starts_with("sanity: ")
        })
        .collect();
    Run {
        headline,
        body: format!("configuration: {config}\n{}", body.join("\n")),
        secs,
    }
}

/// Splits a quoted command line (`--property "Leader Completeness"`).
fn split(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut word = String::new();
    for c in args.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// "VIOLATION of P after N steps" -> (P, N).
fn property_and_steps(headline: &str) -> Option<(String, usize)> {
    let rest = headline.strip_prefix("VIOLATION of ")?;
    let (property, rest) = rest.split_once(" after ")?;
    let steps = rest.split_whitespace().next()?.parse().ok()?;
    Some((property.to_string(), steps))
}

fn summary_table() -> String {
    let bugs = Command::new(binary())
        .arg("bugs")
        .output()
        .expect("raft-model bugs");
    let mut out = String::from(
        "| bug | the rule it breaks first | steps | s | its consequence (`--no-transitions`) | steps | s |\n| --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for line in String::from_utf8_lossy(&bugs.stdout).lines() {
        let name = line.split('\t').next().unwrap_or_default();
        let cause = run(&split(&format!("--bug {name}")));
        let effect = run(&split(&format!("--bug {name} --no-transitions")));
        let cell = |r: &Run| match property_and_steps(&r.headline) {
            Some((p, n)) => format!("{p} | {n} | {:.1}", r.secs),
            None => format!("none in these bounds | - | {:.1}", r.secs),
        };
        out.push_str(&format!(
            "| `{name}` | {} | {} |\n",
            cell(&cause),
            cell(&effect)
        ));
    }
    out
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "docs/bug-catalog.md".into());
    let text = std::fs::read_to_string(&path).expect("the catalog");
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        out.push_str(line);
        out.push('\n');
        if line.trim() == "<!-- summary-table -->" {
            out.push_str(&summary_table());
            for skipped in lines.by_ref() {
                if skipped.trim() == "<!-- /summary-table -->" {
                    out.push_str(skipped);
                    out.push('\n');
                    break;
                }
            }
        } else if let Some(args) = line
            .trim()
            .strip_prefix("<!-- check: ")
            .and_then(|l| l.strip_suffix(" -->"))
        {
            // Drop the old block, if any.
            if lines.peek().is_some_and(|l| l.starts_with("<details>")) {
                for skipped in lines.by_ref() {
                    if skipped.starts_with("</details>") {
                        break;
                    }
                }
            }
            let r = run(&split(args));
            eprintln!("{args}: {} ({:.1} s)", r.headline, r.secs);
            out.push_str(&format!(
                "<details><summary>{} (<code>raft-model check {args}</code>, {:.1} s)</summary>\n\n```text\n{}\n```\n</details>\n",
                r.headline.trim_end_matches(':'),
                r.secs,
                r.body
            ));
        }
    }
    std::fs::write(&path, out).expect("write the catalog");
}

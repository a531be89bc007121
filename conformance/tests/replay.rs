//! Replaying saved traces: catalog counterexamples, and bad files.

use raft_conformance::replay::Verdict;
use raft_conformance::{catalog, fixcheck};
use raft_model::{Bug, RaftModel};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_raft-conformance"))
}

#[test]
fn a_counterexample_is_reproduced_by_its_mutant_and_avoided_by_the_correct_core() {
    for bug in Bug::ALL {
        let Some(cx) = catalog::saved(bug) else {
            continue;
        };
        let cx = cx.unwrap();
        let m = raft_conformance::Mutant(bug);
        let buggy = fixcheck::replay_trace(&cx, Some(m));
        assert!(
            buggy.divergence.is_none(),
            "{bug}: the mutant follows its counterexample: {}",
            buggy.text()
        );
        let (k, names) = buggy
            .violation
            .clone()
            .unwrap_or_else(|| panic!("{bug}: {}", buggy.text()));
        let model = raft_model::replay::replay(&RaftModel::new(cx.config.clone()), &cx);
        let (model_k, model_names) = model
            .violation
            .expect("a counterexample violates an invariant");
        assert_eq!(
            (k, &names),
            (model_k, &model_names),
            "{bug}: the core breaks what the model breaks, where it does"
        );
        assert!(buggy.failed());

        let fixed = fixcheck::replay_trace(&cx, None);
        let d = fixed
            .divergence
            .as_ref()
            .unwrap_or_else(|| panic!("{bug}: the correct core departs"));
        assert_ne!(d.verdict, Verdict::NotEnabled, "{bug}");
        assert!(fixed.violation.is_none(), "{bug}: {}", fixed.text());
        assert!(!fixed.failed());
    }
}

#[test]
fn replay_cli_reports_the_reproduced_violation() {
    let cases = [
        (Bug::VoteResetOnSameTerm, "violation reproduced at step 3: one vote per term"),
        (
            Bug::AcceptStaleReply,
            "violation reproduced at step 23: progress moves only on a response of the leader's term",
        ),
    ];
    for (bug, reproduced) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        std::fs::write(&path, catalog::saved_json(bug).unwrap()).unwrap();
        let path = path.to_str().unwrap();
        let out = bin()
            .args(["replay", path, "--mutant", bug.name()])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert!(stdout.contains(reproduced), "{stdout}");

        let out = bin().args(["replay", path]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        assert!(
            stdout.contains("the implementation departs from the trace at step"),
            "{stdout}"
        );
        assert!(
            stdout.contains("no invariant broke in the implementation"),
            "{stdout}"
        );
    }
}

#[test]
fn a_truncated_trace_is_an_error_naming_line_and_field_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let text = catalog::saved_json(Bug::VoteNotPersisted).unwrap();
    let path = dir.path().join("cut.json");
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    let out = bin()
        .args(["replay", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("line ") && stderr.contains("field `"),
        "{stderr}"
    );

    let wrong = text.replacen("\"current_term\": 0", "\"current_term\": \"zero\"", 1);
    assert_ne!(wrong, text);
    std::fs::write(&path, wrong).unwrap();
    let out = bin()
        .args(["replay", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("current_term"), "{stderr}");
}

#[test]
fn an_unknown_mutant_is_exit_2() {
    let out = bin()
        .args(["run", "--mutant", "no-such-bug"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_trace_that_is_not_a_behaviour_is_not_enabled() {
    let mut cx = catalog::saved(Bug::NoUpToDateCheck).unwrap().unwrap();
    cx.config.bugs.clear();
    let report = fixcheck::replay_trace(&cx, None);
    let d = report
        .divergence
        .expect("the correct model does not allow the bug's step");
    assert_eq!(d.verdict, Verdict::NotEnabled);
}

#[test]
fn replay_html_shows_the_divergent_step_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("div.html");
    let trace = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/traces/install-discards-suffix.json"
    );
    let out = bin()
        .args(["replay", trace, "--html"])
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "the correct core avoids the bug"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("departs from the trace at step 21 of 21: incorrect-state"));
    // The one differing field, s2's log, is marked on both sides; the others are not.
    assert_eq!(html.matches("class=\"diff\"").count(), 2, "{html}");
    assert!(html.contains("<td class=\"diff\">[]</td><td class=\"diff\">[(1,1)]</td>"));
    // Self-contained: no stylesheet, script or image fetched at view time.
    assert!(html.contains("<svg"));
    for fetch in ["<link", "<script", "src=", "@import"] {
        assert!(!html.contains(fetch), "{fetch}");
    }
    // A mutant that follows the whole trace: no side-by-side table.
    let out = bin()
        .args([
            "replay",
            trace,
            "--mutant",
            "install-discards-suffix",
            "--html",
        ])
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "the violation is reproduced");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("follows all 21 steps"));
    assert!(html.contains("Invariant broken in the implementation at step 21"));
    assert!(!html.contains("class=\"side\""));
}

//! The CLI contract scripts and CI rely on.

use std::process::Command;

fn raft_model(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_raft-model"))
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or_default()
}

const SMALL: &[&str] = &[
    "check",
    "--max-term",
    "2",
    "--max-log",
    "1",
    "--max-in-flight",
    "3",
    "--no-loss",
    "--no-duplication",
];

#[test]
fn exhaustive_check_exits_0_with_a_verdict_line() {
    let (code, out, _) = raft_model(SMALL);
    assert_eq!(code, 0, "{out}");
    let last = last_line(&out);
    assert!(last.starts_with("verdict: ok states="), "{last}");
    assert!(last.contains("exhaustive=true"), "{last}");
    for field in ["unique_states=", "max_depth=", "secs="] {
        assert!(last.contains(field), "{last}");
    }
}

#[test]
fn a_bug_exits_1_and_prints_the_counterexample() {
    let (code, out, _) = raft_model(&["check", "--bug", "vote-reset-on-same-term"]);
    assert_eq!(code, 1);
    assert!(out.contains("VIOLATION of one vote per term"), "{out}");
    assert!(out.contains("election timeout at s"), "{out}");
    assert!(last_line(&out).starts_with("verdict: violation"));
}

#[test]
fn a_stopped_search_exits_3_and_never_claims_a_proof() {
    let (code, out, _) = raft_model(&["check", "--max-states", "1000"]);
    assert_eq!(code, 3, "{out}");
    let last = last_line(&out);
    assert!(last.starts_with("verdict: incomplete"), "{last}");
    assert!(last.contains("exhaustive=false"), "{last}");
    assert!(!out.contains("property: holds"), "{out}");
}

#[test]
fn bad_arguments_exit_2_naming_the_flag_or_value() {
    let (code, _, err) = raft_model(&["check", "--bug", "no-such-bug"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no-such-bug") && err.contains("vote-reset-on-same-term"),
        "{err}"
    );
    let (code, _, err) = raft_model(&["check", "--servers", "9"]);
    assert_eq!(code, 2);
    assert!(err.contains("--servers"), "{err}");
    let (code, _, err) = raft_model(&["check", "--frobnicate"]);
    assert_eq!(code, 2);
    assert!(err.contains("--frobnicate"), "{err}");
    let (code, _, err) = raft_model(&["check", "--property", "Leader Happiness"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--property") && err.contains("Leader Happiness"),
        "{err}"
    );
}

#[test]
fn property_selects_which_invariants_are_checked() {
    // log-not-persisted breaks "match_index is accurate" first; asked for
    // Leader Completeness only, the checker finds that instead.
    let (code, out, err) = raft_model(&[
        "check",
        "--bug",
        "log-not-persisted",
        "--property",
        "leader completeness",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("VIOLATION of Leader Completeness after 17 steps"),
        "{out}"
    );
    assert!(err.contains("checking only: Leader Completeness"), "{err}");
    let (code, out, _) = raft_model(&["check", "--bug", "log-not-persisted", "--no-transitions"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("VIOLATION of match_index is accurate after 10 steps"),
        "{out}"
    );
    let (code, out, _) = raft_model(&["check", "--bug", "log-not-persisted"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("VIOLATION of a restart keeps persistent state after 5 steps"),
        "{out}"
    );
    let (code, _, err) = raft_model(&["check", "--no-transitions", "--property", "Log Matching"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn bugs_and_fixes_list_name_tab_description() {
    let (code, out, _) = raft_model(&["bugs"]);
    assert_eq!(code, 0);
    let names: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert!(names.contains(&"commit-previous-term"));
    assert!(out
        .lines()
        .all(|l| l.split('\t').count() == 2 && !l.ends_with('\t')));
    let (code, out, _) = raft_model(&["fixes"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("reject-prev-below-commit\t"));
}

#[test]
fn trace_out_then_replay_reproduces_and_the_correct_model_departs() {
    let dir = std::env::temp_dir().join(format!("raft-model-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("t.json");
    let f = file.to_str().unwrap();
    let (code, out, _) = raft_model(&["check", "--bug", "vote-not-persisted", "--trace-out", f]);
    assert_eq!(code, 1);
    assert!(out.contains("trace written to"), "{out}");
    let (code, out, _) = raft_model(&["replay", f, "--bug", "vote-not-persisted"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("behaviour: yes")
            && out.contains("violation: a restart keeps persistent state, a vote stands for the whole term at step 2"),
        "{out}"
    );
    let (code, out, _) = raft_model(&["replay", f]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("behaviour: no") && out.contains("violation: none"),
        "{out}"
    );
    std::fs::write(&file, "{\"#meta\": {").unwrap();
    let (code, _, err) = raft_model(&["replay", f]);
    assert_eq!(code, 2);
    assert!(err.contains("line"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_and_render_draw_the_counterexample() {
    let dir = std::env::temp_dir().join(format!("raft-model-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, page, picture) = (dir.join("t.json"), dir.join("t.html"), dir.join("t.svg"));
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (code, out, _) = raft_model(&[
        "check",
        "--bug",
        "vote-reset-on-same-term",
        "--trace-out",
        &path(&json),
        "--html",
        &path(&page),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("why: s1 voted for s0 and s1 in term 1"),
        "{out}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("VIOLATION of one vote per term after 3 steps"));
    let (code, out, _) = raft_model(&["render", &path(&json), "--svg", &path(&picture)]);
    assert_eq!(code, 0, "{out}");
    assert!(std::fs::read_to_string(&picture)
        .unwrap()
        .starts_with("<svg"));
    // Nothing to draw to, and a file that is no trace: bad arguments.
    let (code, _, err) = raft_model(&["render", &path(&json)]);
    assert_eq!(code, 2, "{err}");
    std::fs::write(&json, "{\"#meta\": 3}").unwrap();
    let (code, _, err) = raft_model(&["render", &path(&json), "--html", &path(&page)]);
    assert_eq!(code, 2);
    assert!(err.contains("line 1"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Five servers, one term, no entries and no faults: small enough to exhaust.
const FIVE: &[&str] = &[
    "check",
    "--servers",
    "5",
    "--max-term",
    "1",
    "--max-log",
    "0",
    "--no-snapshots",
    "--no-restart",
    "--no-loss",
    "--no-duplication",
];

#[test]
fn a_proof_that_misses_a_sanity_property_exits_4_naming_it() {
    // Four in flight: a new leader's four AppendEntries never fit, so no
    // leader is ever elected; the search is exhaustive and proves nothing.
    let mut args = FIVE.to_vec();
    args.extend(["--max-in-flight", "4"]);
    let (code, out, _) = raft_model(&args);
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("sanity: NOT REACHED: a leader is elected"),
        "{out}"
    );
    assert!(
        out.contains("vacuous: exhaustive, but not reached: a leader is elected"),
        "{out}"
    );
    let last = last_line(&out);
    assert!(last.starts_with("verdict: vacuous"), "{last}");
    assert!(last.contains("exhaustive=true"), "{last}");
}

#[test]
fn messages_in_flight_scale_with_servers_so_five_servers_elect_a_leader() {
    let (code, out, err) = raft_model(FIVE);
    assert!(err.contains("max_in_flight=6"), "{err}");
    assert!(
        out.contains("sanity: reached: a leader is elected"),
        "{out}"
    );
    // No entries: commits are still out of reach, and that is not a proof.
    assert!(
        out.contains("sanity: NOT REACHED: an entry is committed"),
        "{out}"
    );
    assert_eq!(code, 4, "{out}");
}

#[test]
fn hunt_exits_1_on_a_bug_and_3_when_it_finds_nothing() {
    let (code, out, err) = raft_model(&["hunt", "--bug", "accept-stale-reply", "--walks", "20000"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("VIOLATION of "), "{out}");
    assert!(
        out.contains("shrunk by delta debugging; not necessarily shortest"),
        "{out}"
    );
    assert!(
        last_line(&out).starts_with("verdict: violation walks="),
        "{out}"
    );
    let (code, out, err) = raft_model(&["hunt", "--walks", "50", "--max-term", "3"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("this is no proof"), "{out}");
    assert!(
        last_line(&out).starts_with("verdict: incomplete walks=50 "),
        "{out}"
    );
    let (code, _, err) = raft_model(&["hunt", "--depth", "0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--depth"), "{err}");
}

//! The data-loss fault (issue 14): a restart that loses the log's last
//! entry, which the server may have acknowledged. With the recovery rules
//! the correct model keeps every property; the fault is off by default.

mod common;

use common::Scenario;
use raft_model::replay::replay;
use raft_model::search::{check_quietly, Strategy, Verdict};
use raft_model::state::Message;
use raft_model::trace::diagram::html;
use raft_model::trace::itf::{from_json, to_json};
use raft_model::trace::table::render;
use raft_model::trace::{read_trace, TraceFile};
use raft_model::{Action, Bug, Config, RaftModel};
use std::process::Command;

const REPAIRED: &str = "a server that lost its tail is repaired";

fn lose_tail(config: Config) -> Config {
    Config {
        lose_tail: 1,
        ..config
    }
}

#[test]
fn the_correct_model_holds_with_a_lost_tail_and_repairs_the_server() {
    let outcome = check_quietly(&lose_tail(common::small()), Strategy::Dfs, true);
    assert_eq!(outcome.verdict, Verdict::Ok, "{:?}", outcome.sanity);
    assert!(outcome.exhaustive);
    assert!(
        outcome.sanity.iter().any(|(n, r)| *n == REPAIRED && *r),
        "{:?}",
        outcome.sanity
    );
}

#[test]
fn the_correct_model_holds_with_a_lost_tail_and_compaction() {
    let c = lose_tail(Config {
        snapshots: 1,
        ..common::small()
    });
    let outcome = check_quietly(&c, Strategy::Dfs, true);
    assert_eq!(outcome.verdict, Verdict::Ok, "{:?}", outcome.sanity);
}

#[test]
fn the_fault_is_off_by_default_and_needs_an_entry_to_lose() {
    assert_eq!(Config::default().lose_tail, 0);
    let model = RaftModel::new(Config::default());
    let mut actions = Vec::new();
    model.actions(&model.init_state(), &mut actions);
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::RestartLosingTail(_))));
    // Switched on, an empty log has nothing to lose.
    let model = RaftModel::new(lose_tail(Config::default()));
    let init = model.init_state();
    assert!(!model.enabled(&init, &Action::RestartLosingTail(0)));
    // Without the fault the repair is not expected of the search.
    let outcome = check_quietly(&common::small(), Strategy::Dfs, true);
    assert!(outcome.sanity.iter().all(|(n, _)| *n != REPAIRED));
}

/// s0 commits (1,1) with s1's acknowledgement; s1 restarts having lost it.
fn acknowledged_entry_lost() -> Scenario {
    let mut sc = Scenario::new(lose_tail(Config {
        max_in_flight: 10,
        ..common::small()
    }));
    sc.s0_leads_and_s1_stores_one_entry();
    sc.deliver(1, 0, "AppendEntriesResponse");
    sc.act(Action::RestartLosingTail(1));
    sc
}

fn trace(sc: &Scenario) -> TraceFile {
    TraceFile {
        config: sc.model.config.clone(),
        violation: None,
        description: "a lost tail".into(),
        steps: sc.path(),
    }
}

#[test]
fn the_lost_tail_renders_and_round_trips_through_itf() {
    let sc = acknowledged_entry_lost();
    let t = trace(&sc);
    let json = to_json(&t);
    assert!(json.contains(r#""mbt::actionTaken": "restart_losing_tail""#));
    assert!(json.contains(r#""lost_up_to": 1"#));
    assert!(json.contains(r#""lose_tail": 1"#));
    assert_eq!(from_json(&json).expect("reads back"), t);
    let report = replay(&RaftModel::new(t.config.clone()), &t);
    assert_eq!((report.divergence, report.violation), (None, None));
    let table = render(&t.steps);
    assert!(table.contains("restart s1, losing its log's last entry"));
    assert!(table.contains("lost_up_to 0 -> 1"), "{table}");
    let page = html(&t);
    assert!(page.contains("lost≤1"), "the recovering server's cell");
    // A trace without the fault writes neither field.
    let mut plain = Scenario::new(common::small());
    plain.act(Action::ElectionTimeout(0));
    let json = to_json(&trace(&plain));
    assert!(!json.contains("lost_up_to") && !json.contains("lose_tail"));
}

#[test]
fn the_saved_counterexample_replays_in_the_buggy_model_only() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../conformance/traces/forget-lost-tail.json"
    );
    let t = read_trace(std::path::Path::new(path)).expect("the saved trace");
    assert!(t.config.has(Bug::ForgetLostTail) && t.config.lose_tail == 1);
    let buggy = replay(&RaftModel::new(t.config.clone()), &t);
    assert_eq!(buggy.divergence, None);
    assert!(buggy.violation.is_some());
    let mut correct = t.config.clone();
    correct.bugs.clear();
    let d = replay(&RaftModel::new(correct), &t)
        .divergence
        .expect("the correct model records the loss");
    assert!(d.reason.contains("lost_up_to 0 -> 1"), "{}", d.reason);
}

#[test]
fn the_cli_lists_the_bug_and_takes_the_switch() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_raft-model"))
            .args(args)
            .output()
            .expect("the binary runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code(), stdout)
    };
    let (code, bugs) = run(&["bugs"]);
    assert_eq!(code, Some(0));
    assert!(bugs.lines().any(|l| l.starts_with("forget-lost-tail\t")));
    let small = [
        "check",
        "--lose-tail",
        "1",
        "--max-in-flight",
        "3",
        "--drops",
        "0",
        "--duplicates",
        "0",
        "--snapshots",
        "0",
    ];
    let (code, out) = run(&small);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("sanity: reached: {REPAIRED}")),
        "{out}"
    );
    let (code, out) = run(&["check", "--bug", "forget-lost-tail", "--no-transitions"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("VIOLATION of match_index is accurate"),
        "{out}"
    );
    let (code, _) = run(&["check", "--lose-tail", "x"]);
    assert_eq!(code, Some(2));
}

/// The leader rule acts without any loss: a refusal of the leader's term
/// that arrives after a later success (the replies crossed) lowers
/// match_index, where the old clamp at match_index + 1 ignored it. Safe (a
/// lower match_index only delays a commit) but it costs a re-send, and the
/// core must do the same to conform.
#[test]
fn a_crossed_refusal_lowers_match_index_without_any_loss() {
    let mut sc = Scenario::new(Config {
        max_in_flight: 20,
        ..common::small()
    });
    // s0 leads term 1 and replicates (1,1) to s1 only.
    sc.s0_leads_and_s1_stores_one_entry();
    // s1 leads term 2 with s2's vote; s2 (empty log) refuses its first two
    // AppendEntries (prev_log_index 1).
    sc.act(Action::ElectionTimeout(1));
    sc.deliver_term(1, 2, "RequestVote", 2)
        .deliver_term(2, 1, "RequestVoteResponse", 2);
    sc.act(Action::Heartbeat(1));
    let term2 = |m: &Message| m.term() == 2;
    sc.deliver_if(1, 2, "AppendEntries", term2)
        .deliver_if(1, 2, "AppendEntries", term2);
    // The first refusal backs s1 off; s2 accepts (1,1) and s1 learns it.
    sc.deliver_term(2, 1, "AppendEntriesResponse", 2);
    sc.act(Action::Heartbeat(1));
    sc.deliver_if(
        1,
        2,
        "AppendEntries",
        |m| matches!(m, Message::AppendEntries(ae) if ae.term == 2 && !ae.entries.is_empty()),
    );
    sc.deliver_if(
        2,
        1,
        "AppendEntriesResponse",
        |m| matches!(m, Message::AppendEntriesResponse(r) if r.success),
    );
    assert_eq!(sc.state.servers[1].match_index[2], 1);
    // The second refusal, older than that success, arrives last.
    sc.deliver_term(2, 1, "AppendEntriesResponse", 2);
    let s1 = &sc.state.servers[1];
    assert_eq!((s1.match_index[2], s1.next_index[2]), (0, 1));
    assert!(raft_model::properties::violated(&sc.state).is_empty());
}

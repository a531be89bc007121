//! Traces: JSON round trips, ITF compatibility, replay verdicts, clear
//! errors for bad files; random walks of the correct model never break an
//! invariant.

mod common;

use proptest::prelude::*;
use raft_model::properties::violated;
use raft_model::replay::replay;
use raft_model::search::{check_quietly, Strategy};
use raft_model::trace::itf::{from_json, to_json};
use raft_model::trace::{TraceError, TraceFile};
use raft_model::{Action, Bug, Config, RaftModel, State};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A random walk of `len` steps from the initial state.
fn walk(config: &Config, seed: u64, len: usize) -> Vec<(State, Option<Action>)> {
    let model = RaftModel::new(config.clone());
    let mut rng = StdRng::seed_from_u64(seed);
    let mut state = model.init_state();
    let mut steps = Vec::new();
    for _ in 0..len {
        let mut actions = Vec::new();
        model.actions(&state, &mut actions);
        let successors: Vec<(Action, State)> = actions
            .into_iter()
            .filter_map(|a| {
                model
                    .next_state(&state, &a)
                    .filter(|n| model.within_bounds(n))
                    .map(|n| (a, n))
            })
            .collect();
        if successors.is_empty() {
            break;
        }
        let (a, next) = successors[rng.random_range(0..successors.len())].clone();
        steps.push((std::mem::replace(&mut state, next), Some(a)));
    }
    steps.push((state, None));
    steps
}

fn rich() -> Config {
    Config {
        max_term: 4,
        max_log: 3,
        values: 2,
        max_in_flight: 8,
        max_batch: 2,
        restarts: 2,
        drops: 2,
        duplicates: 2,
        lose_tail: 2,
        ..Config::default()
    }
}

fn trace_of(config: Config, steps: Vec<(State, Option<Action>)>) -> TraceFile {
    TraceFile {
        config,
        violation: None,
        description: "a random walk".into(),
        steps,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn traces_round_trip_through_json(seed in any::<u64>(), len in 0usize..60) {
        let t = trace_of(rich(), walk(&rich(), seed, len));
        let back = from_json(&to_json(&t)).expect("our own output parses");
        prop_assert_eq!(back, t);
    }

    #[test]
    fn random_walks_of_the_correct_model_break_no_invariant(seed in any::<u64>()) {
        for (k, (state, _)) in walk(&rich(), seed, 200).iter().enumerate() {
            prop_assert!(violated(state).is_empty(), "step {}: {:?}", k, violated(state));
        }
    }

    #[test]
    fn random_walks_replay_as_behaviours(seed in any::<u64>()) {
        let t = trace_of(rich(), walk(&rich(), seed, 80));
        let report = replay(&RaftModel::new(rich()), &t);
        prop_assert_eq!(report.divergence, None);
        prop_assert_eq!(report.violation, None);
    }
}

/// What a user of the `itf` crate would declare to read our states.
#[derive(serde::Deserialize)]
struct ItfState {
    #[serde(rename = "mbt::actionTaken")]
    action_taken: String,
    servers: Vec<ItfServer>,
}

#[derive(serde::Deserialize)]
struct ItfServer {
    current_term: i64,
    #[serde(with = "itf::de::As::<itf::de::Option::<_>>")]
    voted_for: Option<i64>,
    role: String,
    log: Vec<ItfEntry>,
}

#[derive(serde::Deserialize)]
struct ItfEntry {
    term: i64,
    value: i64,
}

#[test]
fn the_itf_crate_reads_our_traces() {
    let t = trace_of(rich(), walk(&rich(), 7, 40));
    let json = to_json(&t);
    let parsed: itf::Trace<ItfState> = itf::trace_from_str(&json).expect("ITF-compatible");
    assert_eq!(parsed.meta.format.as_deref(), Some("ITF"));
    assert_eq!(parsed.states.len(), t.steps.len());
    assert_eq!(parsed.states[0].value.action_taken, "init");
    for (st, (ours, _)) in parsed.states.iter().zip(&t.steps) {
        for (a, b) in st.value.servers.iter().zip(&ours.servers) {
            assert_eq!(a.current_term, b.current_term as i64);
            assert_eq!(a.voted_for, b.voted_for.map(i64::from));
            assert_eq!(a.role, format!("{:?}", b.role));
            let log: Vec<(i64, i64)> = a.log.iter().map(|e| (e.term, e.value)).collect();
            let want: Vec<(i64, i64)> = b
                .log
                .iter()
                .map(|e| (e.term as i64, e.value as i64))
                .collect();
            assert_eq!(log, want);
        }
    }
}

fn counterexample(bug: Bug) -> TraceFile {
    let mut c = bug.preferred_config();
    c.bugs.insert(bug);
    let outcome = check_quietly(&c, Strategy::Bfs, true);
    let cx = outcome.counterexample.expect("the bug is found");
    TraceFile {
        config: c,
        violation: Some(cx.property.to_string()),
        description: "counterexample".into(),
        steps: cx.steps,
    }
}

#[test]
fn a_counterexample_replays_to_its_violation_in_the_buggy_model() {
    let t = counterexample(Bug::VoteResetOnSameTerm);
    let report = replay(&RaftModel::new(t.config.clone()), &t);
    assert_eq!(report.divergence, None);
    let (step, names) = report.violation.expect("violation reproduced");
    assert_eq!(step, t.steps.len() - 1);
    assert!(names.contains(&"one vote per term"));
}

#[test]
fn the_correct_model_departs_from_a_counterexample_before_its_violation() {
    let t = counterexample(Bug::VoteResetOnSameTerm);
    let mut correct = t.config.clone();
    correct.bugs.clear();
    let report = replay(&RaftModel::new(correct), &t);
    let d = report
        .divergence
        .clone()
        .expect("not a behaviour of the correct model");
    assert_eq!(d.step, t.steps.len() - 1, "{}", d.reason);
    assert!(d.reason.contains("differs"), "{}", d.reason);
    assert_eq!(report.violation, None);
}

#[test]
fn a_disabled_action_is_reported_as_not_enabled() {
    let mut t = trace_of(Config::default(), walk(&Config::default(), 3, 5));
    t.steps[0].1 = Some(Action::Heartbeat(1)); // s1 is no leader at step 0
    let report = replay(&RaftModel::new(Config::default()), &t);
    let d = report.divergence.expect("diverges");
    assert_eq!(d.step, 1);
    assert!(d.reason.contains("not enabled"), "{}", d.reason);
}

#[test]
fn bad_files_get_errors_naming_line_and_field() {
    let json = to_json(&trace_of(Config::default(), walk(&Config::default(), 1, 3)));
    // A wrong type deep inside a state.
    let bad = json.replacen("\"current_term\": 0", "\"current_term\": \"zero\"", 1);
    match from_json(&bad) {
        Err(TraceError::Field { path, line, .. }) => {
            assert!(path.contains("states[0].servers[0].current_term"), "{path}");
            assert!(line > 1);
        }
        other => panic!("expected a field error, got {other:?}"),
    }
    // A truncated file.
    match from_json(&json[..json.len() / 2]) {
        Err(TraceError::Field { line, message, .. }) => {
            assert!(line > 1);
            assert!(message.contains("EOF"), "{message}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    // An unknown action.
    let bad = json.replacen(
        "\"mbt::actionTaken\": \"election_timeout\"",
        "\"mbt::actionTaken\": \"teleport\"",
        1,
    );
    let err = from_json(&bad).expect_err("unknown action");
    assert!(
        err.to_string().contains("unknown action `teleport`"),
        "{err}"
    );
}

#[test]
fn schema_1_files_with_the_old_message_and_action_names_still_read() {
    let config = Config {
        max_in_flight: 8,
        ..Config::default()
    };
    let trace = trace_of(config.clone(), walk(&config, 7, 40));
    let json = to_json(&trace);
    assert!(json.contains("AppendEntriesResponse") && json.contains("election_timeout"));
    // Schema 1 named the message `body`, the responses `...Reply`, the
    // conflict hint `hint` and the election timeout `timeout`.
    let old = rename_envelope_msg_to_body(&json)
        .replace("\"schema_version\": \"2\"", "\"schema_version\": \"1\"")
        .replace("RequestVoteResponse", "RequestVoteReply")
        .replace("AppendEntriesResponse", "AppendEntriesReply")
        .replace("\"conflict\":", "\"hint\":")
        .replace("\"election_timeout\"", "\"timeout\"");
    assert_ne!(old, json);
    assert_eq!(from_json(&old).expect("schema 1 reads"), trace);
    let future = json.replace("\"schema_version\": \"2\"", "\"schema_version\": \"9\"");
    let err = from_json(&future).expect_err("unknown schema");
    assert!(err.to_string().contains("schema_version"), "{err}");
}

/// `"msg": {` of an envelope (not the `msg` pick, an option) becomes `"body": {`.
fn rename_envelope_msg_to_body(json: &str) -> String {
    let mut out = String::new();
    let mut rest = json;
    while let Some(at) = rest.find("\"msg\": {") {
        let after = &rest[at + 8..];
        let tag = after.split("\"tag\": \"").nth(1).unwrap_or("");
        let is_option = tag.starts_with("Some") || tag.starts_with("None");
        out.push_str(&rest[..at]);
        out.push_str(if is_option {
            "\"msg\": {"
        } else {
            "\"body\": {"
        });
        rest = after;
    }
    out + rest
}

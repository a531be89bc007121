//! Trace validation of simulator runs (issue 4): CI runs it over a set of seeds, and shows
//! that a tampered trace fails with the step and the field.

use raft_conformance::simvalidate::{check_trace, lifted_config, run_options};
use raft_impl::core::Role;
use raft_sim::conformance::record_run;
use raft_sim::{StepAction, StepTrace};
use std::collections::BTreeMap;

fn record(seed: u64, steps: usize) -> StepTrace {
    record_run(seed, &run_options(steps)).expect("the simulator's own checks pass")
}

fn kind(a: &StepAction) -> &'static str {
    match a {
        StepAction::Deliver(_) => "deliver",
        StepAction::ElectionTimeout(_) => "timeout",
        StepAction::Heartbeat(_) => "heartbeat",
        StepAction::Propose { .. } => "propose",
        StepAction::Restart(_) => "restart",
        StepAction::Drop(_) => "drop",
        StepAction::Duplicate(_) => "duplicate",
        StepAction::Unexplained { .. } => "unexplained",
    }
}

#[test]
fn simulator_runs_in_conformance_mode_are_model_behaviours() {
    let config = lifted_config(3, 3);
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut steps, mut max_commit) = (0, 0);
    for seed in 0..150 {
        let trace = record(seed, 600);
        let (valid, failure) = check_trace(&config, &trace);
        assert!(failure.is_none(), "seed {seed}: {failure:?}");
        assert_eq!(valid, trace.steps.len());
        steps += valid;
        for s in &trace.steps {
            *kinds.entry(kind(&s.action)).or_default() += 1;
            max_commit = max_commit.max(s.nodes.iter().map(|n| n.commit_index).max().unwrap_or(0));
        }
    }
    // The runs exercise every model action, faults included, and commit entries.
    for k in [
        "deliver",
        "timeout",
        "heartbeat",
        "propose",
        "restart",
        "drop",
        "duplicate",
    ] {
        assert!(
            kinds.get(k).copied().unwrap_or(0) > 0,
            "no `{k}` step: {kinds:?}"
        );
    }
    assert!(!kinds.contains_key("unexplained"), "{kinds:?}");
    assert!(
        steps >= 150 * 600 && max_commit >= 5,
        "steps={steps} max_commit={max_commit}"
    );
}

#[test]
fn a_tampered_commit_index_fails_at_that_step() {
    let config = lifted_config(3, 3);
    let mut trace = record(4, 400);
    let k = trace
        .steps
        .iter()
        .position(|s| matches!(s.action, StepAction::Heartbeat(_)))
        .expect("a heartbeat");
    trace.steps[k].nodes[0].commit_index += 1;
    let (valid, failure) = check_trace(&config, &trace);
    let f = failure.expect("a wrong commit_index is not the model's state");
    assert_eq!((f.step, valid), (k + 1, k));
    assert!(
        f.details.iter().any(|d| d.contains("commit_index")),
        "{:?}",
        f.details
    );
}

#[test]
fn a_tampered_vote_tally_fails_now_that_it_is_compared() {
    let config = lifted_config(3, 3);
    let mut trace = record(2, 400);
    let (k, i) = trace
        .steps
        .iter()
        .enumerate()
        .find_map(|(k, s)| {
            let i = s
                .nodes
                .iter()
                .position(|n| n.role == Role::Candidate && n.votes_granted.len() == 1)?;
            Some((k, i))
        })
        .expect("a candidate with only its own vote");
    let other = trace.steps[k].nodes[(i + 1) % 3].id;
    trace.steps[k].nodes[i].votes_granted.push(other);
    let (_, failure) = check_trace(&config, &trace);
    let f = failure.expect("an extra vote is not the model's state");
    assert_eq!(f.step, k + 1);
    assert!(
        f.details.iter().any(|d| d.contains("votes_granted")),
        "{:?}",
        f.details
    );
}

#[test]
fn a_missing_message_and_an_unexplained_event_fail() {
    let config = lifted_config(3, 3);
    let trace = record(5, 300);
    let k = trace
        .steps
        .iter()
        .position(|s| matches!(s.action, StepAction::ElectionTimeout(_)))
        .expect("an election");
    let mut lost = trace.clone();
    lost.steps[k].in_flight.pop();
    let f = check_trace(&config, &lost)
        .1
        .expect("a message the model sent is missing");
    assert_eq!(f.step, k + 1);
    assert!(
        f.details.iter().any(|d| d.contains("the model sent")),
        "{:?}",
        f.details
    );

    let mut odd = trace;
    odd.steps[k].action = StepAction::Unexplained {
        kind: "Link".into(),
        node: None,
    };
    let f = check_trace(&config, &odd).1.expect("no model action");
    assert_eq!(f.step, k + 1);
    assert!(
        f.details.iter().any(|d| d.contains("no model action")),
        "{:?}",
        f.details
    );
}

//! The simulator's conformance mode: off by default, deterministic, and its step trace
//! accounts for every message (what is sent stays in flight until a step delivers or drops it).

use raft_sim::conformance::{record_run, ConformanceRun};
use raft_sim::{Cluster, SimConfig, StepAction, StepTrace, SEC};

fn run(seed: u64) -> StepTrace {
    let opts = ConformanceRun {
        steps: 500,
        ..ConformanceRun::default()
    };
    record_run(seed, &opts).expect("the simulator's checks pass")
}

#[test]
fn production_mode_records_no_steps() {
    let mut c = Cluster::new(SimConfig::new(3, 1));
    c.run_for(2 * SEC).unwrap();
    assert!(c.step_trace().is_none());
    assert_eq!(c.steps_recorded(), 0);
}

#[test]
#[should_panic(expected = "synchronous syncs")]
fn conformance_mode_refuses_asynchronous_syncs() {
    let mut cfg = SimConfig::conformance(3, 1);
    cfg.sync_delay_us = (50, 100);
    Cluster::new(cfg);
}

#[test]
fn same_seed_same_step_trace_and_json_round_trip() {
    let a = run(7);
    assert_eq!(a, run(7));
    assert_eq!(StepTrace::from_json(&a.to_json()).unwrap(), a);
    assert!(a.steps.len() >= 500);
}

#[test]
fn every_step_moves_exactly_the_messages_its_action_says() {
    for seed in 0..20 {
        let t = run(seed);
        let mut prev = Vec::new();
        for (k, s) in t.steps.iter().enumerate() {
            let mut expect = prev.clone();
            let remove = |bag: &mut Vec<_>, m| {
                let at = bag.iter().position(|x| x == m).expect("in flight");
                bag.remove(at);
            };
            match &s.action {
                StepAction::Deliver(m) | StepAction::Drop(m) => remove(&mut expect, m),
                StepAction::Duplicate(m) => expect.push(m.clone()),
                _ => {}
            }
            // Whatever else is new was sent by this step's node.
            let mut rest = s.in_flight.clone();
            for m in &expect {
                remove(&mut rest, m);
            }
            let sender_ok = match &s.action {
                StepAction::Deliver(m) => rest.iter().all(|x| x.from == m.to),
                StepAction::ElectionTimeout(i) | StepAction::Heartbeat(i) => {
                    rest.iter().all(|x| x.from == *i)
                }
                _ => rest.is_empty(),
            };
            assert!(
                sender_ok,
                "seed {seed} step {k}: {:?} sent {rest:?}",
                s.action
            );
            prev = s.in_flight.clone();
        }
    }
}

//! `hunt`: swarm walks find every catalog bug, shrink what they find to a
//! 1-minimal behaviour of the model, are reproducible by seed whatever the
//! thread count, and never claim a proof.

use raft_model::properties::INVARIANTS;
use raft_model::search::hunt::{hunt, HuntOptions};
use raft_model::search::shrink::{actions_of, replay_skipping, shrink};
use raft_model::search::Verdict;
use raft_model::{Bug, Config, RaftModel};

fn quiet(walks: u64, threads: usize) -> HuntOptions {
    HuntOptions {
        walks: Some(walks),
        threads,
        timeout: None,
        progress_every: None,
        ..HuntOptions::default()
    }
}

fn with_bug(bug: Bug) -> RaftModel {
    let mut c = bug.preferred_config();
    c.bugs.insert(bug);
    RaftModel::new(c)
}

fn property_index(name: &str) -> usize {
    INVARIANTS.iter().position(|i| i.name == name).unwrap()
}

#[test]
fn every_catalog_bug_is_found_and_shrunk_to_a_minimal_behaviour() {
    for bug in Bug::ALL {
        let model = with_bug(bug);
        let outcome = hunt(&model, &quiet(20_000, 2), &mut std::io::sink());
        assert_eq!(outcome.verdict, Verdict::Violation, "{bug}: nothing found");
        let found = outcome.found.expect("a violation has a counterexample");
        let property = property_index(found.property);
        let actions = actions_of(&found.steps);
        assert!(
            actions.len() <= found.walk_steps,
            "{bug}: shrinking grew it"
        );
        // A behaviour of the model, every step enabled, ending in the violation.
        for (k, (state, action)) in found.steps.iter().enumerate() {
            let Some(action) = action else { break };
            let next = model.next_state(state, action).expect("enabled");
            assert_eq!(next, found.steps[k + 1].0, "{bug}: step {k} replays");
        }
        let last = &found.steps.last().unwrap().0;
        assert!(!(INVARIANTS[property].holds)(last), "{bug}: ends violating");
        // 1-minimal: without any one action (and what it disables), no violation
        // of the same property, or one no shorter.
        for k in 0..actions.len() {
            let mut fewer = actions.clone();
            fewer.remove(k);
            if let Some(executed) = replay_skipping(&model, &fewer, property) {
                panic!(
                    "{bug}: removing step {} still violates after {} steps",
                    k + 1,
                    executed.len()
                );
            }
        }
    }
}

#[test]
fn the_same_seed_finds_the_same_walk_with_any_thread_count() {
    let model = with_bug(Bug::AcceptStaleReply);
    let one = hunt(&model, &quiet(20_000, 1), &mut std::io::sink());
    let two = hunt(&model, &quiet(20_000, 2), &mut std::io::sink());
    let (one, two) = (one.found.unwrap(), two.found.unwrap());
    assert_eq!(one.walk, two.walk);
    assert_eq!(one.property, two.property);
    assert_eq!(one.steps, two.steps);
    // Walk K alone reproduces it.
    let only = HuntOptions {
        only_walk: Some(one.walk),
        ..quiet(1, 1)
    };
    let again = hunt(&model, &only, &mut std::io::sink()).found.unwrap();
    assert_eq!(again.steps, one.steps);
    // Another seed walks elsewhere.
    let other = HuntOptions {
        seed: 7,
        ..quiet(20_000, 2)
    };
    let other = hunt(&model, &other, &mut std::io::sink()).found.unwrap();
    assert!(other.walk != one.walk || other.steps != one.steps);
}

#[test]
fn a_hunt_of_the_correct_model_finds_nothing_and_is_incomplete() {
    let config = Config {
        max_term: 4,
        max_log: 3,
        max_in_flight: 6,
        restarts: 2,
        drops: 2,
        snapshots: 2,
        ..Config::default()
    };
    let outcome = hunt(
        &RaftModel::new(config),
        &quiet(300, 2),
        &mut std::io::sink(),
    );
    assert_eq!(outcome.verdict, Verdict::Incomplete);
    assert_eq!(outcome.walks, 300);
    assert!(outcome.found.is_none());
    assert!(
        outcome.max_depth > 100,
        "walks go deep: {}",
        outcome.max_depth
    );
    let line = outcome.verdict_line();
    assert!(line.starts_with("verdict: incomplete walks=300 "), "{line}");
    assert!(line.ends_with("exhaustive=false"), "{line}");
}

#[test]
fn shrink_keeps_a_trace_that_violates_nothing_unchanged() {
    let model = RaftModel::new(Config::default());
    let outcome = hunt(&model, &quiet(1, 1), &mut std::io::sink());
    assert!(outcome.found.is_none());
    let actions = vec![raft_model::Action::ElectionTimeout(0)];
    assert_eq!(shrink(&model, &actions, 0), actions);
}

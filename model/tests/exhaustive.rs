//! The correct model passes an exhaustive check; symmetry reduction keeps
//! verdicts and shrinks the state count.

mod common;

use raft_model::search::{check_quietly, Strategy, Verdict};
use raft_model::{Bug, Config};

#[test]
fn correct_model_holds_exhaustively_and_reaches_every_sanity_property() {
    let c = Config {
        max_term: 2,
        max_log: 1,
        max_in_flight: 4,
        restarts: 1,
        drops: 1,
        duplicates: 0,
        snapshots: 0,
        ..Config::default()
    };
    let outcome = check_quietly(&c, Strategy::Dfs, true);
    assert_eq!(outcome.verdict, Verdict::Ok);
    assert!(outcome.exhaustive);
    for (name, reached) in &outcome.sanity {
        assert!(reached, "sanity property not reached: {name}");
    }
}

#[test]
fn correct_model_holds_with_compaction_and_installs_snapshots() {
    let c = Config {
        max_term: 2,
        max_log: 1,
        max_in_flight: 3,
        restarts: 1,
        drops: 0,
        duplicates: 0,
        snapshots: 1,
        ..Config::default()
    };
    let outcome = check_quietly(&c, Strategy::Dfs, true);
    assert_eq!(outcome.verdict, Verdict::Ok);
    for name in [
        "a follower is brought up to date by InstallSnapshot",
        "a server restarts from a snapshot",
    ] {
        assert!(
            outcome
                .sanity
                .iter()
                .any(|(n, reached)| *n == name && *reached),
            "{name}: {:?}",
            outcome.sanity
        );
    }
}

#[test]
fn symmetry_keeps_verdicts_and_shrinks_the_state_count() {
    let c = common::small();
    let plain = check_quietly(&c, Strategy::Dfs, false);
    let reduced = check_quietly(&c, Strategy::Dfs, true);
    assert_eq!(plain.verdict, Verdict::Ok);
    assert_eq!(reduced.verdict, Verdict::Ok);
    assert!(
        reduced.unique_states * 2 < plain.unique_states,
        "symmetry: {} vs {}",
        reduced.unique_states,
        plain.unique_states
    );
    // BFS over the quotient graph agrees with plain BFS.
    let bfs_plain = check_quietly(&c, Strategy::Bfs, false);
    let bfs_reduced = check_quietly(&c, Strategy::Bfs, true);
    assert_eq!(bfs_plain.unique_states, plain.unique_states);
    assert_eq!(bfs_reduced.verdict, Verdict::Ok);
    assert!(bfs_reduced.unique_states * 2 < bfs_plain.unique_states);
}

#[test]
fn symmetry_keeps_violation_verdicts_and_shortest_lengths() {
    let mut c = Bug::VoteResetOnSameTerm.preferred_config();
    c.bugs.insert(Bug::VoteResetOnSameTerm);
    let plain = check_quietly(&c, Strategy::Bfs, false);
    let reduced = check_quietly(&c, Strategy::Bfs, true);
    assert_eq!(plain.verdict, Verdict::Violation);
    assert_eq!(reduced.verdict, Verdict::Violation);
    let len = |o: &raft_model::search::Outcome| o.counterexample.as_ref().map(|c| c.steps.len());
    assert_eq!(len(&plain), len(&reduced));
}

//! The data-loss fault (issue 14): a restart that loses the log's last
//! entry, which the server may have acknowledged. With the recovery rules
//! the correct model keeps every property; the fault is off by default.

mod common;

use raft_model::search::{check_quietly, Strategy, Verdict};
use raft_model::{Action, Config, RaftModel};

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

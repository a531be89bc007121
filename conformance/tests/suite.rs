//! The generated suite on the correct core and on every mutant.

use raft_conformance::suite::{self, SuiteOptions};
use raft_conformance::Mutation;
use raft_model::Bug;

#[test]
fn mutants_are_the_model_catalog_under_the_same_names() {
    let mutants: Vec<&str> = Mutation::ALL.iter().map(|m| m.name()).collect();
    let bugs: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
    assert_eq!(mutants, bugs);
}

#[test]
fn the_correct_core_conforms_on_the_quick_suite_with_full_edge_coverage() {
    let summary = suite::run(&SuiteOptions::quick(None), &mut std::io::sink()).unwrap();
    assert!(summary.first.is_none(), "{:?}", summary.first);
    assert_eq!(summary.divergences, 0);
    assert!(
        summary.edges_total > 10_000,
        "a non-trivial graph: {}",
        summary.line()
    );
    assert_eq!(summary.edges_covered, summary.edges_total);
    assert!(summary.passed());
}

#[test]
fn every_mutant_is_detected() {
    for m in Mutation::ALL {
        let summary = suite::run(&SuiteOptions::full(Some(m)), &mut std::io::sink()).unwrap();
        let found = summary
            .first
            .clone()
            .unwrap_or_else(|| panic!("mutant {m} survived: {}", summary.line()));
        assert!(found.divergence.step >= 1, "{m}: {}", found.divergence);
        assert_eq!(
            summary.divergences, 1,
            "{m}: the suite stops at the first divergence"
        );
        assert!(!summary.passed());
    }
}

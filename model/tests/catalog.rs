//! Every catalog bug is found within small bounds, naming the property it
//! breaks; a proposed fix is checked the same way.

mod common;

use raft_model::properties::violated;
use raft_model::search::{
    check, check_quietly, invariant_mask, Options, Strategy, Verdict, STATE_INVARIANTS_MASK,
};
use raft_model::{Action, Bug, Config, Fix};

/// Checks `config` breadth-first with symmetry and returns the violated
/// property and the counterexample length.
fn violation(config: &Config) -> (&'static str, usize) {
    let outcome = check_quietly(config, Strategy::Bfs, true);
    assert_eq!(outcome.verdict, Verdict::Violation, "{}", config.summary());
    let cx = outcome
        .counterexample
        .expect("a violation has a counterexample");
    assert!(cx.shortest);
    (cx.property, cx.steps.len() - 1)
}

/// Like [`violation`], checking only the invariants named.
fn violation_of(config: &Config, names: &[&str]) -> (&'static str, usize) {
    violation_in(
        config,
        invariant_mask(names.iter().copied()).expect("known names"),
    )
}

/// The shortest violation of a state invariant: the bug's consequence
/// rather than the transition rule it breaks.
fn consequence(config: &Config) -> (&'static str, usize) {
    violation_in(config, STATE_INVARIANTS_MASK)
}

fn violation_in(config: &Config, invariants: u64) -> (&'static str, usize) {
    let opts = Options {
        strategy: Strategy::Bfs,
        threads: 1,
        progress_every: None,
        invariants,
        ..Options::default()
    };
    let outcome = check(config, &opts, &mut std::io::sink());
    let cx = outcome
        .counterexample
        .expect("a violation has a counterexample");
    assert!(cx.shortest);
    (cx.property, cx.steps.len() - 1)
}

fn with_bug(bug: Bug, tweak: impl FnOnce(&mut Config)) -> Config {
    let mut c = bug.preferred_config();
    c.bugs.insert(bug);
    tweak(&mut c);
    c
}

#[test]
fn vote_reset_on_same_term_breaks_one_vote_per_term() {
    let c = with_bug(Bug::VoteResetOnSameTerm, |_| {});
    assert_eq!(violation(&c), ("one vote per term", 3));
}

#[test]
fn vote_reset_on_same_term_breaks_election_safety() {
    // The same bug, measured by the Figure 3 property: s2 votes for both
    // candidates of term 1 and both become leader.
    let mut sc = common::Scenario::new(with_bug(Bug::VoteResetOnSameTerm, |c| c.max_in_flight = 8));
    sc.act(Action::ElectionTimeout(0))
        .act(Action::ElectionTimeout(1));
    sc.deliver(0, 2, "RequestVote").deliver(1, 2, "RequestVote");
    sc.deliver(2, 0, "RequestVoteResponse")
        .deliver(2, 1, "RequestVoteResponse");
    assert!(
        violated(&sc.state).contains(&"Election Safety"),
        "{:?}",
        violated(&sc.state)
    );
}

#[test]
fn no_up_to_date_check_breaks_leader_completeness() {
    let c = with_bug(Bug::NoUpToDateCheck, |c| {
        c.restarts = 0;
        c.max_log = 1;
    });
    // The rule it breaks: s1 votes for a candidate whose log is behind its own.
    assert_eq!(violation(&c).0, "votes go only to up-to-date candidates");
    assert_eq!(consequence(&c).0, "Leader Completeness");
}

#[test]
fn commit_previous_term_is_figure_8() {
    let c = with_bug(Bug::CommitPreviousTerm, |c| c.max_in_flight = 3);
    // The rule it breaks: a leader commits an entry of an earlier term by counting.
    assert_eq!(violation(&c).0, "commit_index advances by Figure 2's rules");
    assert_eq!(consequence(&c).0, "Leader Completeness");
}

#[test]
fn truncate_on_every_append_loses_acknowledged_entries() {
    let c = with_bug(Bug::TruncateOnEveryAppend, |c| {
        c.restarts = 0;
        c.duplicates = 1;
        c.max_term = 2;
    });
    // The rule it breaks: a delayed AppendEntries deletes entries that match.
    assert_eq!(
        violation(&c),
        ("a follower removes only conflicting entries", 15)
    );
    // The first state it spoils: s0 still counts s1 as holding the entries
    // the delayed AppendEntries made s1 delete.
    assert_eq!(consequence(&c), ("match_index is accurate", 16));
    // Then its consequence: s1 learns a commit_index beyond its shortened log.
    assert_eq!(
        violation_of(&c, &["commit_index within log"]),
        ("commit_index within log", 20)
    );
}

#[test]
fn entries_stamped_with_leader_term_breaks_log_matching() {
    let c = with_bug(Bug::EntriesStampedWithLeaderTerm, |c| {
        c.restarts = 0;
        c.duplicates = 0;
    });
    // The rule it breaks: the follower acknowledges entries it stored with another term.
    assert_eq!(violation(&c).0, "messages describe their sender");
    assert_eq!(consequence(&c).0, "Log Matching");
}

#[test]
fn vote_not_persisted_breaks_one_vote_per_term() {
    let c = with_bug(Bug::VoteNotPersisted, |_| {});
    assert_eq!(violation(&c), ("a restart keeps persistent state", 2));
    assert_eq!(consequence(&c), ("one vote per term", 4));
}

#[test]
fn commit_beyond_last_new_entry_breaks_commit_bound() {
    let c = with_bug(Bug::CommitBeyondLastNewEntry, |_| {});
    assert_eq!(violation(&c).0, "commit_index within log");
}

#[test]
fn commit_beyond_last_new_entry_is_masked_without_batching() {
    // With whole-suffix AppendEntries, leader_commit never exceeds the last
    // new entry, so the bug cannot show (docs/bug-catalog.md).
    let c = with_bug(Bug::CommitBeyondLastNewEntry, |c| {
        c.max_batch = 0;
        c.max_term = 2;
    });
    assert_eq!(check_quietly(&c, Strategy::Dfs, true).verdict, Verdict::Ok);
}

#[test]
fn log_not_persisted_breaks_leader_completeness() {
    let c = with_bug(Bug::LogNotPersisted, |c| {
        c.max_log = 1;
        c.max_term = 2;
    });
    // The rule it breaks, then the first state it spoils: the leader still
    // counts s1 as holding the entry s1 lost in the restart.
    assert_eq!(violation(&c).0, "a restart keeps persistent state");
    assert_eq!(consequence(&c), ("match_index is accurate", 10));
    // Then its consequence: s1 helps elect a leader without a committed entry.
    assert_eq!(
        violation_of(&c, &["Leader Completeness"]),
        ("Leader Completeness", 17)
    );
}

#[test]
fn accept_stale_reply_breaks_the_progress_rule_long_before_any_state_invariant() {
    // The rule it breaks: a leader takes a response of an older term as an
    // acknowledgement now.
    let c = with_bug(Bug::AcceptStaleReply, |_| {});
    assert_eq!(
        violation(&c).0,
        "progress moves only on a response of the leader's term"
    );
    // Its consequences need five terms with 3 servers (docs/bug-catalog.md;
    // model/tests/stale_reply.rs builds them): these bounds hold every state invariant.
    let c = with_bug(Bug::AcceptStaleReply, |c| {
        c.max_log = 1;
        c.max_in_flight = 3;
    });
    let opts = Options {
        strategy: Strategy::Dfs,
        progress_every: None,
        invariants: STATE_INVARIANTS_MASK,
        ..Options::default()
    };
    assert_eq!(check(&c, &opts, &mut std::io::sink()).verdict, Verdict::Ok);
}

#[test]
fn snapshot_beyond_commit_compacts_an_uncommitted_entry() {
    let c = with_bug(Bug::SnapshotBeyondCommit, |_| {});
    assert_eq!(
        violation(&c),
        ("a snapshot holds only committed entries", 5)
    );
}

#[test]
fn install_discards_suffix_loses_acknowledged_entries() {
    let c = with_bug(Bug::InstallDiscardsSuffix, |_| {});
    // The rule it breaks (Figure 13, step 6), then the first state it spoils:
    // the leader counts the follower as holding entries it just discarded.
    assert_eq!(
        violation(&c).0,
        "a follower removes only conflicting entries"
    );
    assert_eq!(consequence(&c).0, "match_index is accurate");
}

#[test]
fn install_older_snapshot_moves_the_state_machine_backwards() {
    let c = with_bug(Bug::InstallOlderSnapshot, |_| {});
    let (rule, steps) = violation(&c);
    assert_eq!(rule, "commit_index never decreases");
    // A duplicated, late InstallSnapshot: the follower installs it after
    // committing more.
    assert!(steps > 10, "{steps}");
}

#[test]
fn wrong_last_included_term_is_caught_at_the_snapshot() {
    let c = with_bug(Bug::WrongLastIncludedTerm, |_| {});
    assert_eq!(
        violation(&c).0,
        "last_included_term is the last included entry's term"
    );
}

#[test]
fn snapshot_not_persisted_with_state_loses_committed_entries() {
    let c = with_bug(Bug::SnapshotNotPersistedWithState, |_| {});
    // The restart comes back with the snapshot's index but not its content.
    assert_eq!(violation(&c).0, "State Machine Safety");
    let restart = violation_of(&c, &["a restart keeps persistent state"]);
    assert_eq!(restart.0, "a restart keeps persistent state");
}

#[test]
fn commit_not_advanced_on_install_leaves_commit_below_the_snapshot() {
    let c = with_bug(Bug::CommitNotAdvancedOnInstall, |_| {});
    assert_eq!(violation(&c).0, "commit_index covers the snapshot");
}

#[test]
fn snapshot_state_index_mismatch_loses_the_last_entry() {
    let c = with_bug(Bug::SnapshotStateIndexMismatch, |_| {});
    // A leader that compacts loses an entry from its logical log at once.
    assert_eq!(violation(&c).0, "Leader Append-Only");
    let content = violation_of(
        &c,
        &["a snapshot holds exactly the entries up to its last index"],
    );
    assert_eq!(content.1, violation(&c).1);
}

#[test]
fn forget_lost_tail_elects_a_leader_without_an_entry_its_vote_had_acknowledged() {
    let c = with_bug(Bug::ForgetLostTail, |_| {});
    // The rule it breaks: the restart does not record the loss.
    assert_eq!(violation(&c), ("a restart keeps persistent state", 5));
    // The leader still counts the entry the follower lost.
    assert_eq!(consequence(&c), ("match_index is accurate", 10));
    // Figure 3: s0 commits (1,1) with s2's acknowledgement, s2 loses it and
    // votes s1, which never had it, leader of term 2.
    let figure_3 = [
        "Election Safety",
        "Leader Append-Only",
        "Log Matching",
        "Leader Completeness",
        "State Machine Safety",
    ];
    assert_eq!(violation_of(&c, &figure_3), ("Leader Completeness", 17));
    // Without the fault the bug is masked.
    let masked = with_bug(Bug::ForgetLostTail, |c| c.lose_tail = 0);
    assert_eq!(
        check_quietly(&masked, Strategy::Dfs, true).verdict,
        Verdict::Ok
    );
}

#[test]
fn pre_vote_increments_term_is_caught_at_the_election_timeout() {
    let c = with_bug(Bug::PreVoteIncrementsTerm, |_| {});
    assert!(c.pre_vote, "the bug's configuration has pre-vote");
    // The rule it breaks, at the first step: s0 takes the term it asks for.
    assert_eq!(
        violation(&c),
        ("a pre-vote changes no current_term or voted_for", 1)
    );
    // Safety does not depend on pre-vote: no state invariant breaks in these bounds.
    let opts = Options {
        progress_every: None,
        invariants: STATE_INVARIANTS_MASK,
        ..Options::default()
    };
    let outcome = check(&c, &opts, &mut std::io::sink());
    // Vacuous only because these bounds have no entries to commit.
    assert_eq!(outcome.verdict, Verdict::Vacuous, "{:?}", outcome.sanity);
    assert!(outcome.exhaustive && outcome.counterexample.is_none());
    // Without pre-vote the bug is masked.
    // (Vacuous again only for want of entries.)
    let masked = with_bug(Bug::PreVoteIncrementsTerm, |c| c.pre_vote = false);
    let masked = check_quietly(&masked, Strategy::Dfs, true);
    assert_eq!(masked.verdict, Verdict::Vacuous);
    assert!(masked.exhaustive && masked.counterexample.is_none());
}

#[test]
fn check_quorum_counts_self_twice_keeps_a_lone_leader() {
    let c = with_bug(Bug::CheckQuorumCountsSelfTwice, |_| {});
    assert!(c.check_quorum, "the bug's configuration has check-quorum");
    // Elected in 3 steps, s0 hears from nobody and stays leader at its first check.
    assert_eq!(
        violation(&c),
        (
            "a leader that stays leader after a CheckQuorum heard from a majority",
            4
        )
    );
    // Without check-quorum the bug is masked (vacuous only for want of entries).
    let masked = with_bug(Bug::CheckQuorumCountsSelfTwice, |c| c.check_quorum = false);
    let masked = check_quietly(&masked, Strategy::Dfs, true);
    assert_eq!(masked.verdict, Verdict::Vacuous);
    assert!(masked.exhaustive && masked.counterexample.is_none());
}

#[test]
fn transfer_without_catch_up_sends_timeout_now_to_a_lagging_target() {
    let c = with_bug(Bug::TransferWithoutCatchUp, |_| {});
    assert!(
        c.transfer,
        "the bug's configuration has leadership transfer"
    );
    // Elected in 3 steps, s0 appends an entry and is asked to transfer before any
    // AppendEntries carried it.
    assert_eq!(
        violation(&c),
        ("a TimeoutNow goes only to a caught-up target", 5)
    );
    // Safety does not depend on it: no state invariant breaks in these bounds.
    let opts = Options {
        progress_every: None,
        invariants: STATE_INVARIANTS_MASK,
        ..Options::default()
    };
    let outcome = check(&c, &opts, &mut std::io::sink());
    assert!(outcome.exhaustive && outcome.counterexample.is_none());
    // Without transfer the bug is masked.
    let masked = with_bug(Bug::TransferWithoutCatchUp, |c| c.transfer = false);
    let masked = check_quietly(&masked, Strategy::Dfs, true);
    assert_eq!(masked.verdict, Verdict::Ok, "{:?}", masked.sanity);
    assert!(masked.exhaustive && masked.counterexample.is_none());
}

#[test]
fn every_bug_has_a_test() {
    assert_eq!(Bug::ALL.len(), 20, "add a test for the new bug above");
}

#[test]
fn reject_prev_below_commit_does_not_cure_a_missing_up_to_date_check() {
    // The seed notes propose this fix against a stale leader overwriting
    // committed entries; that stale leader got elected without the §5.4.1
    // check, and the fix leaves that hole open.
    let mut c = with_bug(Bug::NoUpToDateCheck, |c| {
        c.restarts = 0;
        c.max_log = 1;
    });
    c.fixes.insert(Fix::RejectPrevBelowCommit);
    assert_eq!(consequence(&c).0, "Leader Completeness");
}

#[test]
fn reject_prev_below_commit_keeps_every_state_invariant_but_misreports_the_log() {
    let mut c = common::small();
    c.fixes.insert(Fix::RejectPrevBelowCommit);
    let opts = Options {
        strategy: Strategy::Dfs,
        progress_every: None,
        invariants: STATE_INVARIANTS_MASK,
        ..Options::default()
    };
    assert_eq!(check(&c, &opts, &mut std::io::sink()).verdict, Verdict::Ok);
    // Its refusal claims a log as long as commit_index, which is not the
    // follower's log: the leader's fast backup is fed a false hint.
    assert_eq!(
        violation(&c).0,
        "a conflict hint describes the follower's log"
    );
}

#[test]
fn keep_suffix_by_length_keeps_a_conflicting_suffix_after_the_snapshot() {
    // The shortcut against install-discards-suffix: keep the entries after
    // last_included_index whenever the log reaches it, term unchecked. A
    // follower holding an old term's entries there keeps them after a newer
    // snapshot, and its log's terms go down.
    let mut c = Config {
        max_log: 2,
        restarts: 0,
        duplicates: 0,
        ..Config::default()
    };
    c.fixes.insert(Fix::KeepSuffixByLength);
    assert_eq!(consequence(&c), ("log terms never decrease", 26));
}

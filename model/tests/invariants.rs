//! Every invariant fires on a hand-built violating state and stays quiet on
//! a legal one.

use raft_model::properties::{violated, STATE_INVARIANTS};
use raft_model::state::{Commit, Entry, Role, Server, Snapshot, State};

fn e(term: u8, value: u8) -> Entry {
    Entry { term, value }
}

fn server(term: u8, role: Role, log: &[Entry], commit: u8) -> Server {
    Server {
        current_term: term,
        role,
        log: log.to_vec(),
        commit_index: commit,
        ..Server::new()
    }
}

/// A legal state: s0 leads term 2 and has committed both entries; s1 has
/// both, s2 lags one behind.
fn legal() -> State {
    let mut s = State::initial(3, 3);
    s.servers[0] = server(2, Role::Leader, &[e(1, 1), e(2, 1)], 2);
    s.servers[0].next_index = vec![3, 3, 2];
    s.servers[0].match_index = vec![0, 2, 1];
    s.servers[0].voted_for = Some(0);
    s.history.votes_cast[0] = 1;
    s.servers[1] = server(2, Role::Follower, &[e(1, 1), e(2, 1)], 1);
    s.servers[2] = server(2, Role::Follower, &[e(1, 1)], 0);
    s.history.leaders[1] = 0b010;
    s.history.leaders[2] = 0b001;
    s.history.commits = vec![
        Commit {
            index: 1,
            entry: e(1, 1),
            term: 2,
        },
        Commit {
            index: 2,
            entry: e(2, 1),
            term: 2,
        },
    ];
    s
}

fn only(state: &State) -> Vec<&'static str> {
    violated(state)
}

#[test]
fn legal_state_violates_nothing() {
    assert_eq!(only(&legal()), Vec::<&str>::new());
}

#[test]
fn election_safety_fires_on_two_leaders_in_one_term() {
    let mut s = legal();
    s.history.leaders[2] = 0b011;
    assert!(only(&s).contains(&"Election Safety"));
}

#[test]
fn leader_append_only_fires_when_flagged() {
    let mut s = legal();
    s.history.leader_log_rewritten = true;
    assert_eq!(only(&s), vec!["Leader Append-Only"]);
}

#[test]
fn log_matching_fires_on_same_term_different_prefix() {
    let mut s = legal();
    s.servers[2].log = vec![e(1, 2), e(2, 1)];
    s.servers[2].commit_index = 0;
    assert!(only(&s).contains(&"Log Matching"));
}

#[test]
fn log_matching_fires_on_same_index_and_term_different_value() {
    let mut s = legal();
    s.servers[2].log = vec![e(1, 2)];
    assert!(only(&s).contains(&"Log Matching"));
}

#[test]
fn leader_completeness_fires_on_leader_missing_committed_entry() {
    let mut s = legal();
    // s2 leads term 3 without the entry committed in term 2.
    s.servers[2] = server(3, Role::Leader, &[e(1, 1)], 0);
    s.servers[2].next_index = vec![2, 2, 2];
    s.servers[2].match_index = vec![0, 0, 0];
    s.history.leaders[3] = 0b100;
    assert!(only(&s).contains(&"Leader Completeness"));
}

#[test]
fn leader_completeness_ignores_leaders_of_the_commit_term_or_earlier() {
    let mut s = legal();
    // A stale leader of term 1 lacking a term-2 commit is not a violation.
    s.servers[2] = server(1, Role::Leader, &[e(1, 1)], 0);
    s.servers[2].next_index = vec![2, 2, 2];
    s.servers[2].match_index = vec![0, 0, 0];
    s.history.leaders[1] = 0b100;
    assert_eq!(only(&s), Vec::<&str>::new());
}

#[test]
fn state_machine_safety_fires_on_two_entries_committed_at_one_index() {
    let mut s = legal();
    s.history.commits.push(Commit {
        index: 2,
        entry: e(1, 1),
        term: 1,
    });
    s.history.commits.sort();
    assert!(only(&s).contains(&"State Machine Safety"));
}

#[test]
fn state_machine_safety_fires_when_a_committed_entry_changes() {
    let mut s = legal();
    // s1 committed (1,1) at index 1; its log now holds (1,2) there.
    s.servers[1].log = vec![e(1, 2)];
    let names = only(&s);
    assert!(names.contains(&"State Machine Safety"), "{names:?}");
}

#[test]
fn commit_index_within_log_fires() {
    let mut s = legal();
    s.servers[2].commit_index = 2;
    assert!(only(&s).contains(&"commit_index within log"));
}

#[test]
fn log_terms_monotonic_fires() {
    let mut s = legal();
    s.servers[2].log = vec![e(2, 1), e(1, 1)];
    assert!(only(&s).contains(&"log terms never decrease"));
}

#[test]
fn current_term_covers_log_fires() {
    let mut s = legal();
    s.servers[2].current_term = 1;
    s.servers[2].log = vec![e(1, 1), e(2, 1)];
    assert!(only(&s).contains(&"current_term covers log"));
}

#[test]
fn one_vote_per_term_fires() {
    let mut s = legal();
    s.history.votes_cast[1] = 0b101;
    assert_eq!(only(&s), vec!["one vote per term"]);
}

#[test]
fn match_index_accurate_fires_when_the_follower_disagrees() {
    // s0 believes s2 holds index 2, but s2 holds only index 1.
    let mut s = legal();
    s.servers[0].match_index[2] = 2;
    assert_eq!(only(&s), vec!["match_index is accurate"]);
    // s2 holds two entries, but a different one at index 2.
    let mut s = legal();
    s.servers[0].match_index[2] = 2;
    s.servers[2].log.push(e(1, 1));
    assert!(only(&s).contains(&"match_index is accurate"));
    // A follower in an older term is held to the same claim.
    let mut s = legal();
    s.servers[2].current_term = 1;
    s.servers[2].log = vec![];
    assert_eq!(only(&s), vec!["match_index is accurate"]);
}

#[test]
fn match_index_accurate_ignores_a_follower_in_a_newer_term() {
    // A newer leader may already have rewritten s2's log; s0 is stale and
    // its match_index says nothing about that log.
    let mut s = legal();
    s.servers[2].current_term = 3;
    s.servers[2].log = vec![e(3, 1)];
    assert!(!only(&s).contains(&"match_index is accurate"));
}

/// `legal()` with s1 having compacted its first entry (committed there).
fn compacted() -> State {
    let mut s = legal();
    let s1 = &mut s.servers[1];
    s1.snapshot = Snapshot {
        last_included_index: 1,
        last_included_term: 1,
        entries: vec![e(1, 1)],
    };
    s1.log = vec![e(2, 1)];
    s
}

#[test]
fn a_legal_compacted_state_violates_nothing() {
    assert_eq!(only(&compacted()), Vec::<&str>::new());
}

#[test]
fn properties_read_the_logical_log_across_a_snapshot() {
    // s1's logical log is still [(1,1) (2,1)]: rewriting the compacted entry
    // is a Log Matching and Leader Completeness violation like any other.
    let mut s = compacted();
    s.servers[1].snapshot.entries = vec![e(1, 2)];
    let v = only(&s);
    assert!(
        v.contains(&"Log Matching") && v.contains(&"applied sequences agree"),
        "{v:?}"
    );
}

#[test]
fn snapshot_only_committed_fires_on_an_uncommitted_entry() {
    let mut s = compacted();
    s.history.commits.truncate(1);
    let s2 = &mut s.servers[2];
    s2.log = vec![e(1, 1), e(2, 1)];
    s2.commit_index = 2;
    s2.snapshot = Snapshot {
        last_included_index: 2,
        last_included_term: 2,
        entries: vec![e(1, 1), e(2, 1)],
    };
    s2.log.clear();
    assert!(only(&s).contains(&"a snapshot holds only committed entries"));
}

#[test]
fn snapshot_content_must_match_its_index() {
    let mut s = compacted();
    s.servers[1].snapshot.entries.clear();
    assert!(only(&s).contains(&"a snapshot holds exactly the entries up to its last index"));
}

#[test]
fn last_included_term_must_be_the_entrys() {
    let mut s = compacted();
    s.servers[1].snapshot.last_included_term = 2;
    assert_eq!(
        only(&s),
        vec!["last_included_term is the last included entry's term"]
    );
}

#[test]
fn commit_index_must_cover_the_snapshot() {
    let mut s = compacted();
    s.servers[1].commit_index = 0;
    assert_eq!(only(&s), vec!["commit_index covers the snapshot"]);
}

#[test]
fn applied_sequences_must_agree() {
    // s2 applied a different first entry than s0 and s1 (history aside).
    let mut s = compacted();
    s.servers[2].log = vec![e(1, 2)];
    s.servers[2].commit_index = 1;
    assert!(only(&s).contains(&"applied sequences agree"));
}

#[test]
fn every_invariant_has_a_test_above() {
    // Guard: adding an invariant without a test here fails this count.
    assert_eq!(STATE_INVARIANTS, 15);
}

//! Every transition property stays quiet on a step of the correct model and
//! fires when the step is redone by a wrong rule.

mod common;

use common::{fires, last_step, Scenario};
use raft_model::properties::transitions::{broken, TRANSITIONS};
use raft_model::state::{Action, Envelope, Message, Role, State};
use raft_model::Config;

fn config() -> Config {
    Config {
        max_term: 3,
        max_log: 2,
        max_in_flight: 12,
        restarts: 1,
        drops: 0,
        duplicates: 0,
        lose_tail: 1,
        ..Config::default()
    }
}

/// s0 leads term 1 with s1's vote, appends (1,1) and s1 stores it.
fn leader_with_one_replica() -> Scenario {
    let mut sc = Scenario::new(config());
    sc.s0_leads_and_s1_stores_one_entry();
    sc
}

/// The one message in `state`'s network matching `pred`, to rewrite.
fn message(state: &mut State, pred: impl Fn(&Envelope) -> bool) -> &mut Message {
    let mut found = state.network.iter_mut().filter(|m| pred(m));
    let m = found.next().expect("the message is in flight");
    &mut m.msg
}

#[test]
fn a_new_leader_initialises_its_progress() {
    let mut sc = Scenario::new(config());
    sc.act(Action::ElectionTimeout(0));
    sc.deliver(0, 1, "RequestVote")
        .deliver(1, 0, "RequestVoteResponse");
    // Wrong: next_index starts at 0 for a follower.
    fires(&sc, "a new leader initialises its progress", |s| {
        s.servers[0].next_index[2] = 0
    });
}

#[test]
fn a_restart_keeps_persistent_state() {
    let mut sc = leader_with_one_replica();
    sc.act(Action::Restart(1));
    // Wrong: the log is lost (it was never persisted).
    fires(&sc, "a restart keeps persistent state", |s| {
        s.servers[1].log.clear()
    });
    fires(&sc, "a restart keeps persistent state", |s| {
        s.servers[1].voted_for = None
    });
}

#[test]
fn a_restart_resets_only_volatile_state() {
    let mut sc = leader_with_one_replica();
    sc.act(Action::Restart(0));
    // Wrong: a restarted leader comes back still leading.
    fires(&sc, "a restart resets only volatile state", |s| {
        s.servers[0].role = Role::Leader;
        s.servers[0].next_index = vec![2; 3];
        s.servers[0].match_index = vec![0; 3];
    });
    // Wrong: the restart touches another server.
    fires(&sc, "a restart resets only volatile state", |s| {
        s.servers[2].current_term = 1
    });
}

#[test]
fn messages_describe_their_sender() {
    let sc = leader_with_one_replica();
    // Wrong: the follower acknowledges more than the request carried.
    fires(&sc, "messages describe their sender", |s| {
        if let Message::AppendEntriesResponse(r) = message(s, |m| m.from == 1) {
            r.match_index = 2;
        }
    });
    let mut sc = leader_with_one_replica();
    sc.act(Action::Heartbeat(0));
    // Wrong: the leader announces a commit_index it does not have.
    fires(&sc, "messages describe their sender", |s| {
        if let Message::AppendEntries(ae) =
            message(s, |m| m.to == 2 && m.msg.kind() == "AppendEntries")
        {
            ae.leader_commit = 1;
        }
    });
}

/// s1 wins term 2 with s2's vote and sends AppendEntries(prev_log_index=1)
/// to s2, whose log is empty; s2 refuses with a hint.
fn refusal_with_a_hint() -> Scenario {
    let mut sc = leader_with_one_replica();
    sc.act(Action::ElectionTimeout(1));
    sc.deliver_term(1, 2, "RequestVote", 2)
        .deliver_term(2, 1, "RequestVoteResponse", 2);
    sc.deliver_if(1, 2, "AppendEntries", |m| m.term() == 2);
    sc
}

#[test]
fn a_conflict_hint_describes_the_followers_log() {
    let sc = refusal_with_a_hint();
    // Wrong: the hint claims a longer log than s2 has.
    fires(&sc, "a conflict hint describes the follower's log", |s| {
        if let Message::AppendEntriesResponse(r) = message(s, |m| m.from == 2 && m.to == 1) {
            r.conflict.as_mut().expect("a refusal with a hint").log_len = 1;
        }
    });
}

#[test]
fn progress_moves_only_on_a_response_of_the_leaders_term() {
    let mut sc = leader_with_one_replica();
    sc.act(Action::Heartbeat(0));
    // Wrong: a leader raises match_index without any response.
    fires(
        &sc,
        "progress moves only on a response of the leader's term",
        |s| s.servers[0].match_index[2] = 1,
    );
}

#[test]
fn current_term_never_decreases() {
    let mut sc = leader_with_one_replica();
    sc.act(Action::Heartbeat(0));
    fires(&sc, "current_term never decreases", |s| {
        s.servers[1].current_term = 0
    });
}

#[test]
fn commit_index_never_decreases() {
    let mut sc = leader_with_one_replica();
    sc.deliver(1, 0, "AppendEntriesResponse");
    assert_eq!(sc.state.servers[0].commit_index, 1);
    sc.act(Action::Heartbeat(0));
    fires(&sc, "commit_index never decreases", |s| {
        s.servers[0].commit_index = 0
    });
}

#[test]
fn a_vote_stands_for_the_whole_term() {
    let mut sc = leader_with_one_replica();
    sc.act(Action::Heartbeat(0));
    // Wrong: s1 forgets (or moves) its term-1 vote.
    fires(&sc, "a vote stands for the whole term", |s| {
        s.servers[1].voted_for = None
    });
    fires(&sc, "a vote stands for the whole term", |s| {
        s.servers[1].voted_for = Some(2)
    });
}

#[test]
fn votes_go_only_to_up_to_date_candidates() {
    let mut sc = leader_with_one_replica();
    // s2, with an empty log, asks s1, which holds (1,1), in a new term: the
    // vote is refused only because s2's log is behind.
    sc.act(Action::ElectionTimeout(2))
        .act(Action::ElectionTimeout(2));
    sc.deliver_term(2, 1, "RequestVote", 2);
    assert_eq!(sc.state.servers[1].voted_for, None);
    fires(&sc, "votes go only to up-to-date candidates", |s| {
        s.servers[1].voted_for = Some(2);
        if let Message::RequestVoteResponse(r) = message(s, |m| m.from == 1 && m.to == 2) {
            r.vote_granted = true;
        }
    });
}

#[test]
fn a_follower_removes_only_conflicting_entries() {
    let mut sc = Scenario::new(config());
    sc.act(Action::ElectionTimeout(0));
    sc.deliver(0, 1, "RequestVote")
        .deliver(1, 0, "RequestVoteResponse");
    sc.act(Action::Propose(0, 1)).act(Action::Heartbeat(0));
    sc.act(Action::Propose(0, 1)).act(Action::Heartbeat(0));
    let carrying = |n: usize| move |m: &Message| matches!(m, Message::AppendEntries(ae) if ae.entries.len() == n);
    // s1 stores both entries; then the delayed AppendEntries with only the
    // first arrives: nothing conflicts, nothing is to be removed.
    sc.deliver_if(0, 1, "AppendEntries", carrying(2));
    sc.deliver_if(0, 1, "AppendEntries", carrying(1));
    assert_eq!(sc.state.servers[1].log.len(), 2);
    fires(&sc, "a follower removes only conflicting entries", |s| {
        s.servers[1].log.truncate(1)
    });
    let mut sc = leader_with_one_replica();
    sc.act(Action::Heartbeat(0));
    // Wrong: a follower's log changes on a step that is not an AppendEntries to it.
    fires(&sc, "a follower removes only conflicting entries", |s| {
        s.servers[1].log.pop();
    });
}

#[test]
fn commit_index_advances_by_figure_2s_rules() {
    let sc = leader_with_one_replica();
    // Wrong: the follower commits beyond the request's leader_commit (0).
    fires(&sc, "commit_index advances by Figure 2's rules", |s| {
        s.servers[1].commit_index = 1
    });
    // Wrong: the leader commits (1,1) before anyone acknowledged it.
    let mut sc = leader_with_one_replica();
    sc.act(Action::Heartbeat(0));
    fires(&sc, "commit_index advances by Figure 2's rules", |s| {
        s.servers[0].commit_index = 1
    });
}

/// s0 commits (1,1), compacts it, and its heartbeat carries an
/// InstallSnapshot to s2 (which never got the entry); s2 installs it.
fn snapshot_installed_at_s2() -> Scenario {
    let mut sc = leader_with_one_replica();
    sc.deliver(1, 0, "AppendEntriesResponse");
    sc.act(Action::Snapshot(0)).act(Action::Heartbeat(0));
    sc.deliver(0, 2, "InstallSnapshot");
    let s2 = &sc.state.servers[2];
    assert_eq!((s2.first_index(), s2.commit_index), (1, 1));
    sc
}

#[test]
fn install_snapshot_steps_are_checked_like_appends() {
    let sc = snapshot_installed_at_s2();
    // Wrong: the response acknowledges more than the snapshot holds.
    fires(&sc, "messages describe their sender", |s| {
        if let Message::InstallSnapshotResponse(r) = message(s, |m| m.from == 2) {
            r.match_index = 2;
        }
    });
    // Wrong: the installed snapshot commits beyond its last index.
    fires(&sc, "commit_index advances by Figure 2's rules", |s| {
        s.servers[2].log = vec![raft_model::state::Entry { term: 1, value: 1 }];
        s.servers[2].commit_index = 2;
    });
    // Wrong: the leader's InstallSnapshot claims another last term.
    let mut sc = leader_with_one_replica();
    sc.deliver(1, 0, "AppendEntriesResponse");
    sc.act(Action::Snapshot(0)).act(Action::Heartbeat(0));
    fires(&sc, "messages describe their sender", |s| {
        if let Message::InstallSnapshot(is) = message(s, |m| m.msg.kind() == "InstallSnapshot") {
            is.last_included_term = 2;
        }
    });
}

#[test]
fn a_follower_holding_the_snapshots_last_entry_keeps_what_follows() {
    // s0 commits (1,1) with s2; s1 stores (1,1) (1,1) but its acknowledgement
    // is held back; s0 compacts index 1 and sends s1 an InstallSnapshot.
    let mut sc = Scenario::new(config());
    sc.act(Action::ElectionTimeout(0));
    sc.deliver(0, 1, "RequestVote")
        .deliver(1, 0, "RequestVoteResponse");
    let carrying = |n: usize| move |m: &Message| matches!(m, Message::AppendEntries(ae) if ae.entries.len() == n);
    sc.act(Action::Propose(0, 1)).act(Action::Heartbeat(0));
    sc.act(Action::Propose(0, 1)).act(Action::Heartbeat(0));
    sc.deliver_if(0, 2, "AppendEntries", carrying(1));
    sc.deliver_if(
        2,
        0,
        "AppendEntriesResponse",
        |m| matches!(m, Message::AppendEntriesResponse(r) if r.match_index == 1),
    );
    assert_eq!(sc.state.servers[0].commit_index, 1);
    sc.deliver_if(0, 1, "AppendEntries", carrying(2));
    sc.act(Action::Snapshot(0)).act(Action::Heartbeat(0));
    sc.deliver(0, 1, "InstallSnapshot");
    let s1 = &sc.state.servers[1];
    assert_eq!(
        (s1.first_index(), s1.log.len()),
        (1, 1),
        "s1 keeps (1,1) at index 2"
    );
    // Wrong: the follower discards the entry after the snapshot's last one.
    fires(&sc, "a follower removes only conflicting entries", |s| {
        s.servers[1].log.clear()
    });
}

#[test]
fn a_snapshot_never_goes_backwards() {
    let mut sc = snapshot_installed_at_s2();
    sc.act(Action::Heartbeat(0));
    fires(&sc, "a snapshot never goes backwards", |s| {
        s.servers[2].snapshot = Default::default();
    });
}

/// s0 commits (1,1) with s1's acknowledgement; then s1 restarts having
/// lost (1,1): it is recovering up to index 1.
fn acknowledged_entry_lost() -> Scenario {
    let mut sc = leader_with_one_replica();
    sc.deliver(1, 0, "AppendEntriesResponse");
    assert_eq!(sc.state.servers[0].commit_index, 1);
    sc.act(Action::RestartLosingTail(1));
    let s1 = &sc.state.servers[1];
    assert_eq!((s1.log.len(), s1.lost_up_to), (0, 1));
    sc
}

#[test]
fn a_restart_losing_its_tail_keeps_the_rest_and_records_the_loss() {
    let sc = acknowledged_entry_lost();
    // Wrong (forget-lost-tail): the loss is not recorded.
    fires(&sc, "a restart keeps persistent state", |s| {
        s.servers[1].lost_up_to = 0
    });
    fires(&sc, "lost_up_to moves only by the recovery rules", |s| {
        s.servers[1].lost_up_to = 0
    });
    // Wrong: the watermark is not the old last index.
    fires(&sc, "lost_up_to moves only by the recovery rules", |s| {
        s.servers[1].lost_up_to = 2
    });
    // Wrong: nothing was lost after all, or more than the last entry.
    fires(&sc, "a restart keeps persistent state", |s| {
        s.servers[1].log = vec![raft_model::state::Entry { term: 1, value: 1 }]
    });
    // Wrong: the vote is lost with the tail.
    fires(&sc, "a restart keeps persistent state", |s| {
        s.servers[1].voted_for = None
    });
    // Wrong: a plain restart forgets that the server is recovering.
    let mut sc = acknowledged_entry_lost();
    sc.act(Action::Restart(1));
    fires(&sc, "a restart keeps persistent state", |s| {
        s.servers[1].lost_up_to = 0
    });
}

#[test]
fn a_restart_losing_its_tail_resets_volatile_state() {
    let mut sc = leader_with_one_replica();
    sc.act(Action::RestartLosingTail(0));
    // Wrong: the leader comes back still leading.
    fires(&sc, "a restart resets only volatile state", |s| {
        s.servers[0].role = Role::Leader;
        s.servers[0].next_index = vec![1; 3];
        s.servers[0].match_index = vec![0; 3];
    });
    // Wrong: commit_index survives the restart.
    let mut sc2 = leader_with_one_replica();
    sc2.deliver(1, 0, "AppendEntriesResponse")
        .act(Action::RestartLosingTail(0));
    fires(&sc2, "a restart resets only volatile state", |s| {
        s.servers[0].commit_index = 1
    });
}

#[test]
fn a_recovering_server_neither_votes_nor_stands_for_election() {
    let mut sc = acknowledged_entry_lost();
    // s1 may not time out; s2 can.
    assert!(!sc.model.enabled(&sc.state, &Action::ElectionTimeout(1)));
    sc.act(Action::ElectionTimeout(2))
        .act(Action::ElectionTimeout(2));
    sc.deliver_term(2, 1, "RequestVote", 2);
    let s1 = &sc.state.servers[1];
    assert_eq!((s1.current_term, s1.voted_for), (2, None));
    // Wrong (forget-lost-tail's effect): s1 votes for s2, whose log is as
    // up-to-date as what s1 has left.
    fires(
        &sc,
        "a recovering server neither votes nor stands for election",
        |s| {
            s.servers[1].voted_for = Some(2);
            if let Message::RequestVoteResponse(r) = message(s, |m| m.from == 1 && m.to == 2) {
                r.vote_granted = true;
            }
        },
    );
    // Wrong: the vote is recorded but not sent.
    fires(
        &sc,
        "a recovering server neither votes nor stands for election",
        |s| s.servers[1].voted_for = Some(2),
    );
    // Wrong: a recovering server stands for election.
    let mut sc = acknowledged_entry_lost();
    sc.act(Action::Heartbeat(0));
    fires(
        &sc,
        "a recovering server neither votes nor stands for election",
        |s| {
            s.servers[1].role = Role::Candidate;
            s.servers[1].current_term = 2;
            s.servers[1].voted_for = Some(1);
        },
    );
}

/// An AppendEntries whose prev_log_index is `prev`.
fn asks_for(prev: u8) -> impl Fn(&Message) -> bool {
    move |m| matches!(m, Message::AppendEntries(ae) if ae.prev_log_index == prev)
}

/// After the loss, s0's heartbeat asks s1 for index 1, which s1 lost; s1
/// refuses with a hint below match_index, and s0 lowers match_index to 0.
fn loss_detected_by_the_leader() -> Scenario {
    let mut sc = acknowledged_entry_lost();
    sc.act(Action::Heartbeat(0));
    sc.deliver_if(0, 1, "AppendEntries", asks_for(1));
    sc.deliver(1, 0, "AppendEntriesResponse");
    let s0 = &sc.state.servers[0];
    assert_eq!((s0.next_index[1], s0.match_index[1]), (1, 0));
    sc
}

#[test]
fn a_refusal_below_match_index_lowers_it_and_nothing_else() {
    let sc = loss_detected_by_the_leader();
    // Wrong (the old rule): match_index stays at the lost index.
    fires(
        &sc,
        "progress moves only on a response of the leader's term",
        |s| {
            s.servers[0].match_index[1] = 1;
            s.servers[0].next_index[1] = 2;
        },
    );
    fires(
        &sc,
        "progress moves only on a response of the leader's term",
        |s| s.servers[0].match_index[1] = 1,
    );
    // Wrong: another follower's progress moves too.
    fires(
        &sc,
        "progress moves only on a response of the leader's term",
        |s| s.servers[0].next_index[2] = 2,
    );
}

#[test]
fn lost_up_to_falls_only_on_a_repair_that_reaches_it() {
    let mut sc = loss_detected_by_the_leader();
    sc.act(Action::Heartbeat(0));
    // Wrong: a heartbeat step clears it, though nothing was re-sent yet.
    fires(&sc, "lost_up_to moves only by the recovery rules", |s| {
        s.servers[1].lost_up_to = 0
    });
    sc.deliver_if(
        0,
        1,
        "AppendEntries",
        |m| matches!(m, Message::AppendEntries(ae) if ae.entries.len() == 1),
    );
    let s1 = &sc.state.servers[1];
    assert_eq!((s1.log.len(), s1.lost_up_to), (1, 0), "repaired");
    // Wrong: the accepted AppendEntries reaches index 1 and does not clear it.
    fires(&sc, "lost_up_to moves only by the recovery rules", |s| {
        s.servers[1].lost_up_to = 1
    });
}

#[test]
fn an_install_snapshot_covering_lost_up_to_repairs() {
    let mut sc = acknowledged_entry_lost();
    // s0 compacts (1,1) and backs s1 off to below its snapshot.
    sc.act(Action::Snapshot(0)).act(Action::Heartbeat(0));
    sc.deliver_if(0, 1, "AppendEntries", asks_for(1));
    sc.deliver(1, 0, "AppendEntriesResponse");
    sc.act(Action::Heartbeat(0));
    sc.deliver(0, 1, "InstallSnapshot");
    let s1 = &sc.state.servers[1];
    assert_eq!((s1.first_index(), s1.lost_up_to), (1, 0), "repaired");
    fires(&sc, "lost_up_to moves only by the recovery rules", |s| {
        s.servers[1].lost_up_to = 1
    });
}

#[test]
fn a_pre_vote_changes_no_current_term_or_voted_for() {
    let pre_vote = || {
        Scenario::new(Config {
            pre_vote: true,
            ..config()
        })
    };
    let rule = "a pre-vote changes no current_term or voted_for";
    // The pre-candidate: wrong, it takes the term it asks for.
    let mut sc = pre_vote();
    sc.act(Action::ElectionTimeout(0));
    assert_eq!(sc.state.servers[0].role, Role::PreCandidate);
    fires(&sc, rule, |s| s.servers[0].current_term = 1);
    // A voter: wrong, a pre-vote it grants is recorded as a vote.
    sc.deliver(0, 1, "PreVote");
    fires(&sc, rule, |s| s.servers[1].voted_for = Some(0));
    // The reply that completes the majority starts the real election: not a pre-vote step.
    sc.deliver(1, 0, "PreVoteResponse");
    assert_eq!(sc.state.servers[0].role, Role::Candidate);
    let (before, action, after) = last_step(&sc);
    assert_eq!(broken(&before, &action, &after), 0);
    assert_eq!(after.servers[0].current_term, 1);
}

/// s0 leads term 1 with s1's vote under check-quorum, and has heard from nobody since.
fn check_quorum_leader() -> Scenario {
    let mut sc = Scenario::new(Config {
        check_quorum: true,
        ..config()
    });
    sc.elect_s0();
    sc
}

#[test]
fn a_leader_that_steps_down_by_check_quorum_keeps_its_term_and_vote() {
    let mut sc = check_quorum_leader();
    sc.act(Action::CheckQuorum(0));
    assert_eq!(sc.state.servers[0].role, Role::Follower, "nobody heard");
    let rule = "a leader that steps down by CheckQuorum keeps its current_term and voted_for";
    fires(&sc, rule, |s| s.servers[0].voted_for = None);
    fires(&sc, rule, |s| s.servers[0].current_term = 2);
}

#[test]
fn a_check_quorum_changes_nothing_at_a_leader_that_heard_from_a_majority() {
    let mut sc = check_quorum_leader();
    sc.deliver(0, 1, "AppendEntries")
        .deliver(1, 0, "AppendEntriesResponse");
    assert_eq!(sc.state.servers[0].heard_from, 0b10);
    sc.act(Action::CheckQuorum(0));
    let s0 = &sc.state.servers[0];
    assert_eq!((s0.role, s0.heard_from), (Role::Leader, 0));
    let rule = "a CheckQuorum changes nothing at a leader that heard from a majority";
    fires(&sc, rule, |s| s.servers[0].commit_index = 1);
    fires(&sc, rule, |s| s.network.clear());
}

#[test]
fn a_leader_that_stays_leader_after_a_check_quorum_heard_from_a_majority() {
    let mut sc = check_quorum_leader();
    sc.act(Action::CheckQuorum(0));
    let rule = "a leader that stays leader after a CheckQuorum heard from a majority";
    // The bug check-quorum-counts-self-twice: s0 heard from nobody and stays.
    fires(&sc, rule, |s| {
        s.servers[0] = sc.steps[3].0.servers[0].clone()
    });
}

#[test]
fn every_transition_property_has_a_test_above() {
    // Guard: adding a transition property without a test fails this count. The
    // leadership transfer ones are tested in tests/transfer.rs.
    assert_eq!(TRANSITIONS.len(), 21);
}

//! The model's bug catalog as test input.
//!
//! Each catalog bug whose preferred configuration has a counterexample is
//! stored in `conformance/traces/<bug>.json`, as written by `raft-model check
//! --bug NAME --trace-out FILE` (see [`generate`] to refresh them). A
//! counterexample is a behaviour of the *buggy* model, so the correct core
//! must depart from it; the generated suite instead uses its *steered* form
//! ([`steer`]): the same actions replayed in the correct model with the same
//! bounds, for as long as they stay enabled. That behaviour drives the
//! system to exactly the situation the bug mishandles, so a core carrying
//! the bug diverges there, while the correct core must follow it to the end.

use crate::Behaviour;
use raft_model::search::{self, Options, Strategy};
use raft_model::trace::{self, TraceError, TraceFile};
use raft_model::{Bug, RaftModel};
use std::time::Duration;

/// The saved counterexample of `bug`, if its preferred configuration has one.
pub fn saved_json(bug: Bug) -> Option<&'static str> {
    Some(match bug {
        Bug::VoteResetOnSameTerm => include_str!("../traces/vote-reset-on-same-term.json"),
        Bug::NoUpToDateCheck => include_str!("../traces/no-up-to-date-check.json"),
        Bug::CommitPreviousTerm => include_str!("../traces/commit-previous-term.json"),
        Bug::TruncateOnEveryAppend => include_str!("../traces/truncate-on-every-append.json"),
        Bug::EntriesStampedWithLeaderTerm => {
            include_str!("../traces/entries-stamped-with-leader-term.json")
        }
        Bug::VoteNotPersisted => include_str!("../traces/vote-not-persisted.json"),
        Bug::CommitBeyondLastNewEntry => {
            include_str!("../traces/commit-beyond-last-new-entry.json")
        }
        Bug::LogNotPersisted => include_str!("../traces/log-not-persisted.json"),
        Bug::AcceptStaleReply => include_str!("../traces/accept-stale-reply.json"),
        Bug::SnapshotBeyondCommit => include_str!("../traces/snapshot-beyond-commit.json"),
        Bug::InstallDiscardsSuffix => include_str!("../traces/install-discards-suffix.json"),
        Bug::InstallOlderSnapshot => include_str!("../traces/install-older-snapshot.json"),
        Bug::WrongLastIncludedTerm => include_str!("../traces/wrong-last-included-term.json"),
        Bug::SnapshotNotPersistedWithState => {
            include_str!("../traces/snapshot-not-persisted-with-state.json")
        }
        Bug::CommitNotAdvancedOnInstall => {
            include_str!("../traces/commit-not-advanced-on-install.json")
        }
        Bug::SnapshotStateIndexMismatch => {
            include_str!("../traces/snapshot-state-index-mismatch.json")
        }
        Bug::ForgetLostTail => include_str!("../traces/forget-lost-tail.json"),
        Bug::PreVoteIncrementsTerm => include_str!("../traces/pre-vote-increments-term.json"),
        Bug::CheckQuorumCountsSelfTwice => {
            include_str!("../traces/check-quorum-counts-self-twice.json")
        }
        Bug::TransferWithoutCatchUp => include_str!("../traces/transfer-without-catch-up.json"),
    })
}

pub fn saved(bug: Bug) -> Option<Result<TraceFile, TraceError>> {
    saved_json(bug).map(trace::itf::from_json)
}

/// The counterexample's actions in the correct model with the same bounds,
/// up to the first action the correct model does not enable.
pub fn steer(cx: &TraceFile) -> Behaviour {
    let mut config = cx.config.clone();
    config.bugs.clear();
    config.fixes.clear();
    let model = RaftModel::new(config);
    let mut b = Behaviour {
        states: vec![model.init_state()],
        actions: Vec::new(),
    };
    let mut enabled = Vec::new();
    for action in cx.steps.iter().filter_map(|(_, a)| a.as_ref()) {
        let state = b.states.last().expect("a behaviour has a state");
        enabled.clear();
        model.actions(state, &mut enabled);
        if !enabled.contains(action) {
            break;
        }
        let Some(next) = model.next_state(state, action) else {
            break;
        };
        b.actions.push(action.clone());
        b.states.push(next);
    }
    b
}

/// Runs the model checker on `bug` in its preferred configuration and
/// returns the counterexample as a trace file (None: the bug violates
/// nothing there, or the search stopped at `timeout`).
pub fn generate(bug: Bug, timeout: Duration) -> Option<TraceFile> {
    let mut config = bug.preferred_config();
    config.bugs.insert(bug);
    let opts = Options {
        strategy: Strategy::Auto,
        timeout: Some(timeout),
        progress_every: None,
        ..Options::default()
    };
    let outcome = search::check(&config, &opts, &mut std::io::sink());
    let cx = outcome.counterexample?;
    Some(TraceFile {
        config,
        violation: Some(cx.property.to_string()),
        description: format!(
            "counterexample to {} found by raft-model check",
            cx.property
        ),
        steps: cx.steps,
    })
}

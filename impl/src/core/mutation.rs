//! Mutations of the core, for mutation testing by `raft-conformance`.
//!
//! Each [`Mutation`] re-creates one bug of the model's catalog (`raft-model
//! bugs`), alone or with the application's part of it (the conformance
//! harness plays the application), and is named after it. The core knows no names: the conformance
//! crate pairs each mutation with its bug (`mapping::mutation_of` /
//! `bug_of`, exhaustive matches) and speaks of a mutant by its bug's name.
//!
//! A node carries its mutation in its type, [`RawNode<M>`](super::RawNode):
//! the production node is `RawNode<Correct>` (what `RawNode::new` and
//! `RawNode::restore` build), whose every hook is the constant `false`, so
//! the compiler removes each mutation branch and the production core has no
//! mutation field, branch or check, whatever else the workspace builds. A
//! mutated node is built with [`RawNode::restore_mutated`](super::RawNode::restore_mutated),
//! its mutation chosen at run time (`Option<Mutation>`).
//!
//! Each site is one line, the correct rule first, then its hook (the
//! hooks are `RawNode` methods in node.rs; [`Mutation::site`] names each
//! site):
//! - `let ok = ok || self.mutant(m);` to drop a condition,
//! - `let v = self.mutant_or(m, v, bug);` to replace a value by what the bug
//!   makes of it (the `bug` functions are at the end of this file),
//! - `if self.mutant(m) { ... }` for the bugs that add a transition
//!   (`vote-reset-on-same-term`, `step.rs`; `pre-vote-increments-term`,
//!   `prevote.rs`) or undo part of one
//!   (`install-older-snapshot`, `commit-not-advanced-on-install`,
//!   `snapshot.rs`).
//!
//! A mutated node (`Some(_)`) also relaxes, through `relaxed_for_mutant`,
//! three checks the bugs break by design: it stops asserting its own
//! invariants in debug builds (`debug_check`, node.rs; the conformance
//! harness evaluates the model's invariants on the node's abstract state
//! instead), it may cut committed entries (the debug assertion in
//! `handle_append_entries`, step.rs), and it skips the bad-input guards the
//! model does not have (an AppendEntries overwriting a committed entry, a
//! success reply beyond the leader's log: `validate_against_state`,
//! step.rs), because those are exactly the situations the catalog bugs
//! create.

use std::fmt::Debug;

use super::log::Merge;
use super::message::AppendEntries;
use crate::types::{HardState, Snapshot};

/// One catalog bug, re-created in the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mutation {
    /// A request of the current term clears `voted_for` and makes the node a follower.
    VoteResetOnSameTerm,
    /// Votes are granted without the §5.4.1 up-to-date check.
    NoUpToDateCheck,
    /// The commit rule counts replicas of entries from earlier terms (Figure 8).
    CommitPreviousTerm,
    /// A follower cuts its log at `prev_log_index + 1` on every non-empty AppendEntries.
    TruncateOnEveryAppend,
    /// A follower stores received entries with the message's term.
    EntriesStampedWithLeaderTerm,
    /// `voted_for` never reaches storage (the Ready's hard state carries no vote).
    VoteNotPersisted,
    /// A leader applies AppendEntries replies from older terms.
    AcceptStaleReply,
    /// A follower sets `commit_index = leader_commit`, not bounded by the last new entry.
    CommitBeyondLastNewEntry,
    /// Log entries never reach storage (the Ready carries no log change).
    LogNotPersisted,
    /// `compact` accepts an index beyond the applied one (the application
    /// compacts up to its last index: see the conformance harness).
    SnapshotBeyondCommit,
    /// A follower discards its whole log on InstallSnapshot, even a suffix
    /// after a matching last included entry.
    InstallDiscardsSuffix,
    /// A follower installs a snapshot no newer than its commit index and
    /// resets commit_index (and its state machine) to it.
    InstallOlderSnapshot,
    /// `compact` records the current term as `last_included_term`.
    WrongLastIncludedTerm,
    /// The Ready's snapshot reaches storage without its data.
    SnapshotNotPersistedWithState,
    /// Installing a snapshot leaves commit_index where it was.
    CommitNotAdvancedOnInstall,
    /// A pre-candidate (§9.6) takes the term it asks pre-votes for, so it is persisted.
    PreVoteIncrementsTerm,
    /// A leader's check-quorum (thesis §6.2) counts itself twice, so a 3-server leader that
    /// heard from nobody stays leader.
    CheckQuorumCountsSelfTwice,
    /// Leadership transfer (thesis §3.10): the leader sends TimeoutNow at once, whether or not
    /// the target's log is caught up, so a lagging target may start an election it cannot win.
    TransferWithoutCatchUp,
}

impl Mutation {
    pub const ALL: [Mutation; 18] = [
        Mutation::VoteResetOnSameTerm,
        Mutation::NoUpToDateCheck,
        Mutation::CommitPreviousTerm,
        Mutation::TruncateOnEveryAppend,
        Mutation::EntriesStampedWithLeaderTerm,
        Mutation::VoteNotPersisted,
        Mutation::AcceptStaleReply,
        Mutation::CommitBeyondLastNewEntry,
        Mutation::LogNotPersisted,
        Mutation::SnapshotBeyondCommit,
        Mutation::InstallDiscardsSuffix,
        Mutation::InstallOlderSnapshot,
        Mutation::WrongLastIncludedTerm,
        Mutation::SnapshotNotPersistedWithState,
        Mutation::CommitNotAdvancedOnInstall,
        Mutation::PreVoteIncrementsTerm,
        Mutation::CheckQuorumCountsSelfTwice,
        Mutation::TransferWithoutCatchUp,
    ];

    /// Where in the core the mutation's hook lives.
    pub fn site(self) -> &'static str {
        match self {
            Mutation::VoteResetOnSameTerm => "step.rs: RawNode::step, before the state checks",
            Mutation::NoUpToDateCheck => "step.rs: handle_request_vote",
            Mutation::CommitPreviousTerm => "replicate.rs: maybe_commit",
            Mutation::TruncateOnEveryAppend => "step.rs: handle_append_entries (merge)",
            Mutation::EntriesStampedWithLeaderTerm => "step.rs: handle_append_entries (entries)",
            Mutation::VoteNotPersisted => "node.rs: RawNode::ready (hard_state)",
            Mutation::AcceptStaleReply => "step.rs: handle_append_response",
            Mutation::CommitBeyondLastNewEntry => "step.rs: handle_append_entries (commit)",
            Mutation::LogNotPersisted => "node.rs: RawNode::ready (log change)",
            Mutation::SnapshotBeyondCommit => "snapshot.rs: RawNode::compact (applied check)",
            Mutation::InstallDiscardsSuffix => "snapshot.rs: handle_install_snapshot (install)",
            Mutation::InstallOlderSnapshot => {
                "snapshot.rs: handle_install_snapshot (older check, commit reset)"
            }
            Mutation::WrongLastIncludedTerm => "snapshot.rs: RawNode::compact (last_included_term)",
            Mutation::SnapshotNotPersistedWithState => "node.rs: RawNode::ready (snapshot)",
            Mutation::CommitNotAdvancedOnInstall => {
                "snapshot.rs: handle_install_snapshot (commit_index)"
            }
            Mutation::PreVoteIncrementsTerm => "prevote.rs: become_pre_candidate",
            Mutation::CheckQuorumCountsSelfTwice => "checkquorum.rs: check_quorum_now",
            Mutation::TransferWithoutCatchUp => "transfer.rs: RawNode::transfer_leader",
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Correct {}
    impl Sealed for Option<super::Mutation> {}
}

/// What a node's mutation hooks answer. Implemented only by [`Correct`] (the
/// product) and `Option<Mutation>` (chosen at run time, for conformance).
pub trait Mutator: sealed::Sealed + Debug {
    /// Whether this node re-creates `m`.
    fn mutated(&self, m: Mutation) -> bool;
    /// Whether this node re-creates any bug (and so relaxes its own checks).
    fn any(&self) -> bool;
}

/// The correct core: every hook is the constant `false`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Correct;

impl Mutator for Correct {
    #[inline(always)]
    fn mutated(&self, _: Mutation) -> bool {
        false
    }

    #[inline(always)]
    fn any(&self) -> bool {
        false
    }
}

/// A mutation chosen at run time; `None` behaves as [`Correct`].
impl Mutator for Option<Mutation> {
    #[inline]
    fn mutated(&self, m: Mutation) -> bool {
        *self == Some(m)
    }

    #[inline]
    fn any(&self) -> bool {
        self.is_some()
    }
}

// ---- what the bugs that rewrite a value make of it (the hooks' `bug` side) ----

/// [`Mutation::EntriesStampedWithLeaderTerm`]: the entries take the message's term.
pub(crate) fn stamp_entries(mut m: AppendEntries) -> AppendEntries {
    for e in &mut m.entries {
        e.term = m.term;
    }
    m
}

/// [`Mutation::TruncateOnEveryAppend`]: non-empty entries always cut the log
/// at `prev_log_index + 1`, whatever [`find_merge`](super::log::RaftLog::find_merge) found.
pub(crate) fn cut_at_prev_log_index(m: &AppendEntries, merge: Merge) -> Merge {
    if m.entries.is_empty() {
        return merge;
    }
    Merge::Conflict {
        offset: 0,
        index: m.prev_log_index + 1,
    }
}

/// [`Mutation::SnapshotNotPersistedWithState`]: the snapshot reaches storage
/// with its metadata but no data.
pub(crate) fn drop_snapshot_data(snapshot: Option<Snapshot>) -> Option<Snapshot> {
    snapshot.map(|s| Snapshot {
        data: bytes::Bytes::new(),
        ..s
    })
}

/// [`Mutation::VoteNotPersisted`]: the hard state reaches storage without `voted_for`.
pub(crate) fn forget_vote(hard_state: Option<HardState>) -> Option<HardState> {
    hard_state.map(|hs| HardState {
        voted_for: None,
        ..hs
    })
}

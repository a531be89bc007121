//! Part 5 of the mapping: the bug catalog and the system's mutants.
//!
//! Each model bug is re-created by a [`Mutant`]: a core mutation, a change
//! in the application (the harness plays the state machine that snapshots
//! itself), or both, as the bug needs. Each function below is an exhaustive
//! match without a wildcard: a bug or a mutation added on one side only
//! does not compile.

use raft_impl::core::Mutation;
use raft_model::Bug;
use std::fmt;

/// What the application does differently to re-create a bug. The correct
/// application snapshots up to its applied index, with exactly the entries
/// it applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Application {
    /// `Snapshot(i)` compacts up to the node's last index, applied or not.
    pub compact_to_last_index: bool,
    /// The snapshot's data is the state before the entry at its index was
    /// applied.
    pub state_one_entry_short: bool,
    /// After a restart that lost the log's tail, storage does not report the
    /// loss (no `lost_up_to`): the node goes on as a normal voter.
    pub forget_lost_tail: bool,
}

/// A catalog bug re-created in the core and the application; named by its
/// bug on the command line and in reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mutant(pub Bug);

impl Mutant {
    /// One mutant per catalog bug, in the catalog's order.
    pub fn all() -> Vec<Mutant> {
        Bug::ALL.into_iter().map(Mutant).collect()
    }

    pub fn from_name(name: &str) -> Option<Mutant> {
        Bug::from_name(name).map(Mutant)
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The core's part, if any.
    pub fn core(self) -> Option<Mutation> {
        mutation_of(self.0)
    }

    /// The application's part.
    pub fn application(self) -> Application {
        application_of(self.0)
    }
}

impl fmt::Display for Mutant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The core mutation that re-creates (its part of) the model's `bug`.
pub fn mutation_of(bug: Bug) -> Option<Mutation> {
    Some(match bug {
        Bug::VoteResetOnSameTerm => Mutation::VoteResetOnSameTerm,
        Bug::NoUpToDateCheck => Mutation::NoUpToDateCheck,
        Bug::CommitPreviousTerm => Mutation::CommitPreviousTerm,
        Bug::TruncateOnEveryAppend => Mutation::TruncateOnEveryAppend,
        Bug::EntriesStampedWithLeaderTerm => Mutation::EntriesStampedWithLeaderTerm,
        Bug::VoteNotPersisted => Mutation::VoteNotPersisted,
        Bug::AcceptStaleReply => Mutation::AcceptStaleReply,
        Bug::CommitBeyondLastNewEntry => Mutation::CommitBeyondLastNewEntry,
        Bug::LogNotPersisted => Mutation::LogNotPersisted,
        // The core's guard is gone and the application asks beyond commit.
        Bug::SnapshotBeyondCommit => Mutation::SnapshotBeyondCommit,
        Bug::InstallDiscardsSuffix => Mutation::InstallDiscardsSuffix,
        Bug::InstallOlderSnapshot => Mutation::InstallOlderSnapshot,
        Bug::WrongLastIncludedTerm => Mutation::WrongLastIncludedTerm,
        Bug::SnapshotNotPersistedWithState => Mutation::SnapshotNotPersistedWithState,
        Bug::CommitNotAdvancedOnInstall => Mutation::CommitNotAdvancedOnInstall,
        // The application's alone: the core never sees the state's content.
        Bug::SnapshotStateIndexMismatch => return None,
        // The storage's (the application's) alone: the core's rules are right.
        Bug::ForgetLostTail => return None,
        Bug::PreVoteIncrementsTerm => Mutation::PreVoteIncrementsTerm,
        Bug::CheckQuorumCountsSelfTwice => Mutation::CheckQuorumCountsSelfTwice,
        Bug::TransferWithoutCatchUp => Mutation::TransferWithoutCatchUp,
    })
}

/// The application's part of the model's `bug`.
pub fn application_of(bug: Bug) -> Application {
    let correct = Application::default();
    match bug {
        Bug::SnapshotBeyondCommit => Application {
            compact_to_last_index: true,
            ..correct
        },
        Bug::SnapshotStateIndexMismatch => Application {
            state_one_entry_short: true,
            ..correct
        },
        Bug::ForgetLostTail => Application {
            forget_lost_tail: true,
            ..correct
        },
        Bug::VoteResetOnSameTerm
        | Bug::NoUpToDateCheck
        | Bug::CommitPreviousTerm
        | Bug::TruncateOnEveryAppend
        | Bug::EntriesStampedWithLeaderTerm
        | Bug::VoteNotPersisted
        | Bug::AcceptStaleReply
        | Bug::CommitBeyondLastNewEntry
        | Bug::LogNotPersisted
        | Bug::InstallDiscardsSuffix
        | Bug::InstallOlderSnapshot
        | Bug::WrongLastIncludedTerm
        | Bug::SnapshotNotPersistedWithState
        | Bug::CommitNotAdvancedOnInstall
        | Bug::PreVoteIncrementsTerm
        | Bug::CheckQuorumCountsSelfTwice
        | Bug::TransferWithoutCatchUp => correct,
    }
}

/// The model bug that the core mutation `m` re-creates (with the
/// application's part, if any).
pub fn bug_of(m: Mutation) -> Bug {
    match m {
        Mutation::VoteResetOnSameTerm => Bug::VoteResetOnSameTerm,
        Mutation::NoUpToDateCheck => Bug::NoUpToDateCheck,
        Mutation::CommitPreviousTerm => Bug::CommitPreviousTerm,
        Mutation::TruncateOnEveryAppend => Bug::TruncateOnEveryAppend,
        Mutation::EntriesStampedWithLeaderTerm => Bug::EntriesStampedWithLeaderTerm,
        Mutation::VoteNotPersisted => Bug::VoteNotPersisted,
        Mutation::AcceptStaleReply => Bug::AcceptStaleReply,
        Mutation::CommitBeyondLastNewEntry => Bug::CommitBeyondLastNewEntry,
        Mutation::LogNotPersisted => Bug::LogNotPersisted,
        Mutation::SnapshotBeyondCommit => Bug::SnapshotBeyondCommit,
        Mutation::InstallDiscardsSuffix => Bug::InstallDiscardsSuffix,
        Mutation::InstallOlderSnapshot => Bug::InstallOlderSnapshot,
        Mutation::WrongLastIncludedTerm => Bug::WrongLastIncludedTerm,
        Mutation::SnapshotNotPersistedWithState => Bug::SnapshotNotPersistedWithState,
        Mutation::CommitNotAdvancedOnInstall => Bug::CommitNotAdvancedOnInstall,
        Mutation::PreVoteIncrementsTerm => Bug::PreVoteIncrementsTerm,
        Mutation::CheckQuorumCountsSelfTwice => Bug::CheckQuorumCountsSelfTwice,
        Mutation::TransferWithoutCatchUp => Bug::TransferWithoutCatchUp,
    }
}

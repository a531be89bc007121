//! Model configuration: bounds, fault budgets, and the bugs and fixes that
//! are switched on.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// A known-wrong rule the model can be switched to (`--bug NAME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bug {
    VoteResetOnSameTerm,
    NoUpToDateCheck,
    CommitPreviousTerm,
    TruncateOnEveryAppend,
    EntriesStampedWithLeaderTerm,
    VoteNotPersisted,
    AcceptStaleReply,
    CommitBeyondLastNewEntry,
    LogNotPersisted,
    SnapshotBeyondCommit,
    InstallDiscardsSuffix,
    InstallOlderSnapshot,
    WrongLastIncludedTerm,
    SnapshotNotPersistedWithState,
    CommitNotAdvancedOnInstall,
    SnapshotStateIndexMismatch,
    ForgetLostTail,
    PreVoteIncrementsTerm,
    CheckQuorumCountsSelfTwice,
    TransferWithoutCatchUp,
}

/// A proposed fix the model can be switched to (`--fix NAME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fix {
    RejectPrevBelowCommit,
    KeepSuffixByLength,
}

impl Bug {
    pub const ALL: [Bug; 20] = [
        Bug::VoteResetOnSameTerm,
        Bug::NoUpToDateCheck,
        Bug::CommitPreviousTerm,
        Bug::TruncateOnEveryAppend,
        Bug::EntriesStampedWithLeaderTerm,
        Bug::VoteNotPersisted,
        Bug::AcceptStaleReply,
        Bug::CommitBeyondLastNewEntry,
        Bug::LogNotPersisted,
        Bug::SnapshotBeyondCommit,
        Bug::InstallDiscardsSuffix,
        Bug::InstallOlderSnapshot,
        Bug::WrongLastIncludedTerm,
        Bug::SnapshotNotPersistedWithState,
        Bug::CommitNotAdvancedOnInstall,
        Bug::SnapshotStateIndexMismatch,
        Bug::ForgetLostTail,
        Bug::PreVoteIncrementsTerm,
        Bug::CheckQuorumCountsSelfTwice,
        Bug::TransferWithoutCatchUp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bug::VoteResetOnSameTerm => "vote-reset-on-same-term",
            Bug::NoUpToDateCheck => "no-up-to-date-check",
            Bug::CommitPreviousTerm => "commit-previous-term",
            Bug::TruncateOnEveryAppend => "truncate-on-every-append",
            Bug::EntriesStampedWithLeaderTerm => "entries-stamped-with-leader-term",
            Bug::VoteNotPersisted => "vote-not-persisted",
            Bug::AcceptStaleReply => "accept-stale-reply",
            Bug::CommitBeyondLastNewEntry => "commit-beyond-last-new-entry",
            Bug::LogNotPersisted => "log-not-persisted",
            Bug::SnapshotBeyondCommit => "snapshot-beyond-commit",
            Bug::InstallDiscardsSuffix => "install-discards-suffix",
            Bug::InstallOlderSnapshot => "install-older-snapshot",
            Bug::WrongLastIncludedTerm => "wrong-last-included-term",
            Bug::SnapshotNotPersistedWithState => "snapshot-not-persisted-with-state",
            Bug::CommitNotAdvancedOnInstall => "commit-not-advanced-on-install",
            Bug::SnapshotStateIndexMismatch => "snapshot-state-index-mismatch",
            Bug::ForgetLostTail => "forget-lost-tail",
            Bug::PreVoteIncrementsTerm => "pre-vote-increments-term",
            Bug::CheckQuorumCountsSelfTwice => "check-quorum-counts-self-twice",
            Bug::TransferWithoutCatchUp => "transfer-without-catch-up",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Bug::VoteResetOnSameTerm => {
                "a request whose term equals current_term makes the server a follower and clears voted_for, so it can vote twice in one term"
            }
            Bug::NoUpToDateCheck => {
                "votes are granted without the §5.4.1 check that the candidate's log is at least as up-to-date"
            }
            Bug::CommitPreviousTerm => {
                "a leader advances commit_index by counting replicas of an entry from an earlier term (Figure 8)"
            }
            Bug::TruncateOnEveryAppend => {
                "a follower truncates its log at prev_log_index+1 whenever entries are non-empty, even when they already match"
            }
            Bug::EntriesStampedWithLeaderTerm => {
                "a follower stores received entries with the leader's current term instead of each entry's own term"
            }
            Bug::VoteNotPersisted => "voted_for is not persisted, so it is lost on restart",
            Bug::AcceptStaleReply => {
                "a leader applies an AppendEntries reply from an older term to next_index and match_index"
            }
            Bug::CommitBeyondLastNewEntry => {
                "a follower sets commit_index = leader_commit without bounding it by the index of the last new entry"
            }
            Bug::LogNotPersisted => {
                "the log is not persisted, so a restarted server comes back with an empty log"
            }
            Bug::SnapshotBeyondCommit => {
                "a server compacts its log up to its last index, including entries it has not committed"
            }
            Bug::InstallDiscardsSuffix => {
                "a follower discards its whole log on InstallSnapshot even when it holds the snapshot's last entry and later ones"
            }
            Bug::InstallOlderSnapshot => {
                "a follower installs a snapshot older than its commit index, so its state machine goes backwards"
            }
            Bug::WrongLastIncludedTerm => {
                "last_included_term is taken from the current term instead of the last included entry"
            }
            Bug::SnapshotNotPersistedWithState => {
                "the truncated log and the snapshot's index are persisted but its content is not, so a restart loses committed entries"
            }
            Bug::CommitNotAdvancedOnInstall => {
                "after installing a snapshot, commit_index is not raised to last_included_index"
            }
            Bug::SnapshotStateIndexMismatch => {
                "the snapshot's content is cut one entry before last_included_index (taken before the last entry was applied)"
            }
            Bug::ForgetLostTail => {
                "a node that lost the tail of its log (--lose-tail) repairs it silently and goes on as a normal voter, though it may have acknowledged the lost entries"
            }
            Bug::CheckQuorumCountsSelfTwice => {
                "a leader's check-quorum (--check-quorum) counts itself in what it heard from and adds itself again, so in a 3-server cluster a leader that heard from no peer stays leader"
            }
            Bug::TransferWithoutCatchUp => {
                "a leader asked to transfer its leadership (--transfer) sends TimeoutNow at once, before the target's log matches its own, so the target stands with a stale log, loses, and the cluster has no leader until another election"
            }
            Bug::PreVoteIncrementsTerm => {
                "a pre-candidate (--pre-vote) increments and persists current_term when it starts the pre-vote, so a node cut off from the cluster still raises its term"
            }
        }
    }

    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == name)
    }

    /// What a user should know before checking this bug.
    pub fn note(self) -> Option<&'static str> {
        match self {
            Bug::AcceptStaleReply => Some(
                "the rule it breaks (a leader uses a response of an older term) shows in 3 terms; its consequence, a false match_index, needs another leader to rewrite the acknowledged entries: with 3 servers 5 terms and about 31 steps (--no-transitions proves these bounds free of it; model/tests/stale_reply.rs builds the counterexamples; docs/bug-catalog.md)",
            ),
            Bug::CommitBeyondLastNewEntry => Some(
                "only a batched AppendEntries (max_batch > 0) can end before leader_commit; with whole-suffix AppendEntries the bug is masked",
            ),
            Bug::ForgetLostTail => Some(
                "the bug is in how a node handles the --lose-tail fault: with --lose-tail 0 it is masked",
            ),
            Bug::PreVoteIncrementsTerm => Some(
                "the bug is in pre-vote: its configuration switches --pre-vote on (without it the bug is masked)",
            ),
            Bug::CheckQuorumCountsSelfTwice => Some(
                "the bug is in check-quorum: its configuration switches --check-quorum on (without it the bug is masked)",
            ),
            Bug::TransferWithoutCatchUp => Some(
                "the bug is in leadership transfer: its configuration switches --transfer on (without it the bug is masked); it breaks liveness, not Figure 3, so the transition property \"a TimeoutNow goes only to a caught-up target\" catches it",
            ),
            _ => None,
        }
    }

    /// The configuration `check --bug NAME` uses when no bound is given on the
    /// command line: the smallest that still shows the bug, so that the
    /// breadth-first search for a shortest counterexample ends in seconds.
    /// Each is spelled out (not derived from the default) so the catalog's
    /// documented counterexamples do not move when the default does.
    pub fn preferred_config(self) -> Config {
        let base = Config {
            servers: 3,
            values: 1,
            max_term: 2,
            max_log: 1,
            max_in_flight: 4,
            max_batch: 0,
            restarts: 0,
            drops: 0,
            duplicates: 0,
            snapshots: 0,
            lose_tail: 0,
            pre_vote: false,
            check_quorum: false,
            transfer: false,
            bugs: BTreeSet::new(),
            fixes: BTreeSet::new(),
        };
        // The snapshot bugs: one compaction, entries to compact.
        let snapshot = Config {
            snapshots: 1,
            ..base.clone()
        };
        match self {
            // Elections only: no entries.
            Bug::VoteResetOnSameTerm => Config { max_log: 0, ..base },
            Bug::VoteNotPersisted => Config {
                max_log: 0,
                restarts: 1,
                ..base
            },
            Bug::NoUpToDateCheck => base,
            Bug::LogNotPersisted => Config {
                restarts: 1,
                ..base
            },
            // A delayed AppendEntries with fewer entries than a later one.
            Bug::TruncateOnEveryAppend => Config {
                max_log: 2,
                duplicates: 1,
                ..base
            },
            Bug::EntriesStampedWithLeaderTerm => Config {
                max_term: 3,
                max_log: 2,
                ..base
            },
            // Figure 8 needs a fourth term: two stale leaders, then the one
            // that commits an old entry by counting, then the one that
            // overwrites it.
            Bug::CommitPreviousTerm => Config {
                max_term: 4,
                ..base
            },
            // Only a batched AppendEntries ends before leader_commit.
            Bug::CommitBeyondLastNewEntry => Config {
                max_log: 2,
                max_batch: 1,
                ..base
            },
            // The rule breaks with a leader re-elected in term 3; the state
            // consequences need 5 terms with 3 servers (docs/bug-catalog.md).
            Bug::AcceptStaleReply => Config {
                max_term: 3,
                max_log: 2,
                ..base
            },
            Bug::SnapshotBeyondCommit
            | Bug::WrongLastIncludedTerm
            | Bug::SnapshotStateIndexMismatch
            | Bug::CommitNotAdvancedOnInstall => snapshot,
            Bug::SnapshotNotPersistedWithState => Config {
                restarts: 1,
                ..snapshot
            },
            // The follower holds entries after the snapshot's last one.
            Bug::InstallDiscardsSuffix => Config {
                max_log: 2,
                ..snapshot
            },
            // A second copy of an InstallSnapshot, delivered late.
            Bug::InstallOlderSnapshot => Config {
                max_log: 2,
                duplicates: 1,
                ..snapshot
            },
            // One restart that loses an acknowledged entry; a second term
            // for the leader that lacks it.
            Bug::ForgetLostTail => Config {
                lose_tail: 1,
                ..base
            },
            // Elections only, with pre-vote.
            Bug::PreVoteIncrementsTerm => Config {
                max_log: 0,
                pre_vote: true,
                ..base
            },
            // Elections only, with check-quorum.
            Bug::CheckQuorumCountsSelfTwice => Config {
                max_log: 0,
                check_quorum: true,
                ..base
            },
            // One entry the target lacks when the transfer starts.
            Bug::TransferWithoutCatchUp => Config {
                transfer: true,
                ..base
            },
        }
    }
}

impl Fix {
    pub const ALL: [Fix; 2] = [Fix::RejectPrevBelowCommit, Fix::KeepSuffixByLength];

    pub fn name(self) -> &'static str {
        match self {
            Fix::RejectPrevBelowCommit => "reject-prev-below-commit",
            Fix::KeepSuffixByLength => "keep-suffix-by-length",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Fix::RejectPrevBelowCommit => {
                "a follower rejects AppendEntries whose prev_log_index < commit_index (proposed in the seed notes against a stale leader overwriting committed entries)"
            }
            Fix::KeepSuffixByLength => {
                "on InstallSnapshot a follower keeps the entries after last_included_index whenever its log reaches that index, without comparing the term there (the common shortcut against install-discards-suffix)"
            }
        }
    }

    pub fn from_name(name: &str) -> Option<Fix> {
        Fix::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Fix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Bounds, fault budgets, bugs and fixes of one model.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Config {
    pub servers: u8,
    /// Clients propose values `1..=values`.
    pub values: u8,
    /// Election timeouts are disabled at this term.
    pub max_term: u8,
    /// Proposals are disabled once the leader's log has this many entries.
    pub max_log: u8,
    /// States with more messages in flight are outside the bound.
    pub max_in_flight: u8,
    /// Most entries in one AppendEntries (0: no limit, the whole suffix).
    #[serde(default)]
    pub max_batch: u8,
    pub restarts: u8,
    pub drops: u8,
    pub duplicates: u8,
    /// Compactions (the `Snapshot` action) allowed in a run; 0: none.
    #[serde(default)]
    pub snapshots: u8,
    /// Restarts that lose the log's last entry (`RestartLosingTail`); 0: none
    /// (then not written, so traces without the fault read as before).
    #[serde(default, skip_serializing_if = "crate::state::is_zero")]
    pub lose_tail: u8,
    /// Pre-vote (thesis §9.6, `--pre-vote`): an election timeout first asks for
    /// pre-votes. Off: not written, so traces without it read as before.
    #[serde(default, skip_serializing_if = "crate::state::is_false")]
    pub pre_vote: bool,
    /// Check-quorum (thesis §6.2, `--check-quorum`): a leader that heard from no
    /// majority since its last check steps down (the `CheckQuorum` action), and a
    /// server that heard from a leader ignores RequestVote of a higher term (§4.2.3).
    /// Off: not written, so traces without it read as before.
    #[serde(default, skip_serializing_if = "crate::state::is_false")]
    pub check_quorum: bool,
    /// Leadership transfer (thesis §3.10, `--transfer`): the `TransferLeadership` and
    /// `AbortTransfer` actions and the TimeoutNow message. Off: not written.
    #[serde(default, skip_serializing_if = "crate::state::is_false")]
    pub transfer: bool,
    pub bugs: BTreeSet<Bug>,
    pub fixes: BTreeSet<Fix>,
}

impl Default for Config {
    /// The default `check` configuration: the richest that is checked
    /// exhaustively in about a minute on a 2-core machine.
    fn default() -> Self {
        Config {
            servers: 3,
            values: 1,
            max_term: 2,
            max_log: 1,
            max_in_flight: Config::default_in_flight(3),
            max_batch: 0,
            restarts: 1,
            drops: 1,
            duplicates: 1,
            snapshots: 1,
            lose_tail: 0,
            pre_vote: false,
            check_quorum: false,
            transfer: false,
            bugs: BTreeSet::new(),
            fixes: BTreeSet::new(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("--servers must be between 1 and 7, got {0}")]
    Servers(u8),
    #[error("--values must be at least 1, got {0}")]
    Values(u8),
    #[error("--max-term must be between 1 and 15, got {0}")]
    MaxTerm(u8),
    #[error("--max-log must be at most 15, got {0}")]
    MaxLog(u8),
    #[error("--max-in-flight must be at least 1, got {0}")]
    MaxInFlight(u8),
}

impl Config {
    /// The default bound on messages in flight for `servers` servers: the
    /// fewest with which a leader can be elected without losing messages.
    /// It wins on its quorum's last vote, so the replies of the peers it did
    /// not need may still be in flight beside its AppendEntries to every
    /// peer. A fixed bound would leave larger clusters without leaders.
    pub fn default_in_flight(servers: u8) -> u8 {
        let n = servers as usize;
        let quorum = n / 2 + 1;
        ((n - 1) + (n - quorum)).max(1) as u8
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=7).contains(&self.servers) {
            return Err(ConfigError::Servers(self.servers));
        }
        if self.values == 0 {
            return Err(ConfigError::Values(self.values));
        }
        if !(1..=15).contains(&self.max_term) {
            return Err(ConfigError::MaxTerm(self.max_term));
        }
        if self.max_log > 15 {
            return Err(ConfigError::MaxLog(self.max_log));
        }
        if self.max_in_flight == 0 {
            return Err(ConfigError::MaxInFlight(self.max_in_flight));
        }
        Ok(())
    }

    pub fn has(&self, bug: Bug) -> bool {
        self.bugs.contains(&bug)
    }

    pub fn fixed(&self, fix: Fix) -> bool {
        self.fixes.contains(&fix)
    }

    pub fn quorum(&self) -> usize {
        self.servers as usize / 2 + 1
    }

    /// One line for logs and trace headers.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "servers={} values={} max_term={} max_log={} max_in_flight={} max_batch={} restarts={} drops={} duplicates={} snapshots={}",
            self.servers,
            self.values,
            self.max_term,
            self.max_log,
            self.max_in_flight,
            self.max_batch,
            self.restarts,
            self.drops,
            self.duplicates,
            self.snapshots
        );
        if self.lose_tail > 0 {
            s.push_str(&format!(" lose_tail={}", self.lose_tail));
        }
        if self.pre_vote {
            s.push_str(" pre_vote");
        }
        if self.check_quorum {
            s.push_str(" check_quorum");
        }
        if self.transfer {
            s.push_str(" transfer");
        }
        for b in &self.bugs {
            s.push_str(&format!(" bug={b}"));
        }
        for f in &self.fixes {
            s.push_str(&format!(" fix={f}"));
        }
        s
    }
}

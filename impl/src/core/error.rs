//! Typed errors of the core.

use thiserror::Error;

use super::config::ConfigError;
use crate::types::{Index, NodeId, Term};

/// Why a proposal was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ProposeError {
    /// Only a leader accepts proposals (§5.1); `leader_hint` is the leader this
    /// node last heard from in its current term, if any.
    #[error("not the leader (leader hint: {leader_hint:?})")]
    NotLeader { leader_hint: Option<NodeId> },
    /// Thesis §3.10: the leader is handing leadership to `target` and accepts no proposal
    /// until the transfer completes or is aborted; retry (at the new leader).
    #[error("leadership transfer to {target} in progress")]
    TransferInProgress { target: NodeId },
}

/// Why [`RawNode::transfer_leader`](super::RawNode::transfer_leader) refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum TransferError {
    /// Only a leader transfers leadership.
    #[error(transparent)]
    NotLeader(#[from] NotLeader),
    /// The leader is already the leader.
    #[error("transfer target {0} is this node")]
    ToSelf(NodeId),
    /// The target is not a voting member of the cluster.
    #[error("transfer target {0} is not a peer")]
    UnknownTarget(NodeId),
}

/// A leader-only action was asked of a node that is not the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("not the leader (leader hint: {leader_hint:?})")]
pub struct NotLeader {
    pub leader_hint: Option<NodeId>,
}

/// Why a node could not be built from a config and persisted state.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum InitError {
    #[error("invalid config: {0}")]
    Config(#[from] ConfigError),
    #[error("persisted log: entry at position {position} has index {found}, expected {expected}")]
    NonContiguousLog {
        position: usize,
        expected: Index,
        found: Index,
    },
    #[error("persisted log: entry {index} has term {term}, below the previous term {prev}")]
    TermDecreases {
        index: Index,
        term: Term,
        prev: Term,
    },
    #[error("persisted log: entry {index} has term 0")]
    ZeroTermEntry { index: Index },
    #[error("persisted log: entry {index} has term {term} above current_term {current_term}")]
    EntryTermAboveCurrentTerm {
        index: Index,
        term: Term,
        current_term: Term,
    },
    #[error("persisted hard state: voted_for {0} is not a cluster member")]
    VotedForUnknown(NodeId),
    #[error("persisted snapshot: last_included_index {last_included_index} / last_included_term {last_included_term} must both be >= 1, the term at most current_term {current_term}")]
    SnapshotMetaInvalid {
        last_included_index: Index,
        last_included_term: Term,
        current_term: Term,
    },
}

/// A message the node refused as malformed or impossible. The node's state
/// is unchanged; the refusal is counted in
/// [`Status::rejected_messages`](super::Status::rejected_messages).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum InvalidMessage {
    #[error("to: addressed to {to}, not to this node")]
    WrongRecipient { to: NodeId },
    #[error("from: {from} is not a peer of this node")]
    UnknownSender { from: NodeId },
    #[error("term: 0 is not a valid message term")]
    ZeroTerm,
    #[error("last_log_term: {last_log_term} above the candidate's term {term}")]
    LastLogTermAboveTerm { last_log_term: Term, term: Term },
    #[error("last_log_term: {last_log_term} inconsistent with last_log_index {last_log_index}")]
    LastLogInconsistent {
        last_log_index: Index,
        last_log_term: Term,
    },
    #[error("prev_log_term: {prev_log_term} above the leader's term {term}")]
    PrevLogTermAboveTerm { prev_log_term: Term, term: Term },
    #[error("prev_log_term: {prev_log_term} inconsistent with prev_log_index {prev_log_index}")]
    PrevLogInconsistent {
        prev_log_index: Index,
        prev_log_term: Term,
    },
    #[error("prev_log_index: {prev_log_index} plus {len} entries overflows the index space")]
    PrevLogIndexOverflow { prev_log_index: Index, len: usize },
    #[error(
        "entries[{position}].index: {found}, expected {expected} (must follow prev_log_index)"
    )]
    EntryIndexNotConsecutive {
        position: usize,
        expected: Index,
        found: Index,
    },
    #[error("entries[{position}].term: {found} below the preceding term {prev}")]
    EntryTermDecreases {
        position: usize,
        found: Term,
        prev: Term,
    },
    #[error("entries[{position}].term: {found} above the message term {term}")]
    EntryTermAboveTerm {
        position: usize,
        found: Term,
        term: Term,
    },
    #[error("entries[{position}]: index {index} conflicts with committed entry (commit_index {commit_index})")]
    ConflictsWithCommitted {
        position: usize,
        index: Index,
        commit_index: Index,
    },
    #[error(
        "term: AppendEntries of the leader's own term {term} from {from}: two leaders in one term"
    )]
    AppendEntriesToLeader { from: NodeId, term: Term },
    #[error("conflict: a successful AppendEntriesResponse carries a conflict hint")]
    SuccessWithConflictHint,
    #[error("match_index: {match_index} on a failed AppendEntriesResponse (must be 0)")]
    FailureWithMatchIndex { match_index: Index },
    #[error("match_index: {match_index} beyond the leader's last index {last_index}")]
    MatchIndexBeyondLog {
        match_index: Index,
        last_index: Index,
    },
    #[error("conflict.term: {hint_term} must be in 1..={term}")]
    HintTermInvalid { hint_term: Term, term: Term },
    #[error("conflict.first_index: {first_index} must be in 1..=log_len ({log_len}) when conflict.term is set, 0 otherwise")]
    HintFirstIndexInvalid { first_index: Index, log_len: Index },
    #[error("last_included_index: 0 (a snapshot covers at least one entry)")]
    SnapshotIndexZero,
    #[error("last_included_term: {last_included_term} must be in 1..={term} (the message term)")]
    SnapshotTermInvalid {
        last_included_term: Term,
        term: Term,
    },
    #[error("offset: {offset} plus {len} bytes overflows")]
    SnapshotOffsetOverflow { offset: u64, len: usize },
    #[error(
        "term: InstallSnapshot of the leader's own term {term} from {from}: two leaders in one term"
    )]
    InstallSnapshotToLeader { from: NodeId, term: Term },
    #[error("match_index: {match_index} is neither 0 nor the acknowledged last_included_index {last_included_index}")]
    SnapshotMatchMismatch {
        match_index: Index,
        last_included_index: Index,
    },
}

/// Why [`RawNode::compact`](super::RawNode::compact) refused to compact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum CompactError {
    /// Only applied entries may be compacted: the snapshot is the state
    /// machine's state after applying `index`.
    #[error("index {index} is not applied yet (applied {applied})")]
    NotApplied { index: Index, applied: Index },
    /// The log is already compacted up to `last_included_index`.
    #[error("index {index} is already compacted (last_included_index {last_included_index})")]
    AlreadyCompacted {
        index: Index,
        last_included_index: Index,
    },
}

impl InvalidMessage {
    /// The message field at fault, for logs and metrics.
    pub fn field(&self) -> &'static str {
        use InvalidMessage::*;
        match self {
            WrongRecipient { .. } => "to",
            UnknownSender { .. } => "from",
            ZeroTerm | AppendEntriesToLeader { .. } => "term",
            LastLogTermAboveTerm { .. } | LastLogInconsistent { .. } => "last_log_term",
            PrevLogTermAboveTerm { .. } | PrevLogInconsistent { .. } => "prev_log_term",
            PrevLogIndexOverflow { .. } => "prev_log_index",
            EntryIndexNotConsecutive { .. } => "entries.index",
            EntryTermDecreases { .. } | EntryTermAboveTerm { .. } => "entries.term",
            ConflictsWithCommitted { .. } => "entries",
            SuccessWithConflictHint => "conflict",
            FailureWithMatchIndex { .. } | MatchIndexBeyondLog { .. } => "match_index",
            HintTermInvalid { .. } => "conflict.term",
            HintFirstIndexInvalid { .. } => "conflict.first_index",
            SnapshotIndexZero => "last_included_index",
            SnapshotTermInvalid { .. } => "last_included_term",
            SnapshotOffsetOverflow { .. } => "offset",
            InstallSnapshotToLeader { .. } => "term",
            SnapshotMatchMismatch { .. } => "match_index",
        }
    }
}

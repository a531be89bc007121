//! The messages of Figures 2 and 13 and their envelope.
//!
//! Names follow the paper and the implementation's core (they share words,
//! never code): `RequestVote`, `RequestVoteResponse`, `AppendEntries`,
//! `AppendEntriesResponse`, and the `conflict` hint of a refused append; and
//! Figure 13's `InstallSnapshot` with its response; the thesis's `PreVote` (§9.6)
//! and `TimeoutNow` (§3.10).

use crate::state::{Entry, Index, ServerId, Term};
use serde::{Deserialize, Serialize};

/// Figure 2, RequestVote RPC arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RequestVote {
    pub term: Term,
    pub last_log_index: Index,
    pub last_log_term: Term,
    /// Leadership transfer (thesis §3.10): the election a TimeoutNow started. Leader
    /// stickiness does not apply to it. Always false in a PreVote.
    #[serde(default, skip_serializing_if = "crate::state::is_false")]
    pub transfer: bool,
}

/// Figure 2, RequestVote RPC results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RequestVoteResponse {
    pub term: Term,
    pub vote_granted: bool,
}

/// Figure 2, AppendEntries RPC arguments.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AppendEntries {
    pub term: Term,
    pub prev_log_index: Index,
    pub prev_log_term: Term,
    pub entries: Vec<Entry>,
    pub leader_commit: Index,
}

/// Figure 2, AppendEntries RPC results, plus the acknowledged index and the
/// conflict hint (the 6.824 guide's fast backup).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AppendEntriesResponse {
    pub term: Term,
    pub success: bool,
    /// On success: `prev_log_index + entries.len()` of the request.
    pub match_index: Index,
    /// On a failed consistency check: where the follower's log diverges.
    pub conflict: Option<ConflictHint>,
}

/// Figure 13, InstallSnapshot RPC arguments, in one message (the
/// implementation may send it in chunks; the model sends it whole).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstallSnapshot {
    pub term: Term,
    pub last_included_index: Index,
    pub last_included_term: Term,
    /// The snapshot's content (the state machine's committed entries).
    pub entries: Vec<Entry>,
}

/// Figure 13, InstallSnapshot RPC results, plus the index the follower now
/// holds (the snapshot's last index), for the leader's progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstallSnapshotResponse {
    pub term: Term,
    /// `last_included_index` of the request; 0 when it was refused as stale.
    pub match_index: Index,
}

/// Where a follower's log diverges from a refused AppendEntries (the XTerm,
/// XIndex and XLen of the 6.824 guide).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConflictHint {
    /// Term of the conflicting entry at prev_log_index; None if the log is too short.
    pub term: Option<Term>,
    /// First index in the follower's log holding `term` (0 when `term` is None).
    pub first_index: Index,
    /// The follower's log length.
    pub log_len: Index,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Message {
    RequestVote(RequestVote),
    RequestVoteResponse(RequestVoteResponse),
    AppendEntries(AppendEntries),
    AppendEntriesResponse(AppendEntriesResponse),
    InstallSnapshot(InstallSnapshot),
    InstallSnapshotResponse(InstallSnapshotResponse),
    /// Pre-vote (thesis §9.6): `term` is the one the sender would stand in,
    /// its current_term + 1.
    PreVote(RequestVote),
    /// `term` is the receiver's current_term.
    PreVoteResponse(RequestVoteResponse),
    /// Leadership transfer (thesis §3.10): the leader tells its caught-up target to
    /// start an election now. No reply.
    TimeoutNow(TimeoutNow),
}

/// Thesis §3.10, TimeoutNow: `term` is the leader's current_term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimeoutNow {
    pub term: Term,
}

impl Message {
    pub fn term(&self) -> Term {
        match self {
            Message::RequestVote(m) => m.term,
            Message::RequestVoteResponse(m) => m.term,
            Message::AppendEntries(m) => m.term,
            Message::AppendEntriesResponse(m) => m.term,
            Message::InstallSnapshot(m) => m.term,
            Message::InstallSnapshotResponse(m) => m.term,
            Message::PreVote(m) => m.term,
            Message::PreVoteResponse(m) => m.term,
            Message::TimeoutNow(m) => m.term,
        }
    }

    /// The message type's name, as in Figure 2.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::RequestVote(_) => "RequestVote",
            Message::RequestVoteResponse(_) => "RequestVoteResponse",
            Message::AppendEntries(_) => "AppendEntries",
            Message::AppendEntriesResponse(_) => "AppendEntriesResponse",
            Message::InstallSnapshot(_) => "InstallSnapshot",
            Message::InstallSnapshotResponse(_) => "InstallSnapshotResponse",
            Message::PreVote(_) => "PreVote",
            Message::PreVoteResponse(_) => "PreVoteResponse",
            Message::TimeoutNow(_) => "TimeoutNow",
        }
    }

    pub fn is_request(&self) -> bool {
        matches!(
            self,
            Message::RequestVote(_) | Message::AppendEntries(_) | Message::InstallSnapshot(_)
        )
    }
}

/// A message in flight from one server to another.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Envelope {
    pub from: ServerId,
    pub to: ServerId,
    pub msg: Message,
}

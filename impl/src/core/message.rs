//! The Raft RPCs (Figure 2, and Figure 13's InstallSnapshot) as plain data,
//! plus the envelope that addresses them. The core never serialises these;
//! runtimes may (serde).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::types::{Entry, Index, NodeId, Term};

/// A message together with its sender and intended recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub from: NodeId,
    pub to: NodeId,
    pub msg: Message,
}

/// One Raft RPC or RPC reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    RequestVote(RequestVote),
    RequestVoteResponse(RequestVoteResponse),
    AppendEntries(AppendEntries),
    AppendEntriesResponse(AppendEntriesResponse),
    InstallSnapshot(InstallSnapshot),
    InstallSnapshotResponse(InstallSnapshotResponse),
    /// Pre-vote (thesis §9.6): would the receiver vote for the sender in `term`, the
    /// sender's `current_term + 1`? Neither side changes its term or vote for it. Added
    /// after the Figure 2 kinds, so the encoding of the older kinds is unchanged.
    PreVote(RequestVote),
    /// The answer to a [`Message::PreVote`]; `term` is the receiver's `current_term`.
    PreVoteResponse(RequestVoteResponse),
    /// Leadership transfer (thesis §3.10): the leader tells a caught-up follower to start an
    /// election at once. Added last, so the older kinds keep their encoding tags.
    TimeoutNow(TimeoutNow),
}

impl Message {
    /// The sender's `currentTerm` carried by every RPC (Figure 2, "Rules for Servers"),
    /// except a [`Message::PreVote`]'s: the term its sender would stand in.
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

    /// A short name for logs.
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
}

/// RequestVote RPC arguments (Figure 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestVote {
    pub term: Term,
    pub last_log_index: Index,
    pub last_log_term: Term,
    /// Leadership transfer (thesis §3.10): sent by a candidate that a leader's
    /// [`Message::TimeoutNow`] started; leader stickiness (§4.2.3) does not apply to it.
    /// False on every ordinary RequestVote and on every PreVote.
    pub transfer: bool,
}

/// Leadership transfer (thesis §3.10): "start an election now", from the leader of `term`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeoutNow {
    /// The leader's `current_term`.
    pub term: Term,
}

/// RequestVote RPC results (Figure 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestVoteResponse {
    pub term: Term,
    pub vote_granted: bool,
}

/// AppendEntries RPC arguments (Figure 2). An empty `entries` is a heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppendEntries {
    pub term: Term,
    pub prev_log_index: Index,
    pub prev_log_term: Term,
    pub entries: Vec<Entry>,
    pub leader_commit: Index,
    /// ReadIndex: the leader's heartbeat round when this was sent (0 until the leader's
    /// first read request); echoed in the response so the leader can tell an
    /// acknowledgement of a message sent after a read request from an older one.
    pub read_round: u64,
}

/// AppendEntries RPC results (Figure 2), extended with the index the follower
/// now matches and, on failure, a fast-backup hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppendEntriesResponse {
    pub term: Term,
    pub success: bool,
    /// On success: `prev_log_index + entries.len()` of the request. On failure: 0.
    pub match_index: Index,
    /// On failure of the consistency check: where the leader should back up to.
    pub conflict: Option<ConflictHint>,
    /// The `read_round` of the AppendEntries this answers (0 for a refusal of an older term).
    pub read_round: u64,
}

/// The fast-backup hint of MIT 6.824 (`XTerm`, `XIndex`, `XLen`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConflictHint {
    /// `XTerm`: the follower's term at `prev_log_index`, or `None` if its log is
    /// shorter than `prev_log_index`.
    pub term: Option<Term>,
    /// `XIndex`: the first index in the follower's log holding `term` (0 when `term` is `None`).
    pub first_index: Index,
    /// `XLen`: the follower's last log index.
    pub log_len: Index,
}

/// InstallSnapshot RPC arguments (Figure 13): one chunk of the leader's
/// snapshot, `data` being its bytes from `offset` on; `done` on the last.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InstallSnapshot {
    pub term: Term,
    pub last_included_index: Index,
    pub last_included_term: Term,
    pub offset: u64,
    pub data: Bytes,
    pub done: bool,
}

/// InstallSnapshot RPC results (Figure 13's `term`), extended with what the
/// leader needs to go on:
/// - `match_index`: `last_included_index` once the follower holds the whole
///   snapshot (installed, or ignored as older than its commit index); 0 for a
///   partial snapshot or a refusal of an older term;
/// - `last_included_index` / `received`: the snapshot this acknowledges and
///   how many of its bytes the follower holds (the next chunk's offset); 0 for
///   a refusal of an older term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InstallSnapshotResponse {
    pub term: Term,
    pub match_index: Index,
    pub last_included_index: Index,
    pub received: u64,
}

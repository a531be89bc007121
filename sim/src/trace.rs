//! The event trace: one record per simulated event, with the observable state of every node
//! after it. Serialisable (serde JSON) so a later conformance check can replay a run against
//! the model; the format is documented in `docs/simulator.md`.

use serde::{Deserialize, Serialize};

use raft_impl::core::{ConflictHint, Envelope, Message, Role};
use raft_impl::types::{Index, NodeId, Term};

/// A whole recorded run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// Format version of this file (bumped on incompatible changes).
    pub format: u32,
    pub seed: u64,
    pub servers: usize,
    /// Simulated microseconds per node tick.
    pub tick_us: u64,
    pub events: Vec<TraceEvent>,
    /// The invariant violation or liveness failure that ended the run, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// Current trace format version.
pub const TRACE_FORMAT: u32 = 1;

/// What happened in one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// `node` ticked (its logical clock advanced by one).
    Tick,
    /// `msg` was delivered to `node` and stepped.
    Deliver,
    /// `node`'s storage finished a sync: held messages were sent, committed entries applied.
    SyncDone,
    /// `node`'s runtime sent the proposals of this instant as one batch (`replicate_now`).
    Replicate,
    /// A client proposed a command at `node` (`detail` says whether it was accepted).
    Propose,
    /// A client asked `node` for a ReadIndex read (`detail` says whether it was accepted).
    ReadIndex,
    /// `node` crashed; its storage kept only what was synced.
    Crash,
    /// `node` crashed inside a sync: the hard state and a prefix of the staged log writes
    /// landed (`detail` says how many).
    CrashDuringSync,
    /// `node` restarted from its durable state.
    Restart,
    /// Connectivity changed (`detail` describes it).
    Link,
    /// Network reliability changed (`detail` describes it).
    Network,
    /// `node`'s application snapshotted its state machine and the log was compacted
    /// (`detail` says at which index).
    Compact,
    /// An operator asked `node` to transfer its leadership, or to abort a transfer
    /// (`detail` says which, and whether it was accepted).
    Transfer,
}

/// One event and the state it left behind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceEvent {
    /// Event number, from 0; the same number a violation report gives.
    pub seq: u64,
    /// Simulated time in microseconds.
    pub time_us: u64,
    pub kind: EventKind,
    /// The node the event happened at, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<MsgSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// After a `link` event: every directed link that is down, as (from, to) node ids
    /// (empty once the network is whole again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links_down: Option<Vec<(NodeId, NodeId)>>,
    /// Every node's observable state after the event, in id order.
    pub state: Vec<NodeObs>,
}

/// A node's observable Figure 2 state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeObs {
    pub id: NodeId,
    /// False while crashed; then the fields below are what its storage holds durably
    /// (`role` is absent and `commit_index` 0: both are volatile).
    pub up: bool,
    pub current_term: Term,
    pub voted_for: Option<NodeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    pub last_index: Index,
    pub last_term: Term,
    pub commit_index: Index,
    /// §7: the snapshot's last entry (absent while nothing is compacted).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub last_included_index: Index,
}

fn is_zero(i: &Index) -> bool {
    *i == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A message without its payloads (entries are reduced to their terms).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsgSummary {
    pub from: NodeId,
    pub to: NodeId,
    #[serde(flatten)]
    pub body: MsgBody,
}

/// The fields of each RPC, as in Figure 2.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MsgBody {
    RequestVote {
        term: Term,
        last_log_index: Index,
        last_log_term: Term,
        /// Thesis §3.10: started by the leader's TimeoutNow (absent when false).
        #[serde(default, skip_serializing_if = "is_false")]
        transfer: bool,
    },
    RequestVoteResponse {
        term: Term,
        vote_granted: bool,
    },
    AppendEntries {
        term: Term,
        prev_log_index: Index,
        prev_log_term: Term,
        /// Terms of the carried entries, which have indices `prev_log_index + 1 ..`.
        entry_terms: Vec<Term>,
        leader_commit: Index,
    },
    AppendEntriesResponse {
        term: Term,
        success: bool,
        match_index: Index,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conflict: Option<ConflictHint>,
    },
    InstallSnapshot {
        term: Term,
        last_included_index: Index,
        last_included_term: Term,
        offset: u64,
        /// Length of the chunk's data.
        len: u64,
        done: bool,
    },
    InstallSnapshotResponse {
        term: Term,
        match_index: Index,
        last_included_index: Index,
        received: u64,
    },
    /// Thesis §9.6: `term` is the one the sender would stand in.
    PreVote {
        term: Term,
        last_log_index: Index,
        last_log_term: Term,
    },
    PreVoteResponse {
        term: Term,
        vote_granted: bool,
    },
    /// Thesis §3.10: the leader hands over to the receiver.
    TimeoutNow {
        term: Term,
    },
}

impl MsgSummary {
    pub fn of(env: &Envelope) -> Self {
        let body = match &env.msg {
            Message::RequestVote(m) => MsgBody::RequestVote {
                term: m.term,
                last_log_index: m.last_log_index,
                last_log_term: m.last_log_term,
                transfer: m.transfer,
            },
            Message::TimeoutNow(m) => MsgBody::TimeoutNow { term: m.term },
            Message::RequestVoteResponse(m) => MsgBody::RequestVoteResponse {
                term: m.term,
                vote_granted: m.vote_granted,
            },
            Message::PreVote(m) => MsgBody::PreVote {
                term: m.term,
                last_log_index: m.last_log_index,
                last_log_term: m.last_log_term,
            },
            Message::PreVoteResponse(m) => MsgBody::PreVoteResponse {
                term: m.term,
                vote_granted: m.vote_granted,
            },
            Message::AppendEntries(m) => MsgBody::AppendEntries {
                term: m.term,
                prev_log_index: m.prev_log_index,
                prev_log_term: m.prev_log_term,
                entry_terms: m.entries.iter().map(|e| e.term).collect(),
                leader_commit: m.leader_commit,
            },
            Message::AppendEntriesResponse(m) => MsgBody::AppendEntriesResponse {
                term: m.term,
                success: m.success,
                match_index: m.match_index,
                conflict: m.conflict,
            },
            Message::InstallSnapshot(m) => MsgBody::InstallSnapshot {
                term: m.term,
                last_included_index: m.last_included_index,
                last_included_term: m.last_included_term,
                offset: m.offset,
                len: m.data.len() as u64,
                done: m.done,
            },
            Message::InstallSnapshotResponse(m) => MsgBody::InstallSnapshotResponse {
                term: m.term,
                match_index: m.match_index,
                last_included_index: m.last_included_index,
                received: m.received,
            },
        };
        MsgSummary {
            from: env.from,
            to: env.to,
            body,
        }
    }
}

impl Trace {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a trace always serialises")
    }

    pub fn from_json(s: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(s)
    }
}

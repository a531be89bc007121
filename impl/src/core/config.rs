//! Node configuration, validated once when a node is built.
//!
//! [`Config::conformance`] yields exactly the protocol of the model-checked
//! specification: no batching limits, no pipelining, no immediate retry, no leader no-op.
//! [`Config::production`] turns those extras on.

use std::collections::HashSet;

use thiserror::Error;

use crate::types::NodeId;

/// Everything a node needs to know besides its persisted state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This node's id.
    pub id: NodeId,
    /// The *other* voting members of the cluster (must not contain `id`).
    pub peers: Vec<NodeId>,
    /// Base election timeout in ticks; the actual timeout is drawn uniformly
    /// from `[election_ticks, 2 * election_ticks)` each time it is reset.
    pub election_ticks: u32,
    /// A leader calls [`heartbeat_now`](super::RawNode::heartbeat_now) every
    /// `heartbeat_ticks` ticks. Must be below `election_ticks`.
    pub heartbeat_ticks: u32,
    /// Seed of the node's private RNG (election timeout jitter only).
    pub seed: u64,
    /// Batching: most entries in one AppendEntries (at least one is always sent).
    pub max_entries_per_append: usize,
    /// Batching: most payload bytes in one AppendEntries (at least one entry is always sent).
    pub max_bytes_per_append: usize,
    /// Pipelining: `None` sends every AppendEntries from `next_index` and only
    /// moves `next_index` on replies (the specification's behaviour).
    /// `Some(n)` lets a follower that has acknowledged once be sent new entries
    /// optimistically, with at most `n` unacknowledged AppendEntries carrying entries.
    pub max_inflight: Option<usize>,
    /// Resend to a follower as soon as it rejects an AppendEntries, instead of
    /// waiting for the next heartbeat.
    pub retry_on_reject: bool,
    /// A new leader appends an entry with empty `data` (a no-op) in its term at once, so it
    /// commits an entry of its own term (and with it every earlier entry) without waiting for
    /// a client proposal; ReadIndex reads need this to make progress. Applications must skip
    /// empty entries (and must not propose empty data themselves).
    pub leader_noop: bool,
    /// InstallSnapshot (Figure 13): most snapshot bytes in one chunk (at least 1).
    pub max_snapshot_chunk: usize,
    /// A leader sending a snapshot sends no AppendEntries to that peer; if
    /// this many heartbeat intervals pass without an acknowledgement, it
    /// restarts the transfer from offset 0 (at least 1).
    pub snapshot_retry_heartbeats: u32,
    /// Pre-vote (thesis §9.6): on election timeout, first ask the peers whether they would
    /// vote, without changing `current_term`; only a majority of yes starts the election. A
    /// node cut off from the cluster then cannot force the leader to step down on return.
    pub pre_vote: bool,
    /// Check-quorum (thesis §6.2): a leader that has not heard from a majority within an
    /// election timeout (`election_ticks`) steps down; a server that heard from a leader within
    /// the election timeout ignores RequestVote of a higher term (leader stickiness, §4.2.3).
    pub check_quorum: bool,
}

/// Why a [`Config`] was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("peers contains the node's own id {0}")]
    SelfInPeers(NodeId),
    #[error("peer {0} is listed twice")]
    DuplicatePeer(NodeId),
    #[error("election_ticks must be in 1..={max}, got {got}")]
    ElectionTicks { got: u32, max: u32 },
    #[error("heartbeat_ticks must be in 1..election_ticks ({election_ticks}), got {got}")]
    HeartbeatTicks { got: u32, election_ticks: u32 },
    #[error("max_entries_per_append must be at least 1")]
    ZeroMaxEntries,
    #[error("max_bytes_per_append must be at least 1")]
    ZeroMaxBytes,
    #[error("max_inflight must be at least 1 when pipelining is enabled")]
    ZeroMaxInflight,
    #[error("max_snapshot_chunk must be at least 1")]
    ZeroSnapshotChunk,
    #[error("snapshot_retry_heartbeats must be at least 1")]
    ZeroSnapshotRetry,
}

impl Config {
    /// The configuration under which the node behaves exactly as the
    /// model-checked specification: unlimited batches, no pipelining, no
    /// immediate retry, a snapshot in one chunk resent every heartbeat.
    /// Timers: election 10 ticks, heartbeat 1 tick, seed 0.
    pub fn conformance(id: NodeId, peers: impl IntoIterator<Item = NodeId>) -> Self {
        Config {
            id,
            peers: peers.into_iter().collect(),
            election_ticks: 10,
            heartbeat_ticks: 1,
            seed: 0,
            max_entries_per_append: usize::MAX,
            max_bytes_per_append: usize::MAX,
            max_inflight: None,
            retry_on_reject: false,
            leader_noop: false,
            // The model sends a whole snapshot in one message, again every heartbeat.
            max_snapshot_chunk: usize::MAX,
            snapshot_retry_heartbeats: 1,
            // The model's default protocol has no pre-vote (`raft-model check --pre-vote`).
            pre_vote: false,
            // Nor check-quorum (`raft-model check --check-quorum`).
            check_quorum: false,
        }
    }

    /// A production default: batches of at most 512 entries / 1 MiB,
    /// pipelining with up to 64 AppendEntries in flight, immediate retry, a
    /// no-op entry from every new leader, snapshot chunks of 1 MiB retried after
    /// 4 silent heartbeats, pre-vote, check-quorum.
    pub fn production(id: NodeId, peers: impl IntoIterator<Item = NodeId>, seed: u64) -> Self {
        Config {
            id,
            peers: peers.into_iter().collect(),
            election_ticks: 10,
            heartbeat_ticks: 2,
            seed,
            max_entries_per_append: 512,
            max_bytes_per_append: 1 << 20,
            max_inflight: Some(64),
            retry_on_reject: true,
            leader_noop: true,
            max_snapshot_chunk: 1 << 20,
            snapshot_retry_heartbeats: 4,
            pre_vote: true,
            check_quorum: true,
        }
    }

    /// Checks every field; a node is only ever built from a validated config.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen = HashSet::with_capacity(self.peers.len());
        for &p in &self.peers {
            if p == self.id {
                return Err(ConfigError::SelfInPeers(p));
            }
            if !seen.insert(p) {
                return Err(ConfigError::DuplicatePeer(p));
            }
        }
        let max = u32::MAX / 2;
        if self.election_ticks == 0 || self.election_ticks > max {
            return Err(ConfigError::ElectionTicks {
                got: self.election_ticks,
                max,
            });
        }
        if self.heartbeat_ticks == 0 || self.heartbeat_ticks >= self.election_ticks {
            return Err(ConfigError::HeartbeatTicks {
                got: self.heartbeat_ticks,
                election_ticks: self.election_ticks,
            });
        }
        if self.max_entries_per_append == 0 {
            return Err(ConfigError::ZeroMaxEntries);
        }
        if self.max_bytes_per_append == 0 {
            return Err(ConfigError::ZeroMaxBytes);
        }
        if self.max_inflight == Some(0) {
            return Err(ConfigError::ZeroMaxInflight);
        }
        if self.max_snapshot_chunk == 0 {
            return Err(ConfigError::ZeroSnapshotChunk);
        }
        if self.snapshot_retry_heartbeats == 0 {
            return Err(ConfigError::ZeroSnapshotRetry);
        }
        Ok(())
    }

    /// Number of voting members, this node included.
    pub fn cluster_size(&self) -> usize {
        self.peers.len() + 1
    }
}

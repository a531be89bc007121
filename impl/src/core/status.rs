//! Read-only views of a node.

use serde::{Deserialize, Serialize};

use super::progress::{ProgressState, SnapshotTransfer};
use crate::types::{Entry, Index, NodeId, Term};

/// The three roles of §5.1, and the pre-candidate of pre-vote (thesis §9.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
    /// Asking for pre-votes (`Config::pre_vote`): a follower's term and vote, no leader.
    PreCandidate,
}

/// A leader's replication progress for one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerProgress {
    pub id: NodeId,
    pub next_index: Index,
    pub match_index: Index,
    pub state: ProgressState,
    /// In state `Snapshot`: the transfer in flight.
    pub snapshot: Option<SnapshotTransfer>,
}

/// A snapshot of a node's Figure 2 state, borrowed from the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status<'a> {
    pub id: NodeId,
    pub current_term: Term,
    pub voted_for: Option<NodeId>,
    pub role: Role,
    /// The leader of `current_term` this node knows of (itself if leader).
    pub leader_id: Option<NodeId>,
    /// The log held after the snapshot, index `first_index` first.
    pub log: &'a [Entry],
    /// Index of the first entry of `log`: `last_included_index + 1`.
    pub first_index: Index,
    /// Figure 13: the latest snapshot's last entry (0, 0 when nothing is compacted).
    pub last_included_index: Index,
    pub last_included_term: Term,
    /// Follower: `(last_included_index, bytes held)` of a snapshot being received.
    pub incoming_snapshot: Option<(Index, u64)>,
    pub commit_index: Index,
    /// Last index the runtime confirmed applied (through `advance`).
    pub applied_index: Index,
    /// Candidate only: the voters of its current election so far, itself first, then the
    /// peers that granted their vote in config order. Empty in the other roles (the tally is
    /// reset on becoming leader or follower). Exposed so conformance can compare the
    /// candidate's tally with the model's `votes_granted`, not only its effect on the role.
    pub votes_granted: Vec<NodeId>,
    /// Leader only: the peers heard from in this check-quorum period (thesis §6.2), in config
    /// order; empty in the other roles.
    pub heard_from: Vec<NodeId>,
    /// Leader only: the peer a leadership transfer (thesis §3.10) is handing over to.
    pub lead_transferee: Option<NodeId>,
    /// Per-peer progress, in config order; empty unless leader.
    pub progress: Vec<PeerProgress>,
    /// Messages refused as malformed since the node was built.
    pub rejected_messages: u64,
    /// Protocol-aware recovery: non-zero while this node may lack entries up to this index
    /// that it acknowledged before a restart (it grants no vote and starts no election).
    pub lost_up_to: Index,
    /// The term in which those entries were lost (0 when not recovering).
    pub lost_term: Term,
    /// Leader: refusals since the node was built in which a follower's log no longer reached
    /// its `match_index` (it lost entries it acknowledged and is being repaired).
    pub lost_entries_reports: u64,
}

impl Status<'_> {
    /// Leader only: `nextIndex` for `peer`.
    pub fn next_index(&self, peer: NodeId) -> Option<Index> {
        self.progress
            .iter()
            .find(|p| p.id == peer)
            .map(|p| p.next_index)
    }

    /// Leader only: `matchIndex` for `peer`.
    pub fn match_index(&self, peer: NodeId) -> Option<Index> {
        self.progress
            .iter()
            .find(|p| p.id == peer)
            .map(|p| p.match_index)
    }

    /// Index of the last log entry (`last_included_index` if none is held).
    pub fn last_index(&self) -> Index {
        self.log
            .last()
            .map_or(self.last_included_index, |e| e.index)
    }
}

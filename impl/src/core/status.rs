//! Read-only views of a node.

use serde::{Deserialize, Serialize};

use super::progress::ProgressState;
use crate::types::{Entry, Index, NodeId, Term};

/// The three roles of §5.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

/// A leader's replication progress for one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerProgress {
    pub id: NodeId,
    pub next_index: Index,
    pub match_index: Index,
    pub state: ProgressState,
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
    /// The whole log, index 1 first.
    pub log: &'a [Entry],
    pub commit_index: Index,
    /// Last index the runtime confirmed applied (through `advance`).
    pub applied_index: Index,
    /// Candidate only: the voters of its current election so far, itself first, then the
    /// peers that granted their vote in config order. Empty in the other roles (the tally is
    /// reset on becoming leader or follower). Exposed so conformance can compare the
    /// candidate's tally with the model's `votes_granted`, not only its effect on the role.
    pub votes_granted: Vec<NodeId>,
    /// Per-peer progress, in config order; empty unless leader.
    pub progress: Vec<PeerProgress>,
    /// Messages refused as malformed since the node was built.
    pub rejected_messages: u64,
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

    /// Index of the last log entry (0 if empty).
    pub fn last_index(&self) -> Index {
        self.log.last().map_or(0, |e| e.index)
    }
}

//! Vocabulary types shared by the core, storage and runtimes of `raft-impl`.
//!
//! Indices are 1-based as in the Raft paper: index 0 means "before the first
//! entry" and always has term 0.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Identifies a server in the cluster.
pub type NodeId = u64;
/// A Raft term (Figure 2: `currentTerm`). Term 0 is "no term yet".
pub type Term = u64;
/// A 1-based log index. Index 0 is the empty prefix.
pub type Index = u64;

/// One log entry: the command plus the term in which a leader created it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    pub term: Term,
    pub index: Index,
    pub data: Bytes,
}

/// The state Figure 2 says must be on stable storage before answering RPCs
/// (besides the log itself).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HardState {
    pub current_term: Term,
    pub voted_for: Option<NodeId>,
    /// Protocol-aware recovery: storage found that entries up to this index may have been
    /// acknowledged and then lost (0: nothing lost). While non-zero the node is *recovering*:
    /// it grants no vote and starts no election until a leader has re-sent its log up to here.
    #[serde(default)]
    pub lost_up_to: Index,
    /// The `current_term` when the loss was found (0 with nothing lost): every lost
    /// acknowledgement was sent in a term up to this one, so an entry of a later term from a
    /// leader also ends the recovery.
    #[serde(default)]
    pub lost_term: Term,
}

/// Figure 13: what a snapshot replaces: the log up to and including this entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SnapshotMeta {
    pub last_included_index: Index,
    pub last_included_term: Term,
}

/// A state-machine snapshot: its metadata and the application's opaque bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Snapshot {
    pub meta: SnapshotMeta,
    pub data: Bytes,
}

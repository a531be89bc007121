//! [`Ready`]: the only way the core's decisions reach the outside world.

use super::message::Envelope;
use super::read_index::ReadState;
use crate::types::{Entry, HardState, Index, Snapshot};

/// A batch of work for the runtime, returned by
/// [`RawNode::ready`](super::RawNode::ready).
///
/// # Contract (persist before send)
///
/// The runtime must handle a `Ready` in exactly this order:
///
/// 1. **Persist** `snapshot` (if `Some`, first), `hard_state` (if `Some`) and
///    the log change (`truncate_from`, then `entries`), and make them durable
///    (fsync).
/// 2. Only then **send** `messages`. Every message may depend on state in this
///    Ready — a vote grant on `voted_for`, a RequestVote on the incremented
///    `current_term`, a successful AppendEntriesResponse on `entries`, a
///    leader's AppendEntries on its own new entries — so none may leave before
///    step 1 is done.
/// 3. If `restore_snapshot`, **restore** the state machine from `snapshot`
///    (a leader's, Figure 13 step 8) before anything else; then **apply**
///    `committed_entries`, in order. They are among the entries persisted by
///    this or an earlier Ready, and follow the snapshot.
/// 4. Call [`RawNode::advance`](super::RawNode::advance) with this Ready.
///
/// Exception, only with
/// [`RawNode::set_self_ack_on_persist`](super::RawNode::set_self_ack_on_persist)
/// (Raft thesis §10.2.1): a leader's `AppendEntries` may be sent before step 1,
/// and the runtime reports each completed step 1 with
/// [`RawNode::on_persisted`](super::RawNode::on_persisted).
///
/// Inputs (`step`, `tick`, `propose`, ...) may be fed between `ready` and
/// `advance`; their effects go into the next Ready. Several Readies may be
/// outstanding, but they must be persisted, sent and applied in the order they
/// were returned. Each committed entry is handed out exactly once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use = "a Ready must be persisted, sent, applied and then passed to advance"]
pub struct Ready {
    /// A snapshot to persist (before the rest, replacing the log up to its
    /// `last_included_index`): the node's own compaction or a leader's snapshot.
    pub snapshot: Option<Snapshot>,
    /// The state machine must be restored from `snapshot` (a leader's snapshot,
    /// newer than anything applied) before `committed_entries` are applied.
    /// False for the node's own compaction (persist only).
    pub restore_snapshot: bool,
    /// Figure 2 persistent state, if it changed since the last Ready.
    pub hard_state: Option<HardState>,
    /// If `Some(i)`, storage must first delete every entry with index `>= i`
    /// (a conflicting suffix, §5.3). `entries`, if any, then start at `i`.
    pub truncate_from: Option<Index>,
    /// Entries to append to stable storage, contiguous and in index order.
    pub entries: Vec<Entry>,
    /// Messages to send once the above is durable.
    pub messages: Vec<Envelope>,
    /// Committed entries to apply, in index order, each exactly once.
    pub committed_entries: Vec<Entry>,
    /// ReadIndex reads confirmed since the last Ready: answer each once the state machine has
    /// applied its `index` (step 3 may already have done so). Nothing to persist.
    pub read_states: Vec<ReadState>,
    /// ReadIndex requests (their `ctx`) dropped because this node stopped leading: retry
    /// them elsewhere.
    pub dropped_reads: Vec<u64>,
}

impl Ready {
    /// True if there is nothing to persist, send or apply.
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none()
            && self.hard_state.is_none()
            && self.truncate_from.is_none()
            && self.entries.is_empty()
            && self.messages.is_empty()
            && self.committed_entries.is_empty()
            && self.read_states.is_empty()
            && self.dropped_reads.is_empty()
    }

    /// True if step 1 of the contract (persisting) has any work.
    pub fn must_persist(&self) -> bool {
        self.snapshot.is_some()
            || self.hard_state.is_some()
            || self.truncate_from.is_some()
            || !self.entries.is_empty()
    }
}

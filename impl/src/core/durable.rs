//! Parallel leader writes (Raft thesis §10.2.1): with them on, the leader counts itself in the
//! commit rule only up to what the runtime reported durable, so a runtime may send a leader's
//! AppendEntries before its own write completes.

use super::mutation::Mutator;
use super::node::RawNode;
use super::status::Role;
use crate::types::{Index, Term};

impl<M: Mutator> RawNode<M> {
    /// Parallel leader writes (Raft thesis §10.2.1, "the leader can write to its disk in
    /// parallel with replicating to the followers"; etcd raft's asynchronous storage writes).
    /// With `on`, a leader counts itself in the commit rule only up to the last entry the
    /// runtime reported durable through [`RawNode::on_persisted`], instead of up to its last
    /// index. That makes it safe for the runtime to send a leader's AppendEntries *before*
    /// the Ready's writes are durable: an entry then commits only once a majority holds it
    /// durably, whether or not the leader is among them. Every other message must still wait
    /// for the writes (see [`Ready`](super::Ready)). Off by default (and in conformance): the leader counts
    /// its last index, as the paper's Figure 2 does.
    pub fn set_self_ack_on_persist(&mut self, on: bool) {
        self.self_ack_on_persist = on;
    }

    /// The runtime made the log durable up to the entry `(index, term)` (the last entry of a
    /// Ready it persisted). A report that no longer matches the log (the entry was since
    /// replaced) is ignored. Only matters with [`RawNode::set_self_ack_on_persist`], where it
    /// may advance a leader's commit index.
    pub fn on_persisted(&mut self, index: Index, term: Term) {
        if self.log.term_at(index) != Some(term) {
            return;
        }
        self.persisted = (index, term);
        if self.self_ack_on_persist && self.role() == Role::Leader && self.maybe_commit() {
            self.advance_reads();
        }
        self.debug_check();
    }

    /// What the leader counts for itself in the commit rule.
    pub(crate) fn self_match_index(&self) -> Index {
        let last = self.log.last_index();
        if !self.self_ack_on_persist {
            return last;
        }
        // The durable copy is this log's prefix up to `persisted` only while the log still has
        // that entry (Log Matching); after a truncation below it, count nothing until the next
        // report.
        let (index, term) = self.persisted;
        if self.log.term_at(index) == Some(term) {
            index.min(last)
        } else {
            0
        }
    }
}

//! The leader's side of log replication: building AppendEntries (rule 6) and
//! advancing `commit_index` by counting (rule 8, Figure 8).

use tracing::debug;

use super::message::{AppendEntries, Message};
use super::mutation::{Mutation, Mutator};
use super::node::RawNode;
use super::quorum::committed_index;
use super::status::Role;

impl<M: Mutator> RawNode<M> {
    /// Sends AppendEntries to peers. `heartbeat`: to every peer (rule 6), and
    /// a stalled probe may go again; otherwise only to peers missing entries
    /// whose flow control allows it.
    pub(crate) fn broadcast_append(&mut self, heartbeat: bool) {
        for slot in 0..self.progress().len() {
            if heartbeat {
                self.progress_mut()[slot].on_heartbeat();
                self.send_append(slot, true);
            } else {
                let pr = &self.progress()[slot];
                if pr.next_index <= self.log.last_index()
                    && pr.can_send_entries(self.cfg.max_inflight)
                {
                    self.send_append(slot, false);
                }
            }
        }
    }

    /// Rule 6 for peer number `slot`: `prev_log_index = next_index - 1`, the
    /// entries from `next_index` on (within batching and in-flight limits),
    /// `leader_commit = commit_index`. Without `force`, sends nothing when
    /// there are no entries to carry.
    pub(crate) fn send_append(&mut self, slot: usize, force: bool) {
        debug_assert_eq!(self.role(), Role::Leader);
        let max_inflight = self.cfg.max_inflight;
        let pr = &self.progress()[slot];
        let prev_log_index = pr.next_index - 1;
        let entries = if pr.can_send_entries(max_inflight) {
            self.log.slice(
                pr.next_index,
                self.cfg.max_entries_per_append,
                self.cfg.max_bytes_per_append,
            )
        } else {
            Vec::new()
        };
        if entries.is_empty() && !force {
            return;
        }
        let Some(prev_log_term) = self.log.term_at(prev_log_index) else {
            debug_assert!(false, "next_index {} beyond last index + 1", pr.next_index);
            return;
        };
        let to = pr.id;
        let last_sent = prev_log_index + entries.len() as u64;
        let carried = !entries.is_empty();
        self.progress_mut()[slot].on_sent(last_sent, carried, max_inflight.is_some());
        let ae = AppendEntries {
            term: self.current_term,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit: self.log.commit_index,
            read_round: self.read_round,
        };
        self.send(to, Message::AppendEntries(ae));
    }

    /// Rule 8 / Figure 2 leaders: "If there exists an N such that N >
    /// commitIndex, a majority of matchIndex[i] >= N, and log[N].term ==
    /// currentTerm: set commitIndex = N". The leader counts itself with its
    /// last index (with `set_self_ack_on_persist`, its last durable index).
    /// Only current-term entries commit by counting (Figure 8);
    /// since terms never decrease along the log, checking the largest
    /// majority-replicated N suffices.
    pub(crate) fn maybe_commit(&mut self) -> bool {
        let mut matches = std::mem::take(&mut self.match_scratch);
        matches.clear();
        matches.push(self.self_match_index());
        matches.extend(self.progress().iter().map(|p| p.match_index));
        let n = committed_index(&mut matches);
        self.match_scratch = matches;
        let current_term = self.log.term_at(n) == Some(self.current_term);
        let current_term = current_term || self.mutant(Mutation::CommitPreviousTerm);
        if n > self.log.commit_index && current_term {
            debug!(id = self.cfg.id, commit_index = n, "commit index advanced");
            self.log.commit_index = n;
            true
        } else {
            false
        }
    }
}

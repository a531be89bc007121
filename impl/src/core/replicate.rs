//! The leader's side of log replication: building AppendEntries (rule 6),
//! advancing `commit_index` by counting (rule 8, Figure 8), and confirming
//! ReadIndex reads with the rounds those AppendEntries carry (`read_index.rs`).

use tracing::debug;

use super::error::NotLeader;

use super::message::{AppendEntries, Message};
use super::mutation::{Mutation, Mutator};
use super::node::RawNode;
use super::quorum::committed_index;
use super::role::RoleState;
use super::status::Role;

impl<M: Mutator> RawNode<M> {
    /// Sends AppendEntries to peers. `heartbeat`: to every peer (rule 6), and
    /// a stalled probe may go again; otherwise only to peers missing entries
    /// whose flow control allows it.
    pub(crate) fn broadcast_append(&mut self, heartbeat: bool) {
        for slot in 0..self.progress().len() {
            if heartbeat {
                self.progress_mut()[slot].on_heartbeat();
                if self.progress()[slot].snapshot.is_some() {
                    // No AppendEntries while a snapshot is in flight.
                    self.snapshot_heartbeat(slot);
                } else {
                    self.send_append(slot, true);
                }
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
        if pr.snapshot.is_some() {
            return;
        }
        // §7: the entries this peer needs next are compacted: send the snapshot.
        if pr.next_index <= self.log.last_included_index() {
            return self.start_snapshot(slot);
        }
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

    /// ReadIndex: asks the leader for a linearizable read tagged `ctx`. It is confirmed with
    /// one heartbeat round (sent now) and reported in [`Ready::read_states`] as
    /// `(ctx, read index)`; it is reported in [`Ready::dropped_reads`] instead if this node
    /// stops leading first. A leader that has not yet committed an entry of its own term keeps
    /// the request until it has (a no-op, with [`Config::leader_noop`]). Not leader: the
    /// leader hint.
    ///
    /// [`Ready::read_states`]: super::Ready::read_states
    /// [`Ready::dropped_reads`]: super::Ready::dropped_reads
    /// [`Config::leader_noop`]: super::Config::leader_noop
    pub fn read_index(&mut self, ctx: u64) -> Result<(), NotLeader> {
        self.require_leader()?;
        self.read_round += 1;
        let round = self.read_round;
        if let RoleState::Leader { reads, .. } = &mut self.state {
            reads.request(ctx, round);
        }
        debug!(id = self.cfg.id, ctx, round, "read index requested");
        self.broadcast_append(true);
        self.advance_reads();
        self.debug_check();
        Ok(())
    }

    /// Reads waiting for confirmation (leader only; 0 otherwise).
    pub fn pending_reads(&self) -> usize {
        match &self.state {
            RoleState::Leader { reads, .. } => reads.pending(),
            _ => 0,
        }
    }

    /// A current-term AppendEntriesResponse from peer `slot` echoing `round`.
    pub(crate) fn read_round_acked(&mut self, slot: usize, round: u64) {
        if let RoleState::Leader { reads, .. } = &mut self.state {
            reads.acked(slot, round);
        }
        self.advance_reads();
    }

    /// Thesis §6.4: reads take the commit index once an own-term entry is committed, and
    /// go out once a majority acknowledged their round.
    pub(crate) fn advance_reads(&mut self) {
        let RoleState::Leader { reads, .. } = &mut self.state else {
            return;
        };
        if reads.pending() == 0 {
            return;
        }
        let commit = self.log.commit_index;
        let own_term_commit =
            (self.log.term_at(commit) == Some(self.current_term)).then_some(commit);
        let before = self.read_states.len();
        reads.advance(
            own_term_commit,
            self.cfg.cluster_size(),
            &mut self.read_states,
        );
        for r in &self.read_states[before..] {
            debug!(
                id = self.cfg.id,
                ctx = r.ctx,
                index = r.index,
                "read index confirmed"
            );
        }
    }
}

//! Log compaction and InstallSnapshot (§7, Figure 13): the application's
//! `compact`, the leader sending its snapshot in chunks to a peer whose
//! `next_index` is compacted, and the follower receiving it.

use tracing::{debug, trace};

use super::assembly::Chunk;
use super::error::{CompactError, InvalidMessage};
use super::message::{InstallSnapshot, InstallSnapshotResponse, Message};
use super::mutation::{Mutation, Mutator};
use super::node::RawNode;
use super::role::RoleState;
use super::status::Role;
use crate::types::{Index, NodeId, Snapshot, SnapshotMeta};

impl<M: Mutator> RawNode<M> {
    /// §7: the application snapshotted its state machine after applying
    /// `index` (`data`); the core drops the entries up to `index` from memory
    /// and hands the snapshot to storage in the next [`Ready`](super::Ready)
    /// (persist only: `restore_snapshot` is false). `index` must be applied
    /// (confirmed through `advance`) and above the current snapshot.
    pub fn compact(
        &mut self,
        index: Index,
        data: impl Into<bytes::Bytes>,
    ) -> Result<(), CompactError> {
        let applied = self.log.applied;
        let last_included_index = self.log.last_included_index();
        if index <= last_included_index {
            return Err(CompactError::AlreadyCompacted {
                index,
                last_included_index,
            });
        }
        let applied_ok = index <= applied || self.mutant(Mutation::SnapshotBeyondCommit);
        if !applied_ok {
            return Err(CompactError::NotApplied { index, applied });
        }
        let Some(last_included_term) = self.log.term_at(index) else {
            debug_assert!(
                self.mutant(Mutation::SnapshotBeyondCommit),
                "applied index {index} not in the log"
            );
            return Err(CompactError::NotApplied { index, applied });
        };
        let last_included_term =
            self.mutant_or(Mutation::WrongLastIncludedTerm, last_included_term, |_| {
                self.current_term
            });
        let snapshot = Snapshot {
            meta: SnapshotMeta {
                last_included_index: index,
                last_included_term,
            },
            data: data.into(),
        };
        debug_assert!(self.relaxed_for_mutant(index <= applied, true));
        self.log.compact(snapshot.clone());
        // A newer snapshot replaces one not yet handed out; an unhanded leader's snapshot
        // (restore) cannot be here: its index is above `applied`.
        debug_assert!(!self.pending_snapshot.as_ref().is_some_and(|(_, r)| *r));
        self.pending_snapshot = Some((snapshot, false));
        debug!(id = self.cfg.id, index, "compacted");
        self.debug_check();
        Ok(())
    }

    // ---- leader ----

    /// Starts sending the snapshot to peer `slot` (its `next_index` is
    /// compacted): progress state Snapshot, first chunk now.
    pub(crate) fn start_snapshot(&mut self, slot: usize) {
        let lii = self.log.last_included_index();
        self.progress_mut()[slot].become_snapshot(lii);
        debug!(
            id = self.cfg.id,
            to = self.progress()[slot].id,
            last_included_index = lii,
            "sending snapshot"
        );
        self.send_snapshot_chunk(slot);
    }

    /// A heartbeat interval passed for peer `slot` in state Snapshot: after
    /// `snapshot_retry_heartbeats` silent intervals, a lost chunk or reply is
    /// assumed and the transfer restarts from offset 0.
    pub(crate) fn snapshot_heartbeat(&mut self, slot: usize) {
        let Some(t) = self.progress()[slot].snapshot else {
            return;
        };
        if t.idle_heartbeats >= self.cfg.snapshot_retry_heartbeats {
            self.start_snapshot(slot);
        }
    }

    /// Figure 13 (leader): the chunk at the acknowledged offset, at most
    /// `max_snapshot_chunk` bytes, `done` on the last. A transfer of a
    /// snapshot since replaced by a newer compaction restarts with the newer.
    fn send_snapshot_chunk(&mut self, slot: usize) {
        let snapshot = self.log.snapshot();
        let meta = snapshot.meta;
        let Some(t) = self.progress()[slot].snapshot else {
            return;
        };
        if t.last_included_index != meta.last_included_index {
            return self.start_snapshot(slot);
        }
        let len = snapshot.data.len();
        let start = usize::try_from(t.offset).map_or(len, |o| o.min(len));
        let end = start.saturating_add(self.cfg.max_snapshot_chunk).min(len);
        let msg = InstallSnapshot {
            term: self.current_term,
            last_included_index: meta.last_included_index,
            last_included_term: meta.last_included_term,
            offset: start as u64,
            data: snapshot.data.slice(start..end),
            done: end == len,
        };
        let to = self.progress()[slot].id;
        if let Some(t) = &mut self.progress_mut()[slot].snapshot {
            t.offset = start as u64;
            t.idle_heartbeats = 0;
        }
        self.send(to, Message::InstallSnapshot(msg));
    }

    /// A leader learns how far a peer got with the snapshot.
    pub(crate) fn handle_snapshot_response(&mut self, from: NodeId, m: InstallSnapshotResponse) {
        if m.term < self.current_term {
            trace!(id = self.cfg.id, from, "stale snapshot response ignored");
            return;
        }
        let Some(slot) = self.peer_slot(from) else {
            return;
        };
        let last_index = self.log.last_index();
        if m.match_index > 0 {
            // The follower holds everything up to match_index (installed, or
            // already committed there): back to AppendEntries.
            self.progress_mut()[slot].on_snapshot_done(m.match_index, last_index);
            if self.maybe_commit() {
                self.advance_reads();
            }
            if self.cfg.retry_on_reject || self.cfg.max_inflight.is_some() {
                self.send_append(slot, false);
            }
            return;
        }
        let Some(t) = self.progress()[slot].snapshot else {
            return;
        };
        // A chunk acknowledged: send the next from where the follower is.
        if m.last_included_index == t.last_included_index
            && m.received <= self.log.snapshot().data.len() as u64
        {
            if let Some(t) = &mut self.progress_mut()[slot].snapshot {
                t.offset = m.received;
            }
            self.send_snapshot_chunk(slot);
        }
    }

    // ---- follower ----

    /// Checks an InstallSnapshot against the node's state before any change:
    /// only one leader per term. A chunk out of order is not malformed (a
    /// correct leader's chunk can be duplicated, delayed, or reach a follower
    /// that restarted mid-transfer); the receiver ignores it.
    pub(crate) fn check_install_snapshot(
        &self,
        from: NodeId,
        m: &InstallSnapshot,
    ) -> Result<(), InvalidMessage> {
        if m.term == self.current_term && self.role() == Role::Leader {
            return Err(InvalidMessage::InstallSnapshotToLeader { from, term: m.term });
        }
        Ok(())
    }

    /// Figure 13, InstallSnapshot receiver, at a follower (a candidate of the
    /// same term became one first).
    pub(crate) fn handle_install_snapshot(&mut self, from: NodeId, m: InstallSnapshot) {
        // Step 1: "Reply immediately if term < currentTerm".
        if m.term < self.current_term {
            let reply = InstallSnapshotResponse {
                term: self.current_term,
                match_index: 0,
                last_included_index: 0,
                received: 0,
            };
            return self.send(from, Message::InstallSnapshotResponse(reply));
        }
        if let RoleState::Follower { leader_id } = &mut self.state {
            *leader_id = Some(from);
        }
        self.heard_from_leader();
        let lii = m.last_included_index;
        let reply = |match_index, received| InstallSnapshotResponse {
            term: m.term,
            match_index,
            last_included_index: lii,
            received,
        };
        // Never go backwards: a snapshot no newer than what is committed here
        // is ignored, and acknowledged as held (the model's reply).
        let older = lii <= self.log.commit_index && !self.mutant(Mutation::InstallOlderSnapshot);
        if older {
            debug!(id = self.cfg.id, from, lii, "older snapshot ignored");
            self.incoming.discard();
            self.maybe_repaired(lii, m.last_included_term);
            return self.send(from, Message::InstallSnapshotResponse(reply(lii, 0)));
        }
        // Steps 2-3 take chunks in order: a stale or early one (duplicated,
        // delayed, or after a restart lost the partial state) is ignored; the
        // leader resends on the next acknowledgement or after its retry interval.
        if !self.incoming.accepts(from, &m) {
            trace!(
                id = self.cfg.id,
                from,
                offset = m.offset,
                "chunk out of order ignored"
            );
            return;
        }
        // Steps 2-5: reassemble the chunks.
        let snapshot = match self.incoming.accept(from, &m) {
            Chunk::Partial { received } => {
                return self.send(from, Message::InstallSnapshotResponse(reply(0, received)));
            }
            Chunk::Done(s) => s,
        };
        // Steps 6-7: keep the entries after a matching last included entry, or
        // discard the whole log; step 8: the state machine is reset to it.
        let commit_index = self.log.commit_index;
        let discard_all = self.mutant(Mutation::InstallDiscardsSuffix);
        let kept = self.log.install(snapshot.clone(), discard_all);
        if self.mutant(Mutation::InstallOlderSnapshot) {
            self.log.reset_commit(lii); // The state machine goes back to the snapshot.
        }
        if self.mutant(Mutation::CommitNotAdvancedOnInstall) {
            self.log.commit_index = commit_index;
        }
        debug!(id = self.cfg.id, from, lii, kept, "snapshot installed");
        self.pending_snapshot = Some((snapshot, true));
        self.maybe_repaired(lii, m.last_included_term);
        let done = reply(lii, m.offset + m.data.len() as u64);
        self.send(from, Message::InstallSnapshotResponse(done));
    }
}

//! Log compaction and InstallSnapshot (Raft §7, Figure 13).

use super::{become_follower, RaftModel};
use crate::config::{Bug, Fix};
use crate::state::*;

impl RaftModel {
    /// Whether `s` may compact now: budget left, and something committed
    /// (applied) beyond its snapshot.
    pub(super) fn may_snapshot(&self, state: &State, s: &Server) -> bool {
        let upto = if self.config.has(Bug::SnapshotBeyondCommit) {
            s.last_index()
        } else {
            s.commit_index
        };
        state.faults.snapshots < self.config.snapshots && upto > s.first_index()
    }

    /// §7: the state machine snapshots what it applied (every committed
    /// entry); the log keeps only the entries after it.
    pub(super) fn compact(&self, s: &mut Server) {
        let upto = if self.config.has(Bug::SnapshotBeyondCommit) {
            s.last_index() // Bug: uncommitted entries too.
        } else {
            s.commit_index
        };
        let last_included_term = if self.config.has(Bug::WrongLastIncludedTerm) {
            s.current_term // Bug: not the entry's own term.
        } else {
            s.term_at(upto).expect("the compacted entry is in the log")
        };
        let compacted: Vec<Entry> = s.log.drain(..s.position(upto) + 1).collect();
        let mut entries = std::mem::take(&mut s.snapshot.entries);
        entries.extend(compacted);
        if self.config.has(Bug::SnapshotStateIndexMismatch) {
            entries.pop(); // Bug: the state was taken before the last entry was applied.
        }
        s.snapshot = Snapshot {
            last_included_index: upto,
            last_included_term,
            entries,
        };
    }

    /// Figure 13, the leader's side: the whole snapshot in one message.
    pub(super) fn install_snapshot_request(&self, s: &Server) -> Message {
        Message::InstallSnapshot(InstallSnapshot {
            term: s.current_term,
            last_included_index: s.snapshot.last_included_index,
            last_included_term: s.snapshot.last_included_term,
            entries: s.snapshot.entries.clone(),
        })
    }

    /// Figure 13, InstallSnapshot RPC, receiver implementation.
    pub(super) fn handle_install_snapshot(
        &self,
        state: &mut State,
        leader: ServerId,
        me: ServerId,
        is: &InstallSnapshot,
    ) {
        let s = &mut state.servers[me as usize];
        let reply = |term, match_index| InstallSnapshotResponse { term, match_index };
        let response = if is.term < s.current_term {
            // Step 1: reply immediately if term < currentTerm.
            reply(s.current_term, 0)
        } else if s.role == Role::Leader {
            // Another leader of this very term: dropped, as an AppendEntries would be.
            return;
        } else {
            become_follower(s);
            // §9.6: a follower that hears from a leader refuses pre-votes.
            s.heard_from_leader = self.config.pre_vote || self.config.check_quorum;
            let older = is.last_included_index <= s.commit_index;
            if !older || self.config.has(Bug::InstallOlderSnapshot) {
                self.install(s, is);
            }
            // Recovery: the snapshot covers the watermark, or ends in an
            // entry of a term after the loss.
            if is.last_included_index >= s.lost_up_to || is.last_included_term > s.lost_term {
                s.lost_up_to = 0;
                s.lost_term = 0;
            }
            // Either way the follower now holds the snapshot's entries: they are committed here.
            reply(s.current_term, is.last_included_index)
        };
        state.send(Envelope {
            from: me,
            to: leader,
            msg: Message::InstallSnapshotResponse(response),
        });
    }

    /// Steps 5 to 8: save the snapshot; keep the entries after an existing
    /// entry with the snapshot's last index and term, else discard the whole
    /// log; the state machine is the snapshot's, so commit_index reaches its
    /// last index.
    fn install(&self, s: &mut Server, is: &InstallSnapshot) {
        let last = is.last_included_index;
        let holds_last = if self.config.fixed(Fix::KeepSuffixByLength) {
            // The proposed fix: the log reaches the index; its term is not compared.
            last >= s.first_index() && last <= s.last_index()
        } else {
            s.term_at(last) == Some(is.last_included_term)
        };
        if holds_last && !self.config.has(Bug::InstallDiscardsSuffix) {
            s.log.drain(..(last - s.first_index()) as usize);
        } else {
            s.log.clear();
        }
        s.snapshot = Snapshot {
            last_included_index: last,
            last_included_term: is.last_included_term,
            entries: is.entries.clone(),
        };
        if self.config.has(Bug::InstallOlderSnapshot) {
            s.commit_index = last; // Bug: the state machine is reset to an older snapshot.
        } else if !self.config.has(Bug::CommitNotAdvancedOnInstall) {
            s.commit_index = s.commit_index.max(last);
        }
    }

    /// The leader learns the follower holds everything up to the snapshot's
    /// last index.
    pub(super) fn handle_install_snapshot_response(
        &self,
        state: &mut State,
        follower: ServerId,
        me: ServerId,
        r: &InstallSnapshotResponse,
    ) {
        let s = &state.servers[me as usize];
        let stale = r.term < s.current_term && !self.config.has(Bug::AcceptStaleReply);
        if stale || s.role != Role::Leader {
            return;
        }
        self.acknowledged(state, me, follower, r.match_index);
    }
}

//! Message handling: `step` applies the rules common to every role (§5.1
//! term rule, RequestVote, PreVote), then dispatches to `step_leader`,
//! `step_campaigning` (candidates and pre-candidates) or `step_follower`.

use tracing::{debug, error, info, trace, warn};

use super::error::InvalidMessage;
use super::log::Merge;
use super::message::{
    AppendEntries, AppendEntriesResponse, ConflictHint, Envelope, Message, RequestVote,
    RequestVoteResponse,
};
use super::mutation::{cut_at_prev_log_index, stamp_entries, Mutation, Mutator};
use super::node::RawNode;
use super::role::RoleState;
use super::status::Role;
use super::validate::validate;
use crate::types::{Index, NodeId, Term};

impl<M: Mutator> RawNode<M> {
    /// Delivers one message. A malformed or impossible message is refused
    /// with [`InvalidMessage`] (logged, counted in
    /// [`Status::rejected_messages`](super::Status::rejected_messages)) and
    /// leaves the node unchanged.
    pub fn step(&mut self, env: Envelope) -> Result<(), InvalidMessage> {
        let well_formed = validate(self.cfg.id, &self.cfg.peers, &env);
        if well_formed.is_ok() && self.mutant(Mutation::VoteResetOnSameTerm) {
            self.reset_on_same_term(&env);
        }
        if let Err(e) = well_formed.and_then(|()| self.validate_against_state(&env)) {
            self.rejected_messages += 1;
            error!(
                id = self.cfg.id,
                from = env.from,
                kind = env.msg.kind(),
                field = e.field(),
                "rejected message: {e}"
            );
            return Err(e);
        }
        let from = env.from;
        let term = env.msg.term();
        if self.sticky_ignores(&env) {
            return Ok(());
        }
        // Rule 1 / §5.1: "If RPC request or response contains term T >
        // currentTerm: set currentTerm = T, convert to follower". A PreVote's term is the one
        // its sender would stand in, not its current_term: it changes nothing (§9.6).
        let pre_vote = matches!(env.msg, Message::PreVote(_));
        if term > self.current_term && !pre_vote {
            debug!(
                id = self.cfg.id,
                from,
                term,
                current_term = self.current_term,
                kind = env.msg.kind(),
                "higher term: stepping down"
            );
            let leader = matches!(
                env.msg,
                Message::AppendEntries(_) | Message::InstallSnapshot(_)
            )
            .then_some(from);
            self.become_follower(term, leader);
        }
        match env.msg {
            Message::RequestVote(m) => self.handle_request_vote(from, m),
            Message::PreVote(m) => self.handle_pre_vote(from, m),
            // Thesis §3.10: only a follower acts on it (`transfer.rs`).
            Message::TimeoutNow(m) => self.handle_timeout_now(from, m),
            msg => match self.role() {
                Role::Leader => self.step_leader(from, msg),
                Role::Candidate | Role::PreCandidate => self.step_campaigning(from, msg),
                Role::Follower => self.step_follower(from, msg),
            },
        }
        self.debug_check();
        Ok(())
    }

    /// Checks that need node state. Run before any state changes, so a
    /// refused message cannot even raise the term.
    fn validate_against_state(&self, env: &Envelope) -> Result<(), InvalidMessage> {
        self.check_one_leader_per_term(env)?;
        if let Message::InstallSnapshot(m) = &env.msg {
            self.check_install_snapshot(env.from, m)?;
        }
        let known_log = self.check_against_known_log(env);
        // The model has only the guard above; a mutant's bugs must be able to
        // overwrite committed entries and accept replies beyond its log.
        self.relaxed_for_mutant(known_log, Ok(()))
    }

    /// Election Safety: at most one leader per term (§5.2).
    fn check_one_leader_per_term(&self, env: &Envelope) -> Result<(), InvalidMessage> {
        match &env.msg {
            Message::AppendEntries(m)
                if m.term == self.current_term && self.role() == Role::Leader =>
            {
                Err(InvalidMessage::AppendEntriesToLeader {
                    from: env.from,
                    term: m.term,
                })
            }
            _ => Ok(()),
        }
    }

    /// A message of a legitimate peer agrees with what this node knows of
    /// the log. Assumes [`check_one_leader_per_term`](Self::check_one_leader_per_term) passed.
    fn check_against_known_log(&self, env: &Envelope) -> Result<(), InvalidMessage> {
        match &env.msg {
            Message::AppendEntries(m) if m.term >= self.current_term => {
                // Leader Completeness (§5.4): a legitimate leader never
                // contradicts an entry this node knows is committed.
                if self.log.term_at(m.prev_log_index) != Some(m.prev_log_term) {
                    return Ok(());
                }
                match self.log.find_merge(m.prev_log_index, &m.entries) {
                    Merge::Conflict { offset, index } if index <= self.log.commit_index => {
                        Err(InvalidMessage::ConflictsWithCommitted {
                            position: offset,
                            index,
                            commit_index: self.log.commit_index,
                        })
                    }
                    _ => Ok(()),
                }
            }
            Message::AppendEntriesResponse(m)
                if m.success && m.term == self.current_term && self.role() == Role::Leader =>
            {
                self.check_match_index(m.match_index)
            }
            Message::InstallSnapshotResponse(m)
                if m.term == self.current_term && self.role() == Role::Leader =>
            {
                self.check_match_index(m.match_index)
            }
            _ => Ok(()),
        }
    }

    /// A follower can only match entries this leader sent it.
    fn check_match_index(&self, match_index: Index) -> Result<(), InvalidMessage> {
        let last_index = self.log.last_index();
        if match_index > last_index {
            Err(InvalidMessage::MatchIndexBeyondLog {
                match_index,
                last_index,
            })
        } else {
            Ok(())
        }
    }

    fn step_leader(&mut self, from: NodeId, msg: Message) {
        if msg.term() == self.current_term {
            // Thesis §6.2: any message of the leader's term shows the peer is with it.
            self.heard_from_peer(from);
        }
        match msg {
            // Same-term AppendEntries was refused in validation; only stale ones get here.
            Message::AppendEntries(m) => self.reject_stale_append(from, &m),
            Message::AppendEntriesResponse(m) => self.handle_append_response(from, m),
            // Same-term InstallSnapshot was refused in validation; only stale ones get here.
            Message::InstallSnapshot(m) => self.handle_install_snapshot(from, m),
            Message::InstallSnapshotResponse(m) => self.handle_snapshot_response(from, m),
            Message::RequestVoteResponse(_) | Message::PreVoteResponse(_) => {
                trace!(id = self.cfg.id, from, "vote response ignored: leader")
            }
            Message::RequestVote(_) | Message::PreVote(_) | Message::TimeoutNow(_) => {
                handled_before_dispatch()
            }
        }
    }

    /// A candidate, or a pre-candidate (§9.6: a follower asking for pre-votes): each counts only
    /// the responses of its own round, and a leader of its term ends the round.
    fn step_campaigning(&mut self, from: NodeId, msg: Message) {
        let pre = self.role() == Role::PreCandidate;
        match msg {
            Message::AppendEntries(m) => {
                if m.term == self.current_term {
                    // Rule 7 / §5.2: "If AppendEntries RPC received from new
                    // leader: convert to follower" (voted_for unchanged).
                    self.become_follower(self.current_term, Some(from));
                }
                self.handle_append_entries(from, m);
            }
            Message::InstallSnapshot(m) => {
                if m.term == self.current_term {
                    // Rule 7 for InstallSnapshot: a leader of this term exists.
                    self.become_follower(self.current_term, Some(from));
                }
                self.handle_install_snapshot(from, m);
            }
            Message::RequestVoteResponse(m) if !pre => self.handle_vote_response(from, m),
            Message::PreVoteResponse(m) if pre => self.handle_pre_vote_response(from, m),
            Message::RequestVoteResponse(_)
            | Message::PreVoteResponse(_)
            | Message::AppendEntriesResponse(_)
            | Message::InstallSnapshotResponse(_) => {
                trace!(id = self.cfg.id, from, pre, "response ignored: campaigning")
            }
            Message::RequestVote(_) | Message::PreVote(_) | Message::TimeoutNow(_) => {
                handled_before_dispatch()
            }
        }
    }

    fn step_follower(&mut self, from: NodeId, msg: Message) {
        match msg {
            Message::AppendEntries(m) => self.handle_append_entries(from, m),
            Message::InstallSnapshot(m) => self.handle_install_snapshot(from, m),
            Message::RequestVoteResponse(_)
            | Message::AppendEntriesResponse(_)
            | Message::InstallSnapshotResponse(_)
            | Message::PreVoteResponse(_) => {
                trace!(id = self.cfg.id, from, "response ignored: follower")
            }
            Message::RequestVote(_) | Message::PreVote(_) | Message::TimeoutNow(_) => {
                handled_before_dispatch()
            }
        }
    }

    /// Leader stickiness (thesis §4.2.3, with check-quorum §6.2): a server that heard from a
    /// leader within the minimum election timeout ignores a RequestVote of a higher term: it
    /// neither updates its term nor grants, nor replies. A PreVote is refused the same way
    /// (`handle_pre_vote`). A transfer's RequestVote (thesis §3.10, started by the leader's
    /// TimeoutNow) is not ignored: the leader itself asked for it.
    fn sticky_ignores(&self, env: &Envelope) -> bool {
        let Message::RequestVote(m) = &env.msg else {
            return false;
        };
        let ignore = self.cfg.check_quorum
            && !m.transfer
            && m.term > self.current_term
            && self.within_leader_lease();
        if ignore {
            debug!(
                id = self.cfg.id,
                from = env.from,
                term = m.term,
                "vote request ignored: heard from a leader within the election timeout"
            );
        }
        ignore
    }

    /// Rule 3 (Figure 2 RequestVote receiver), for every role.
    fn handle_request_vote(&mut self, from: NodeId, m: RequestVote) {
        // Receiver step 1: "Reply false if term < currentTerm". Protocol-aware recovery: a
        // node that may have lost entries it acknowledged grants no vote (its log could lack
        // a committed entry, so its up-to-date check proves nothing).
        let granted = m.term == self.current_term && self.lost_up_to == 0 && {
            // Step 2: "If votedFor is null or candidateId, and candidate's log
            // is at least as up-to-date as receiver's log, grant vote".
            let free = self.voted_for.is_none() || self.voted_for == Some(from);
            let up_to_date = self.log_up_to_date(&m) || self.mutant(Mutation::NoUpToDateCheck);
            free && up_to_date
        };
        if granted {
            self.voted_for = Some(from);
            // §5.2 / Figure 2 followers: granting a vote restarts the election timer.
            self.heard_from_leader();
        }
        debug!(
            id = self.cfg.id,
            from,
            term = m.term,
            granted,
            "vote request"
        );
        let reply = RequestVoteResponse {
            term: self.current_term,
            vote_granted: granted,
        };
        self.send(from, Message::RequestVoteResponse(reply));
    }

    /// §5.4.1: a requester's log is at least as up-to-date as ours (compare last terms, then
    /// lengths). RequestVote step 2 and the pre-vote (§9.6) both ask this.
    pub(crate) fn log_up_to_date(&self, m: &RequestVote) -> bool {
        let (my_term, my_index) = (self.log.last_term(), self.log.last_index());
        m.last_log_term > my_term || (m.last_log_term == my_term && m.last_log_index >= my_index)
    }

    /// Rule 4: count a vote; a majority makes this candidate leader.
    fn handle_vote_response(&mut self, from: NodeId, m: RequestVoteResponse) {
        if m.term < self.current_term {
            trace!(id = self.cfg.id, from, "stale vote response ignored");
            return;
        }
        if !m.vote_granted {
            return;
        }
        let slot = self.peer_slot(from);
        let RoleState::Candidate { votes } = &mut self.state else {
            return;
        };
        if let Some(slot) = slot {
            votes.grant(slot);
        }
        if votes.won() {
            self.become_leader();
        }
    }

    /// Rule 7, step 1: refuse an AppendEntries from an older term.
    fn reject_stale_append(&mut self, from: NodeId, m: &AppendEntries) {
        debug_assert!(m.term < self.current_term);
        let reply = AppendEntriesResponse {
            term: self.current_term,
            success: false,
            match_index: 0,
            conflict: None,
            read_round: m.read_round,
        };
        self.send(from, Message::AppendEntriesResponse(reply));
    }

    /// Rule 7 (Figure 2 AppendEntries receiver) at a follower.
    fn handle_append_entries(&mut self, from: NodeId, m: AppendEntries) {
        if m.term < self.current_term {
            return self.reject_stale_append(from, &m);
        }
        let m = self.mutant_or(Mutation::EntriesStampedWithLeaderTerm, m, stamp_entries);
        // Rule 7 runs at a follower only (a candidate became one first).
        debug_assert_eq!(self.role(), Role::Follower);
        if let RoleState::Follower { leader_id } = &mut self.state {
            *leader_id = Some(from);
        }
        self.heard_from_leader();
        let last_new: Index = m.prev_log_index + m.entries.len() as Index;
        let last_new_term = m.entries.last().map_or(m.prev_log_term, |e| e.term);
        // §7: entries at or below the snapshot are committed here, and so are
        // the leader's: check and append only what follows the snapshot.
        let m = self.log.above_snapshot(m);
        let last_index = self.log.last_index();
        // Step 2: "Reply false if log doesn't contain an entry at
        // prevLogIndex whose term matches prevLogTerm".
        let conflict = match self.log.term_at(m.prev_log_index) {
            None => Some(ConflictHint {
                term: None,
                first_index: 0,
                log_len: last_index,
            }),
            Some(t) if t != m.prev_log_term => Some(ConflictHint {
                term: Some(t),
                first_index: self.log.first_index_of_term(t),
                log_len: last_index,
            }),
            Some(_) => None,
        };
        if conflict.is_some() {
            debug!(
                id = self.cfg.id,
                from,
                prev_log_index = m.prev_log_index,
                ?conflict,
                "append rejected"
            );
            let reply = AppendEntriesResponse {
                term: self.current_term,
                success: false,
                match_index: 0,
                conflict,
                read_round: m.read_round,
            };
            self.send(from, Message::AppendEntriesResponse(reply));
            return;
        }
        // Steps 3-4: cut at the first conflicting entry only, append the rest.
        // Entries already present with the same term are kept, so a delayed
        // AppendEntries never deletes entries acknowledged since.
        let merge = self.log.find_merge(m.prev_log_index, &m.entries);
        let merge = self.mutant_or(Mutation::TruncateOnEveryAppend, merge, |merge| {
            cut_at_prev_log_index(&m, merge)
        });
        // §5.4 (Leader Completeness): a committed entry is never cut;
        // validate_against_state refused any message that would.
        debug_assert!(
            self.relaxed_for_mutant(!self.log.cuts_committed(merge), true),
            "cutting committed entries: {merge:?}, commit_index {}",
            self.log.commit_index
        );
        self.log.merge(&m.entries, merge);
        // Step 5: "If leaderCommit > commitIndex, set commitIndex =
        // min(leaderCommit, index of last new entry)"; never decreases.
        let bound = self.mutant_or(Mutation::CommitBeyondLastNewEntry, last_new, |_| {
            m.leader_commit
        });
        if m.leader_commit > self.log.commit_index {
            self.log.commit_index = self.log.commit_index.max(m.leader_commit.min(bound));
        }
        self.maybe_repaired(last_new, last_new_term);
        let reply = AppendEntriesResponse {
            term: self.current_term,
            success: true,
            match_index: last_new,
            conflict: None,
            read_round: m.read_round,
        };
        self.send(from, Message::AppendEntriesResponse(reply));
    }

    /// Rule 8: a leader learns a follower's progress.
    fn handle_append_response(&mut self, from: NodeId, m: AppendEntriesResponse) {
        let stale = m.term < self.current_term && !self.mutant(Mutation::AcceptStaleReply);
        if stale {
            trace!(id = self.cfg.id, from, "stale append response ignored");
            return;
        }
        let Some(slot) = self.peer_slot(from) else {
            return;
        };
        let pipelining = self.cfg.max_inflight.is_some();
        let last_index = self.log.last_index();
        // A success or a hinted refusal answers an AppendEntries of this term (a follower
        // runs the consistency check only for its own term): it acknowledges the round.
        // A hintless refusal may echo a round of an older term, even of an earlier
        // incarnation of this node, so it does not count.
        if m.success || m.conflict.is_some() {
            self.read_round_acked(slot, m.read_round);
        }
        if m.success {
            self.progress_mut()[slot].on_success(m.match_index, pipelining);
            if self.maybe_commit() {
                self.advance_reads();
            }
            // Pipelining: an acknowledgement frees in-flight room; use it.
            if pipelining && self.progress()[slot].next_index <= last_index {
                self.send_append(slot, false);
            }
            // Thesis §3.10: the transfer target has caught up.
            self.maybe_send_timeout_now(from, slot);
            return;
        }
        // Fast backup (6.824 XTerm/XIndex/XLen). A refusal without a hint
        // answered an AppendEntries of an older term: nothing to learn.
        let Some(hint) = m.conflict else {
            trace!(id = self.cfg.id, from, "hintless refusal ignored");
            return;
        };
        let next = match hint.term {
            None => hint.log_len.saturating_add(1),
            Some(t) => match self.log.last_index_of_term(t) {
                Some(last_of_t) => last_of_t + 1,
                None => hint.first_index,
            },
        };
        let match_index = self.progress()[slot].match_index;
        if next <= match_index {
            // The follower's log no longer reaches what it acknowledged: it lost entries (a
            // damaged or wiped disk), or this is an old refusal overtaken by a success.
            warn!(
                id = self.cfg.id,
                peer = from,
                match_index,
                log_len = hint.log_len,
                "peer refused entries it had acknowledged: it lost them (or this refusal is \
                 older than its acknowledgement); no longer counting them, re-sending from \
                 next_index"
            );
            self.lost_entries_reports += 1;
        }
        // A refusal of an AppendEntries sent before the snapshot transfer
        // started: the transfer goes on while the follower still needs it
        // (etcd's StateSnapshot); next_index follows the hint either way.
        if self.progress_mut()[slot].on_reject(next, last_index) {
            trace!(id = self.cfg.id, from, "refusal during a snapshot transfer");
            return;
        }
        debug!(
            id = self.cfg.id,
            from,
            next_index = self.progress()[slot].next_index,
            "append rejected by follower"
        );
        if self.cfg.retry_on_reject {
            self.send_append(slot, true);
        }
    }
}

impl<M: Mutator> RawNode<M> {
    /// Protocol-aware recovery: the leader's log up to `verified` (an accepted AppendEntries'
    /// last new entry, an installed snapshot's last index), whose term is `verified_term`, is
    /// now here. Nothing acknowledged is missing once that reaches `lost_up_to`, or once it is
    /// an entry of a term after `lost_term`: its leader was elected without this node's vote
    /// and so holds every entry committed with the lost acknowledgements (all of terms up to
    /// `lost_term`), before its own entries. The node votes again.
    pub(crate) fn maybe_repaired(&mut self, verified: Index, verified_term: Term) {
        let reached = verified >= self.lost_up_to || verified_term > self.lost_term;
        if self.lost_up_to != 0 && reached {
            info!(
                id = self.cfg.id,
                lost_up_to = self.lost_up_to,
                "repaired: the leader re-sent every entry that may have been lost"
            );
            self.lost_up_to = 0;
            self.lost_term = 0;
        }
    }
}

/// Mutation testing only.
impl<M: Mutator> RawNode<M> {
    /// [`Mutation::VoteResetOnSameTerm`]: a request of the current term makes
    /// the node a follower and clears `voted_for` (so it can vote twice).
    fn reset_on_same_term(&mut self, env: &Envelope) {
        let request = matches!(env.msg, Message::RequestVote(_) | Message::AppendEntries(_));
        if request && env.msg.term() == self.current_term {
            self.voted_for = None;
            self.become_follower(self.current_term, None);
        }
    }
}

/// RequestVote, PreVote and TimeoutNow are handled before role dispatch.
fn handled_before_dispatch() {
    debug_assert!(
        false,
        "RequestVote, PreVote and TimeoutNow are handled before dispatch"
    );
}

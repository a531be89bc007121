//! Log replication (Figure 2, AppendEntries; §5.3, §5.4.2), with the log
//! starting after the snapshot (Figure 13).

use super::{become_follower, RaftModel};
use crate::config::{Bug, Fix};
use crate::state::*;

impl RaftModel {
    /// Heartbeat/replicate: to every peer, AppendEntries from its
    /// next_index, or InstallSnapshot when that index is compacted (§7).
    pub(super) fn broadcast_append(&self, state: &mut State, leader: ServerId) {
        for p in self.peers(leader) {
            let s = &state.servers[leader as usize];
            let prev_log_index = s.next_index[p as usize] - 1;
            let msg = match s.term_at(prev_log_index) {
                Some(prev_log_term) if prev_log_index >= s.first_index() => {
                    let from = s.position(prev_log_index + 1);
                    let to = match self.config.max_batch {
                        0 => s.log.len(),
                        batch => s.log.len().min(from + batch as usize),
                    };
                    Message::AppendEntries(AppendEntries {
                        term: s.current_term,
                        prev_log_index,
                        prev_log_term,
                        entries: s.log[from..to].to_vec(),
                        leader_commit: s.commit_index,
                    })
                }
                _ => self.install_snapshot_request(s),
            };
            state.send(Envelope {
                from: leader,
                to: p,
                msg,
            });
        }
    }

    /// Figure 2, AppendEntries RPC, receiver implementation.
    pub(super) fn handle_append_entries(
        &self,
        state: &mut State,
        leader: ServerId,
        me: ServerId,
        ae: &AppendEntries,
    ) {
        let s = &mut state.servers[me as usize];
        let reply = |term, success, match_index, conflict| AppendEntriesResponse {
            term,
            success,
            match_index,
            conflict,
        };
        let last_new = ae.prev_log_index + ae.entries.len() as Index;
        let response = if ae.term < s.current_term {
            // Step 1: reply false if term < currentTerm.
            reply(s.current_term, false, 0, None)
        } else if s.role == Role::Leader {
            // Another leader of this very term: impossible unless Election
            // Safety is already broken. The message is dropped.
            return;
        } else {
            // Figure 2, Candidates: AppendEntries from the new leader: convert to follower.
            become_follower(s);
            // §9.6: a follower that hears from a leader refuses pre-votes.
            s.heard_from_leader = self.config.pre_vote || self.config.check_quorum;
            // Entries at or below the snapshot's last index are committed here,
            // and so are the leader's: check and append only what follows.
            let (prev_log_index, prev_log_term, entries) = above_snapshot(s, ae);
            if self.config.fixed(Fix::RejectPrevBelowCommit) && ae.prev_log_index < s.commit_index {
                let conflict = ConflictHint {
                    term: None,
                    first_index: 0,
                    log_len: s.commit_index,
                };
                reply(s.current_term, false, 0, Some(conflict))
            } else if let Some(conflict) = consistency_check(s, prev_log_index, prev_log_term) {
                // Step 2: reply false if the log has no entry at prevLogIndex
                // whose term matches prevLogTerm.
                reply(s.current_term, false, 0, Some(conflict))
            } else {
                self.append_entries(s, ae.term, prev_log_index, entries);
                // Step 5: if leaderCommit > commitIndex, set commitIndex =
                // min(leaderCommit, index of last new entry).
                let bound = if self.config.has(Bug::CommitBeyondLastNewEntry) {
                    ae.leader_commit // Bug: no bound at all.
                } else {
                    last_new
                };
                if ae.leader_commit > s.commit_index {
                    s.commit_index = s.commit_index.max(ae.leader_commit.min(bound));
                }
                // Recovery: the leader's entries up to last_new are verified
                // here. Nothing lost is missing once they reach the watermark,
                // or once they end in an entry of a term after the loss (its
                // leader holds every entry committed with the lost
                // acknowledgements, before its own entries).
                let last_term = ae.entries.last().map_or(ae.prev_log_term, |e| e.term);
                if last_new >= s.lost_up_to || last_term > s.lost_term {
                    s.lost_up_to = 0;
                    s.lost_term = 0;
                }
                reply(s.current_term, true, last_new, None)
            }
        };
        state.send(Envelope {
            from: me,
            to: leader,
            msg: Message::AppendEntriesResponse(response),
        });
    }

    /// Steps 3 and 4: delete an existing entry that conflicts with a new one
    /// (same index, different term) and all that follow it; append any new
    /// entries not already in the log. `entries` follow `prev_log_index`,
    /// which is at or above the snapshot's last index.
    fn append_entries(&self, s: &mut Server, term: Term, prev_log_index: Index, entries: &[Entry]) {
        let stamp = |e: &Entry| {
            if self.config.has(Bug::EntriesStampedWithLeaderTerm) {
                Entry {
                    term,
                    value: e.value,
                }
            } else {
                *e
            }
        };
        let start = (prev_log_index - s.first_index()) as usize;
        if self.config.has(Bug::TruncateOnEveryAppend) && !entries.is_empty() {
            s.log.truncate(start);
            s.log.extend(entries.iter().map(stamp));
            return;
        }
        for (k, e) in entries.iter().map(stamp).enumerate() {
            let at = start + k;
            match s.log.get(at) {
                Some(existing) if existing.term == e.term => continue,
                Some(_) => {
                    s.log.truncate(at);
                    s.log.push(e);
                }
                None => s.log.push(e),
            }
        }
    }

    /// Figure 2, Leaders: if successful, update nextIndex and matchIndex for
    /// the follower; if it fails because of log inconsistency, decrement
    /// nextIndex (here: jump by the conflict hint).
    pub(super) fn handle_append_response(
        &self,
        state: &mut State,
        follower: ServerId,
        me: ServerId,
        r: &AppendEntriesResponse,
    ) {
        let s = &mut state.servers[me as usize];
        let stale = r.term < s.current_term && !self.config.has(Bug::AcceptStaleReply);
        if stale || s.role != Role::Leader {
            return;
        }
        let f = follower as usize;
        if r.success {
            self.acknowledged(state, me, follower, r.match_index);
            self.maybe_send_timeout_now(state, me, follower);
        } else if let Some(conflict) = r.conflict {
            // Fast backup (the 6.824 guide's XTerm/XIndex/XLen).
            let next = match conflict.term {
                None => conflict.log_len + 1,
                Some(t) => match last_index_of_term(s, t) {
                    Some(last_of_term) => last_of_term + 1,
                    None => conflict.first_index,
                },
            };
            // No lower bound at match_index + 1 (issue 14): a hint at or below
            // it means the follower lost entries it acknowledged (a restart
            // losing its tail), or the refusal is older than a success the
            // network delivered first; either way the leader stops counting
            // those entries and re-sends them. (A stale match_index of
            // accept-stale-reply, beyond the log, falls the same way.)
            s.next_index[f] = next.min(s.last_index() + 1).max(1);
            if next <= s.match_index[f] {
                s.match_index[f] = next.saturating_sub(1);
            }
        }
    }

    /// The follower holds the leader's entries up to `match_index`: raise
    /// matchIndex and nextIndex (never lower them), then try to commit.
    pub(super) fn acknowledged(
        &self,
        state: &mut State,
        me: ServerId,
        follower: ServerId,
        match_index: Index,
    ) {
        let s = &mut state.servers[me as usize];
        let f = follower as usize;
        s.match_index[f] = s.match_index[f].max(match_index);
        // The clamp only matters with a stale response (accept-stale-reply):
        // it may describe a longer log than the leader now holds.
        s.next_index[f] = s.next_index[f].max(match_index + 1).min(s.last_index() + 1);
        self.maybe_commit(state, me);
    }

    /// Figure 2, Leaders: if there exists an N > commitIndex such that a
    /// majority of matchIndex[i] >= N and log[N].term == currentTerm, set
    /// commitIndex = N.
    pub(super) fn maybe_commit(&self, state: &mut State, me: ServerId) {
        let s = &mut state.servers[me as usize];
        for n in (s.commit_index + 1..=s.last_index()).rev() {
            let Some(term) = s.term_at(n) else { continue };
            if term != s.current_term && !self.config.has(Bug::CommitPreviousTerm) {
                continue;
            }
            let replicas = 1 + self
                .peers(me)
                .filter(|&p| s.match_index[p as usize] >= n)
                .count();
            if replicas >= self.config.quorum() {
                s.commit_index = n;
                break;
            }
        }
    }
}

/// The part of `ae` above the follower's snapshot: (prev_log_index,
/// prev_log_term, entries) with the compacted prefix skipped. The entry at
/// the snapshot's last index then stands for prev_log_index.
fn above_snapshot<'a>(s: &Server, ae: &'a AppendEntries) -> (Index, Term, &'a [Entry]) {
    let first = s.first_index();
    if ae.prev_log_index >= first {
        return (ae.prev_log_index, ae.prev_log_term, &ae.entries);
    }
    let skip = ((first - ae.prev_log_index) as usize).min(ae.entries.len());
    let prev_log_index = ae.prev_log_index + skip as Index;
    let prev_log_term = match skip {
        0 => ae.prev_log_term,
        k => ae.entries[k - 1].term,
    };
    if prev_log_index < first {
        // All of it is compacted: it holds nothing new and nothing to check.
        return (first, s.snapshot.last_included_term, &[]);
    }
    (prev_log_index, prev_log_term, &ae.entries[skip..])
}

/// The conflict hint if the log does not contain an entry at
/// `prev_log_index` (at or above the snapshot) whose term is
/// `prev_log_term`; None if it does.
fn consistency_check(
    s: &Server,
    prev_log_index: Index,
    prev_log_term: Term,
) -> Option<ConflictHint> {
    let Some(t) = s.term_at(prev_log_index) else {
        return Some(ConflictHint {
            term: None,
            first_index: 0,
            log_len: s.last_index(),
        });
    };
    if t == prev_log_term {
        return None;
    }
    Some(ConflictHint {
        term: Some(t),
        first_index: first_index_of_term(s, t),
        log_len: s.last_index(),
    })
}

/// The first index of the log holding `t`; the snapshot's last index if
/// only that entry (compacted) does.
pub fn first_index_of_term(s: &Server, t: Term) -> Index {
    match s.log.iter().position(|e| e.term == t) {
        Some(k) => s.first_index() + k as Index + 1,
        None => s.first_index(),
    }
}

/// The last index of the log holding `t`, the snapshot's last entry
/// included; None if no such entry is known.
fn last_index_of_term(s: &Server, t: Term) -> Option<Index> {
    match s.log.iter().rposition(|e| e.term == t) {
        Some(k) => Some(s.first_index() + k as Index + 1),
        None => {
            (s.first_index() > 0 && s.snapshot.last_included_term == t).then(|| s.first_index())
        }
    }
}

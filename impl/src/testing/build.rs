//! Builders for entries and messages that read like the paper in a test:
//! `append(2).prev(1, 1).entries(entries_from(2, &[2])).commit(1)`.

use bytes::Bytes;

use crate::core::{
    AppendEntries, AppendEntriesResponse, ConflictHint, Envelope, Message, RequestVote,
    RequestVoteResponse, TimeoutNow,
};
use crate::storage::StoredState;
use crate::types::{Entry, HardState, Index, NodeId, Term};

/// One entry; its data is `data`.
pub fn entry(index: Index, term: Term, data: impl Into<Bytes>) -> Entry {
    Entry {
        term,
        index,
        data: data.into(),
    }
}

/// Entries with the given terms at indices `1..` (data `"index@term"`).
pub fn log_of(terms: &[Term]) -> Vec<Entry> {
    entries_from(1, terms)
}

/// Entries with the given terms at indices `first..` (data `"index@term"`).
pub fn entries_from(first: Index, terms: &[Term]) -> Vec<Entry> {
    terms
        .iter()
        .enumerate()
        .map(|(i, &term)| {
            let index = first + i as Index;
            entry(index, term, format!("{index}@{term}"))
        })
        .collect()
}

/// The terms of `entries`, in order: what a log "looks like" in Figure 7.
pub fn terms_of(entries: &[Entry]) -> Vec<Term> {
    entries.iter().map(|e| e.term).collect()
}

/// What a disk holds: `current_term`, `voted_for` and a log with the given terms from index 1.
/// (Built from `Default`, so fields added to `StoredState` later keep their defaults.)
#[allow(clippy::field_reassign_with_default)]
pub fn stored(current_term: Term, voted_for: Option<NodeId>, log_terms: &[Term]) -> StoredState {
    let mut state = StoredState::default();
    state.hard_state = HardState {
        current_term,
        voted_for,
        lost_up_to: 0,
        lost_term: 0,
    };
    state.entries = log_of(log_terms);
    state
}

/// Addresses `msg` from `from` to `to`.
pub fn env(from: NodeId, to: NodeId, msg: impl Into<Message>) -> Envelope {
    Envelope {
        from,
        to,
        msg: msg.into(),
    }
}

/// RequestVote of a candidate in `term` whose last entry is `last_log_index`/`last_log_term`.
pub fn vote(term: Term, last_log_index: Index, last_log_term: Term) -> Message {
    Message::RequestVote(RequestVote {
        term,
        last_log_index,
        last_log_term,
        transfer: false,
    })
}

/// A leadership transfer's RequestVote (thesis §3.10): as [`vote`], with `transfer` set.
pub fn transfer_vote(term: Term, last_log_index: Index, last_log_term: Term) -> Message {
    Message::RequestVote(RequestVote {
        term,
        last_log_index,
        last_log_term,
        transfer: true,
    })
}

/// TimeoutNow from the leader of `term` (thesis §3.10).
pub fn timeout_now(term: Term) -> Message {
    Message::TimeoutNow(TimeoutNow { term })
}

/// RequestVoteResponse granting the vote.
pub fn vote_granted(term: Term) -> Message {
    Message::RequestVoteResponse(RequestVoteResponse {
        term,
        vote_granted: true,
    })
}

/// RequestVoteResponse refusing the vote.
pub fn vote_refused(term: Term) -> Message {
    Message::RequestVoteResponse(RequestVoteResponse {
        term,
        vote_granted: false,
    })
}

/// Starts an AppendEntries of `term`: a heartbeat at prev_log_index 0 until refined.
pub fn append(term: Term) -> AppendBuilder {
    AppendBuilder(AppendEntries {
        term,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: Vec::new(),
        leader_commit: 0,
        read_round: 0,
    })
}

/// An AppendEntries under construction; converts into a [`Message`].
#[derive(Clone, Debug)]
pub struct AppendBuilder(pub AppendEntries);

impl AppendBuilder {
    /// Sets prev_log_index and prev_log_term (Figure 2, the consistency check).
    pub fn prev(mut self, prev_log_index: Index, prev_log_term: Term) -> Self {
        self.0.prev_log_index = prev_log_index;
        self.0.prev_log_term = prev_log_term;
        self
    }

    /// Sets the entries to store (empty for a heartbeat).
    pub fn entries(mut self, entries: Vec<Entry>) -> Self {
        self.0.entries = entries;
        self
    }

    /// Sets leader_commit.
    pub fn commit(mut self, leader_commit: Index) -> Self {
        self.0.leader_commit = leader_commit;
        self
    }

    /// Sets the ReadIndex round echoed by the response.
    pub fn read_round(mut self, read_round: u64) -> Self {
        self.0.read_round = read_round;
        self
    }

    /// The finished message.
    pub fn build(self) -> Message {
        Message::AppendEntries(self.0)
    }
}

impl From<AppendBuilder> for Message {
    fn from(b: AppendBuilder) -> Message {
        b.build()
    }
}

/// Successful AppendEntriesResponse: the follower now matches the leader up to `match_index`.
pub fn append_ok(term: Term, match_index: Index) -> Message {
    Message::AppendEntriesResponse(AppendEntriesResponse {
        term,
        success: true,
        match_index,
        conflict: None,
        read_round: 0,
    })
}

/// Refused AppendEntriesResponse, with the fast-backup hint if any.
pub fn append_refused(term: Term, conflict: Option<ConflictHint>) -> Message {
    Message::AppendEntriesResponse(AppendEntriesResponse {
        term,
        success: false,
        match_index: 0,
        conflict,
        read_round: 0,
    })
}

/// A fast-backup hint (`XTerm`, `XIndex`, `XLen`).
pub fn hint(term: Option<Term>, first_index: Index, log_len: Index) -> Option<ConflictHint> {
    Some(ConflictHint {
        term,
        first_index,
        log_len,
    })
}

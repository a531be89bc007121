//! Part 3 of the mapping: messages in both directions.
//!
//! A model entry `(term, v)` at index `i` is the core entry
//! `{term, index: i, data: [v]}`. A model snapshot's content (the committed
//! entries its state machine applied) is the core snapshot's `data`, two
//! bytes `[term, value]` per entry ([`snapshot_data`]). The model sends an
//! InstallSnapshot whole; the conformance core does too
//! (`max_snapshot_chunk` is unbounded), so a chunk is a [`MapError`].

use super::{node_id, payload, server_id, small, MapError};
use bytes::Bytes;
use raft_impl::core as raft_core;
use raft_impl::types::Entry as CoreEntry;
use raft_model::state::{self as model, Entry};

pub fn to_core_entry(index: u64, e: &Entry) -> CoreEntry {
    CoreEntry {
        term: e.term.into(),
        index,
        data: payload(e.value),
    }
}

pub fn to_model_entry(e: &CoreEntry) -> Result<Entry, MapError> {
    match e.data.as_ref() {
        [v] => Ok(Entry {
            term: small("entry term", e.term)?,
            value: *v,
        }),
        other => Err(MapError(format!(
            "entry {} carries {} bytes; model values are one byte",
            e.index,
            other.len()
        ))),
    }
}

/// The core snapshot data of a model snapshot's content.
pub fn snapshot_data(entries: &[Entry]) -> Bytes {
    entries.iter().flat_map(|e| [e.term, e.value]).collect()
}

/// The model snapshot content of core snapshot data.
pub fn snapshot_entries(data: &[u8]) -> Result<Vec<Entry>, MapError> {
    let pairs = data.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return Err(MapError(format!(
            "snapshot data of {} bytes; the model's content is two bytes per entry",
            data.len()
        )));
    }
    Ok(pairs
        .map(|c| Entry {
            term: c[0],
            value: c[1],
        })
        .collect())
}

fn to_core_hint(h: &model::ConflictHint) -> raft_core::ConflictHint {
    raft_core::ConflictHint {
        term: h.term.map(u64::from),
        first_index: h.first_index.into(),
        log_len: h.log_len.into(),
    }
}

fn to_model_hint(h: &raft_core::ConflictHint) -> Result<model::ConflictHint, MapError> {
    Ok(model::ConflictHint {
        term: h.term.map(|t| small("conflict term", t)).transpose()?,
        first_index: small("conflict first_index", h.first_index)?,
        log_len: small("conflict log_len", h.log_len)?,
    })
}

pub fn to_core_msg(env: &model::Envelope) -> Result<raft_core::Envelope, MapError> {
    use raft_core::Message as Core;
    let msg = match &env.msg {
        model::Message::RequestVote(m) => Core::RequestVote(raft_core::RequestVote {
            term: m.term.into(),
            last_log_index: m.last_log_index.into(),
            last_log_term: m.last_log_term.into(),
            transfer: m.transfer,
        }),
        model::Message::RequestVoteResponse(m) => {
            Core::RequestVoteResponse(raft_core::RequestVoteResponse {
                term: m.term.into(),
                vote_granted: m.vote_granted,
            })
        }
        model::Message::PreVote(m) => Core::PreVote(raft_core::RequestVote {
            term: m.term.into(),
            last_log_index: m.last_log_index.into(),
            last_log_term: m.last_log_term.into(),
            transfer: m.transfer,
        }),
        model::Message::TimeoutNow(m) => Core::TimeoutNow(raft_core::TimeoutNow {
            term: m.term.into(),
        }),
        model::Message::PreVoteResponse(m) => {
            Core::PreVoteResponse(raft_core::RequestVoteResponse {
                term: m.term.into(),
                vote_granted: m.vote_granted,
            })
        }
        model::Message::AppendEntries(m) => Core::AppendEntries(raft_core::AppendEntries {
            term: m.term.into(),
            prev_log_index: m.prev_log_index.into(),
            prev_log_term: m.prev_log_term.into(),
            entries: (u64::from(m.prev_log_index) + 1..)
                .zip(&m.entries)
                .map(|(index, e)| to_core_entry(index, e))
                .collect(),
            leader_commit: m.leader_commit.into(),
            // The model has no ReadIndex: a conformance-mode leader never starts a read round.
            read_round: 0,
        }),
        model::Message::AppendEntriesResponse(m) => {
            Core::AppendEntriesResponse(raft_core::AppendEntriesResponse {
                term: m.term.into(),
                success: m.success,
                match_index: m.match_index.into(),
                conflict: m.conflict.as_ref().map(to_core_hint),
                read_round: 0,
            })
        }
        model::Message::InstallSnapshot(m) => Core::InstallSnapshot(raft_core::InstallSnapshot {
            term: m.term.into(),
            last_included_index: m.last_included_index.into(),
            last_included_term: m.last_included_term.into(),
            offset: 0,
            data: snapshot_data(&m.entries),
            done: true,
        }),
        // The core's reply also names the snapshot and the bytes it holds;
        // the model's match_index is the snapshot's index when it is held (the
        // core's leader reads `received` only for a partial chunk, which the
        // model has not: 0 here).
        model::Message::InstallSnapshotResponse(m) => {
            Core::InstallSnapshotResponse(raft_core::InstallSnapshotResponse {
                term: m.term.into(),
                match_index: m.match_index.into(),
                last_included_index: m.match_index.into(),
                received: 0,
            })
        }
    };
    Ok(raft_core::Envelope {
        from: node_id(env.from),
        to: node_id(env.to),
        msg,
    })
}

pub fn to_model_msg(
    env: &raft_core::Envelope,
    servers: usize,
) -> Result<model::Envelope, MapError> {
    use model::Message as Model;
    let msg = match &env.msg {
        raft_core::Message::TimeoutNow(m) => Model::TimeoutNow(model::TimeoutNow {
            term: small("term", m.term)?,
        }),
        raft_core::Message::RequestVote(m) => Model::RequestVote(model::RequestVote {
            term: small("term", m.term)?,
            last_log_index: small("last_log_index", m.last_log_index)?,
            last_log_term: small("last_log_term", m.last_log_term)?,
            transfer: m.transfer,
        }),
        raft_core::Message::RequestVoteResponse(m) => {
            Model::RequestVoteResponse(model::RequestVoteResponse {
                term: small("term", m.term)?,
                vote_granted: m.vote_granted,
            })
        }
        raft_core::Message::PreVote(m) => Model::PreVote(model::RequestVote {
            term: small("term", m.term)?,
            last_log_index: small("last_log_index", m.last_log_index)?,
            last_log_term: small("last_log_term", m.last_log_term)?,
            transfer: m.transfer,
        }),
        raft_core::Message::PreVoteResponse(m) => {
            Model::PreVoteResponse(model::RequestVoteResponse {
                term: small("term", m.term)?,
                vote_granted: m.vote_granted,
            })
        }
        raft_core::Message::AppendEntries(m) => Model::AppendEntries(model::AppendEntries {
            term: small("term", m.term)?,
            prev_log_index: small("prev_log_index", m.prev_log_index)?,
            prev_log_term: small("prev_log_term", m.prev_log_term)?,
            entries: m
                .entries
                .iter()
                .map(to_model_entry)
                .collect::<Result<_, _>>()?,
            leader_commit: small("leader_commit", m.leader_commit)?,
        }),
        raft_core::Message::AppendEntriesResponse(m) => {
            Model::AppendEntriesResponse(model::AppendEntriesResponse {
                term: small("term", m.term)?,
                success: m.success,
                match_index: small("match_index", m.match_index)?,
                conflict: m.conflict.as_ref().map(to_model_hint).transpose()?,
            })
        }
        raft_core::Message::InstallSnapshot(m) => {
            if m.offset != 0 || !m.done {
                return Err(MapError(format!(
                    "an InstallSnapshot chunk (offset {}, done {}); the model sends snapshots whole",
                    m.offset, m.done
                )));
            }
            Model::InstallSnapshot(model::InstallSnapshot {
                term: small("term", m.term)?,
                last_included_index: small("last_included_index", m.last_included_index)?,
                last_included_term: small("last_included_term", m.last_included_term)?,
                entries: snapshot_entries(&m.data)?,
            })
        }
        raft_core::Message::InstallSnapshotResponse(m) => {
            if m.match_index == 0 && m.received > 0 {
                return Err(MapError(format!(
                    "an InstallSnapshotResponse acknowledging a chunk ({} bytes); the model sends snapshots whole",
                    m.received
                )));
            }
            Model::InstallSnapshotResponse(model::InstallSnapshotResponse {
                term: small("term", m.term)?,
                match_index: small("match_index", m.match_index)?,
            })
        }
    };
    Ok(model::Envelope {
        from: server_id(env.from, servers)?,
        to: server_id(env.to, servers)?,
        msg,
    })
}

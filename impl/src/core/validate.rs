//! Stateless well-formedness checks on incoming messages. A message failing
//! these is impossible from a correct peer; the node drops it before it can
//! touch any state (not even the term rule of §5.1).

use super::config::Config;
use super::error::InitError;
use super::error::InvalidMessage;
use super::message::{
    AppendEntries, AppendEntriesResponse, Envelope, InstallSnapshot, InstallSnapshotResponse,
    Message, RequestVote,
};
use crate::types::{Entry, HardState, Index, NodeId, Snapshot};

/// Checks addressing and every field that can be judged without node state.
pub(crate) fn validate(me: NodeId, peers: &[NodeId], env: &Envelope) -> Result<(), InvalidMessage> {
    if env.to != me {
        return Err(InvalidMessage::WrongRecipient { to: env.to });
    }
    if !peers.contains(&env.from) {
        return Err(InvalidMessage::UnknownSender { from: env.from });
    }
    // A PreVoteResponse carries the voter's current_term, 0 before the first election (§9.6).
    if env.msg.term() == 0 && !matches!(env.msg, Message::PreVoteResponse(_)) {
        return Err(InvalidMessage::ZeroTerm);
    }
    match &env.msg {
        Message::RequestVote(m) => validate_request_vote(m),
        Message::RequestVoteResponse(_) | Message::PreVoteResponse(_) => Ok(()),
        Message::PreVote(m) => validate_request_vote(m),
        Message::AppendEntries(m) => validate_append_entries(m),
        Message::AppendEntriesResponse(m) => validate_append_response(m),
        Message::InstallSnapshot(m) => validate_install_snapshot(m),
        Message::InstallSnapshotResponse(m) => validate_snapshot_response(m),
        // Only its term, checked above.
        Message::TimeoutNow(_) => Ok(()),
    }
}

fn validate_install_snapshot(m: &InstallSnapshot) -> Result<(), InvalidMessage> {
    if m.last_included_index == 0 {
        return Err(InvalidMessage::SnapshotIndexZero);
    }
    // The last included entry was created by a leader of a term up to the sender's.
    if m.last_included_term == 0 || m.last_included_term > m.term {
        return Err(InvalidMessage::SnapshotTermInvalid {
            last_included_term: m.last_included_term,
            term: m.term,
        });
    }
    let len = m.data.len();
    if u64::try_from(len)
        .ok()
        .and_then(|l| m.offset.checked_add(l))
        .is_none()
    {
        return Err(InvalidMessage::SnapshotOffsetOverflow {
            offset: m.offset,
            len,
        });
    }
    Ok(())
}

fn validate_snapshot_response(m: &InstallSnapshotResponse) -> Result<(), InvalidMessage> {
    if m.match_index != 0 && m.match_index != m.last_included_index {
        return Err(InvalidMessage::SnapshotMatchMismatch {
            match_index: m.match_index,
            last_included_index: m.last_included_index,
        });
    }
    Ok(())
}

fn validate_request_vote(m: &RequestVote) -> Result<(), InvalidMessage> {
    // A candidate's entries were all created in terms up to its own.
    if m.last_log_term > m.term {
        return Err(InvalidMessage::LastLogTermAboveTerm {
            last_log_term: m.last_log_term,
            term: m.term,
        });
    }
    // Index 0 (empty log) has term 0, and only index 0 does.
    if (m.last_log_index == 0) != (m.last_log_term == 0) {
        return Err(InvalidMessage::LastLogInconsistent {
            last_log_index: m.last_log_index,
            last_log_term: m.last_log_term,
        });
    }
    Ok(())
}

fn validate_append_entries(m: &AppendEntries) -> Result<(), InvalidMessage> {
    if m.prev_log_term > m.term {
        return Err(InvalidMessage::PrevLogTermAboveTerm {
            prev_log_term: m.prev_log_term,
            term: m.term,
        });
    }
    if (m.prev_log_index == 0) != (m.prev_log_term == 0) {
        return Err(InvalidMessage::PrevLogInconsistent {
            prev_log_index: m.prev_log_index,
            prev_log_term: m.prev_log_term,
        });
    }
    let len = m.entries.len();
    if Index::try_from(len)
        .ok()
        .and_then(|l| m.prev_log_index.checked_add(l))
        .is_none()
    {
        return Err(InvalidMessage::PrevLogIndexOverflow {
            prev_log_index: m.prev_log_index,
            len,
        });
    }
    let mut prev_term = m.prev_log_term;
    for (position, e) in m.entries.iter().enumerate() {
        let expected = m.prev_log_index + position as Index + 1;
        if e.index != expected {
            return Err(InvalidMessage::EntryIndexNotConsecutive {
                position,
                expected,
                found: e.index,
            });
        }
        // Log terms never decrease, and no entry has term 0 (its creator was
        // a leader of some term >= 1).
        if e.term < prev_term || e.term == 0 {
            return Err(InvalidMessage::EntryTermDecreases {
                position,
                found: e.term,
                prev: prev_term,
            });
        }
        if e.term > m.term {
            return Err(InvalidMessage::EntryTermAboveTerm {
                position,
                found: e.term,
                term: m.term,
            });
        }
        prev_term = e.term;
    }
    Ok(())
}

fn validate_append_response(m: &AppendEntriesResponse) -> Result<(), InvalidMessage> {
    if m.success {
        if m.conflict.is_some() {
            return Err(InvalidMessage::SuccessWithConflictHint);
        }
        return Ok(());
    }
    if m.match_index != 0 {
        return Err(InvalidMessage::FailureWithMatchIndex {
            match_index: m.match_index,
        });
    }
    if let Some(h) = m.conflict {
        match h.term {
            // The follower's entry at prev_log_index has a term in 1..=its current term.
            Some(t) if t == 0 || t > m.term => {
                return Err(InvalidMessage::HintTermInvalid {
                    hint_term: t,
                    term: m.term,
                });
            }
            Some(_) if h.first_index == 0 || h.first_index > h.log_len => {
                return Err(InvalidMessage::HintFirstIndexInvalid {
                    first_index: h.first_index,
                    log_len: h.log_len,
                });
            }
            None if h.first_index != 0 => {
                return Err(InvalidMessage::HintFirstIndexInvalid {
                    first_index: h.first_index,
                    log_len: h.log_len,
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Validates persisted state handed to [`RawNode::restore`](super::RawNode::restore):
/// the log follows the snapshot (if any) contiguously with non-decreasing
/// terms no greater than `current_term`.
pub(crate) fn check_persisted(
    cfg: &Config,
    hs: &HardState,
    snapshot: Option<&Snapshot>,
    entries: &[Entry],
) -> Result<(), InitError> {
    if let Some(v) = hs.voted_for {
        if v != cfg.id && !cfg.peers.contains(&v) {
            return Err(InitError::VotedForUnknown(v));
        }
    }
    let meta = snapshot.map(|s| s.meta).unwrap_or_default();
    if snapshot.is_some()
        && (meta.last_included_index == 0
            || meta.last_included_term == 0
            || meta.last_included_term > hs.current_term)
    {
        return Err(InitError::SnapshotMetaInvalid {
            last_included_index: meta.last_included_index,
            last_included_term: meta.last_included_term,
            current_term: hs.current_term,
        });
    }
    let mut prev = meta.last_included_term;
    for (position, e) in entries.iter().enumerate() {
        let expected = meta.last_included_index + position as Index + 1;
        if e.index != expected {
            return Err(InitError::NonContiguousLog {
                position,
                expected,
                found: e.index,
            });
        }
        if e.term == 0 {
            return Err(InitError::ZeroTermEntry { index: e.index });
        }
        if e.term < prev {
            return Err(InitError::TermDecreases {
                index: e.index,
                term: e.term,
                prev,
            });
        }
        if e.term > hs.current_term {
            return Err(InitError::EntryTermAboveCurrentTerm {
                index: e.index,
                term: e.term,
                current_term: hs.current_term,
            });
        }
        prev = e.term;
    }
    Ok(())
}

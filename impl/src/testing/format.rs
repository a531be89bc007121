//! One-line, stable text for messages and node state, used by golden scripts and test failures.

use std::fmt::Write;

use crate::core::{Envelope, Message, RawNode, Role};
use crate::types::Entry;

/// `index@term` for each entry, or `index@term:"data"` when `with_data`.
pub fn entries(entries: &[Entry], with_data: bool) -> String {
    let mut s = String::from("[");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{}@{}", e.index, e.term);
        if with_data {
            let _ = write!(s, ":{:?}", String::from_utf8_lossy(&e.data));
        }
    }
    s.push(']');
    s
}

/// `1->2 AppendEntries term=2 prev=1/1 entries=[2@2] commit=1`.
pub fn envelope(env: &Envelope) -> String {
    format!("{}->{} {}", env.from, env.to, message(&env.msg))
}

/// A message in the paper's field names; unknown kinds fall back to `Debug`.
#[allow(unreachable_patterns)] // the fallback keeps this compiling when the core adds a kind
pub fn message(msg: &Message) -> String {
    match msg {
        Message::RequestVote(m) => format!(
            "RequestVote term={} last={}/{}{}",
            m.term,
            m.last_log_index,
            m.last_log_term,
            if m.transfer { " transfer" } else { "" }
        ),
        Message::TimeoutNow(m) => format!("TimeoutNow term={}", m.term),
        Message::RequestVoteResponse(m) => format!(
            "RequestVoteResponse term={} granted={}",
            m.term, m.vote_granted
        ),
        Message::PreVote(m) => format!(
            "PreVote term={} last={}/{}",
            m.term, m.last_log_index, m.last_log_term
        ),
        Message::PreVoteResponse(m) => {
            format!("PreVoteResponse term={} granted={}", m.term, m.vote_granted)
        }
        Message::AppendEntries(m) => format!(
            "AppendEntries term={} prev={}/{} entries={} commit={}",
            m.term,
            m.prev_log_index,
            m.prev_log_term,
            entries(&m.entries, false),
            m.leader_commit
        ),
        Message::AppendEntriesResponse(m) if m.success => format!(
            "AppendEntriesResponse term={} success match={}",
            m.term, m.match_index
        ),
        Message::AppendEntriesResponse(m) => match m.conflict {
            Some(h) => format!(
                "AppendEntriesResponse term={} refused hint=(term={} first={} len={})",
                m.term,
                h.term.map_or("-".to_string(), |t| t.to_string()),
                h.first_index,
                h.log_len
            ),
            None => format!("AppendEntriesResponse term={} refused", m.term),
        },
        other => format!("{other:?}"),
    }
}

/// `1 Leader term=2 vote=1 commit=2 log=[1@1 2@2]`: a node's Figure 2 state.
pub fn node(n: &RawNode) -> String {
    let s = n.status();
    let role = match s.role {
        Role::Follower => "Follower",
        Role::Candidate => "Candidate",
        Role::Leader => "Leader",
        Role::PreCandidate => "PreCandidate",
    };
    let vote = s.voted_for.map_or("-".to_string(), |v| v.to_string());
    format!(
        "{} {role} term={} vote={vote} commit={} log={}",
        s.id,
        s.current_term,
        s.commit_index,
        entries(s.log, false)
    )
}

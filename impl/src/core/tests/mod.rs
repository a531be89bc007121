//! Tests of the core, named after the paper's sections and rules.
//!
//! - `paper`: one test per rule of Figure 2 / §5, in the conformance config.
//! - `replication`: log matching, fast backup, commit rules (§5.3, Figure 8).
//! - `ready`: the persist-before-send contract of `Ready`.
//! - `bad_input`: one test per malformed field.
//! - `production`: batching, pipelining, retry, and a lossy simulated cluster.
//! - `read_index`: ReadIndex reads and the leader no-op.
//! - `parallel_persist`: the leader's commit rule with parallel writes (`set_self_ack_on_persist`).
//! - `snapshot`: compaction and InstallSnapshot (§7, Figure 13).
//! - `proptests`: random (also malformed) messages never panic or break invariants.

mod bad_input;
mod paper;
mod parallel_persist;
mod production;
mod proptests;
mod read_index;
mod ready;
mod replication;
mod snapshot;

use std::collections::VecDeque;

use bytes::Bytes;

use super::*;
use crate::types::{Entry, HardState, Index, NodeId, Term};

/// Conformance config for node `id` of cluster `1..=n`.
pub(crate) fn cfg(id: NodeId, n: u64) -> Config {
    Config::conformance(id, (1..=n).filter(|&p| p != id))
}

pub(crate) fn node(id: NodeId, n: u64) -> RawNode {
    RawNode::new(cfg(id, n)).expect("valid config")
}

/// Entries with the given terms at indices `1..`.
pub(crate) fn log_of(terms: &[Term]) -> Vec<Entry> {
    entries_from(1, terms)
}

/// Entries with the given terms at indices `first..`.
pub(crate) fn entries_from(first: Index, terms: &[Term]) -> Vec<Entry> {
    terms
        .iter()
        .enumerate()
        .map(|(i, &term)| {
            let index = first + i as Index;
            Entry {
                term,
                index,
                data: Bytes::from(format!("{index}@{term}")),
            }
        })
        .collect()
}

/// Node `id` of a cluster `1..=n` restarted from a persisted state.
pub(crate) fn restored(
    id: NodeId,
    n: u64,
    term: Term,
    voted_for: Option<NodeId>,
    terms: &[Term],
) -> RawNode {
    RawNode::restore(
        cfg(id, n),
        HardState {
            current_term: term,
            voted_for,
        },
        log_of(terms),
    )
    .expect("valid state")
}

/// Drains the node's Ready (as a runtime would, persisting instantly) and returns its messages.
pub(crate) fn drain(n: &mut RawNode) -> Vec<Envelope> {
    let rd = n.ready();
    let msgs = rd.messages.clone();
    n.advance(rd);
    msgs
}

pub(crate) fn env(from: NodeId, to: NodeId, msg: Message) -> Envelope {
    Envelope { from, to, msg }
}

pub(crate) fn rv(term: Term, last_log_index: Index, last_log_term: Term) -> Message {
    Message::RequestVote(RequestVote {
        term,
        last_log_index,
        last_log_term,
    })
}

pub(crate) fn rvr(term: Term, vote_granted: bool) -> Message {
    Message::RequestVoteResponse(RequestVoteResponse { term, vote_granted })
}

pub(crate) fn ae(
    term: Term,
    prev_log_index: Index,
    prev_log_term: Term,
    entries: Vec<Entry>,
    leader_commit: Index,
) -> Message {
    Message::AppendEntries(AppendEntries {
        term,
        prev_log_index,
        prev_log_term,
        entries,
        leader_commit,
        read_round: 0,
    })
}

pub(crate) fn ok(term: Term, match_index: Index) -> Message {
    Message::AppendEntriesResponse(AppendEntriesResponse {
        term,
        success: true,
        match_index,
        conflict: None,
        read_round: 0,
    })
}

pub(crate) fn refused(term: Term, conflict: Option<ConflictHint>) -> Message {
    Message::AppendEntriesResponse(AppendEntriesResponse {
        term,
        success: false,
        match_index: 0,
        conflict,
        read_round: 0,
    })
}

pub(crate) fn hint(term: Option<Term>, first_index: Index, log_len: Index) -> Option<ConflictHint> {
    Some(ConflictHint {
        term,
        first_index,
        log_len,
    })
}

pub(crate) fn terms(n: &RawNode) -> Vec<Term> {
    n.status().log.iter().map(|e| e.term).collect()
}

/// Makes node 1 of a cluster `1..=n` leader of term 1 (empty logs) and
/// drains its messages.
pub(crate) fn leader(n: u64) -> RawNode {
    let mut l = node(1, n);
    assert!(l.election_timeout_now());
    drain(&mut l);
    for p in 2..=n {
        if l.role() == Role::Leader {
            break;
        }
        l.step(env(p, 1, rvr(1, true))).unwrap();
    }
    assert_eq!(l.role(), Role::Leader);
    drain(&mut l);
    l
}

/// A whole cluster in one process with an in-order network: every Ready is
/// "persisted" instantly, then its messages are queued. `drop` decides
/// whether a message is lost.
pub(crate) struct Cluster {
    pub nodes: Vec<RawNode>,
    pub net: VecDeque<Envelope>,
    pub applied: Vec<Vec<Entry>>,
}

impl Cluster {
    pub fn new(configs: Vec<Config>) -> Self {
        let n = configs.len();
        Cluster {
            nodes: configs
                .into_iter()
                .map(|c| RawNode::new(c).unwrap())
                .collect(),
            net: VecDeque::new(),
            applied: vec![Vec::new(); n],
        }
    }

    pub fn conformance(n: u64) -> Self {
        Self::new((1..=n).map(|i| cfg(i, n)).collect())
    }

    pub fn node(&mut self, id: NodeId) -> &mut RawNode {
        &mut self.nodes[(id - 1) as usize]
    }

    /// Collects every node's Ready.
    pub fn flush(&mut self) {
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if n.has_ready() {
                let rd = n.ready();
                self.net.extend(rd.messages.iter().cloned());
                self.applied[i].extend(rd.committed_entries.iter().cloned());
                n.advance(rd);
            }
        }
    }

    /// Delivers messages until the network is empty; `drop(k, msg)` loses the k-th delivery.
    pub fn run(&mut self, mut drop: impl FnMut(usize, &Envelope) -> bool) {
        self.flush();
        let mut k = 0;
        while let Some(m) = self.net.pop_front() {
            k += 1;
            if !drop(k, &m) {
                let to = m.to;
                self.node(to).step(m).expect("well-formed traffic");
            }
            self.flush();
            assert!(k < 1_000_000, "no quiescence");
        }
    }

    pub fn settle(&mut self) {
        self.run(|_, _| false)
    }

    /// State Machine Safety: applied sequences are prefixes of one another.
    pub fn assert_applied_agree(&self) {
        let longest = self.applied.iter().max_by_key(|a| a.len()).unwrap();
        for a in &self.applied {
            assert_eq!(&longest[..a.len()], &a[..], "applied logs diverge");
        }
    }
}

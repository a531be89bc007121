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
//! - `recovery`: protocol-aware recovery of a node that lost acknowledged entries.
//! - `prevote`: pre-vote (thesis §9.6).
//! - `checkquorum`: check-quorum and leader stickiness (thesis §6.2, §4.2.3).
//! - `transfer`: leadership transfer (thesis §3.10).
//! - `proptests`: random (also malformed) messages never panic or break invariants.

mod bad_input;
mod checkquorum;
mod paper;
mod parallel_persist;
mod prevote;
mod production;
mod proptests;
mod read_index;
mod ready;
mod recovery;
mod replication;
mod snapshot;
mod transfer;

use std::collections::VecDeque;

use super::*;
use crate::types::{Entry, HardState, Index, NodeId, Term};
pub(crate) use bytes::Bytes;

/// Conformance config for node `id` of cluster `1..=n`.
pub(crate) fn cfg(id: NodeId, n: u64) -> Config {
    Config::conformance(id, (1..=n).filter(|&p| p != id))
}

pub(crate) fn node(id: NodeId, n: u64) -> RawNode {
    RawNode::new(cfg(id, n)).expect("valid config")
}

// The message and entry builders are the `testing` feature's (one set for
// the crate's own tests and its users'); the short names below read as the
// rules do in these tests.
pub(crate) use crate::testing::{entries_from, env, hint, log_of};

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
            lost_up_to: 0,
            lost_term: 0,
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

pub(crate) fn rv(term: Term, last_log_index: Index, last_log_term: Term) -> Message {
    crate::testing::vote(term, last_log_index, last_log_term)
}

pub(crate) fn rvr(term: Term, vote_granted: bool) -> Message {
    match vote_granted {
        true => crate::testing::vote_granted(term),
        false => crate::testing::vote_refused(term),
    }
}

pub(crate) fn ae(
    term: Term,
    prev_log_index: Index,
    prev_log_term: Term,
    entries: Vec<Entry>,
    leader_commit: Index,
) -> Message {
    crate::testing::append(term)
        .prev(prev_log_index, prev_log_term)
        .entries(entries)
        .commit(leader_commit)
        .build()
}

pub(crate) use crate::testing::append_ok as ok;
pub(crate) use crate::testing::append_refused as refused;

pub(crate) fn terms(n: &RawNode) -> Vec<Term> {
    n.status().log.iter().map(|e| e.term).collect()
}

/// Makes node 1 of a cluster `1..=n` leader of term 1 (empty logs) and
/// drains its messages.
pub(crate) fn leader(n: u64) -> RawNode {
    leader_with(cfg(1, n))
}

/// [`leader`] for a node built from `config` (node 1 of peers `2..=n`).
pub(crate) fn leader_with(config: Config) -> RawNode {
    let n = config.cluster_size() as u64;
    let mut l = RawNode::new(config).expect("valid config");
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

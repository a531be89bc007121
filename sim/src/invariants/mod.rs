//! Raft's safety properties (Figure 3), checked on the live cluster after every event.
//!
//! Written from the paper, independently of the core: the checker only sees what a node
//! exposes (its log as described by its Readies, its term, role and commit index, and the
//! entries its runtime applies), never the core's internals.
//!
//! Logs are kept as *hash chains*: `chain[i]` hashes the whole prefix `1..=i`, so "the logs
//! are identical up through index i" is one comparison. That keeps the checks incremental:
//! after an event only the part of a log that changed is compared against the others.
//!
//! Compaction (§7) does not shorten the checker's copy: a node's shadow log always starts at
//! index 1. Where a node's log was replaced by a leader's snapshot (or restarted from one), the
//! shadow's prefix up to `last_included_index` is the global applied record's, after the
//! snapshot's content was checked to be exactly that record (`snapshot.rs`).

use std::collections::HashMap;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use raft_impl::core::Role;
use raft_impl::types::{Entry, Index, NodeId, Term};

mod snapshot;

/// The property a [`Finding`] breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Invariant {
    /// At most one leader can be elected in a given term (§5.2).
    ElectionSafety,
    /// If two logs contain an entry with the same index and term, the logs are identical in
    /// all entries up through that index (§5.3).
    LogMatching,
    /// An entry committed in term T is in the log of every leader of every term after T (§5.4).
    /// Checked for every entry anyone ever applied.
    LeaderCompleteness,
    /// No two servers ever apply different commands at the same index (§5.4.3).
    StateMachineSafety,
    /// A runtime applies committed entries in index order, each exactly once per incarnation.
    ApplyOrder,
    /// A snapshot holds exactly the state machine of the committed prefix it claims
    /// (`last_included_index`, `last_included_term`), and no node's `commit_index` is below
    /// its own snapshot (§7).
    SnapshotSafety,
    /// The core broke its contract with the runtime (a Ready that does not describe the log,
    /// a write storage refuses, a message from a correct peer refused as malformed).
    RuntimeContract,
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Invariant::ElectionSafety => "Election Safety",
            Invariant::LogMatching => "Log Matching",
            Invariant::LeaderCompleteness => "Leader Completeness",
            Invariant::StateMachineSafety => "State Machine Safety",
            Invariant::ApplyOrder => "apply order (in order, exactly once)",
            Invariant::SnapshotSafety => "Snapshot Safety (a snapshot is the committed prefix)",
            Invariant::RuntimeContract => "runtime contract",
        };
        f.write_str(s)
    }
}

/// A broken property: which, where, and the evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub invariant: Invariant,
    pub nodes: Vec<NodeId>,
    pub index: Option<Index>,
    pub detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} violated (nodes {:?}", self.invariant, self.nodes)?;
        if let Some(i) = self.index {
            write!(f, ", index {i}")?;
        }
        write!(f, "): {}", self.detail)
    }
}

/// One node's log as the checker knows it.
#[derive(Clone, Debug, Default)]
struct ShadowLog {
    terms: Vec<Term>,
    chain: Vec<u64>,
}

impl ShadowLog {
    fn truncate(&mut self, from: Index) {
        let keep = from.saturating_sub(1) as usize;
        self.terms.truncate(keep);
        self.chain.truncate(keep);
    }

    fn append(&mut self, e: &Entry) {
        let prev = self.chain.last().copied().unwrap_or(0);
        self.terms.push(e.term);
        self.chain.push(chain_hash(prev, e.term, &e.data));
    }

    fn len(&self) -> Index {
        self.terms.len() as Index
    }
}

fn chain_hash(prev: u64, term: Term, data: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    (prev, term, data).hash(&mut h);
    h.finish()
}

/// First index at which two chains differ (chains are prefix hashes, so equality is monotone).
fn first_difference(a: &[u64], b: &[u64]) -> Index {
    // Invariant: a[..lo] == b[..lo]; the answer is in lo..=hi.
    let (mut lo, mut hi) = (0usize, a.len().min(b.len()));
    while lo < hi {
        let mid = (lo + hi) / 2;
        if a[mid] == b[mid] {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo as Index + 1
}

/// The log of a leader as of its election (a leader only appends during its term, and the
/// entries it appends are of its own term, so this is the part Leader Completeness is about).
#[derive(Clone, Debug)]
struct LeaderRecord {
    term: Term,
    node: NodeId,
    chain: Vec<u64>,
}

/// One command in the global applied record.
#[derive(Clone, Debug)]
struct Applied {
    term: Term,
    data: Bytes,
    by: NodeId,
}

/// The checker. Positions (0-based) identify nodes; `ids` maps them to node ids for reports.
#[derive(Clone, Debug)]
pub struct Checker {
    ids: Vec<NodeId>,
    logs: Vec<ShadowLog>,
    up: Vec<bool>,
    /// Per node: lowest log index changed since the last [`Checker::finish_event`].
    dirty_from: Vec<Option<Index>>,
    /// Per node: entries applied in its current incarnation.
    applied_count: Vec<Index>,
    leader_of_term: HashMap<Term, NodeId>,
    leaders: Vec<LeaderRecord>,
    /// `commit_term[i - 1]`: the term of the node that first reported index `i` committed.
    /// Commit happened in that term or earlier, so it is a safe bound for Leader Completeness.
    commit_term: Vec<Term>,
    applied: Vec<Applied>,
    applied_chain: Vec<u64>,
    finding: Option<Finding>,
}

impl Checker {
    pub fn new(ids: Vec<NodeId>) -> Self {
        let n = ids.len();
        Checker {
            ids,
            logs: vec![ShadowLog::default(); n],
            up: vec![true; n],
            dirty_from: vec![None; n],
            applied_count: vec![0; n],
            leader_of_term: HashMap::new(),
            leaders: Vec::new(),
            commit_term: Vec::new(),
            applied: Vec::new(),
            applied_chain: Vec::new(),
            finding: None,
        }
    }

    /// The first violation found, if any (checking stops being meaningful after it).
    pub fn finding(&self) -> Option<&Finding> {
        self.finding.as_ref()
    }

    fn fail(
        &mut self,
        invariant: Invariant,
        nodes: Vec<NodeId>,
        index: Option<Index>,
        detail: String,
    ) {
        if self.finding.is_none() {
            self.finding = Some(Finding {
                invariant,
                nodes,
                index,
                detail,
            });
        }
    }

    /// Reports a contract breach found by the runtime.
    pub fn runtime_contract(&mut self, pos: usize, detail: String) {
        self.fail(
            Invariant::RuntimeContract,
            vec![self.ids[pos]],
            None,
            detail,
        );
    }

    fn mark_dirty(&mut self, pos: usize, from: Index) {
        let d = &mut self.dirty_from[pos];
        *d = Some(d.map_or(from, |x| x.min(from)));
    }

    /// The node's log lost every entry at or above `from` (§5.3 truncation).
    pub fn log_truncate(&mut self, pos: usize, from: Index) {
        self.logs[pos].truncate(from);
        self.mark_dirty(pos, from);
    }

    /// The node's log gained `entries` (contiguous; may overwrite a suffix).
    pub fn log_append(&mut self, pos: usize, entries: &[Entry]) {
        let Some(first) = entries.first() else { return };
        if first.index > self.logs[pos].len() + 1 {
            let detail = format!(
                "append at {} leaves a gap after last index {}",
                first.index,
                self.logs[pos].len()
            );
            return self.runtime_contract(pos, detail);
        }
        self.logs[pos].truncate(first.index);
        for e in entries {
            self.logs[pos].append(e);
        }
        self.mark_dirty(pos, first.index);
    }

    /// Index and term of the node's last entry, as the checker knows it.
    pub fn last_of(&self, pos: usize) -> (Index, Term) {
        let l = &self.logs[pos];
        (l.len(), l.terms.last().copied().unwrap_or(0))
    }

    /// The node crashed: it has no live log or state machine until it restarts.
    pub fn node_down(&mut self, pos: usize) {
        self.up[pos] = false;
        self.logs[pos] = ShadowLog::default();
        self.dirty_from[pos] = None;
        self.applied_count[pos] = 0;
    }

    /// The node restarted with `entries` (its durable log, nothing compacted).
    pub fn node_up(&mut self, pos: usize, entries: &[Entry]) {
        self.node_up_from(pos, None, entries);
    }

    /// The node's volatile state after an event: Election Safety, leader registration for
    /// Leader Completeness, and the commit record.
    pub fn observe(&mut self, pos: usize, term: Term, role: Role, commit_index: Index) {
        let id = self.ids[pos];
        if role == Role::Leader {
            match self.leader_of_term.get(&term) {
                Some(&other) if other != id => {
                    let detail = format!("nodes {other} and {id} were both leader in term {term}");
                    self.fail(Invariant::ElectionSafety, vec![other, id], None, detail);
                }
                Some(_) => {}
                None => {
                    self.leader_of_term.insert(term, id);
                    self.register_leader(pos, term);
                }
            }
        }
        while (self.commit_term.len() as Index) < commit_index {
            self.commit_term.push(term);
        }
    }

    fn register_leader(&mut self, pos: usize, term: Term) {
        let record = LeaderRecord {
            term,
            node: self.ids[pos],
            chain: self.logs[pos].chain.clone(),
        };
        // Every applied entry committed before `term` must be in this log. Committed entries
        // form a prefix, so the highest such index covers all the lower ones.
        let k = (1..=self.applied.len() as Index)
            .rev()
            .find(|&i| self.commit_term[(i - 1) as usize] < term);
        if let Some(k) = k {
            self.check_leader_has(&record, k);
        }
        self.leaders.push(record);
    }

    /// Leader Completeness for one leader and the applied prefix `1..=k`.
    fn check_leader_has(&mut self, leader: &LeaderRecord, k: Index) {
        let i = (k - 1) as usize;
        if leader.chain.get(i) == Some(&self.applied_chain[i]) {
            return;
        }
        let bad = first_difference(&leader.chain, &self.applied_chain[..=i]);
        let a = &self.applied[(bad - 1) as usize];
        let detail = format!(
            "leader {} of term {} was elected with {} entries and lacks applied entry {bad} \
             (term {}, applied first by node {}, committed by term {})",
            leader.node,
            leader.term,
            leader.chain.len(),
            a.term,
            a.by,
            self.commit_term[(bad - 1) as usize],
        );
        self.fail(
            Invariant::LeaderCompleteness,
            vec![leader.node, a.by],
            Some(bad),
            detail,
        );
    }

    /// The node's runtime applied `entry`.
    pub fn applied(&mut self, pos: usize, entry: &Entry) {
        let id = self.ids[pos];
        let expected = self.applied_count[pos] + 1;
        if entry.index != expected {
            let detail = format!("applied index {} but expected {expected}", entry.index);
            return self.fail(Invariant::ApplyOrder, vec![id], Some(entry.index), detail);
        }
        self.applied_count[pos] = expected;
        let i = (entry.index - 1) as usize;
        if let Some(prev) = self.applied.get(i) {
            if prev.term != entry.term || prev.data != entry.data {
                let detail = format!(
                    "node {} applied (term {}, {} bytes {:?}) but node {} applied (term {}, {} bytes {:?})",
                    prev.by,
                    prev.term,
                    prev.data.len(),
                    short(&prev.data),
                    id,
                    entry.term,
                    entry.data.len(),
                    short(&entry.data),
                );
                self.fail(
                    Invariant::StateMachineSafety,
                    vec![prev.by, id],
                    Some(entry.index),
                    detail,
                );
            }
            return;
        }
        let prev_chain = self.applied_chain.last().copied().unwrap_or(0);
        self.applied.push(Applied {
            term: entry.term,
            data: entry.data.clone(),
            by: id,
        });
        self.applied_chain
            .push(chain_hash(prev_chain, entry.term, &entry.data));
        // Leaders of later terms than the commit must all have it (including past leaders).
        let commit_term = self.commit_term.get(i).copied().unwrap_or(entry.term);
        let later: Vec<LeaderRecord> = self
            .leaders
            .iter()
            .filter(|l| l.term > commit_term)
            .cloned()
            .collect();
        for l in &later {
            self.check_leader_has(l, entry.index);
        }
    }

    /// Log Matching for every log changed since the last call, against every live log.
    /// Returns the first violation found so far.
    pub fn finish_event(&mut self) -> Option<&Finding> {
        for a in 0..self.logs.len() {
            let Some(from) = self.dirty_from[a].take() else {
                continue;
            };
            if !self.up[a] {
                continue;
            }
            for b in 0..self.logs.len() {
                if b != a && self.up[b] {
                    self.check_pair(a, b, from);
                }
            }
            self.check_against_record(a, from);
        }
        self.finding.as_ref()
    }

    fn check_pair(&mut self, a: usize, b: usize, from: Index) {
        let (la, lb) = (&self.logs[a], &self.logs[b]);
        let hi = la.len().min(lb.len());
        for i in from.max(1)..=hi {
            let k = (i - 1) as usize;
            if la.terms[k] == lb.terms[k] && la.chain[k] != lb.chain[k] {
                let bad = first_difference(&la.chain[..=k], &lb.chain[..=k]);
                let detail = format!(
                    "both hold term {} at index {i} but differ at index {bad} (terms {} vs {})",
                    la.terms[k],
                    la.terms[(bad - 1) as usize],
                    lb.terms[(bad - 1) as usize],
                );
                let nodes = vec![self.ids[a], self.ids[b]];
                return self.fail(Invariant::LogMatching, nodes, Some(i), detail);
            }
        }
    }

    /// Number of entries in the global applied record.
    pub fn applied_len(&self) -> Index {
        self.applied.len() as Index
    }
}

fn short(data: &[u8]) -> String {
    let s = String::from_utf8_lossy(&data[..data.len().min(16)]).into_owned();
    if data.len() > 16 {
        format!("{s}...")
    } else {
        s
    }
}

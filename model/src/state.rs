//! The model's state: Figure 2's per-server state, the network, and the
//! history variables the Figure 3 properties need.
//!
//! Everything is a small integer. Indices are 1-based as in the paper:
//! `log[0]` holds index 1, and index 0 (the empty prefix) has term 0.

pub use crate::message::*;
use serde::{Deserialize, Serialize};

/// A server's identity: `0..servers`.
pub type ServerId = u8;
pub type Term = u8;
pub type Index = u8;
/// A client command. Values are `1..=values`.
pub type Value = u8;

/// One log entry. Entries are compared by (term, value) everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entry {
    pub term: Term,
    pub value: Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
    /// Pre-vote (thesis §9.6): asking whether it would win, in its follower's term.
    PreCandidate,
}

/// Figure 13: the compacted prefix of a server's log. `entries` is the
/// state machine's content, abstracted as the committed entries it applied
/// (so State Machine Safety can compare what servers applied); the protocol
/// reads only `last_included_index` and `last_included_term`, and ships
/// `entries` as opaque data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Snapshot {
    pub last_included_index: Index,
    pub last_included_term: Term,
    pub entries: Vec<Entry>,
}

/// Figure 2 state of one server.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Server {
    // Persistent state (survives a restart).
    pub current_term: Term,
    pub voted_for: Option<ServerId>,
    /// The entries after the snapshot: `log[0]` has index
    /// `snapshot.last_included_index + 1`.
    pub log: Vec<Entry>,
    pub snapshot: Snapshot,
    /// Entries up to here may have been acknowledged and lost; while
    /// non-zero the server is recovering (0: not recovering).
    #[serde(default)]
    pub lost_up_to: Index,
    /// The current_term when the entries were lost (0 when not recovering):
    /// every acknowledgement the server may have lost was sent in a term up
    /// to this one.
    #[serde(default)]
    pub lost_term: Term,
    // Volatile state.
    pub role: Role,
    /// Pre-vote only (false otherwise): a follower that heard from a leader of its
    /// current_term since its election timer last fired. The model has no clock: this is
    /// §9.6's "heard from a leader within the election timeout".
    #[serde(default, skip_serializing_if = "is_false")]
    pub heard_from_leader: bool,
    /// Check-quorum only (0 otherwise): a leader's bit per peer it heard from in its term
    /// since it became leader or last ran `CheckQuorum` (thesis §6.2); never its own bit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub heard_from: u8,
    /// Leadership transfer only (None otherwise): the server a leader is handing its
    /// leadership to (thesis §3.10); it takes no proposals meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_transferee: Option<ServerId>,
    pub commit_index: Index,
    /// Candidate and pre-candidate only: a bit per server that granted its (pre-)vote.
    pub votes_granted: u8,
    /// Leader only (empty otherwise): indexed by server id.
    pub next_index: Vec<Index>,
    /// Leader only (empty otherwise): indexed by server id; the leader's own
    /// slot is unused (it always matches its own last index).
    pub match_index: Vec<Index>,
}

impl Server {
    pub fn new() -> Self {
        Server {
            current_term: 0,
            voted_for: None,
            log: Vec::new(),
            snapshot: Snapshot::default(),
            lost_up_to: 0,
            lost_term: 0,
            role: Role::Follower,
            heard_from_leader: false,
            heard_from: 0,
            lead_transferee: None,
            commit_index: 0,
            votes_granted: 0,
            next_index: Vec::new(),
            match_index: Vec::new(),
        }
    }

    /// The snapshot's last index: entries up to it are compacted.
    pub fn first_index(&self) -> Index {
        self.snapshot.last_included_index
    }

    /// Recovering: it may have lost entries it acknowledged.
    pub fn recovering(&self) -> bool {
        self.lost_up_to != 0
    }

    pub fn last_index(&self) -> Index {
        self.first_index() + self.log.len() as Index
    }

    /// The term of the entry at `index` as the protocol knows it: 0 for
    /// index 0, `last_included_term` at the snapshot's last index, None for
    /// a compacted index or one beyond the log.
    pub fn term_at(&self, index: Index) -> Option<Term> {
        let first = self.first_index();
        match index {
            0 => Some(0),
            i if i == first => Some(self.snapshot.last_included_term),
            i if i < first => None,
            i => self.log.get((i - first - 1) as usize).map(|e| e.term),
        }
    }

    pub fn last_term(&self) -> Term {
        self.term_at(self.last_index()).unwrap_or(0)
    }

    /// §5.4.1: a log ending at (`last_log_term`, `last_log_index`) is at least
    /// as up-to-date as this server's: a later last term, or the same and as long.
    pub fn candidate_up_to_date(&self, last_log_term: Term, last_log_index: Index) -> bool {
        last_log_term > self.last_term()
            || (last_log_term == self.last_term() && last_log_index >= self.last_index())
    }

    /// The position in `log` of index `index` (which must be above the snapshot).
    pub fn position(&self, index: Index) -> usize {
        (index - self.first_index() - 1) as usize
    }

    /// The entry at `index` of the logical log (snapshot content, then the
    /// log): what the properties read. None for index 0 or beyond the log.
    pub fn entry(&self, index: Index) -> Option<Entry> {
        let first = self.first_index();
        match index {
            0 => None,
            i if i <= first => self.snapshot.entries.get(i as usize - 1).copied(),
            i => self.log.get((i - first - 1) as usize).copied(),
        }
    }

    /// The logical log's entries in order (no allocation).
    pub fn logical_entries(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.snapshot.entries.iter().chain(&self.log)
    }

    /// The number of entries the state machine applied: the snapshot's,
    /// then the log's committed ones.
    pub fn applied_len(&self) -> usize {
        let committed = self.commit_index.saturating_sub(self.first_index()) as usize;
        self.snapshot.entries.len() + committed.min(self.log.len())
    }

    /// The `k`-th applied entry (0-based), for `k < applied_len()`.
    pub fn applied_at(&self, k: usize) -> Entry {
        let content = &self.snapshot.entries;
        if k < content.len() {
            content[k]
        } else {
            self.log[k - content.len()]
        }
    }

    /// The logical log: the snapshot's entries, then the log.
    pub fn logical_log(&self) -> std::borrow::Cow<'_, [Entry]> {
        if self.snapshot.entries.is_empty() {
            std::borrow::Cow::Borrowed(&self.log)
        } else {
            std::borrow::Cow::Owned([&self.snapshot.entries[..], &self.log].concat())
        }
    }

    /// The state machine's applied sequence: the snapshot's entries, then
    /// the log's committed entries.
    pub fn applied(&self) -> Vec<Entry> {
        (0..self.applied_len())
            .map(|k| self.applied_at(k))
            .collect()
    }
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

/// An entry some server committed (and so applied), with the lowest term in
/// which any server committed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Commit {
    pub index: Index,
    pub entry: Entry,
    pub term: Term,
}

/// Budgets spent so far: faults, and compactions.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Faults {
    pub restarts: u8,
    pub drops: u8,
    pub duplicates: u8,
    /// Compactions taken (not a fault, but a budget like them).
    #[serde(default)]
    pub snapshots: u8,
    /// Restarts that lost the log's last entry (`RestartLosingTail`); not
    /// written when 0, so traces without the fault read as before.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lost_tails: u8,
}

/// For `skip_serializing_if`: a field that is 0 is not written.
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

pub(crate) fn is_zero(n: &u8) -> bool {
    *n == 0
}

pub(crate) fn is_zero16(n: &u16) -> bool {
    *n == 0
}

/// History variables: facts about the past that the properties need and
/// that the protocol state alone cannot show. Only `history::observe`
/// writes them, from the states before and after each step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct History {
    /// `leaders[t]` has a bit per server ever elected leader in term `t`.
    pub leaders: Vec<u8>,
    /// Every (index, entry) any server ever committed, sorted.
    pub commits: Vec<Commit>,
    /// Set when a leader's log changed other than by appending.
    pub leader_log_rewritten: bool,
    /// Per server: a bit per candidate it granted a vote to in its
    /// `current_term`, kept across restarts and bugs; cleared when the term
    /// grows, since no vote can be cast in an older term.
    pub votes_cast: Vec<u8>,
    /// A bit per transition property (`properties::transitions`) some step broke.
    pub broken: u32,
    /// A bit per term in which a TimeoutNow started an election (thesis §3.10).
    #[serde(default, skip_serializing_if = "is_zero16")]
    pub transfer_terms: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct State {
    pub servers: Vec<Server>,
    /// The bag of in-flight messages, kept sorted (a multiset: duplicates repeat).
    pub network: Vec<Envelope>,
    pub faults: Faults,
    pub history: History,
}

impl State {
    pub fn initial(servers: usize, max_term: Term) -> Self {
        State {
            servers: vec![Server::new(); servers],
            network: Vec::new(),
            faults: Faults::default(),
            history: History {
                leaders: vec![0; max_term as usize + 1],
                votes_cast: vec![0; servers],
                ..History::default()
            },
        }
    }

    pub fn send(&mut self, msg: Envelope) {
        let at = self.network.partition_point(|m| m < &msg);
        self.network.insert(at, msg);
    }

    /// Removes one copy of `msg`; false if none is in flight.
    pub fn take(&mut self, msg: &Envelope) -> bool {
        match self.network.binary_search(msg) {
            Ok(at) => {
                self.network.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// Distinct messages in flight, in order.
    pub fn distinct_messages(&self) -> impl Iterator<Item = &Envelope> {
        self.network
            .iter()
            .enumerate()
            .filter(|(i, m)| *i == 0 || self.network[i - 1] != **m)
            .map(|(_, m)| m)
    }
}

/// One atomic event of a node or the network: the model's actions.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// The network delivers one copy of the message to `msg.to`.
    Deliver(Envelope),
    /// Election timeout at a follower or candidate.
    ElectionTimeout(ServerId),
    /// Heartbeat/replicate tick at a leader: AppendEntries to every peer.
    Heartbeat(ServerId),
    /// A client proposes a value at a leader.
    Propose(ServerId, Value),
    /// The server crashes and restarts: volatile state is lost.
    Restart(ServerId),
    /// A restart whose storage lost the log's last entry (which the server
    /// may have acknowledged) and detected the loss.
    RestartLosingTail(ServerId),
    /// The network loses one copy of the message.
    Drop(Envelope),
    /// The network duplicates the message.
    Duplicate(Envelope),
    /// Figure 13 / §7: the server's state machine takes a snapshot of what
    /// it applied and the server compacts its log up to commit_index.
    Snapshot(ServerId),
    /// Check-quorum (thesis §6.2): the leader's election timeout's worth of time has
    /// passed; without a majority heard from it steps down. `--check-quorum` only.
    CheckQuorum(ServerId),
    /// Leadership transfer (thesis §3.10): an operator asks the leader (first) to hand
    /// its leadership to the second server. `--transfer` only.
    TransferLeadership(ServerId, ServerId),
    /// The leader gives up its transfer (an election timeout passed). `--transfer` only.
    AbortTransfer(ServerId),
}

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
}

/// Figure 2 state of one server.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Server {
    // Persistent state (survives a restart).
    pub current_term: Term,
    pub voted_for: Option<ServerId>,
    pub log: Vec<Entry>,
    // Volatile state.
    pub role: Role,
    pub commit_index: Index,
    /// Candidate only: a bit per server that granted its vote.
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
            role: Role::Follower,
            commit_index: 0,
            votes_granted: 0,
            next_index: Vec::new(),
            match_index: Vec::new(),
        }
    }

    pub fn last_index(&self) -> Index {
        self.log.len() as Index
    }

    /// Term of the entry at `index`, 0 for index 0.
    pub fn term_at(&self, index: Index) -> Term {
        if index == 0 {
            0
        } else {
            self.log[index as usize - 1].term
        }
    }

    pub fn last_term(&self) -> Term {
        self.term_at(self.last_index())
    }

    pub fn entry(&self, index: Index) -> Option<Entry> {
        (index >= 1)
            .then(|| self.log.get(index as usize - 1).copied())
            .flatten()
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

/// Fault budget spent so far.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Faults {
    pub restarts: u8,
    pub drops: u8,
    pub duplicates: u8,
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
    /// The network loses one copy of the message.
    Drop(Envelope),
    /// The network duplicates the message.
    Duplicate(Envelope),
}

//! Gets served by ReadIndex instead of the log (`ReadMode::ReadIndex`).
//!
//! A Get asks the leader's core for a read index (`Proposer::read_index`) under a fresh
//! context number and waits here in two stages: until the core confirms leadership and reports
//! `(ctx, index)`, then until the state machine has applied `index`. It is then answered from
//! the state machine. No log entry, no session entry: a Get changes nothing, so executing it
//! twice is harmless and needs no deduplication.

use std::collections::{BTreeMap, HashMap};

use raft_impl::types::{Index, Term};
use serde::{Deserialize, Serialize};

/// How a server executes Get.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReadMode {
    /// Through the log like a write: one entry per Get.
    #[default]
    Log,
    /// ReadIndex: one heartbeat round confirms leadership, then the Get is answered once the
    /// state machine has applied the read index.
    ReadIndex,
}

#[derive(Debug)]
struct Unconfirmed<T> {
    token: T,
    key: String,
    term: Term,
}

/// Gets waiting for their read index, then for it to be applied.
#[derive(Debug)]
pub(crate) struct ReadWaiters<T> {
    next_ctx: u64,
    /// Waiting for the leader to confirm: by context.
    unconfirmed: HashMap<u64, Unconfirmed<T>>,
    /// Confirmed, waiting for the state machine to apply the read index: by read index.
    confirmed: BTreeMap<Index, Vec<(T, String)>>,
}

impl<T> Default for ReadWaiters<T> {
    fn default() -> Self {
        ReadWaiters {
            next_ctx: 1,
            unconfirmed: HashMap::new(),
            confirmed: BTreeMap::new(),
        }
    }
}

impl<T> ReadWaiters<T> {
    pub(crate) fn len(&self) -> usize {
        self.unconfirmed.len() + self.confirmed.values().map(Vec::len).sum::<usize>()
    }

    /// A fresh context for the next read request.
    pub(crate) fn next_ctx(&mut self) -> u64 {
        let ctx = self.next_ctx;
        self.next_ctx += 1;
        ctx
    }

    pub(crate) fn wait_confirm(&mut self, ctx: u64, token: T, key: String, term: Term) {
        self.unconfirmed
            .insert(ctx, Unconfirmed { token, key, term });
    }

    /// The core confirmed `ctx` at `index`: the read now waits for `index` to be applied
    /// (returned at once, with its key, if it already is).
    pub(crate) fn confirm(
        &mut self,
        ctx: u64,
        index: Index,
        applied: Index,
    ) -> Option<(T, String)> {
        let u = self.unconfirmed.remove(&ctx)?;
        if index <= applied {
            return Some((u.token, u.key));
        }
        self.confirmed
            .entry(index)
            .or_default()
            .push((u.token, u.key));
        None
    }

    /// The core dropped `ctx` (leadership lost).
    pub(crate) fn drop_ctx(&mut self, ctx: u64) -> Option<T> {
        self.unconfirmed.remove(&ctx).map(|u| u.token)
    }

    /// Confirmed reads whose index is now applied.
    pub(crate) fn applied(&mut self, applied: Index) -> Vec<(T, String)> {
        let later = self.confirmed.split_off(&(applied + 1));
        let done = std::mem::replace(&mut self.confirmed, later);
        done.into_values().flatten().collect()
    }

    /// Unconfirmed reads requested in a term before `term`: their leader is gone. (Confirmed
    /// ones stay: their read index is valid whoever leads now.)
    pub(crate) fn older_than(&mut self, term: Term) -> Vec<T> {
        let stale: Vec<u64> = self
            .unconfirmed
            .iter()
            .filter(|(_, u)| u.term < term)
            .map(|(&c, _)| c)
            .collect();
        stale
            .into_iter()
            .filter_map(|c| self.unconfirmed.remove(&c))
            .map(|u| u.token)
            .collect()
    }

    /// Every waiting token (crash).
    pub(crate) fn take_all(&mut self) -> Vec<T> {
        let mut out: Vec<T> = self.unconfirmed.drain().map(|(_, u)| u.token).collect();
        out.extend(
            std::mem::take(&mut self.confirmed)
                .into_values()
                .flatten()
                .map(|(t, _)| t),
        );
        out
    }
}

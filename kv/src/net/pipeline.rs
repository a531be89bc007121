//! Persistence off the node loop: several Readies in flight, each released when its writes are
//! durable.
//!
//! The core lets a runtime hold several Readies at once as long as each is persisted, sent and
//! applied in the order it was returned (`raft_impl::core::Ready`, "Several Readies may be
//! outstanding"). [`Pipeline`] is that bookkeeping, sans-IO: the node loop hands it every Ready
//! ([`Pipeline::push`]), which splits off the Ready's writes as a numbered [`Job`] for the
//! persister; the persister reports the highest job made durable ([`Pipeline::durable`]); and
//! [`Pipeline::release`] then does, in Ready order, what has become allowed:
//!
//! - **send** a Ready's messages once every job up to and including its own is durable (a Ready
//!   without writes waits for the jobs before it: its messages may rely on them, e.g. an
//!   AppendEntries retransmitting entries still being written). So a vote grant, an
//!   AppendEntries success, and a leader's AppendEntries carrying its new entries all leave
//!   only after what they rely on is on disk: the persist-before-send rule is unchanged, the
//!   node loop just keeps stepping while a sync runs. In this default mode the leader still
//!   counts itself with its last index in the commit rule (the core's default,
//!   `docs/core-design.md`): sound because a follower can acknowledge an entry only after the
//!   leader's AppendEntries carrying it was sent, i.e. after the leader's own write of it was
//!   durable.
//! - **apply** committed entries, in log order, once they are durable here: an entry below the
//!   first index any unfinished job writes is durable (no unfinished job touches it). A Ready's
//!   committed entries are among the entries handed to storage by it or an earlier Ready, so
//!   they become applicable at the latest when its own job is durable. Entries already durable
//!   are applied before the Ready's own messages are sent (they depend on nothing unsent).
//! - **restore** the state machine from a leader's snapshot (`Ready::restore_snapshot`) once its
//!   job is durable and everything before it is applied, before the Ready's committed entries.
//!   A job that writes a snapshot counts as writing from the index after it.
//! - **advance** the core with a Ready once its messages are out and its entries applied.
//!
//! With parallel leader writes ([`Pipeline::with_parallel_leader_writes`]) a leader's
//! AppendEntries leave at once instead; the core then counts the leader only up to what the
//! pipeline reports durable ([`Pipeline::take_persisted`]).
//!
//! What the persister does with a job: stage the snapshot, the hard state, the truncation and the
//! entries (`Storage::stage_ready`), in job order, then sync; one sync may cover several jobs (group
//! commit across Readies).

use std::collections::VecDeque;

use raft_impl::core::{Envelope, Message, Ready};
use raft_impl::storage::{Storage, StorageError};
use raft_impl::types::{Entry, HardState, Index, Snapshot, Term};

/// What [`Pipeline::release`] hands the state machine, in order.
#[derive(Debug)]
pub(crate) enum Apply<'a> {
    /// Replace the state machine by a leader's snapshot.
    Restore(&'a Snapshot),
    /// Apply a committed entry.
    Entry(&'a Entry),
}

/// The writes of one Ready, numbered from 1 in Ready order.
#[derive(Debug)]
pub(crate) struct Job {
    pub id: u64,
    /// The node's own compaction or a leader's snapshot (its data is shared, not copied).
    pub snapshot: Option<Snapshot>,
    pub hard_state: Option<HardState>,
    pub truncate_from: Option<Index>,
    pub entries: Vec<Entry>,
}

impl Job {
    /// First log index this job changes (`Index::MAX` if it writes only the hard state).
    fn first_write(&self) -> Index {
        let log = match (self.truncate_from, self.entries.first()) {
            (Some(from), _) => from,
            (None, Some(e)) => e.index,
            (None, None) => Index::MAX,
        };
        // A snapshot replaces the log up to its last index, which the state machine then holds
        // (applied, or restored from it); a leader's may also discard the entries after it
        // (Figure 13, step 7), none of which is committed here.
        let snapshot = self
            .snapshot
            .as_ref()
            .map_or(Index::MAX, |s| s.meta.last_included_index + 1);
        log.min(snapshot)
    }

    /// Stages the job's writes (no sync: the persister syncs once for every job it staged).
    pub fn stage(self, storage: &mut impl Storage) -> Result<(), StorageError> {
        storage.stage_ready(
            self.snapshot.as_ref(),
            self.hard_state,
            self.truncate_from,
            &self.entries,
        )
    }
}

struct Pending {
    /// Every job up to this one must be durable before the messages go.
    needs: u64,
    /// AppendEntries to send without waiting (parallel leader writes only).
    early: Vec<Envelope>,
    ready: Ready,
    sent: bool,
    /// A leader's snapshot the state machine must be restored from first (cleared once done).
    restore: bool,
    /// Committed entries of `ready` applied so far.
    applied: usize,
}

/// See the module documentation.
#[derive(Default)]
pub(crate) struct Pipeline {
    /// Send a leader's AppendEntries at once, not after the writes (see
    /// [`Pipeline::with_parallel_leader_writes`]).
    appends_early: bool,
    /// Id of the last job handed out.
    last_job: u64,
    /// Highest job known durable (every job up to it is).
    durable: u64,
    /// Jobs not yet durable, in order.
    inflight: VecDeque<Inflight>,
    /// Last entry of the highest durable job that wrote entries, not yet reported.
    persisted: Option<(Index, Term)>,
    pending: VecDeque<Pending>,
}

struct Inflight {
    id: u64,
    /// First log index the job changes.
    first_write: Index,
    /// The job's last entry, if it writes any.
    last_entry: Option<(Index, Term)>,
}

impl Pipeline {
    /// A pipeline for a core in parallel-writes mode
    /// (`RawNode::set_self_ack_on_persist`, Raft thesis §10.2.1: "the leader can write to its
    /// disk in parallel with replicating to the followers"; etcd raft does the same with its
    /// asynchronous storage writes). AppendEntries, which only a leader sends, leave at once,
    /// possibly before the leader's own copy of their entries is durable; that is safe because
    /// such a core counts itself in the commit rule only up to what
    /// [`Pipeline::take_persisted`] reported, so an entry commits only once a majority holds
    /// it durably. The leader's term is already durable: it became leader through votes
    /// answering RequestVotes that waited for it. Every other message (vote requests and
    /// grants, acknowledgements) still waits for its Ready's writes: a follower acknowledges
    /// only what it holds durably.
    pub fn with_parallel_leader_writes() -> Self {
        Pipeline {
            appends_early: true,
            ..Pipeline::default()
        }
    }

    /// Takes a Ready: returns its writes as a job for the persister, if it has any.
    pub fn push(&mut self, mut rd: Ready) -> Option<Job> {
        let job = rd.must_persist().then(|| {
            self.last_job += 1;
            let job = Job {
                id: self.last_job,
                // The Ready keeps its copy: `advance` reads it, and a restore needs it.
                snapshot: rd.snapshot.clone(),
                hard_state: rd.hard_state.take(),
                truncate_from: rd.truncate_from.take(),
                entries: std::mem::take(&mut rd.entries),
            };
            self.inflight.push_back(Inflight {
                id: job.id,
                first_write: job.first_write(),
                last_entry: job.entries.last().map(|e| (e.index, e.term)),
            });
            job
        });
        let early = if self.appends_early {
            let (early, rest) = std::mem::take(&mut rd.messages)
                .into_iter()
                .partition(|m| matches!(m.msg, Message::AppendEntries(_)));
            rd.messages = rest;
            early
        } else {
            Vec::new()
        };
        self.pending.push_back(Pending {
            needs: self.last_job,
            early,
            restore: rd.restore_snapshot && rd.snapshot.is_some(),
            ready: rd,
            sent: false,
            applied: 0,
        });
        job
    }

    /// Every job up to `job` is durable.
    pub fn durable(&mut self, job: u64) {
        debug_assert!(job <= self.last_job, "job {job} was never handed out");
        self.durable = self.durable.max(job);
        while let Some(j) = self.inflight.front() {
            if j.id > self.durable {
                break;
            }
            if let Some(last) = j.last_entry {
                self.persisted = Some(last);
            }
            self.inflight.pop_front();
        }
    }

    /// The last entry made durable since the previous call, if any: for
    /// `RawNode::on_persisted`.
    pub fn take_persisted(&mut self) -> Option<(Index, Term)> {
        self.persisted.take()
    }

    /// Jobs handed out and not yet durable.
    #[cfg(test)]
    pub fn jobs_in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// Readies not yet fully released.
    #[cfg(test)]
    pub fn readies_pending(&self) -> usize {
        self.pending.len()
    }

    /// Does everything now allowed, in Ready order: `send` each message, `apply` a leader's
    /// snapshot and each committed entry, `advance` each finished Ready. Call after
    /// [`Pipeline::push`] and [`Pipeline::durable`].
    pub fn release(
        &mut self,
        mut send: impl FnMut(Envelope),
        mut apply: impl FnMut(Apply<'_>),
        mut advance: impl FnMut(Ready),
    ) {
        // Entries below this index are durable here.
        let durable_below = self
            .inflight
            .iter()
            .map(|j| j.first_write)
            .min()
            .unwrap_or(Index::MAX);
        let mut apply_blocked = false;
        for p in self.pending.iter_mut() {
            std::mem::take(&mut p.early).into_iter().for_each(&mut send);
            if p.restore && !apply_blocked {
                match &p.ready.snapshot {
                    Some(snapshot) if p.needs <= self.durable => {
                        apply(Apply::Restore(snapshot));
                        p.restore = false;
                    }
                    _ => apply_blocked = true,
                }
            }
            if !apply_blocked {
                let entries = &p.ready.committed_entries[p.applied..];
                let n = entries.partition_point(|e| e.index < durable_below);
                entries[..n].iter().for_each(|e| apply(Apply::Entry(e)));
                p.applied += n;
                apply_blocked = p.applied < p.ready.committed_entries.len();
            }
            if !p.sent {
                if p.needs > self.durable {
                    // Later Readies' messages wait too (send order), but their durable
                    // entries may still be applied.
                    continue;
                }
                std::mem::take(&mut p.ready.messages)
                    .into_iter()
                    .for_each(&mut send);
                p.sent = true;
            }
        }
        while self
            .pending
            .front()
            .is_some_and(|p| p.sent && !p.restore && p.applied == p.ready.committed_entries.len())
        {
            advance(self.pending.pop_front().expect("front exists").ready);
        }
    }
}

#[cfg(test)]
mod tests;

//! Stable storage for a Raft node: the hard state and the log (Figure 2, "Persistent state on
//! all servers").
//!
//! A runtime drives a [`Storage`] with the output of the core: it stages each Ready's writes
//! ([`Storage::stage_ready`], built on [`Storage::save_hard_state`], [`Storage::truncate_suffix`]
//! and [`Storage::append`]) and then calls [`Storage::sync`] once for the whole batch (group
//! commit). Only after `sync` returns
//! may the runtime send messages that depend on what was written (a vote, an `AppendEntries`
//! success, a leader counting its own match index), because Raft's safety argument assumes
//! those facts survive a crash.
//!
//! Three implementations:
//! - [`MemStorage`]: in memory, for tests and simulation. It tracks what is durable separately
//!   from what is merely written, so a simulated crash ([`MemStorage::crash`]) loses exactly
//!   what a real one could.
//! - [`FileStorage`]: durable, in a data directory (append-only, checksummed log segments plus
//!   an atomically replaced hard-state file). The format is described in
//!   `docs/storage-format.md`.
//! - [`VolatileStorage`]: one in-memory copy and no crash model, for runs that never restart a
//!   node (the in-process benchmark cluster).
//!
//! Log compaction (§7, Figure 13): [`Storage::save_snapshot`] stages a snapshot that replaces
//! the log prefix up to its `last_included_index`; [`Storage::first_index`] is then
//! `last_included_index + 1`, and [`Storage::load`] returns the snapshot and the entries after it.

mod error;
mod file;
mod log;
mod mem;
mod volatile;

#[cfg(test)]
mod contract;

pub use error::{Corruption, StorageError};
#[cfg(test)]
pub(crate) use file::snapshot_bytes_for_test;
pub use file::{FileStorage, FileStorageOptions};
pub use mem::MemStorage;
pub use volatile::VolatileStorage;

use crate::types::{Entry, HardState, Index, Snapshot, SnapshotMeta, Term};

/// Everything stable storage holds: what a node restarts from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredState {
    pub hard_state: HardState,
    /// The newest durable snapshot, if any (`None` = nothing compacted).
    pub snapshot: Option<Snapshot>,
    /// Contiguous entries after the snapshot: the first has index
    /// `snapshot.meta.last_included_index + 1` (or 1 without a snapshot).
    pub entries: Vec<Entry>,
}

/// Stable storage of one Raft node.
///
/// Writes are *staged*: they are visible to the read methods at once, but may be lost by a crash
/// until [`Storage::sync`] returns. Reads always reflect every write made so far.
pub trait Storage {
    /// The latest hard state written (staged or durable).
    fn hard_state(&self) -> HardState;

    /// Index of the first entry held: `snapshot_meta().last_included_index + 1`. Entries before
    /// it live in the snapshot.
    fn first_index(&self) -> Index;

    /// Index of the last entry, or `first_index() - 1` when the log is empty.
    fn last_index(&self) -> Index;

    /// Term of the entry at `index`. `Some(last_included_term)` for the snapshot's
    /// `last_included_index` (`Some(0)` for index 0 without a snapshot), `None` when the index
    /// is not held (compacted or past the end).
    fn term(&self, index: Index) -> Option<Term>;

    /// Entries with indices in `[lo, hi)`. Errors if the range is not entirely held:
    /// [`StorageError::Compacted`] if `lo < first_index()` because of a snapshot.
    fn entries(&self, lo: Index, hi: Index) -> Result<Vec<Entry>, StorageError>;

    /// The latest snapshot's metadata (staged or durable); `(0, 0)` when there is none.
    fn snapshot_meta(&self) -> SnapshotMeta;

    /// The latest snapshot written (staged or durable), if any.
    fn snapshot(&self) -> Result<Option<Snapshot>, StorageError>;

    /// Stages saving `snapshot` (the node's own compaction or a leader's InstallSnapshot).
    /// Figure 13, receiver steps 6-7: entries `<= last_included_index` are dropped; if the log
    /// held the entry at `last_included_index` with `last_included_term`, the entries after it
    /// are kept, otherwise the whole log is dropped. [`StorageError::SnapshotOutOfDate`] and no
    /// change if `last_included_index` is not above the current snapshot's. Durable at the next
    /// [`Storage::sync`].
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError>;

    /// Stages a new hard state. It replaces the previous one atomically at the next `sync`.
    fn save_hard_state(&mut self, hard_state: HardState) -> Result<(), StorageError>;

    /// Stages `entries`, which must have consecutive indices starting at most at
    /// `last_index() + 1`. If the first index is `<= last_index()`, the stored suffix from that
    /// index is dropped first (§5.3: "delete the existing entry and all that follow it").
    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError>;

    /// Stages dropping every entry with index `>= from`. A no-op if `from > last_index()`.
    fn truncate_suffix(&mut self, from: Index) -> Result<(), StorageError>;

    /// Makes every write staged so far durable, with as few fsyncs as possible for the whole
    /// batch (group commit). Returns only after the data is on stable storage.
    ///
    /// A caller must not send any message that depends on a staged write (a granted vote, an
    /// acknowledged append, a leader's own match index) before this returns `Ok`. After an
    /// error, the storage refuses further use ([`StorageError::Poisoned`]): after a failed
    /// fsync the kernel may have dropped the dirty pages, so retrying could report success for
    /// data that is gone. Reopen to recover what is really on disk.
    fn sync(&mut self) -> Result<(), StorageError>;

    /// Stages what one [`Ready`] asks to persist (step 1 of its contract, without the sync): the
    /// snapshot first (it may drop the log the later writes continue), then the hard state if it
    /// changed, then the truncation of a conflicting suffix (§5.3), then the new entries. Nothing is durable until [`Storage::sync`], which may cover the writes of several
    /// Readies (group commit); only after it may the Ready's messages leave.
    ///
    /// [`Ready`]: crate::core::Ready
    fn stage_ready(
        &mut self,
        snapshot: Option<&Snapshot>,
        hard_state: Option<HardState>,
        truncate_from: Option<Index>,
        entries: &[Entry],
    ) -> Result<(), StorageError> {
        if let Some(snapshot) = snapshot {
            self.save_snapshot(snapshot)?;
        }
        if let Some(hs) = hard_state {
            self.save_hard_state(hs)?;
        }
        if let Some(from) = truncate_from {
            self.truncate_suffix(from)?;
        }
        if !entries.is_empty() {
            self.append(entries)?;
        }
        Ok(())
    }

    /// The hard state, the snapshot and the log after it as currently written. Right after
    /// opening a durable store, this is exactly what recovery found.
    fn load(&self) -> Result<StoredState, StorageError> {
        let first = self.first_index();
        Ok(StoredState {
            hard_state: self.hard_state(),
            snapshot: self.snapshot()?,
            entries: self.entries(first, self.last_index() + 1)?,
        })
    }
}

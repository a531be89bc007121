//! [`VolatileStorage`]: one in-memory copy of the hard state, the snapshot and the log, for
//! runs that never restart a node (the in-process benchmark cluster). `sync` has nothing to
//! do: there is no crash to survive, so unlike [`MemStorage`](super::MemStorage) it keeps no
//! durable copy and stages nothing. A node that restarts from it would recover everything it
//! wrote, which no disk promises: never use it where crashes are modelled.

use super::log::Log;
use super::{Storage, StorageError};
use crate::types::{Entry, HardState, Index, Snapshot, SnapshotMeta, Term};

/// In-memory [`Storage`] without durability (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct VolatileStorage {
    hard_state: HardState,
    snapshot: Option<Snapshot>,
    log: Log,
}

impl VolatileStorage {
    /// An empty store: term 0, no vote, empty log.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Storage for VolatileStorage {
    fn hard_state(&self) -> HardState {
        self.hard_state
    }

    fn first_index(&self) -> Index {
        self.log.first_index()
    }

    fn last_index(&self) -> Index {
        self.log.last_index()
    }

    fn term(&self, index: Index) -> Option<Term> {
        self.log.term(index)
    }

    fn entries(&self, lo: Index, hi: Index) -> Result<Vec<Entry>, StorageError> {
        Ok(self.log.slice(lo, hi)?.to_vec())
    }

    fn snapshot_meta(&self) -> SnapshotMeta {
        self.log.snapshot_meta()
    }

    fn snapshot(&self) -> Result<Option<Snapshot>, StorageError> {
        Ok(self.snapshot.clone())
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        self.log.check_snapshot(snapshot.meta)?;
        self.log.compact(snapshot.meta);
        self.snapshot = Some(snapshot.clone());
        Ok(())
    }

    fn save_hard_state(&mut self, hard_state: HardState) -> Result<(), StorageError> {
        self.hard_state = hard_state;
        Ok(())
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        self.log.check_append(entries)?;
        self.log.append_checked(entries);
        Ok(())
    }

    fn truncate_suffix(&mut self, from: Index) -> Result<(), StorageError> {
        if self.log.check_truncate(from)? {
            self.log.truncate_from(from);
        }
        Ok(())
    }

    /// Nothing is staged: every write is already all there is.
    fn sync(&mut self) -> Result<(), StorageError> {
        Ok(())
    }
}

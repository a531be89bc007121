//! In-memory storage that knows what a crash would keep.
//!
//! A simulated cluster restarts a node from what its storage made durable, not from what the
//! node wrote: that is how a simulation catches a core that acts on data before `sync`.
//! [`MemStorage`] therefore keeps two states: the *current* one (every write; what reads see)
//! and the *durable* one (as of the last [`Storage::sync`]), plus the log operations staged in
//! between, in order, so a crash in the middle of a sync can be modelled too.

use super::log::Log;
use super::{Storage, StorageError, StoredState};
use crate::types::{Entry, HardState, Index, Snapshot, SnapshotMeta, Term};

/// A write to the snapshot or the log staged since the last sync, in the order it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
enum LogOp {
    /// Save a snapshot, compacting the log (Figure 13, receiver steps 6-7).
    Snapshot(Snapshot),
    /// Drop entries with index `>= from`.
    Truncate(Index),
    Append(Entry),
}

/// The snapshot and the log after it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Compacted {
    snapshot: Option<Snapshot>,
    log: Log,
}

impl LogOp {
    fn apply(&self, state: &mut Compacted) {
        match self {
            LogOp::Snapshot(snapshot) => {
                state.log.compact(snapshot.meta);
                state.snapshot = Some(snapshot.clone());
            }
            LogOp::Truncate(from) => state.log.truncate_from(*from),
            LogOp::Append(entry) => state.log.append_checked(std::slice::from_ref(entry)),
        }
    }
}

/// In-memory [`Storage`] with explicit durability.
///
/// - [`MemStorage::crash`]: a crash before `sync`: everything staged since the last `sync` is
///   lost; reads afterwards see the durable state.
/// - [`MemStorage::crash_during_sync`]: a crash inside `sync`, after the hard state was
///   replaced and a prefix of the staged snapshot and log writes reached the disk, in the
///   order they were staged. [`Storage::stage_ready`] stages the snapshot first, and
///   [`FileStorage`] makes it durable first (its file is renamed into place before the hard
///   state and the log records), so every prefix is a state a real crash can leave. The one
///   state not modelled, a snapshot durable but the staged hard state not, is harmless: no
///   message depending on the hard state was sent.
/// - [`MemStorage::durable_snapshot`]: what a restarted node would load.
///
/// [`FileStorage`]: super::FileStorage
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    hard_state: HardState,
    current: Compacted,
    durable_hard_state: HardState,
    durable: Compacted,
    /// Writes since the last sync; applying them to `durable` yields `current`.
    unsynced: Vec<LogOp>,
}

impl MemStorage {
    /// An empty store (term 0, no vote, empty log), all of it durable.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store whose durable contents are `state`, as if a node had synced it and restarted.
    /// Errors if the entries do not continue the snapshot (or index 1 without one) contiguously.
    pub fn with_state(state: StoredState) -> Result<Self, StorageError> {
        let meta = state.snapshot.as_ref().map(|s| s.meta).unwrap_or_default();
        let log = Log::with_snapshot(meta, &state.entries)?;
        let compacted = Compacted {
            snapshot: state.snapshot,
            log,
        };
        Ok(MemStorage {
            hard_state: state.hard_state,
            current: compacted.clone(),
            durable_hard_state: state.hard_state,
            durable: compacted,
            unsynced: Vec::new(),
        })
    }

    /// What a restart would load: the hard state, snapshot and log as of the last completed
    /// `sync`.
    pub fn durable_snapshot(&self) -> StoredState {
        StoredState {
            hard_state: self.durable_hard_state,
            snapshot: self.durable.snapshot.clone(),
            entries: self.durable.log.entries().to_vec(),
        }
    }

    /// Whether anything was written since the last `sync`.
    pub fn has_unsynced(&self) -> bool {
        !self.unsynced.is_empty() || self.hard_state != self.durable_hard_state
    }

    /// Number of staged operations (one per snapshot, one per appended entry, one per
    /// truncation) that a [`MemStorage::crash_during_sync`] can choose to keep.
    pub fn unsynced_log_ops(&self) -> usize {
        self.unsynced.len()
    }

    /// Simulates a crash before `sync`: every write since the last `sync` is lost and the
    /// store continues from its durable state.
    pub fn crash(&mut self) {
        self.hard_state = self.durable_hard_state;
        self.current = self.durable.clone();
        self.unsynced.clear();
    }

    /// Simulates a crash during `sync`: the staged hard state became durable, then only the
    /// first `landed_log_ops` staged operations (snapshots and log writes, in staging order)
    /// reached the disk (clamped to [`MemStorage::unsynced_log_ops`]). The store continues
    /// from that state.
    pub fn crash_during_sync(&mut self, landed_log_ops: usize) {
        self.durable_hard_state = self.hard_state;
        let landed = landed_log_ops.min(self.unsynced.len());
        for op in &self.unsynced[..landed] {
            op.apply(&mut self.durable);
        }
        self.crash();
    }
}

impl Storage for MemStorage {
    fn hard_state(&self) -> HardState {
        self.hard_state
    }

    fn first_index(&self) -> Index {
        self.current.log.first_index()
    }

    fn last_index(&self) -> Index {
        self.current.log.last_index()
    }

    fn term(&self, index: Index) -> Option<Term> {
        self.current.log.term(index)
    }

    fn entries(&self, lo: Index, hi: Index) -> Result<Vec<Entry>, StorageError> {
        Ok(self.current.log.slice(lo, hi)?.to_vec())
    }

    fn snapshot_meta(&self) -> SnapshotMeta {
        self.current.log.snapshot_meta()
    }

    fn snapshot(&self) -> Result<Option<Snapshot>, StorageError> {
        Ok(self.current.snapshot.clone())
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        self.current.log.check_snapshot(snapshot.meta)?;
        let op = LogOp::Snapshot(snapshot.clone());
        op.apply(&mut self.current);
        self.unsynced.push(op);
        Ok(())
    }

    fn save_hard_state(&mut self, hard_state: HardState) -> Result<(), StorageError> {
        self.hard_state = hard_state;
        Ok(())
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        if let Some(from) = self.current.log.check_append(entries)? {
            self.unsynced.push(LogOp::Truncate(from));
        }
        self.unsynced
            .extend(entries.iter().cloned().map(LogOp::Append));
        self.current.log.append_checked(entries);
        Ok(())
    }

    fn truncate_suffix(&mut self, from: Index) -> Result<(), StorageError> {
        if self.current.log.check_truncate(from)? {
            self.unsynced.push(LogOp::Truncate(from));
            self.current.log.truncate_from(from);
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        // Replaying the staged operations costs O(batch), not O(log): syncs are frequent.
        for op in self.unsynced.drain(..) {
            op.apply(&mut self.durable);
        }
        self.durable_hard_state = self.hard_state;
        debug_assert_eq!(self.durable, self.current);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(term: Term, index: Index) -> Entry {
        Entry {
            term,
            index,
            data: bytes::Bytes::from(format!("{term}/{index}")),
        }
    }

    fn hs(term: Term, vote: Option<u64>) -> HardState {
        HardState {
            current_term: term,
            voted_for: vote,
            lost_up_to: 0,
            lost_term: 0,
        }
    }

    #[test]
    fn storage_mem_crash_drops_unsynced_writes() {
        let mut s = MemStorage::new();
        s.save_hard_state(hs(1, Some(2))).unwrap();
        s.append(&[entry(1, 1), entry(1, 2)]).unwrap();
        s.sync().unwrap();
        s.save_hard_state(hs(2, None)).unwrap();
        s.append(&[entry(2, 3)]).unwrap();
        assert!(s.has_unsynced());

        s.crash();
        assert_eq!(s.hard_state(), hs(1, Some(2)));
        assert_eq!(s.last_index(), 2);
        assert!(!s.has_unsynced());
        assert_eq!(s.load().unwrap(), s.durable_snapshot());
    }

    #[test]
    fn storage_mem_unsynced_truncation_is_undone_by_crash() {
        let mut s = MemStorage::new();
        s.append(&[entry(1, 1), entry(1, 2), entry(1, 3)]).unwrap();
        s.sync().unwrap();
        s.append(&[entry(2, 2)]).unwrap();
        assert_eq!(s.term(2), Some(2));
        s.crash();
        assert_eq!(s.last_index(), 3);
        assert_eq!(s.term(2), Some(1));

        s.truncate_suffix(2).unwrap();
        s.sync().unwrap();
        s.crash();
        assert_eq!(s.last_index(), 1);
    }

    #[test]
    fn storage_mem_crash_during_sync_keeps_a_prefix_of_log_writes() {
        let mut s = MemStorage::new();
        s.append(&[entry(1, 1), entry(1, 2)]).unwrap();
        s.sync().unwrap();
        s.save_hard_state(hs(3, Some(1))).unwrap();
        // Overwrite from 2: staged as [Truncate(2), Append(2), Append(3)].
        s.append(&[entry(3, 2), entry(3, 3)]).unwrap();
        assert_eq!(s.unsynced_log_ops(), 3);

        let mut only_truncation = s.clone();
        only_truncation.crash_during_sync(1);
        assert_eq!(only_truncation.hard_state(), hs(3, Some(1)));
        assert_eq!(only_truncation.last_index(), 1);

        let mut two = s.clone();
        two.crash_during_sync(2);
        assert_eq!(two.last_index(), 2);
        assert_eq!(two.term(2), Some(3));

        s.crash_during_sync(usize::MAX);
        assert_eq!(s.last_index(), 3);
    }

    /// `Storage::stage_ready` stages a Ready's hard state, truncation and entries, in that
    /// order, and makes none of them durable before `sync`.
    #[test]
    fn storage_mem_stage_ready_stages_a_readys_writes_without_syncing() {
        let mut s = MemStorage::new();
        let log = [entry(1, 1), entry(1, 2), entry(1, 3)];
        s.stage_ready(None, Some(hs(1, Some(1))), None, &log)
            .unwrap();
        assert_eq!(s.load().unwrap().entries, log);
        assert_eq!(s.durable_snapshot(), StoredState::default());
        s.sync().unwrap();

        // §5.3: a conflicting suffix from index 2 is dropped first, then the new entry lands.
        s.stage_ready(None, Some(hs(2, None)), Some(2), &[entry(2, 2)])
            .unwrap();
        assert_eq!(s.unsynced_log_ops(), 2);
        let mut truncation_only = s.clone();
        truncation_only.crash_during_sync(1);
        assert_eq!(truncation_only.last_index(), 1);
        s.sync().unwrap();
        assert_eq!(
            s.durable_snapshot(),
            StoredState {
                hard_state: hs(2, None),
                snapshot: None,
                entries: vec![entry(1, 1), entry(2, 2)],
            }
        );

        // Nothing to persist stages nothing; a hard state alone touches no log.
        s.stage_ready(None, None, None, &[]).unwrap();
        assert!(!s.has_unsynced());
        s.stage_ready(None, Some(hs(3, Some(3))), None, &[])
            .unwrap();
        assert!(s.has_unsynced());
        assert_eq!(s.unsynced_log_ops(), 0);
        s.crash();
        assert_eq!(s.hard_state(), hs(2, None));

        assert!(matches!(
            s.stage_ready(None, None, Some(0), &[]),
            Err(StorageError::BeforeFirstIndex { .. })
        ));
    }

    fn snap(index: Index, term: Term) -> Snapshot {
        Snapshot {
            meta: SnapshotMeta {
                last_included_index: index,
                last_included_term: term,
            },
            data: bytes::Bytes::from(format!("up to {index}")),
        }
    }

    /// A snapshot is one staged operation, first in a Ready's batch: a crash before sync loses
    /// it, a crash during sync keeps it before any of the log writes staged after it.
    #[test]
    fn storage_mem_snapshot_is_a_staged_operation() {
        let mut s = MemStorage::new();
        s.append(&[entry(1, 1), entry(1, 2), entry(1, 3)]).unwrap();
        s.sync().unwrap();
        s.stage_ready(Some(&snap(5, 2)), Some(hs(2, None)), None, &[entry(2, 6)])
            .unwrap();
        assert_eq!(s.unsynced_log_ops(), 2);
        assert_eq!(s.first_index(), 6);

        let mut lost = s.clone();
        lost.crash();
        assert_eq!(lost.snapshot().unwrap(), None);
        assert_eq!((lost.first_index(), lost.last_index()), (1, 3));

        let mut only_snapshot = s.clone();
        only_snapshot.crash_during_sync(1);
        assert_eq!(only_snapshot.snapshot().unwrap(), Some(snap(5, 2)));
        assert_eq!(
            (only_snapshot.first_index(), only_snapshot.last_index()),
            (6, 5)
        );
        assert_eq!(only_snapshot.durable_snapshot().entries, vec![]);

        s.sync().unwrap();
        s.crash();
        assert_eq!(
            s.durable_snapshot(),
            StoredState {
                hard_state: hs(2, None),
                snapshot: Some(snap(5, 2)),
                entries: vec![entry(2, 6)],
            }
        );
        let gap = StoredState {
            snapshot: Some(snap(5, 2)),
            entries: vec![entry(2, 7)],
            ..StoredState::default()
        };
        assert!(matches!(
            MemStorage::with_state(gap),
            Err(StorageError::NotContiguous {
                expected: 6,
                found: 7
            })
        ));
    }

    #[test]
    fn storage_mem_with_state_is_durable() {
        let state = StoredState {
            hard_state: hs(4, Some(1)),
            snapshot: None,
            entries: vec![entry(1, 1), entry(4, 2)],
        };
        let mut s = MemStorage::with_state(state.clone()).unwrap();
        s.crash();
        assert_eq!(s.load().unwrap(), state);

        let gap = StoredState {
            hard_state: HardState::default(),
            snapshot: None,
            entries: vec![entry(1, 2)],
        };
        assert!(MemStorage::with_state(gap).is_err());
    }
}

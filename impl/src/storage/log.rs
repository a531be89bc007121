//! The in-memory view of the log shared by both stores: the index arithmetic and the validation
//! of appends, written once so the two stores cannot disagree about it.

use super::StorageError;
use crate::types::{Entry, Index, SnapshotMeta, Term};

/// Contiguous entries after a snapshot; `entries[i].index == first_index + i`, and
/// `first_index == snapshot.last_included_index + 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Log {
    first_index: Index,
    /// The compacted prefix; `(0, 0)` (the empty prefix) when nothing is compacted.
    snapshot: SnapshotMeta,
    entries: Vec<Entry>,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            first_index: 1,
            snapshot: SnapshotMeta::default(),
            entries: Vec::new(),
        }
    }
}

impl Log {
    /// A log holding `entries` after the snapshot `meta`.
    pub(crate) fn with_snapshot(
        meta: SnapshotMeta,
        entries: &[Entry],
    ) -> Result<Self, StorageError> {
        let mut log = Log {
            first_index: meta.last_included_index + 1,
            snapshot: meta,
            entries: Vec::new(),
        };
        if let Some(first) = entries.first() {
            if first.index != log.first_index {
                return Err(StorageError::NotContiguous {
                    expected: log.first_index,
                    found: first.index,
                });
            }
        }
        log.check_append(entries)?;
        log.append_checked(entries);
        Ok(log)
    }

    pub(crate) fn snapshot_meta(&self) -> SnapshotMeta {
        self.snapshot
    }

    /// Validates a snapshot: it must be newer than the current one.
    pub(crate) fn check_snapshot(&self, meta: SnapshotMeta) -> Result<(), StorageError> {
        if meta.last_included_index <= self.snapshot.last_included_index {
            return Err(StorageError::SnapshotOutOfDate {
                last_included_index: meta.last_included_index,
                current: self.snapshot.last_included_index,
            });
        }
        Ok(())
    }

    /// Installs a snapshot accepted by [`Log::check_snapshot`]. Figure 13, receiver steps 6-7:
    /// if the log holds the entry at last_included_index with last_included_term, the entries
    /// after it are kept; otherwise the whole log is discarded. Returns whether entries after
    /// the snapshot were kept.
    pub(crate) fn compact(&mut self, meta: SnapshotMeta) -> bool {
        let retain = self.term(meta.last_included_index) == Some(meta.last_included_term)
            && meta.last_included_index >= self.first_index;
        if retain {
            let drop = (meta.last_included_index + 1 - self.first_index) as usize;
            self.entries.drain(..drop);
        } else {
            self.entries.clear();
        }
        self.first_index = meta.last_included_index + 1;
        self.snapshot = meta;
        retain
    }

    pub(crate) fn first_index(&self) -> Index {
        self.first_index
    }

    pub(crate) fn last_index(&self) -> Index {
        self.first_index + self.entries.len() as Index - 1
    }

    pub(crate) fn term(&self, index: Index) -> Option<Term> {
        // The entry just before the log is the snapshot's last one (index 0: the empty prefix).
        if index == self.snapshot.last_included_index {
            return Some(self.snapshot.last_included_term);
        }
        self.position(index).map(|i| self.entries[i].term)
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub(crate) fn slice(&self, lo: Index, hi: Index) -> Result<&[Entry], StorageError> {
        if lo < self.first_index && self.snapshot.last_included_index > 0 {
            return Err(StorageError::Compacted {
                requested: lo,
                first_index: self.first_index,
            });
        }
        if lo < self.first_index || hi > self.last_index() + 1 || lo > hi {
            return Err(StorageError::OutOfRange {
                lo,
                hi,
                first_index: self.first_index,
                last_index: self.last_index(),
            });
        }
        let start = (lo - self.first_index) as usize;
        let end = (hi - self.first_index) as usize;
        Ok(&self.entries[start..end])
    }

    /// Validates an append without changing anything. Returns the index the existing suffix
    /// must be dropped from first, if the append overwrites part of the log.
    pub(crate) fn check_append(&self, entries: &[Entry]) -> Result<Option<Index>, StorageError> {
        let Some(first) = entries.first() else {
            return Ok(None);
        };
        if first.index < self.first_index {
            return Err(StorageError::BeforeFirstIndex {
                index: first.index,
                first_index: self.first_index,
            });
        }
        if first.index > self.last_index() + 1 {
            return Err(StorageError::NotContiguous {
                expected: self.last_index() + 1,
                found: first.index,
            });
        }
        for pair in entries.windows(2) {
            if pair[1].index != pair[0].index + 1 {
                return Err(StorageError::NotContiguous {
                    expected: pair[0].index + 1,
                    found: pair[1].index,
                });
            }
        }
        Ok((first.index <= self.last_index()).then_some(first.index))
    }

    /// Appends entries already accepted by [`Log::check_append`].
    pub(crate) fn append_checked(&mut self, entries: &[Entry]) {
        if let Some(first) = entries.first() {
            self.truncate_from(first.index);
            self.entries.extend_from_slice(entries);
        }
    }

    /// Validates a suffix truncation. Returns whether it would remove anything.
    pub(crate) fn check_truncate(&self, from: Index) -> Result<bool, StorageError> {
        if from < self.first_index {
            return Err(StorageError::BeforeFirstIndex {
                index: from,
                first_index: self.first_index,
            });
        }
        Ok(from <= self.last_index())
    }

    /// Drops every entry with index `>= from` (nothing if `from` is past the end).
    pub(crate) fn truncate_from(&mut self, from: Index) {
        let keep = from.saturating_sub(self.first_index) as usize;
        self.entries.truncate(keep);
    }

    fn position(&self, index: Index) -> Option<usize> {
        if index < self.first_index || index > self.last_index() {
            return None;
        }
        Some((index - self.first_index) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(term: Term, index: Index) -> Entry {
        Entry {
            term,
            index,
            data: bytes::Bytes::new(),
        }
    }

    #[test]
    fn storage_log_append_overwrites_conflicting_suffix() {
        let mut log = Log::default();
        let batch = [entry(1, 1), entry(1, 2), entry(1, 3)];
        assert_eq!(log.check_append(&batch).unwrap(), None);
        log.append_checked(&batch);

        let overwrite = [entry(2, 2)];
        assert_eq!(log.check_append(&overwrite).unwrap(), Some(2));
        log.append_checked(&overwrite);
        assert_eq!(log.last_index(), 2);
        assert_eq!(log.term(2), Some(2));
        assert_eq!(log.term(3), None);
        assert_eq!(log.term(0), Some(0));
    }

    #[test]
    fn storage_log_rejects_gaps_and_index_zero() {
        let mut log = Log::default();
        log.append_checked(&[entry(1, 1)]);
        assert!(matches!(
            log.check_append(&[entry(1, 3)]),
            Err(StorageError::NotContiguous {
                expected: 2,
                found: 3
            })
        ));
        assert!(matches!(
            log.check_append(&[entry(1, 2), entry(1, 4)]),
            Err(StorageError::NotContiguous {
                expected: 3,
                found: 4
            })
        ));
        assert!(matches!(
            log.check_append(&[entry(1, 0)]),
            Err(StorageError::BeforeFirstIndex { index: 0, .. })
        ));
        assert!(log.check_truncate(0).is_err());
        assert!(!log.check_truncate(5).unwrap());
    }

    #[test]
    fn storage_log_slice_bounds() {
        let mut log = Log::default();
        log.append_checked(&[entry(1, 1), entry(1, 2)]);
        assert_eq!(log.slice(1, 3).unwrap().len(), 2);
        assert_eq!(log.slice(3, 3).unwrap().len(), 0);
        assert!(log.slice(1, 4).is_err());
        assert!(log.slice(0, 1).is_err());
    }
}

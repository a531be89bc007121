//! The in-memory view of the log shared by both stores: the index arithmetic and the validation
//! of appends, written once so the two stores cannot disagree about it.

use super::StorageError;
use crate::types::{Entry, Index, Term};

/// Contiguous entries; `entries[i].index == first_index + i`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Log {
    first_index: Index,
    entries: Vec<Entry>,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            first_index: 1,
            entries: Vec::new(),
        }
    }
}

impl Log {
    pub(crate) fn first_index(&self) -> Index {
        self.first_index
    }

    pub(crate) fn last_index(&self) -> Index {
        self.first_index + self.entries.len() as Index - 1
    }

    pub(crate) fn term(&self, index: Index) -> Option<Term> {
        // Until compaction exists, the entry "before" the log is the empty prefix at index 0.
        if index == 0 {
            return Some(0);
        }
        self.position(index).map(|i| self.entries[i].term)
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub(crate) fn slice(&self, lo: Index, hi: Index) -> Result<&[Entry], StorageError> {
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

//! Typed storage errors. Every on-disk problem names the file, and corruption names the byte
//! offset, so an operator can look at the exact spot.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::types::Index;

/// Errors from a [`Storage`](super::Storage).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An operating-system call failed on `path`.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A file of ours is damaged at `offset` in a way a crash cannot explain (for example a bad
    /// record followed by valid data), so recovery refuses to guess.
    #[error("corrupt data in {} at byte offset {offset}: {kind}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        kind: Corruption,
    },

    /// The file does not start with our magic bytes: the directory holds something else.
    #[error(
        "{} is not a raft-impl storage file (foreign or unknown format: bad magic bytes)",
        path.display()
    )]
    ForeignFormat { path: PathBuf },

    /// Our magic, but a format version this build does not read.
    #[error(
        "{} has storage format version {found}, this build reads version {supported}",
        path.display()
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    /// Log segments are numbered consecutively; this one is absent although later ones exist.
    #[error("log segment {} is missing (later segments exist)", path.display())]
    MissingSegment { path: PathBuf },

    /// An append whose entries would not continue the log (a gap, or non-consecutive indices).
    #[error("entry index {found} does not continue the log: expected {expected}")]
    NotContiguous { expected: Index, found: Index },

    /// An index before the first one held (index 0, or later a compacted prefix).
    #[error("index {index} is before the first stored index {first_index}")]
    BeforeFirstIndex { index: Index, first_index: Index },

    /// A read of entries that were compacted into the snapshot.
    #[error("entries from index {requested} were compacted; the log starts at {first_index}")]
    Compacted {
        requested: Index,
        first_index: Index,
    },

    /// A snapshot that is not newer than the one already held (Figure 13: never go backwards).
    #[error(
        "snapshot with last_included_index {last_included_index} is not newer than the current one ({current})"
    )]
    SnapshotOutOfDate {
        last_included_index: Index,
        current: Index,
    },

    /// A read of entries that are not all held.
    #[error("entries [{lo}, {hi}) requested but the log holds [{first_index}, {last_index}]")]
    OutOfRange {
        lo: Index,
        hi: Index,
        first_index: Index,
        last_index: Index,
    },

    /// An earlier write or fsync failed; the in-memory view may no longer match the disk.
    #[error("storage is unusable after an earlier I/O failure; reopen it to recover from disk")]
    Poisoned,
}

impl StorageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }

    /// Where a repair may cut: the offset of corruption in a file of ours. `None` for anything
    /// else (I/O, a foreign file, a newer format: never "repaired" away).
    pub(crate) fn damage_offset(&self) -> Option<u64> {
        match self {
            StorageError::Corrupt { offset, .. } => Some(*offset),
            _ => None,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, offset: u64, kind: Corruption) -> Self {
        StorageError::Corrupt {
            path: path.into(),
            offset,
            kind,
        }
    }
}

/// What exactly is wrong at a corrupt offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corruption {
    /// A file header (magic, version, ...) whose checksum does not match.
    BadFileHeader,
    /// A record header (length and body checksum) whose own checksum does not match.
    BadRecordHeader,
    /// A record body whose checksum does not match.
    BadChecksum,
    /// A record cut short, or a header too short to hold a record, where no crash could have
    /// cut it (not at the end of the last segment).
    Truncated,
    /// A record with a valid checksum but a kind or length this version does not know.
    BadRecord,
    /// A segment whose header names a different sequence number than its file name.
    WrongSegmentNumber { expected: u64, found: u64 },
    /// A log entry whose index does not continue the log replayed so far.
    IndexGap { expected: Index, found: Index },
    /// A truncation record that points outside the log replayed so far.
    BadTruncation { from: Index, last_index: Index },
    /// A snapshot record for a snapshot whose file is missing or invalid: the entries it
    /// covers may be gone, so recovery refuses to go on without it.
    MissingSnapshot { last_included_index: Index },
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corruption::BadFileHeader => write!(f, "file header checksum mismatch"),
            Corruption::BadRecordHeader => write!(f, "record header checksum mismatch"),
            Corruption::BadChecksum => write!(f, "record checksum mismatch"),
            Corruption::Truncated => write!(f, "record cut short"),
            Corruption::BadRecord => write!(f, "unknown record kind or malformed record body"),
            Corruption::WrongSegmentNumber { expected, found } => {
                write!(
                    f,
                    "segment header says number {found}, file name says {expected}"
                )
            }
            Corruption::IndexGap { expected, found } => {
                write!(f, "entry index {found} where {expected} was expected")
            }
            Corruption::BadTruncation { from, last_index } => write!(
                f,
                "truncation from index {from} outside the log (last index {last_index})"
            ),
            Corruption::MissingSnapshot {
                last_included_index,
            } => write!(
                f,
                "log records a snapshot up to index {last_included_index} but no valid snapshot file holds it"
            ),
        }
    }
}

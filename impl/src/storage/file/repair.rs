//! Opt-in repair of damage a crash cannot explain ([`FileStorageOptions::repair`]), for
//! protocol-aware recovery: instead of refusing to start, keep the log as it was before the
//! first damaged record, drop everything after it, and report the highest index the dropped
//! records name, so the node comes back *recovering* (no votes, no elections) until a leader
//! has re-sent that much. Damage that cannot be bounded (a record whose length is unreadable
//! with data after it, a later segment whose header is damaged) is still refused.
//!
//! [`FileStorageOptions::repair`]: super::FileStorageOptions::repair

use std::fs;
use std::path::{Path, PathBuf};

use super::record::{decode_record, Decoded, Record};
use super::segment::{self, HEADER_LEN};
use super::{fsops, sync_dir};
use crate::storage::StorageError;
use crate::types::Index;

/// The highest entry index named by the records of `buf` from `offset` on, skipping records
/// whose body is damaged but whose length is known; `None` if some record's extent cannot be
/// read with more data after it (nothing after it can be bounded). A torn end is fine.
fn highest_index_from(buf: &[u8], mut offset: usize) -> Option<Index> {
    let mut max = 0;
    while offset < buf.len() {
        match decode_record(&buf[offset..]) {
            Decoded::Record { record, len } => {
                if let Record::Entry(e) = record {
                    max = max.max(e.index);
                }
                offset += len;
            }
            Decoded::BadChecksum { len } => offset += len,
            Decoded::Incomplete => return Some(max),
            Decoded::BadHeader | Decoded::BadRecord => return None,
        }
    }
    Some(max)
}

/// The damage starts at byte `offset` of `segments[at]` (its records before it were replayed
/// into a log ending at `kept_up_to`). Bounds what the damaged part and every later segment
/// hold, then cuts the damaged segment at `offset` (removing it if its header is damaged) and
/// deletes the later segments. Returns the highest index lost (the new `lost_up_to`);
/// `Err(original)` if the loss cannot be bounded.
pub(crate) fn cut_at_damage(
    dir: &Path,
    segments: &[(u64, PathBuf)],
    at: usize,
    offset: u64,
    kept_up_to: Index,
    original: StorageError,
) -> Result<Index, StorageError> {
    let mut lost_up_to = 0;
    for (i, (_, path)) in segments.iter().enumerate().skip(at) {
        let buf = fs::read(path).map_err(|e| StorageError::io(path, e))?;
        let from = if i == at {
            (offset as usize).max(HEADER_LEN)
        } else {
            HEADER_LEN
        };
        match highest_index_from(&buf, from) {
            Some(max) => lost_up_to = lost_up_to.max(max),
            None => return Err(original),
        }
    }
    if lost_up_to <= kept_up_to {
        // Nothing identifiable was lost beyond what is kept: no bound on what the damaged
        // bytes held.
        return Err(original);
    }
    let (_, damaged) = &segments[at];
    if offset as usize >= HEADER_LEN {
        segment::SegmentFile::open(damaged.clone())?.truncate(offset)?;
    } else {
        fsops::remove_file(damaged).map_err(|e| StorageError::io(damaged, e))?;
    }
    for (_, path) in &segments[at + 1..] {
        fsops::remove_file(path).map_err(|e| StorageError::io(path, e))?;
    }
    sync_dir(dir)?;
    tracing::warn!(
        path = %damaged.display(),
        offset,
        kept_up_to,
        lost_up_to,
        error = %original,
        "repaired a damaged log: entries after kept_up_to are gone; they may have been \
         acknowledged, so the node recovers (no votes, no elections) until a leader re-sends \
         them up to lost_up_to"
    );
    Ok(lost_up_to)
}

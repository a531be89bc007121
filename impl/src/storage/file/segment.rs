//! Log segment files: naming, the per-file header, appending, and the recovery scan that
//! decides between "torn tail" (drop it) and "corruption" (refuse to start).
//!
//! A segment is `<20-digit sequence number>.log`: a file header, then records back to back.
//! Sequence numbers are consecutive, so a missing file in the middle is detected.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use super::fsops;
use super::record::{
    decode_file_header, decode_record, encode_file_header, header_len, read_u64, Decoded,
    HeaderError, Record, FORMAT_VERSION, RECORD_HEADER_LEN,
};
use crate::storage::{Corruption, StorageError};

const MAGIC: &[u8; 8] = b"RAFTLOG\0";
/// The header's payload is the segment's sequence number.
pub(crate) const HEADER_LEN: usize = header_len(8);
const SUFFIX: &str = ".log";
const DIGITS: usize = 20;

pub(crate) fn file_name(seq: u64) -> String {
    format!("{seq:0width$}{SUFFIX}", width = DIGITS)
}

fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) fn header(seq: u64) -> Vec<u8> {
    encode_file_header(MAGIC, &seq.to_le_bytes())
}

/// The segments in `dir`, in order (recovery checks that their numbers have no gap). Files with
/// other names are not ours and are left alone.
pub(crate) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let read_dir = fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))?;
    let mut segments = Vec::new();
    for item in read_dir {
        let item = item.map_err(|e| StorageError::io(dir, e))?;
        if let Some(seq) = item.file_name().to_str().and_then(parse_file_name) {
            segments.push((seq, item.path()));
        }
    }
    segments.sort_unstable_by_key(|(seq, _)| *seq);
    Ok(segments)
}

/// How the scan of a segment ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ScanEnd {
    /// Every byte belongs to a valid record.
    Clean,
    /// The last segment ends in a record a crash cut off; the valid data is `[0, valid_len)`.
    TornRecord { valid_len: u64 },
    /// The last segment's own header was cut off by a crash: the file holds no record.
    TornHeader,
}

/// Scans the segment `seq` whose bytes are `buf`, calling `replay` for each valid record with its
/// byte offset. Only the last segment may end torn: the writer completes and fsyncs a segment
/// before creating the next, so any damage to an earlier one is corruption.
pub(crate) fn scan(
    path: &Path,
    seq: u64,
    buf: &[u8],
    is_last: bool,
    mut replay: impl FnMut(Record, u64) -> Result<(), StorageError>,
) -> Result<ScanEnd, StorageError> {
    let corrupt = |offset: usize, kind| StorageError::corrupt(path, offset as u64, kind);

    if is_last && is_torn_header(seq, buf) {
        return Ok(ScanEnd::TornHeader);
    }
    let payload = match decode_file_header(MAGIC, 8, buf) {
        Ok(payload) => payload,
        Err(HeaderError::Incomplete) => return Err(corrupt(0, Corruption::Truncated)),
        Err(HeaderError::Foreign) => return Err(StorageError::ForeignFormat { path: path.into() }),
        Err(HeaderError::Version(found)) => {
            return Err(StorageError::UnsupportedVersion {
                path: path.into(),
                found,
                supported: FORMAT_VERSION,
            })
        }
        Err(HeaderError::BadChecksum) => return Err(corrupt(0, Corruption::BadFileHeader)),
    };
    let found = read_u64(payload);
    if found != seq {
        return Err(corrupt(
            12,
            Corruption::WrongSegmentNumber {
                expected: seq,
                found,
            },
        ));
    }

    let mut offset = HEADER_LEN;
    while offset < buf.len() {
        let rest = &buf[offset..];
        // A write cut off by a crash leaves a prefix of the record, possibly followed by zeros
        // (file size extended before the data reached the disk). Anything else after a bad
        // record means the damage is not a torn tail, and dropping it could lose synced data.
        let torn = match decode_record(rest) {
            Decoded::Record { record, len } => {
                replay(record, offset as u64)?;
                offset += len;
                continue;
            }
            Decoded::Incomplete => Ok(()),
            Decoded::BadHeader if all_zero(&rest[RECORD_HEADER_LEN..]) => Ok(()),
            Decoded::BadHeader => Err(Corruption::BadRecordHeader),
            Decoded::BadChecksum { len } if all_zero(&rest[len..]) => Ok(()),
            Decoded::BadChecksum { .. } => Err(Corruption::BadChecksum),
            Decoded::BadRecord => Err(Corruption::BadRecord),
        };
        return match torn {
            Ok(()) if is_last => Ok(ScanEnd::TornRecord {
                valid_len: offset as u64,
            }),
            Ok(()) => Err(corrupt(offset, Corruption::Truncated)),
            Err(kind) => Err(corrupt(offset, kind)),
        };
    }
    Ok(ScanEnd::Clean)
}

/// A crash right after creating a segment can leave a prefix of its header, possibly followed
/// by zeros, and nothing else. The header of segment `seq` is fully determined, so this is
/// recognised exactly, and a file that is anything more is never deleted as "torn".
fn is_torn_header(seq: u64, buf: &[u8]) -> bool {
    let expected = header(seq);
    let matching = buf
        .iter()
        .zip(&expected)
        .take_while(|(a, b)| a == b)
        .count();
    matching < expected.len() && all_zero(&buf[matching..])
}

fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

/// A segment open for appending.
#[derive(Debug)]
pub(crate) struct SegmentFile {
    path: PathBuf,
    file: File,
}

impl SegmentFile {
    /// Creates segment `seq` as an empty file. The caller writes the [`header`] first, then
    /// syncs the file and the directory.
    pub(crate) fn create(dir: &Path, seq: u64) -> Result<Self, StorageError> {
        let path = dir.join(file_name(seq));
        let file = fsops::create_new(OpenOptions::new().append(true).create_new(true), &path)
            .map_err(|e| StorageError::io(&path, e))?;
        Ok(SegmentFile { path, file })
    }

    /// Opens an existing, already validated segment; writes go to its end.
    pub(crate) fn open(path: PathBuf) -> Result<Self, StorageError> {
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| StorageError::io(&path, e))?;
        Ok(SegmentFile { path, file })
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        fsops::write_all(&mut self.file, &self.path, bytes)
            .map_err(|e| StorageError::io(&self.path, e))
    }

    /// fdatasync: the data and the file size, which is all recovery needs.
    pub(crate) fn sync_data(&self) -> Result<(), StorageError> {
        fsops::sync_data(&self.file, &self.path).map_err(|e| StorageError::io(&self.path, e))
    }

    /// Cuts the file to `len` bytes and makes that durable (used to drop a torn tail).
    pub(crate) fn truncate(&self, len: u64) -> Result<(), StorageError> {
        self.file
            .set_len(len)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| StorageError::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_segment_names() {
        assert_eq!(file_name(7), "00000000000000000007.log");
        assert_eq!(parse_file_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_file_name("7.log"), None);
        assert_eq!(parse_file_name("0000000000000000000a.log"), None);
        assert_eq!(parse_file_name("00000000000000000007.log.bak"), None);
    }
}

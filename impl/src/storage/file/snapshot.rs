//! The snapshot file (§7): `snapshot-<last_included_index>.snap`, replaced atomically.
//!
//! Layout: the shared file header (magic `RAFTSNP\0`, format version, payload
//! `last_included_index | last_included_term | data length | crc32 of data`, header crc32),
//! then the data. A snapshot is written to `snapshot.tmp`, fsynced, renamed to its final
//! name and the directory fsynced; only then may anything depend on it.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::record::{
    decode_file_header, encode_file_header, header_len, read_u32, read_u64, HeaderError,
    FORMAT_VERSION,
};
use super::{fsops, sync_dir};
use crate::storage::{Corruption, StorageError};
use crate::types::{Snapshot, SnapshotMeta};

pub(crate) const TEMP_NAME: &str = "snapshot.tmp";
const MAGIC: &[u8; 8] = b"RAFTSNP\0";
const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".snap";
const PAYLOAD_LEN: usize = 8 + 8 + 8 + 4;

pub(crate) fn file_name(last_included_index: u64) -> String {
    format!("{PREFIX}{last_included_index:020}{SUFFIX}")
}

fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

pub(crate) fn encode(snapshot: &Snapshot) -> Vec<u8> {
    let mut payload = Vec::with_capacity(PAYLOAD_LEN);
    payload.extend_from_slice(&snapshot.meta.last_included_index.to_le_bytes());
    payload.extend_from_slice(&snapshot.meta.last_included_term.to_le_bytes());
    payload.extend_from_slice(&(snapshot.data.len() as u64).to_le_bytes());
    payload.extend_from_slice(&crc32fast::hash(&snapshot.data).to_le_bytes());
    let mut out = encode_file_header(MAGIC, &payload);
    out.extend_from_slice(&snapshot.data);
    out
}

/// Decodes a whole snapshot file; `Err` names what is wrong.
pub(crate) fn decode(path: &Path, buf: &[u8]) -> Result<Snapshot, StorageError> {
    let payload = decode_file_header(MAGIC, PAYLOAD_LEN, buf).map_err(|e| match e {
        HeaderError::Foreign => StorageError::ForeignFormat { path: path.into() },
        HeaderError::Version(found) => StorageError::UnsupportedVersion {
            path: path.into(),
            found,
            supported: FORMAT_VERSION,
        },
        HeaderError::Incomplete => StorageError::corrupt(path, 0, Corruption::Truncated),
        HeaderError::BadChecksum => StorageError::corrupt(path, 0, Corruption::BadFileHeader),
    })?;
    let meta = SnapshotMeta {
        last_included_index: read_u64(&payload[0..8]),
        last_included_term: read_u64(&payload[8..16]),
    };
    let len = read_u64(&payload[16..24]);
    let start = header_len(PAYLOAD_LEN);
    let data = &buf[start..];
    if data.len() as u64 != len {
        return Err(StorageError::corrupt(
            path,
            start as u64,
            Corruption::Truncated,
        ));
    }
    if crc32fast::hash(data) != read_u32(&payload[24..28]) {
        return Err(StorageError::corrupt(
            path,
            start as u64,
            Corruption::BadChecksum,
        ));
    }
    Ok(Snapshot {
        meta,
        data: Bytes::copy_from_slice(data),
    })
}

/// Durably writes `snapshot`: temp file, fsync, rename, fsync directory.
pub(crate) fn store(dir: &Path, snapshot: &Snapshot) -> Result<(), StorageError> {
    let temp = dir.join(TEMP_NAME);
    let mut file = fsops::create(&temp).map_err(|e| StorageError::io(&temp, e))?;
    fsops::write_all(&mut file, &temp, &encode(snapshot))
        .and_then(|()| fsops::sync_all(&file, &temp))
        .map_err(|e| StorageError::io(&temp, e))?;
    drop(file);
    let path = dir.join(file_name(snapshot.meta.last_included_index));
    fsops::rename(&temp, &path).map_err(|e| StorageError::io(&path, e))?;
    sync_dir(dir)
}

/// The snapshot files of `dir`, newest first.
pub(crate) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let read_dir = fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))?;
    let mut found = Vec::new();
    for item in read_dir {
        let item = item.map_err(|e| StorageError::io(dir, e))?;
        if let Some(index) = item.file_name().to_str().and_then(parse_file_name) {
            found.push((index, item.path()));
        }
    }
    found.sort_unstable_by_key(|(index, _)| std::cmp::Reverse(*index));
    Ok(found)
}

/// The newest valid snapshot of `dir`. A damaged newer file is skipped (with a warning) in
/// favour of the previous one; log replay then reports corruption if that loses entries.
pub(crate) fn load_newest(dir: &Path) -> Result<Option<Snapshot>, StorageError> {
    for (index, path) in list(dir)? {
        let buf = fs::read(&path).map_err(|e| StorageError::io(&path, e))?;
        match decode(&path, &buf) {
            Ok(snapshot) if snapshot.meta.last_included_index == index => {
                return Ok(Some(snapshot))
            }
            Ok(_) => {
                tracing::warn!(path = %path.display(), "snapshot file name and header disagree; ignored")
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "invalid snapshot file ignored")
            }
        }
    }
    Ok(None)
}

/// Removes snapshot files older than `keep` (after `keep` is durable).
pub(crate) fn remove_older(dir: &Path, keep: u64) -> Result<(), StorageError> {
    let mut removed = false;
    for (index, path) in list(dir)? {
        if index < keep {
            fsops::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
            removed = true;
        }
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(())
}

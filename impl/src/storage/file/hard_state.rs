//! The hard-state file, replaced atomically.
//!
//! Raft needs `current_term` and `voted_for` to change as a unit: a vote recorded against the
//! wrong term could grant two votes in one term (§5.2). So the file is never modified in place:
//! the new contents go to a temporary file, which is fsynced, renamed over the old file (rename
//! is atomic), and then the directory is fsynced so the rename itself is durable. A crash at any
//! point leaves either the old or the new file, never a mix; a leftover temporary file is
//! deleted on open.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use super::record::{
    decode_file_header, encode_file_header, header_len, read_u32, read_u64, HeaderError,
};
use super::{fsops, sync_dir};
use crate::storage::{Corruption, StorageError};
use crate::types::HardState;

pub(crate) const FILE_NAME: &str = "hardstate";
pub(crate) const TEMP_NAME: &str = "hardstate.tmp";
const MAGIC: &[u8; 8] = b"RAFTHST\0";
/// current_term (8), voted_for present (1), voted_for (8), lost_up_to (8), lost_term (8).
const PAYLOAD_LEN: usize = 33;
/// Versions 1 and 2: without lost_up_to.
const PAYLOAD_LEN_V2: usize = 17;

fn encode(hard_state: HardState) -> Vec<u8> {
    let mut payload = Vec::with_capacity(PAYLOAD_LEN);
    payload.extend_from_slice(&hard_state.current_term.to_le_bytes());
    payload.push(u8::from(hard_state.voted_for.is_some()));
    payload.extend_from_slice(&hard_state.voted_for.unwrap_or(0).to_le_bytes());
    payload.extend_from_slice(&hard_state.lost_up_to.to_le_bytes());
    payload.extend_from_slice(&hard_state.lost_term.to_le_bytes());
    encode_file_header(MAGIC, &payload)
}

fn decode(path: &Path, buf: &[u8]) -> Result<HardState, StorageError> {
    // The payload's length depends on the version (checked by decode_file_header).
    let payload_len = match buf.get(8..12).map(read_u32) {
        Some(1 | 2) => PAYLOAD_LEN_V2,
        _ => PAYLOAD_LEN,
    };
    let payload = decode_file_header(MAGIC, payload_len, buf).map_err(|e| match e {
        HeaderError::Foreign => StorageError::ForeignFormat { path: path.into() },
        HeaderError::Version(found) => StorageError::UnsupportedVersion {
            path: path.into(),
            found,
            supported: super::record::FORMAT_VERSION,
        },
        // The file only ever appears by rename after an fsync, so a crash cannot tear it:
        // any damage is corruption.
        HeaderError::Incomplete => StorageError::corrupt(path, 0, Corruption::Truncated),
        HeaderError::BadChecksum => StorageError::corrupt(path, 0, Corruption::BadFileHeader),
    })?;
    if buf.len() != header_len(payload_len) {
        return Err(StorageError::corrupt(
            path,
            header_len(payload_len) as u64,
            Corruption::BadRecord,
        ));
    }
    let voted_for = match payload[8] {
        0 => None,
        1 => Some(read_u64(&payload[9..17])),
        _ => return Err(StorageError::corrupt(path, 20, Corruption::BadRecord)),
    };
    Ok(HardState {
        current_term: read_u64(&payload[0..8]),
        voted_for,
        lost_up_to: payload.get(17..25).map_or(0, read_u64),
        lost_term: payload.get(25..33).map_or(0, read_u64),
    })
}

/// Reads the hard state of `dir`, after deleting a temporary file left by a crash. A missing
/// file means a fresh node: term 0, no vote.
pub(crate) fn load(dir: &Path) -> Result<HardState, StorageError> {
    let temp = dir.join(TEMP_NAME);
    match fsops::remove_file(&temp) {
        Ok(()) => {
            tracing::info!(path = %temp.display(), "removed hard-state temp file left by a crash");
            sync_dir(dir)?;
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(StorageError::io(temp, e)),
    }
    let path = dir.join(FILE_NAME);
    match fs::read(&path) {
        Ok(buf) => decode(&path, &buf),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(HardState::default()),
        Err(e) => Err(StorageError::io(path, e)),
    }
}

/// Durably replaces the hard state of `dir`: temp file, fsync, rename, fsync directory.
pub(crate) fn store(dir: &Path, hard_state: HardState) -> Result<(), StorageError> {
    let temp = dir.join(TEMP_NAME);
    let mut file = fsops::create(&temp).map_err(|e| StorageError::io(&temp, e))?;
    fsops::write_all(&mut file, &temp, &encode(hard_state))
        .and_then(|()| fsops::sync_all(&file, &temp))
        .map_err(|e| StorageError::io(&temp, e))?;
    drop(file);
    let path = dir.join(FILE_NAME);
    fsops::rename(&temp, &path).map_err(|e| StorageError::io(&path, e))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_hard_state_version_2_file_still_reads() {
        // Version 2: the same header, a 17-byte payload without lost_up_to.
        let mut v2 = MAGIC.to_vec();
        v2.extend_from_slice(&2u32.to_le_bytes());
        v2.extend_from_slice(&9u64.to_le_bytes());
        v2.push(1);
        v2.extend_from_slice(&4u64.to_le_bytes());
        let crc = crc32fast::hash(&v2);
        v2.extend_from_slice(&crc.to_le_bytes());
        let hs = decode(Path::new("hardstate"), &v2).unwrap();
        assert_eq!(
            hs,
            HardState {
                current_term: 9,
                voted_for: Some(4),
                lost_up_to: 0,
                lost_term: 0,
            }
        );
        let mut short = v2.clone();
        short.truncate(v2.len() - 1);
        assert!(decode(Path::new("hardstate"), &short).is_err());
    }

    #[test]
    fn storage_hard_state_round_trip_and_damage() {
        let path = Path::new("hardstate");
        for hs in [
            HardState::default(),
            HardState {
                current_term: u64::MAX,
                voted_for: Some(0),
                lost_up_to: 0,
                lost_term: 0,
            },
            HardState {
                current_term: 7,
                voted_for: None,
                lost_up_to: 42,
                lost_term: 6,
            },
        ] {
            assert_eq!(decode(path, &encode(hs)).unwrap(), hs);
        }
        let good = encode(HardState {
            current_term: 3,
            voted_for: Some(2),
            lost_up_to: 0,
            lost_term: 0,
        });
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            assert!(
                decode(path, &bad).is_err(),
                "flip at byte {i} went unnoticed"
            );
        }
        assert!(matches!(
            decode(path, &good[..10]),
            Err(StorageError::Corrupt {
                kind: Corruption::Truncated,
                ..
            })
        ));
    }
}

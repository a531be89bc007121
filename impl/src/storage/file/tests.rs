//! Targeted recovery tests: one damage pattern each, checking that recovery either repairs a
//! torn tail or reports corruption with the right file and byte offset.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::record::RECORD_HEADER_LEN;
use super::{hard_state, segment, FileStorage, FileStorageOptions};
use crate::storage::{Corruption, Storage, StorageError};
use crate::types::{Entry, HardState, Index};

/// Every test entry carries this many bytes of data, so record offsets are easy to compute.
const DATA_LEN: usize = 20;
/// Kind byte, term and index, then the data.
const RECORD_LEN: u64 = (RECORD_HEADER_LEN + 17 + DATA_LEN) as u64;

fn entry(index: Index) -> Entry {
    Entry {
        term: 1 + index / 10,
        index,
        data: Bytes::from(vec![index as u8; DATA_LEN]),
    }
}

fn entries(n: Index) -> Vec<Entry> {
    (1..=n).map(entry).collect()
}

/// Offset of the record holding entry `index` when the segment holds entries from 1 on.
fn record_offset(index: Index) -> u64 {
    segment::HEADER_LEN as u64 + (index - 1) * RECORD_LEN
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(segment::file_name(seq))
}

/// A directory holding entries 1..=n, synced, written in batches of 3.
fn synced_dir(n: Index, options: FileStorageOptions) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut s = FileStorage::open_with(dir.path(), options).unwrap();
    for batch in entries(n).chunks(3) {
        s.append(batch).unwrap();
        s.sync().unwrap();
    }
    dir
}

fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x5a;
    fs::write(path, bytes).unwrap();
}

pub(super) fn set_len(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn open_entries(dir: &Path) -> Vec<Entry> {
    FileStorage::open(dir).unwrap().load().unwrap().entries
}

#[test]
fn storage_file_overwrites_and_truncations_are_not_resurrected() {
    let dir = synced_dir(6, FileStorageOptions::default());
    let mut s = FileStorage::open(dir.path()).unwrap();
    let overwrite = Entry {
        term: 9,
        index: 4,
        data: Bytes::from_static(b"new"),
    };
    s.append(std::slice::from_ref(&overwrite)).unwrap();
    s.sync().unwrap();
    drop(s);
    let mut expected = entries(3);
    expected.push(overwrite);
    assert_eq!(open_entries(dir.path()), expected);

    let mut s = FileStorage::open(dir.path()).unwrap();
    s.truncate_suffix(2).unwrap();
    s.sync().unwrap();
    drop(s);
    assert_eq!(open_entries(dir.path()), entries(1));
}

#[test]
fn storage_file_corrupt_byte_mid_segment_names_file_and_offset() {
    let dir = synced_dir(10, FileStorageOptions::default());
    let path = segment_path(dir.path(), 1);
    // Damage the data of entry 5; entries 6..=10 after it are intact.
    flip_byte(&path, record_offset(5) + RECORD_LEN - 1);

    let err = FileStorage::open(dir.path()).unwrap_err();
    match &err {
        StorageError::Corrupt {
            path: p,
            offset,
            kind,
        } => {
            assert_eq!(p, &path);
            assert_eq!(*offset, record_offset(5));
            assert_eq!(*kind, Corruption::BadChecksum);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("00000000000000000001.log"), "{message}");
    assert!(
        message.contains(&format!("byte offset {}", record_offset(5))),
        "{message}"
    );
}

#[test]
fn storage_file_corrupt_length_mid_segment_is_not_taken_for_a_torn_tail() {
    let dir = synced_dir(10, FileStorageOptions::default());
    let path = segment_path(dir.path(), 1);
    // A corrupted length could point past the end of the file, which would look like a record
    // cut off by a crash; the header checksum must catch it.
    flip_byte(&path, record_offset(4) + 3);
    assert!(matches!(
        FileStorage::open(dir.path()),
        Err(StorageError::Corrupt {
            offset,
            kind: Corruption::BadRecordHeader,
            ..
        }) if offset == record_offset(4)
    ));
}

#[test]
fn storage_file_torn_last_record_is_truncated_earlier_records_intact() {
    let dir = synced_dir(10, FileStorageOptions::default());
    let path = segment_path(dir.path(), 1);
    let full_len = fs::metadata(&path).unwrap().len();
    assert_eq!(full_len, record_offset(11));
    set_len(&path, full_len - 7);

    assert_eq!(open_entries(dir.path()), entries(9));
    // The torn bytes are gone from disk, so new records follow valid ones.
    assert_eq!(fs::metadata(&path).unwrap().len(), record_offset(10));
    let mut s = FileStorage::open(dir.path()).unwrap();
    s.append(&[entry(10), entry(11)]).unwrap();
    s.sync().unwrap();
    drop(s);
    assert_eq!(open_entries(dir.path()), entries(11));
}

#[test]
fn storage_file_bad_checksum_in_final_record_is_a_torn_tail() {
    let dir = synced_dir(4, FileStorageOptions::default());
    let path = segment_path(dir.path(), 1);
    flip_byte(&path, record_offset(5) - 1);
    assert_eq!(open_entries(dir.path()), entries(3));
}

#[test]
fn storage_file_zero_filled_tail_is_a_torn_tail() {
    let dir = synced_dir(4, FileStorageOptions::default());
    let path = segment_path(dir.path(), 1);
    let len = fs::metadata(&path).unwrap().len();
    // The file size reached the disk but the data did not: zeros where records should be.
    set_len(&path, len + 4096);
    assert_eq!(open_entries(dir.path()), entries(4));
    assert_eq!(fs::metadata(&path).unwrap().len(), len);
}

#[test]
fn storage_file_rolls_segments_and_recovers_them_all() {
    let options = FileStorageOptions {
        segment_size: 200,
        ..FileStorageOptions::default()
    };
    let dir = synced_dir(30, options.clone());
    let segments = segment::list(dir.path()).unwrap();
    assert!(segments.len() > 5, "only {} segments", segments.len());
    let s = FileStorage::open_with(dir.path(), options).unwrap();
    assert_eq!(s.load().unwrap().entries, entries(30));
}

#[test]
fn storage_file_damage_in_a_non_final_segment_is_an_error() {
    let options = FileStorageOptions {
        segment_size: 200,
        ..FileStorageOptions::default()
    };
    let dir = synced_dir(30, options);
    let first = segment_path(dir.path(), 1);
    let len = fs::metadata(&first).unwrap().len();
    // A cut that would be a torn tail in the last segment is corruption here.
    set_len(&first, len - 3);
    match FileStorage::open(dir.path()) {
        Err(StorageError::Corrupt {
            path,
            kind: Corruption::Truncated,
            ..
        }) => assert_eq!(path, first),
        other => panic!("expected truncation error, got {other:?}"),
    }
}

#[test]
fn storage_file_missing_segment_is_an_error() {
    let options = FileStorageOptions {
        segment_size: 200,
        ..FileStorageOptions::default()
    };
    let dir = synced_dir(30, options);
    fs::remove_file(segment_path(dir.path(), 2)).unwrap();
    match FileStorage::open(dir.path()) {
        Err(StorageError::MissingSegment { path }) => {
            assert_eq!(path, segment_path(dir.path(), 2))
        }
        other => panic!("expected missing segment, got {other:?}"),
    }
}

#[test]
fn storage_file_torn_header_of_new_last_segment_is_removed() {
    let options = FileStorageOptions {
        segment_size: 200,
        ..FileStorageOptions::default()
    };
    let dir = synced_dir(30, options.clone());
    let segments = segment::list(dir.path()).unwrap();
    let (last_seq, last) = segments.last().unwrap().clone();
    let in_last = {
        let len = fs::metadata(&last).unwrap().len() - segment::HEADER_LEN as u64;
        30 - len / RECORD_LEN
    };
    // The crash hit right after the file was created: half a header.
    set_len(&last, 10);
    assert_eq!(open_entries(dir.path()), entries(in_last));
    assert!(!last.exists());
    // The next segment reuses the number.
    let mut s = FileStorage::open_with(dir.path(), options).unwrap();
    s.append(&entries(30)[in_last as usize..]).unwrap();
    s.sync().unwrap();
    assert!(segment_path(dir.path(), last_seq).exists());
    drop(s);
    assert_eq!(open_entries(dir.path()), entries(30));
}

#[test]
fn storage_file_hard_state_survives_leftover_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let hs = HardState {
        current_term: 5,
        voted_for: Some(2),
        lost_up_to: 0,
        lost_term: 0,
    };
    let mut s = FileStorage::open(dir.path()).unwrap();
    s.save_hard_state(hs).unwrap();
    s.sync().unwrap();
    drop(s);
    // A crash while writing the next hard state left a partial temp file behind.
    let temp = dir.path().join(hard_state::TEMP_NAME);
    fs::write(&temp, b"RAFTHST\0\x01\0\0").unwrap();

    let s = FileStorage::open(dir.path()).unwrap();
    assert_eq!(s.hard_state(), hs);
    assert!(!temp.exists());
}

#[test]
fn storage_file_hard_state_is_replaced_not_appended() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = FileStorage::open(dir.path()).unwrap();
    for term in 1..=3 {
        s.save_hard_state(HardState {
            current_term: term,
            voted_for: Some(term),
            lost_up_to: 0,
            lost_term: 0,
        })
        .unwrap();
        s.sync().unwrap();
    }
    drop(s);
    let s = FileStorage::open(dir.path()).unwrap();
    assert_eq!(s.hard_state().current_term, 3);
    assert_eq!(s.hard_state().voted_for, Some(3));
}

#[test]
fn storage_file_foreign_segment_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = segment_path(dir.path(), 1);
    fs::write(&path, b"this is somebody else's file, not a raft log\n").unwrap();
    let err = FileStorage::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, StorageError::ForeignFormat { path: p } if p == &path),
        "{err:?}"
    );
    assert!(err.to_string().contains("foreign"), "{err}");
    // Recovery must not have "repaired" a file that is not ours.
    assert!(path.exists());
}

#[test]
fn storage_file_foreign_hard_state_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(hard_state::FILE_NAME);
    fs::write(&path, b"{\"term\": 3}").unwrap();
    assert!(matches!(
        FileStorage::open(dir.path()),
        Err(StorageError::ForeignFormat { path: p }) if p == path
    ));
}

#[test]
fn storage_file_unknown_version_is_rejected() {
    let dir = synced_dir(2, FileStorageOptions::default());
    let path = segment_path(dir.path(), 1);
    let mut bytes = fs::read(&path).unwrap();
    bytes[8] = 99;
    fs::write(&path, bytes).unwrap();
    assert!(matches!(
        FileStorage::open(dir.path()),
        Err(StorageError::UnsupportedVersion {
            found: 99,
            supported: 3,
            ..
        })
    ));
}

#[test]
fn storage_file_renamed_segment_is_detected() {
    let dir = synced_dir(2, FileStorageOptions::default());
    fs::rename(segment_path(dir.path(), 1), segment_path(dir.path(), 7)).unwrap();
    assert!(matches!(
        FileStorage::open(dir.path()),
        Err(StorageError::Corrupt {
            kind: Corruption::WrongSegmentNumber {
                expected: 7,
                found: 1
            },
            ..
        })
    ));
}

#[test]
fn storage_file_group_commit_writes_batch_in_one_segment_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = FileStorage::open(dir.path()).unwrap();
    for i in 1..=64 {
        s.append(&[entry(i)]).unwrap();
    }
    // Nothing reaches the file before sync: staged writes are memory only.
    assert!(!segment_path(dir.path(), 1).exists());
    s.sync().unwrap();
    assert_eq!(
        fs::metadata(segment_path(dir.path(), 1)).unwrap().len(),
        record_offset(65)
    );
}

/// Rewrites the version field of a file header (at byte 8) and its checksum.
fn set_header_version(path: &std::path::Path, header_len: usize, version: u32) {
    let mut bytes = fs::read(path).unwrap();
    bytes[8..12].copy_from_slice(&version.to_le_bytes());
    let crc = crc32fast::hash(&bytes[..header_len - 4]);
    bytes[header_len - 4..header_len].copy_from_slice(&crc.to_le_bytes());
    fs::write(path, bytes).unwrap();
}

/// A format-version-1 directory (no snapshot files, version 1 headers) still opens, and a
/// snapshot can then be taken in it.
#[test]
fn storage_file_version_1_directory_still_opens() {
    let dir = synced_dir(2, FileStorageOptions::default());
    let before = FileStorage::open(dir.path()).unwrap().load().unwrap();
    set_header_version(&segment_path(dir.path(), 1), super::segment::HEADER_LEN, 1);
    let hs_path = dir.path().join(hard_state::FILE_NAME);
    if hs_path.exists() {
        set_header_version(&hs_path, super::record::header_len(17), 1);
    }
    let mut s = FileStorage::open(dir.path()).unwrap();
    assert_eq!(s.load().unwrap(), before);
    let last = s.last_index();
    let term = s.term(last).unwrap();
    let snap = crate::types::Snapshot {
        meta: crate::types::SnapshotMeta {
            last_included_index: last,
            last_included_term: term,
        },
        data: bytes::Bytes::from_static(b"v1 state"),
    };
    s.save_snapshot(&snap).unwrap();
    s.sync().unwrap();
    drop(s);
    let s = FileStorage::open(dir.path()).unwrap();
    assert_eq!(s.snapshot().unwrap(), Some(snap));
    assert_eq!(s.first_index(), last + 1);
}

/// Figure 13 step 7 discarded the log at an older snapshot; replay on top of a newer snapshot
/// skips the older snapshot's record and must still see the discard (its truncation record).
#[test]
fn storage_file_discarded_log_stays_discarded_under_a_newer_snapshot() {
    use crate::storage::contract::snapshot;
    let dir = tempfile::tempdir().unwrap();
    let mut s = FileStorage::open(dir.path()).unwrap();
    s.append(&entries(7)).unwrap();
    // A leader's snapshot whose term does not match entry 1: the whole log goes.
    s.save_snapshot(&snapshot(1, 9)).unwrap();
    let after: Vec<_> = (2..=5)
        .map(|index| Entry {
            term: 9,
            index,
            data: Bytes::from_static(b"x"),
        })
        .collect();
    s.append(&after).unwrap();
    s.save_snapshot(&snapshot(3, 9)).unwrap();
    s.sync().unwrap();
    let before = s.load().unwrap();
    assert_eq!(before.entries, after[2..].to_vec());
    drop(s);
    assert_eq!(
        FileStorage::open(dir.path()).unwrap().load().unwrap(),
        before
    );
}

fn repairing(segment_size: u64) -> FileStorageOptions {
    FileStorageOptions {
        segment_size,
        repair: true,
    }
}

/// Opens with repair and returns (entries kept, lost_up_to), checking the loss is durable.
fn open_repaired(dir: &Path, options: FileStorageOptions) -> (Vec<Entry>, Index) {
    let s = FileStorage::open_with(dir, options.clone()).unwrap();
    let got = (s.load().unwrap().entries, s.hard_state().lost_up_to);
    drop(s);
    let again = FileStorage::open_with(dir, options).unwrap();
    assert_eq!(
        again.hard_state().lost_up_to,
        got.1,
        "the watermark is durable"
    );
    assert_eq!(
        again.load().unwrap().entries,
        got.0,
        "the repair is durable"
    );
    got
}

#[test]
fn storage_file_repair_cuts_a_bad_record_in_the_middle_and_bounds_the_loss() {
    let dir = synced_dir(8, FileStorageOptions::default());
    let path = segment_path(dir.path(), 1);
    // The body of entry 4 is damaged; entries 5..=8 after it are intact.
    flip_byte(&path, record_offset(4) + RECORD_HEADER_LEN as u64 + 2);
    assert!(matches!(
        FileStorage::open(dir.path()),
        Err(StorageError::Corrupt { .. })
    ));
    let (kept, lost_up_to) = open_repaired(dir.path(), repairing(1 << 20));
    assert_eq!((kept, lost_up_to), (entries(3), 8));
    // Appending goes on from the cut.
    let mut s = FileStorage::open_with(dir.path(), repairing(1 << 20)).unwrap();
    s.append(&entries(5)[3..]).unwrap();
    s.sync().unwrap();
    assert_eq!(s.load().unwrap().entries, entries(5));
}

#[test]
fn storage_file_repair_of_a_damaged_or_missing_segment_drops_the_later_ones() {
    for missing in [false, true] {
        let dir = synced_dir(30, repairing(200));
        let second = segment_path(dir.path(), 2);
        if missing {
            fs::remove_file(&second).unwrap();
        } else {
            let len = fs::metadata(&second).unwrap().len();
            set_len(&second, len - 3);
        }
        let (kept, lost_up_to) = open_repaired(dir.path(), repairing(200));
        assert!(kept.len() < 30, "missing={missing}");
        assert_eq!(
            kept,
            entries(kept.len() as Index),
            "a prefix, missing={missing}"
        );
        assert_eq!(lost_up_to, 30, "missing={missing}");
        assert!(!segment_path(dir.path(), 3).exists(), "later segments go");
    }
}

#[test]
fn storage_file_repair_refuses_damage_it_cannot_bound() {
    // The last record's header is damaged with nothing decodable after it.
    let dir = synced_dir(4, FileStorageOptions::default());
    let path = segment_path(dir.path(), 1);
    flip_byte(&path, record_offset(4));
    let len = fs::metadata(&path).unwrap().len();
    let mut file = fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut file, &[7u8; 40]).unwrap();
    assert!(fs::metadata(&path).unwrap().len() > len);
    assert!(matches!(
        FileStorage::open_with(dir.path(), repairing(1 << 20)),
        Err(StorageError::Corrupt { .. })
    ));
}

#[test]
fn storage_file_repair_leaves_a_torn_tail_and_clean_logs_alone() {
    let dir = synced_dir(5, FileStorageOptions::default());
    let path = segment_path(dir.path(), 1);
    let len = fs::metadata(&path).unwrap().len();
    set_len(&path, len - 5);
    // A torn tail is what a crash leaves: no watermark (a synced, acknowledged entry lost this
    // way is found by the leader instead).
    assert_eq!(
        open_repaired(dir.path(), repairing(1 << 20)),
        (entries(4), 0)
    );
}

//! Crash points of a compaction, simulated on disk: every prefix of the log bytes its sync
//! appended (a torn write at each byte). Recovery must never lose a committed entry nor the
//! durable snapshot.

use std::fs;

use super::segment;
use super::{FileStorage, FileStorageOptions};
use crate::storage::contract::{entry, snapshot};
use crate::storage::Storage;

#[test]
fn storage_file_crash_at_every_byte_of_a_compaction_loses_nothing_committed() {
    let options = FileStorageOptions::default();
    let base = tempfile::tempdir().unwrap();
    let mut s = FileStorage::open_with(base.path(), options.clone()).unwrap();
    let log: Vec<_> = (1..=12).map(|i| entry(1, i)).collect();
    s.append(&log).unwrap();
    s.sync().unwrap();
    let (seq, before_len) = s.tail.unwrap();
    // The compaction batch: the snapshot, then more entries.
    s.stage_ready(Some(&snapshot(8, 1)), None, None, &[entry(1, 13)])
        .unwrap();
    s.sync().unwrap();
    let (seq_after, _) = s.tail.unwrap();
    drop(s);
    let active = base.path().join(segment::file_name(seq));
    let full = fs::read(&active).unwrap();
    assert_eq!(seq_after, seq, "one segment holds the whole batch");
    assert!(full.len() as u64 > before_len);
    for cut in before_len as usize..=full.len() {
        let dir = tempfile::tempdir().unwrap();
        for item in fs::read_dir(base.path()).unwrap() {
            let item = item.unwrap();
            fs::copy(item.path(), dir.path().join(item.file_name())).unwrap();
        }
        fs::write(dir.path().join(segment::file_name(seq)), &full[..cut]).unwrap();
        let r = FileStorage::open_with(dir.path(), options.clone()).unwrap();
        // The snapshot file was durable before any record: it always survives.
        assert_eq!(r.snapshot().unwrap(), Some(snapshot(8, 1)), "cut {cut}");
        // Committed entries 9..=12 are never lost; 13 may be (it was being written).
        assert!(r.last_index() >= 12, "cut {cut}: last {}", r.last_index());
        assert_eq!(r.entries(9, 13).unwrap(), log[8..12].to_vec(), "cut {cut}");
    }
}

/// A crash after the snapshot file but before its record: recovery applies the snapshot and
/// writes the record, so entries appended afterwards survive the next restart (they used to be
/// discarded by a replay that applied the snapshot after them).
#[test]
fn storage_file_writes_after_recovering_a_snapshot_without_its_record_survive() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = FileStorage::open(dir.path()).unwrap();
    s.append(&[entry(1, 1), entry(1, 2)]).unwrap();
    s.sync().unwrap();
    // A leader's snapshot past the end of the log; only its file becomes durable.
    s.save_snapshot(&snapshot(5, 2)).unwrap();
    super::snapshot::store(dir.path(), &snapshot(5, 2)).unwrap();
    drop(s);
    let mut r = FileStorage::open(dir.path()).unwrap();
    assert_eq!((r.first_index(), r.last_index()), (6, 5));
    r.append(&[entry(2, 6)]).unwrap();
    r.sync().unwrap();
    let before = r.load().unwrap();
    drop(r);
    let reopened = FileStorage::open(dir.path()).unwrap().load().unwrap();
    assert_eq!(reopened, before);
    assert_eq!(reopened.entries, vec![entry(2, 6)]);
}

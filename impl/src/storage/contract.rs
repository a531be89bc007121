//! The contract test suite of [`Storage`]: the tests every implementation must pass, run the
//! same way against [`MemStorage`] and [`FileStorage`] so the two cannot drift apart. A new
//! implementation gets a `storage_contract_*` test calling [`check_contract`].

use bytes::Bytes;

use super::{
    FileStorage, FileStorageOptions, MemStorage, Storage, StorageError, StoredState,
    VolatileStorage,
};
use crate::types::{Entry, HardState, Index, Snapshot, SnapshotMeta, Term};

pub(crate) fn entry(term: Term, index: Index) -> Entry {
    Entry {
        term,
        index,
        data: Bytes::from(format!("cmd {term}/{index}")),
    }
}

fn entries(term: Term, indices: std::ops::RangeInclusive<Index>) -> Vec<Entry> {
    indices.map(|i| entry(term, i)).collect()
}

/// The contract of [`Storage`] as seen through reads, on a fresh store.
fn check_contract(s: &mut impl Storage) {
    assert_eq!(s.load().unwrap(), StoredState::default());
    assert_eq!((s.first_index(), s.last_index()), (1, 0));
    assert_eq!(s.term(0), Some(0));
    assert_eq!(s.term(1), None);

    let hs = HardState {
        current_term: 2,
        voted_for: Some(3),
        lost_up_to: 0,
        lost_term: 0,
    };
    s.save_hard_state(hs).unwrap();
    s.append(&entries(1, 1..=3)).unwrap();
    s.append(&entries(2, 4..=5)).unwrap();
    assert_eq!(s.hard_state(), hs);
    assert_eq!(s.last_index(), 5);
    assert_eq!(s.term(3), Some(1));
    assert_eq!(s.term(5), Some(2));
    assert_eq!(s.entries(2, 4).unwrap(), entries(1, 2..=3));
    assert_eq!(s.entries(6, 6).unwrap(), vec![]);

    // §5.3: an append that conflicts drops the existing suffix from its first index.
    s.append(&entries(3, 3..=3)).unwrap();
    assert_eq!(s.last_index(), 3);
    assert_eq!(s.term(3), Some(3));
    assert_eq!(s.term(4), None);

    s.truncate_suffix(3).unwrap();
    assert_eq!(s.last_index(), 2);
    s.truncate_suffix(10).unwrap();
    assert_eq!(s.last_index(), 2);

    assert!(matches!(
        s.append(&entries(1, 4..=4)),
        Err(StorageError::NotContiguous {
            expected: 3,
            found: 4
        })
    ));
    assert!(matches!(
        s.append(&[entry(1, 3), entry(1, 5)]),
        Err(StorageError::NotContiguous { .. })
    ));
    assert!(matches!(
        s.truncate_suffix(0),
        Err(StorageError::BeforeFirstIndex { .. })
    ));
    assert!(matches!(
        s.entries(1, 4),
        Err(StorageError::OutOfRange { .. })
    ));
    assert!(matches!(
        s.entries(0, 1),
        Err(StorageError::OutOfRange { .. })
    ));
    // Rejected writes changed nothing.
    assert_eq!(s.last_index(), 2);

    s.append(&[]).unwrap();
    s.sync().unwrap();
    assert_eq!(
        s.load().unwrap(),
        StoredState {
            hard_state: hs,
            snapshot: None,
            entries: entries(1, 1..=2)
        }
    );
}

pub(crate) fn snapshot(last_included_index: Index, last_included_term: Term) -> Snapshot {
    Snapshot {
        meta: SnapshotMeta {
            last_included_index,
            last_included_term,
        },
        data: Bytes::from(format!("state up to {last_included_index}")),
    }
}

/// The snapshot part of the contract (§7, Figure 13 receiver steps 6-7), on a fresh store.
/// Returns what the store holds at the end, synced, for a reopen check.
pub(crate) fn check_snapshot_contract(s: &mut impl Storage) -> StoredState {
    assert_eq!(s.snapshot_meta(), SnapshotMeta::default());
    assert_eq!(s.snapshot().unwrap(), None);
    s.append(&entries(1, 1..=3)).unwrap();
    s.append(&entries(2, 4..=6)).unwrap();

    // Own compaction at an entry the log holds: the entries after it are kept.
    let snap4 = snapshot(4, 2);
    s.save_snapshot(&snap4).unwrap();
    assert_eq!(s.snapshot_meta(), snap4.meta);
    assert_eq!(s.snapshot().unwrap(), Some(snap4.clone()));
    assert_eq!((s.first_index(), s.last_index()), (5, 6));
    assert_eq!(s.term(4), Some(2));
    assert_eq!(s.term(3), None);
    assert_eq!(s.term(0), None);
    assert_eq!(s.entries(5, 7).unwrap(), entries(2, 5..=6));
    assert!(matches!(
        s.entries(3, 7),
        Err(StorageError::Compacted {
            requested: 3,
            first_index: 5
        })
    ));
    s.sync().unwrap();

    // Never backwards: an older or equal snapshot is refused and changes nothing.
    for stale in [snapshot(4, 2), snapshot(2, 1)] {
        assert!(matches!(
            s.save_snapshot(&stale),
            Err(StorageError::SnapshotOutOfDate { current: 4, .. })
        ));
    }
    assert_eq!(s.snapshot().unwrap(), Some(snap4.clone()));
    assert_eq!(s.last_index(), 6);

    // Writes continue after the snapshot; none may reach into it.
    s.append(&entries(3, 6..=7)).unwrap();
    assert!(matches!(
        s.append(&entries(3, 4..=4)),
        Err(StorageError::BeforeFirstIndex { .. })
    ));
    assert!(matches!(
        s.truncate_suffix(4),
        Err(StorageError::BeforeFirstIndex { .. })
    ));
    assert_eq!(s.entries(5, 8).unwrap()[1..], entries(3, 6..=7)[..]);

    // A leader's snapshot whose last entry conflicts with the log: the whole log goes.
    let snap6 = snapshot(6, 5);
    s.save_snapshot(&snap6).unwrap();
    assert_eq!((s.first_index(), s.last_index()), (7, 6));
    assert_eq!(s.term(6), Some(5));
    assert_eq!(s.term(7), None);

    // A snapshot beyond the end of the log: the whole log goes too, then appends continue it.
    let snap9 = snapshot(9, 5);
    s.stage_ready(Some(&snap9), None, None, &entries(5, 10..=11))
        .unwrap();
    assert_eq!((s.first_index(), s.last_index()), (10, 11));
    s.sync().unwrap();
    let state = s.load().unwrap();
    assert_eq!(
        state,
        StoredState {
            hard_state: HardState::default(),
            snapshot: Some(snap9),
            entries: entries(5, 10..=11),
        }
    );
    state
}

#[test]
fn storage_contract_mem() {
    check_contract(&mut MemStorage::new());
}

#[test]
fn storage_contract_volatile() {
    check_contract(&mut VolatileStorage::new());
    let mut s = VolatileStorage::new();
    let state = check_snapshot_contract(&mut s);
    assert_eq!(s.load().unwrap(), state);
}

#[test]
fn storage_contract_mem_snapshots() {
    let mut s = MemStorage::new();
    let state = check_snapshot_contract(&mut s);
    s.crash();
    assert_eq!(s.load().unwrap(), state);
    assert_eq!(
        MemStorage::with_state(state.clone())
            .unwrap()
            .load()
            .unwrap(),
        state
    );
}

#[test]
fn storage_contract_file_snapshots_survive_reopen() {
    for segment_size in [1, 64 * 1024 * 1024] {
        let dir = tempfile::tempdir().unwrap();
        let options = FileStorageOptions {
            segment_size,
            ..FileStorageOptions::default()
        };
        let mut s = FileStorage::open_with(dir.path(), options.clone()).unwrap();
        let state = check_snapshot_contract(&mut s);
        drop(s);
        let reopened = FileStorage::open_with(dir.path(), options).unwrap();
        assert_eq!(reopened.load().unwrap(), state);
        assert_eq!(reopened.first_index(), 10);
        // Segments wholly below the snapshot are gone once it is durable.
        if segment_size == 1 {
            let logs = std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| e.as_ref().unwrap().path().extension() == Some("log".as_ref()))
                .count();
            assert!(logs < 8, "covered segments kept: {logs}");
        }
    }
}

/// A crash while the snapshot file was being written leaves only its temp file: recovery
/// ignores it and keeps every synced entry.
#[test]
fn storage_contract_file_half_written_snapshot_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = FileStorage::open(dir.path()).unwrap();
    s.append(&entries(1, 1..=5)).unwrap();
    s.sync().unwrap();
    let before = s.load().unwrap();
    drop(s);
    let half = &super::snapshot_bytes_for_test(&snapshot(3, 1))[..20];
    std::fs::write(dir.path().join("snapshot.tmp"), half).unwrap();
    let s = FileStorage::open(dir.path()).unwrap();
    assert_eq!(s.load().unwrap(), before);
    assert!(!dir.path().join("snapshot.tmp").exists());
}

/// A damaged newest snapshot file: recovery falls back to the previous valid one, and since
/// the log's snapshot record says entries were dropped, it reports typed corruption rather
/// than silently losing them.
#[test]
fn storage_contract_file_corrupt_snapshot_falls_back_or_reports() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = FileStorage::open(dir.path()).unwrap();
    s.append(&entries(1, 1..=6)).unwrap();
    s.save_snapshot(&snapshot(2, 1)).unwrap();
    s.sync().unwrap();
    s.save_snapshot(&snapshot(4, 1)).unwrap();
    s.sync().unwrap();
    drop(s);
    let newest = dir.path().join(format!("snapshot-{:020}.snap", 4));
    let mut bytes = std::fs::read(&newest).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&newest, &bytes).unwrap();
    assert!(matches!(
        FileStorage::open(dir.path()),
        Err(StorageError::Corrupt {
            kind: super::Corruption::MissingSnapshot {
                last_included_index: 4
            },
            ..
        })
    ));
}

/// A snapshot file durable but its log record lost (crash between them): recovery applies
/// the snapshot and drops the conflicting log it replaced (Figure 13, receiver step 7).
#[test]
fn storage_contract_file_snapshot_without_record_drops_conflicting_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = FileStorage::open(dir.path()).unwrap();
    s.append(&entries(1, 1..=6)).unwrap();
    s.sync().unwrap();
    drop(s);
    let snap = snapshot(4, 3);
    std::fs::write(
        dir.path().join(format!("snapshot-{:020}.snap", 4)),
        super::snapshot_bytes_for_test(&snap),
    )
    .unwrap();
    let s = FileStorage::open(dir.path()).unwrap();
    assert_eq!(s.snapshot().unwrap(), Some(snap));
    assert_eq!((s.first_index(), s.last_index()), (5, 4));
}

#[test]
fn storage_contract_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = FileStorage::open(dir.path()).unwrap();
    check_contract(&mut s);
    let written = s.load().unwrap();
    drop(s);
    assert_eq!(
        FileStorage::open(dir.path()).unwrap().load().unwrap(),
        written
    );
}

#[test]
fn storage_contract_file_with_tiny_segments() {
    let dir = tempfile::tempdir().unwrap();
    let options = FileStorageOptions {
        segment_size: 1,
        ..FileStorageOptions::default()
    };
    let mut s = FileStorage::open_with(dir.path(), options.clone()).unwrap();
    check_contract(&mut s);
    let written = s.load().unwrap();
    drop(s);
    let reopened = FileStorage::open_with(dir.path(), options).unwrap();
    assert_eq!(reopened.load().unwrap(), written);
}

/// A crash loses exactly what was not synced, in both implementations.
#[test]
fn storage_contract_crash_keeps_synced_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = FileStorage::open(dir.path()).unwrap();
    let mut mem = MemStorage::new();
    for s in [&mut file as &mut dyn Storage, &mut mem] {
        s.append(&entries(1, 1..=4)).unwrap();
        s.save_hard_state(HardState {
            current_term: 1,
            voted_for: None,
            lost_up_to: 0,
            lost_term: 0,
        })
        .unwrap();
        s.sync().unwrap();
        s.append(&entries(2, 3..=6)).unwrap();
        s.save_hard_state(HardState {
            current_term: 2,
            voted_for: Some(1),
            lost_up_to: 0,
            lost_term: 0,
        })
        .unwrap();
    }
    drop(file);
    mem.crash();
    let recovered = FileStorage::open(dir.path()).unwrap().load().unwrap();
    assert_eq!(recovered, mem.load().unwrap());
    assert_eq!(recovered.entries, entries(1, 1..=4));
}

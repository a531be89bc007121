//! The contract test suite of [`Storage`]: the tests every implementation must pass, run the
//! same way against [`MemStorage`] and [`FileStorage`] so the two cannot drift apart. A new
//! implementation gets a `storage_contract_*` test calling [`check_contract`].

use bytes::Bytes;

use super::{FileStorage, FileStorageOptions, MemStorage, Storage, StorageError, StoredState};
use crate::types::{Entry, HardState, Index, Term};

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
            entries: entries(1, 1..=2)
        }
    );
}

#[test]
fn storage_contract_mem() {
    check_contract(&mut MemStorage::new());
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
    let options = FileStorageOptions { segment_size: 1 };
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
        })
        .unwrap();
        s.sync().unwrap();
        s.append(&entries(2, 3..=6)).unwrap();
        s.save_hard_state(HardState {
            current_term: 2,
            voted_for: Some(1),
        })
        .unwrap();
    }
    drop(file);
    mem.crash();
    let recovered = FileStorage::open(dir.path()).unwrap().load().unwrap();
    assert_eq!(recovered, mem.load().unwrap());
    assert_eq!(recovered.entries, entries(1, 1..=4));
}

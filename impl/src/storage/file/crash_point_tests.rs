//! A crash at every filesystem call of a compaction's `sync` (each create, write, fsync,
//! rename and delete, see [`fsops`]), in three shapes:
//! - *process crash*: what the dead process handed to the OS stays (a write at the crash
//!   point lands half its bytes);
//! - *power loss*: every file also loses what was written since its last fsync;
//! - *reordered*: the new snapshot file reached its final name with only half its bytes (a
//!   disk that reorders the rename before the data).
//!
//! Then reopen: no synced entry and no durable snapshot may be lost; a half-written snapshot
//! file is ignored in favour of the previous one, or, once the log names it, recovery refuses
//! with `MissingSnapshot` rather than lose entries.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::fsops::{self, Call};
use super::{snapshot as snapshot_file, FileStorage, FileStorageOptions};
use crate::storage::{Corruption, Storage, StorageError};
use crate::types::{Entry, HardState, Index, Snapshot, SnapshotMeta, Term};

/// Entries 1..=SYNCED are synced before the compaction (committed).
const SYNCED: Index = 40;
/// The compaction batch appends SYNCED+1..=LAST.
const LAST: Index = 52;
const PREVIOUS: Index = 15;
const NEW: Index = 30;

fn options() -> FileStorageOptions {
    // About 8 entries per segment: the compaction deletes several covered segments and its
    // batch starts a new one.
    FileStorageOptions {
        segment_size: 1024,
        ..FileStorageOptions::default()
    }
}

fn entry(term: Term, index: Index) -> Entry {
    Entry {
        term,
        index,
        data: Bytes::from(vec![index as u8; 100]),
    }
}

fn snap(last_included_index: Index) -> Snapshot {
    Snapshot {
        meta: SnapshotMeta {
            last_included_index,
            last_included_term: 1,
        },
        data: Bytes::from(vec![last_included_index as u8; 2048]),
    }
}

fn hs(current_term: Term) -> HardState {
    HardState {
        current_term,
        voted_for: Some(current_term),
        lost_up_to: 0,
        lost_term: 0,
    }
}

/// Synced entries 1..=SYNCED of term 1, snapshots at 5 and PREVIOUS (the older is still on
/// disk: it is removed by the next compaction).
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut s = FileStorage::open_with(dir.path(), options()).unwrap();
    s.save_hard_state(hs(1)).unwrap();
    for lo in (1..=SYNCED).step_by(4) {
        let batch: Vec<_> = (lo..lo + 4).map(|i| entry(1, i)).collect();
        s.append(&batch).unwrap();
        s.sync().unwrap();
        for at in [5, PREVIOUS] {
            if lo + 3 >= at && s.snapshot_meta().last_included_index < at {
                s.save_snapshot(&snap(at)).unwrap();
                s.sync().unwrap();
            }
        }
    }
    dir
}

fn copy_dir(from: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for item in fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        fs::copy(item.path(), dir.path().join(item.file_name())).unwrap();
    }
    dir
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    ProcessCrash,
    PowerLoss,
    Reordered,
}

/// Reopens `dir` (so the store keeps the fixture's snapshot as its fallback) and runs the
/// compaction `sync`, crashing at call `crash_at`. Returns the sync's result, the calls made
/// and each file's durable length.
fn compact(
    dir: &Path,
    crash_at: Option<usize>,
) -> (Result<(), StorageError>, Vec<Call>, BTreeMap<PathBuf, u64>) {
    let mut s = FileStorage::open_with(dir, options()).unwrap();
    let batch: Vec<_> = (SYNCED + 1..=LAST).map(|i| entry(2, i)).collect();
    fsops::arm(dir, crash_at);
    let result = s
        .stage_ready(Some(&snap(NEW)), Some(hs(2)), None, &batch)
        .and_then(|()| s.sync());
    let (calls, durable) = fsops::disarm();
    // Dropped without another call: the process is gone.
    drop(s);
    (result, calls, durable)
}

use super::tests::set_len;

/// Position of the first call of `kind` on a file whose name ends in `suffix`.
fn first(calls: &[Call], kind: &str, suffix: &str) -> Option<usize> {
    calls
        .iter()
        .position(|c| c.kind == kind && c.path.to_string_lossy().ends_with(suffix))
}

/// Position of the directory fsync after call `after` (what makes a rename durable).
fn dir_sync_after(calls: &[Call], after: usize) -> usize {
    after
        + calls[after..]
            .iter()
            .position(|c| c.kind == "sync_dir")
            .expect("a rename is followed by a directory fsync")
}

#[test]
fn storage_file_crash_at_every_call_of_a_compaction_loses_nothing_durable() {
    let base = fixture();
    let (result, calls, _) = compact(copy_dir(base.path()).path(), None);
    result.unwrap();
    let new_name = snapshot_file::file_name(NEW);
    let snapshot_renamed = first(&calls, "rename", &new_name).unwrap();
    let snapshot_durable = dir_sync_after(&calls, snapshot_renamed);
    let hard_state_durable = dir_sync_after(&calls, first(&calls, "rename", "hardstate").unwrap());
    let first_log_write = first(&calls, "write", ".log").unwrap();
    // Every kind of call is among the crash points.
    for kind in ["create", "write", "fsync", "rename", "remove", "sync_dir"] {
        assert!(calls.iter().any(|c| c.kind == kind), "no {kind} call");
    }
    assert!(first(&calls, "remove", &snapshot_file::file_name(5)).is_some());
    assert!(snapshot_durable < hard_state_durable && hard_state_durable < first_log_write);

    let (mut reordered_fallbacks, mut refusals) = (0, 0);
    for crash_at in 0..=calls.len() {
        for shape in [Shape::ProcessCrash, Shape::PowerLoss, Shape::Reordered] {
            let what = format!(
                "crash at call {crash_at} ({:?}), {shape:?}",
                calls.get(crash_at)
            );
            if shape == Shape::Reordered && crash_at <= snapshot_renamed {
                continue;
            }
            let dir = copy_dir(base.path());
            let (result, _, durable) = compact(dir.path(), Some(crash_at));
            assert_eq!(result.is_ok(), crash_at == calls.len(), "{what}");
            match shape {
                Shape::ProcessCrash => {}
                Shape::PowerLoss => {
                    for (path, len) in &durable {
                        if fs::metadata(path).is_ok_and(|m| m.len() > *len) {
                            set_len(path, *len);
                        }
                    }
                }
                Shape::Reordered => {
                    let path = dir.path().join(&new_name);
                    set_len(&path, fs::metadata(&path).unwrap().len() / 2);
                }
            }
            let r = match FileStorage::open_with(dir.path(), options()) {
                Ok(r) => r,
                // The log names the new snapshot and its file is damaged: refusing is right. Once
                // the segments it covers are deleted, the gap they leave is met first.
                Err(StorageError::Corrupt {
                    kind:
                        Corruption::MissingSnapshot {
                            last_included_index: NEW,
                        }
                        | Corruption::IndexGap { .. },
                    ..
                }) if shape == Shape::Reordered && crash_at >= first_log_write => {
                    refusals += 1;
                    continue;
                }
                Err(e) => panic!("{what}: recovery failed: {e}"),
            };
            check_recovered(&r, crash_at, &what);
            let lii = r.snapshot_meta().last_included_index;
            if crash_at > snapshot_durable && shape != Shape::Reordered {
                assert_eq!(lii, NEW, "{what}: the durable snapshot was lost");
            }
            if shape == Shape::Reordered {
                assert_eq!(lii, PREVIOUS, "{what}: the half-written snapshot was used");
                reordered_fallbacks += 1;
            }
            if crash_at > hard_state_durable {
                assert_eq!(
                    r.hard_state(),
                    hs(2),
                    "{what}: the durable hard state was lost"
                );
            }
            if crash_at == calls.len() {
                assert_eq!(r.last_index(), LAST, "{what}");
            }
            still_usable(r, dir.path(), &what);
        }
    }
    assert!(reordered_fallbacks > 0 && refusals > 0);
}

/// What any crash may leave: the previous or the new snapshot, the old or the new hard state,
/// every synced entry (or the snapshot covering it), and a prefix of the batch's entries.
fn check_recovered(r: &FileStorage, crash_at: usize, what: &str) {
    let dir = r.dir();
    assert!(!dir.join(snapshot_file::TEMP_NAME).exists(), "{what}");
    let snapshot = r.snapshot().unwrap().expect("a snapshot is always durable");
    assert!(
        snapshot == snap(PREVIOUS) || snapshot == snap(NEW),
        "{what}: snapshot {:?}",
        snapshot.meta
    );
    assert!(r.hard_state() == hs(1) || r.hard_state() == hs(2), "{what}");
    let lii = snapshot.meta.last_included_index;
    assert_eq!(r.first_index(), lii + 1, "{what}");
    let last = r.last_index();
    assert!((SYNCED..=LAST).contains(&last), "{what}: last index {last}");
    let expected: Vec<_> = (lii + 1..=last)
        .map(|i| entry(if i > SYNCED { 2 } else { 1 }, i))
        .collect();
    assert_eq!(
        r.entries(lii + 1, last + 1).unwrap(),
        expected,
        "{what} ({crash_at})"
    );
}

/// The recovered store takes writes that survive a reopen, then a compaction, and reopens to
/// the same state.
fn still_usable(mut r: FileStorage, dir: &Path, what: &str) {
    let next = r.last_index() + 1;
    r.append(&[entry(3, next)]).unwrap();
    r.sync().unwrap();
    let before = r.load().unwrap();
    drop(r);
    let mut r = FileStorage::open_with(dir, options()).unwrap();
    assert_eq!(
        r.load().unwrap(),
        before,
        "{what}: a write after recovery was lost"
    );
    let mut newer = snap(next);
    newer.meta.last_included_term = 3;
    r.save_snapshot(&newer).unwrap();
    r.sync().unwrap();
    let before = r.load().unwrap();
    drop(r);
    let reopened = FileStorage::open_with(dir, options()).unwrap();
    assert_eq!(reopened.load().unwrap(), before, "{what}");
    // The newest snapshot file, its fallback, and perhaps an ignored damaged one.
    let snapshots = snapshot_file::list(dir).unwrap();
    assert!(snapshots.len() <= 3, "{what}: {snapshots:?}");
}

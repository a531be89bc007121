//! Random histories of appends, truncations, hard-state changes, compactions (snapshots), syncs
//! and crashes against [`FileStorage`], with [`MemStorage`] as the model of what must survive.
//!
//! A crash drops the store without syncing, then damages only bytes written after the last
//! sync (cutting them short, zero-filling them, or flipping a byte) in the last segment, the
//! only place a crash can leave them. Recovery must then return the synced state with some
//! prefix of the unsynced log writes applied (so nothing synced is lost and no synced
//! truncation is undone), or, for a flipped byte only, refuse with an error naming the damaged
//! file (and, for corruption, an offset at or after its synced length). A snapshot's file is
//! made durable before any log record of its batch (`sync`, step 1), so a crash may also leave
//! such a prefix with a later staged snapshot installed on top of it.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use proptest::prelude::*;

use super::{segment, FileStorage, FileStorageOptions};
use crate::storage::{MemStorage, Storage, StorageError};
use crate::types::{Entry, HardState, Index, NodeId, Snapshot, SnapshotMeta};

/// Small enough that histories roll segments often.
const SEGMENT_SIZE: u64 = 300;

#[derive(Clone, Debug)]
enum Damage {
    None,
    /// Cut the last segment at a point between its synced length and its end.
    Cut(u16),
    /// Zero the bytes from such a point to the end (size reached disk, data did not).
    Zero(u16),
    /// Grow the file with zeros.
    ZeroExtend(u16),
    /// Flip one byte after the synced length.
    Flip(u16, u8),
}

#[derive(Clone, Debug)]
enum Op {
    /// Append `count` entries starting `back` entries before the end (0: a plain append).
    Append {
        back: u8,
        count: u8,
        data_len: u8,
    },
    /// Drop the last `back` entries.
    Truncate {
        back: u8,
    },
    SaveHardState {
        vote: Option<NodeId>,
    },
    /// Save a snapshot `at` entries past the current one (possibly past the end of the log, as
    /// a leader's InstallSnapshot), of the log's term at that index unless `conflicting`.
    Compact {
        at: u8,
        conflicting: bool,
        data_len: u8,
    },
    Sync,
    /// Hand staged records to the OS without fsync, as a crash in the middle of `sync` could.
    WriteUnsynced,
    /// Crash; if `mid_sync`, after the staged records reached the OS but before any fsync.
    Crash {
        mid_sync: bool,
        damage: Damage,
    },
    /// Sync, close and reopen.
    Restart,
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        Just(Damage::None),
        any::<u16>().prop_map(Damage::Cut),
        any::<u16>().prop_map(Damage::Zero),
        (1..600u16).prop_map(Damage::ZeroExtend),
        (any::<u16>(), 1..=255u8).prop_map(|(at, x)| Damage::Flip(at, x)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3u8, 1..5u8, 0..60u8)
            .prop_map(|(back, count, data_len)| Op::Append { back, count, data_len }),
        1 => (0..4u8).prop_map(|back| Op::Truncate { back }),
        1 => proptest::option::of(0..5u64).prop_map(|vote| Op::SaveHardState { vote }),
        1 => (any::<u8>(), proptest::bool::weighted(0.25), any::<u8>())
            .prop_map(|(at, conflicting, data_len)| Op::Compact { at, conflicting, data_len }),
        3 => Just(Op::Sync),
        2 => Just(Op::WriteUnsynced),
        3 => (proptest::bool::weighted(0.75), damage())
            .prop_map(|(mid_sync, damage)| Op::Crash { mid_sync, damage }),
        1 => Just(Op::Restart),
    ]
}

struct Harness {
    dir: tempfile::TempDir,
    file: FileStorage,
    model: MemStorage,
    /// Length of every segment file as of the last sync (or recovery): bytes before it are
    /// durable and must not be damaged by a simulated crash.
    synced_lens: BTreeMap<PathBuf, u64>,
    term: u64,
    /// Snapshots staged since the last sync, each with the number of log operations staged
    /// before it: its file may be durable without the records staged before it.
    unsynced_snapshots: Vec<(usize, Snapshot)>,
}

fn options() -> FileStorageOptions {
    FileStorageOptions {
        segment_size: SEGMENT_SIZE,
        ..FileStorageOptions::default()
    }
}

fn file_lens(dir: &Path) -> BTreeMap<PathBuf, u64> {
    segment::list(dir)
        .unwrap()
        .into_iter()
        .map(|(_, path)| {
            let len = fs::metadata(&path).unwrap().len();
            (path, len)
        })
        .collect()
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = FileStorage::open_with(dir.path(), options()).unwrap();
        Harness {
            dir,
            file,
            model: MemStorage::new(),
            synced_lens: BTreeMap::new(),
            term: 1,
            unsynced_snapshots: Vec::new(),
        }
    }

    /// Runs one op. Returns false when recovery (correctly) refused a corrupted directory and
    /// the history cannot go on.
    fn step(&mut self, op: &Op) -> Result<bool, TestCaseError> {
        match op {
            Op::Append {
                back,
                count,
                data_len,
            } => {
                let start = (self.model.last_index() + 1)
                    .saturating_sub(*back as Index)
                    .max(self.model.first_index());
                self.term += u64::from(*back > 0);
                let batch: Vec<Entry> = (start..start + *count as Index)
                    .map(|index| Entry {
                        term: self.term,
                        index,
                        data: Bytes::from(vec![index as u8; *data_len as usize]),
                    })
                    .collect();
                self.file.append(&batch).unwrap();
                self.model.append(&batch).unwrap();
            }
            Op::Truncate { back } => {
                let from = (self.model.last_index() + 1)
                    .saturating_sub(*back as Index)
                    .max(self.model.first_index());
                self.file.truncate_suffix(from).unwrap();
                self.model.truncate_suffix(from).unwrap();
            }
            Op::SaveHardState { vote } => {
                self.term += 1;
                let hs = HardState {
                    current_term: self.term,
                    voted_for: *vote,
                    lost_up_to: 0,
                    lost_term: 0,
                };
                self.file.save_hard_state(hs).unwrap();
                self.model.save_hard_state(hs).unwrap();
            }
            Op::Compact {
                at,
                conflicting,
                data_len,
            } => {
                let current = self.model.snapshot_meta().last_included_index;
                let span = self.model.last_index() - current + 2;
                let last_included_index = current + 1 + Index::from(*at) % span;
                let last_included_term = match self.model.term(last_included_index) {
                    Some(term) if !conflicting => term,
                    _ => {
                        self.term += 1;
                        self.term
                    }
                };
                let snapshot = Snapshot {
                    meta: SnapshotMeta {
                        last_included_index,
                        last_included_term,
                    },
                    data: Bytes::from(vec![*at; *data_len as usize]),
                };
                self.unsynced_snapshots
                    .push((self.model.unsynced_log_ops(), snapshot.clone()));
                self.file.save_snapshot(&snapshot).unwrap();
                self.model.save_snapshot(&snapshot).unwrap();
            }
            Op::Sync => {
                self.file.sync().unwrap();
                self.model.sync().unwrap();
                self.unsynced_snapshots.clear();
                self.synced_lens = file_lens(self.dir.path());
            }
            Op::WriteUnsynced => self.file.write_unsynced().unwrap(),
            Op::Restart => {
                self.file.sync().unwrap();
                self.model.sync().unwrap();
                self.unsynced_snapshots.clear();
                self.reopen().unwrap();
            }
            Op::Crash { mid_sync, damage } => {
                if *mid_sync {
                    self.file.write_unsynced().unwrap();
                }
                return self.crash(damage);
            }
        }
        prop_assert_eq!(self.file.load().unwrap(), self.model.load().unwrap());
        Ok(true)
    }

    fn reopen(&mut self) -> Result<(), StorageError> {
        // Drop the old handle first: a crash does not get to flush anything.
        let placeholder = tempfile::tempdir().unwrap();
        drop(std::mem::replace(
            &mut self.file,
            FileStorage::open(placeholder.path()).unwrap(),
        ));
        self.file = FileStorage::open_with(self.dir.path(), options())?;
        self.synced_lens = file_lens(self.dir.path());
        Ok(())
    }

    fn crash(&mut self, damage: &Damage) -> Result<bool, TestCaseError> {
        // What recovery may return: the synced log plus any prefix of the log writes since,
        // perhaps with a snapshot staged after that prefix installed on top (its file was
        // durable first).
        let mut candidates = Vec::new();
        for landed in 0..=self.model.unsynced_log_ops() {
            let mut m = self.model.clone();
            m.crash_during_sync(landed);
            for (_, snapshot) in self
                .unsynced_snapshots
                .iter()
                .filter(|(at, _)| *at >= landed)
            {
                let mut with = m.clone();
                with.save_snapshot(snapshot).unwrap();
                with.sync().unwrap();
                candidates.push(with.load().unwrap());
            }
            candidates.push(m.load().unwrap());
        }
        let candidates: Vec<_> = candidates
            .into_iter()
            .map(|state| (state.snapshot, state.entries))
            .collect();
        self.unsynced_snapshots.clear();
        let synced_hard_state = self.model.durable_snapshot().hard_state;

        let placeholder = tempfile::tempdir().unwrap();
        drop(std::mem::replace(
            &mut self.file,
            FileStorage::open(placeholder.path()).unwrap(),
        ));
        let damaged = self.damage_tail(damage);

        match FileStorage::open_with(self.dir.path(), options()) {
            Ok(file) => {
                let recovered = file.load().unwrap();
                prop_assert_eq!(recovered.hard_state, synced_hard_state);
                let found = (recovered.snapshot.clone(), recovered.entries.clone());
                prop_assert!(
                    candidates.contains(&found),
                    "recovered snapshot {:?} and log {:?} are not the synced state plus a prefix of later writes",
                    recovered.snapshot.as_ref().map(|s| s.meta),
                    recovered
                        .entries
                        .iter()
                        .map(|e| (e.index, e.term))
                        .collect::<Vec<_>>()
                );
                self.file = file;
                self.model = MemStorage::with_state(recovered).unwrap();
                self.synced_lens = file_lens(self.dir.path());
                Ok(true)
            }
            // A flipped byte in a never-synced segment header reads as a foreign or
            // unknown-version file: also a clear refusal, naming the file.
            Err(
                StorageError::ForeignFormat { ref path }
                | StorageError::UnsupportedVersion { ref path, .. },
            ) if matches!(damage, Damage::Flip(..)) => {
                let (damaged_path, synced_len) = damaged.expect("a flip damaged some file");
                prop_assert_eq!(path, &damaged_path);
                prop_assert_eq!(synced_len, 0, "header of a synced segment read as foreign");
                Ok(false)
            }
            Err(StorageError::Corrupt { path, offset, .. })
                if matches!(damage, Damage::Flip(..)) =>
            {
                let (damaged_path, synced_len) = damaged.expect("a flip damaged some file");
                prop_assert_eq!(&path, &damaged_path);
                prop_assert!(
                    offset >= synced_len,
                    "error at {} before synced {}",
                    offset,
                    synced_len
                );
                Ok(false)
            }
            Err(e) => Err(TestCaseError::fail(format!(
                "recovery failed after {damage:?}: {e}"
            ))),
        }
    }

    /// Applies `damage` to the unsynced bytes of the last segment; returns that file and its
    /// synced length if anything was changed.
    fn damage_tail(&self, damage: &Damage) -> Option<(PathBuf, u64)> {
        let (_, path) = segment::list(self.dir.path()).unwrap().pop()?;
        let synced = self.synced_lens.get(&path).copied().unwrap_or(0);
        let len = fs::metadata(&path).unwrap().len();
        let unsynced = len - synced;
        let point = |at: u16| synced + u64::from(at) % (unsynced + 1);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        match *damage {
            Damage::None => return None,
            Damage::Cut(at) => file.set_len(point(at)).unwrap(),
            Damage::Zero(at) => {
                file.set_len(point(at)).unwrap();
                file.set_len(len).unwrap();
            }
            Damage::ZeroExtend(n) => file.set_len(len + u64::from(n)).unwrap(),
            Damage::Flip(at, x) => {
                if unsynced == 0 {
                    return None;
                }
                let mut bytes = fs::read(&path).unwrap();
                bytes[(synced + u64::from(at) % unsynced) as usize] ^= x;
                fs::write(&path, bytes).unwrap();
            }
        }
        Some((path, synced))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn storage_file_recovers_synced_prefix_after_random_crashes(
        ops in proptest::collection::vec(op(), 1..50)
    ) {
        let mut h = Harness::new();
        for op in &ops {
            if !h.step(op)? {
                // Recovery refused a corrupted directory, as it must; nothing more to run.
                return Ok(());
            }
        }
        // Whatever survived, a clean restart must reproduce it exactly.
        h.file.sync().unwrap();
        h.model.sync().unwrap();
        h.reopen().unwrap();
        prop_assert_eq!(h.file.load().unwrap(), h.model.load().unwrap());
    }
}

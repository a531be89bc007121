//! Durable storage in a data directory.
//!
//! - The log is a sequence of append-only segment files of checksummed records. An entry is
//!   one record; dropping a suffix is a *truncation record*, so every change to the log is an
//!   append and a crash can never leave a half-applied truncation (nor resurrect entries whose
//!   truncation was synced: replay applies the record in order).
//! - The hard state is its own small file, replaced atomically (see [`hard_state`]).
//! - Writes are staged in memory; [`Storage::sync`] does all the I/O for the batch with one
//!   fdatasync of the log (group commit).
//!
//! - A snapshot (§7) is its own file, written atomically at `sync` before anything else (see
//!   [`snapshot`]); a *snapshot record* then marks in the log where it took effect, so replay
//!   drops exactly what the live store dropped. Segments wholly below the snapshot are deleted
//!   once it is durable.
//!
//! The log after the snapshot is also kept in memory to serve reads.
//! The on-disk format is described in `docs/storage-format.md`.

mod fsops;
mod hard_state;
mod record;
mod repair;
mod segment;
mod snapshot;

#[cfg(test)]
mod crash_point_tests;
#[cfg(test)]
mod crash_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::fs;
use std::path::{Path, PathBuf};

use self::record::{encode_entry, encode_snapshot, encode_truncate, Record};
use self::segment::{ScanEnd, SegmentFile};
use super::log::Log;
use super::{Corruption, Storage, StorageError};
use crate::types::{Entry, HardState, Index, Snapshot, SnapshotMeta, Term};

/// Tuning for [`FileStorage`].
#[derive(Clone, Debug)]
pub struct FileStorageOptions {
    /// A new segment is started once the current one has reached this many bytes. A segment
    /// may exceed it by one record.
    pub segment_size: u64,
    /// Protocol-aware recovery: on damage a crash cannot explain (a bad record with data after
    /// it, a damaged or missing segment with later ones), keep the log before the damage,
    /// drop the rest, and raise the hard state's `lost_up_to` to the highest index the dropped
    /// records name, so the node recovers from its peers instead of refusing to start. Off by
    /// default: the operator asks for it (`raftkv serve --repair-damaged-log`). Damage that
    /// cannot be bounded is refused either way.
    pub repair: bool,
}

impl Default for FileStorageOptions {
    fn default() -> Self {
        FileStorageOptions {
            segment_size: 64 * 1024 * 1024,
            repair: false,
        }
    }
}

/// Encoded records waiting for the next sync, all bound for one segment.
#[derive(Debug)]
struct Chunk {
    seq: u64,
    /// The segment does not exist yet; `bytes` starts with its header.
    create: bool,
    bytes: Vec<u8>,
}

/// [`Storage`] in a directory: segment files `<seq>.log` and a `hardstate` file.
///
/// Dropping a `FileStorage` without calling [`Storage::sync`] loses the staged writes, exactly
/// like a crash. Only one `FileStorage` may use a directory at a time.
#[derive(Debug)]
pub struct FileStorage {
    dir: PathBuf,
    options: FileStorageOptions,
    hard_state: HardState,
    durable_hard_state: HardState,
    log: Log,
    /// The latest snapshot (staged or durable).
    snapshot: Option<Snapshot>,
    /// A snapshot staged since the last sync; its file is written first at the next sync.
    pending_snapshot: Option<Snapshot>,
    /// `last_included_index` of the previous durable snapshot: its file is kept as a fallback.
    previous_snapshot_index: Index,
    /// Each segment's number and the highest index any of its records names, oldest first:
    /// decides which segments a durable snapshot covers wholly.
    segment_max: Vec<(u64, Index)>,
    /// The last segment on disk, where the next records go.
    active: Option<SegmentFile>,
    /// `active` has data written since its last fdatasync.
    active_dirty: bool,
    /// A segment was created since the directory was last fsynced.
    dir_dirty: bool,
    /// Records staged since the last sync, in order, split where segments roll.
    pending: Vec<Chunk>,
    /// The last segment (on disk or pending) and its size including pending bytes: decides
    /// when to roll. `None` before the first segment exists.
    tail: Option<(u64, u64)>,
    /// Set by any failed write; see [`Storage::sync`] for why there is no retrying.
    poisoned: bool,
}

impl FileStorage {
    /// Opens (creating if needed) the data directory `dir` with default options and recovers
    /// its contents. See [`FileStorage::open_with`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::open_with(dir, FileStorageOptions::default())
    }

    /// Opens `dir` and recovers: removes a hard-state temp file left by a crash, replays every
    /// segment, drops a torn record at the end of the last segment (a write that a crash cut
    /// off), and refuses to start on any other damage, naming the file and byte offset.
    /// Whatever was recovered is made durable before this returns, so the node may act on it.
    pub fn open_with(
        dir: impl AsRef<Path>,
        options: FileStorageOptions,
    ) -> Result<Self, StorageError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
        let mut hard_state = hard_state::load(&dir)?;
        remove_if_present(&dir.join(snapshot::TEMP_NAME))?;
        let snapshot = snapshot::load_newest(&dir)?;
        let meta = snapshot.as_ref().map(|s| s.meta).unwrap_or_default();
        let (log, record_missing, segment_max, active, tail, loss) =
            recover_log(&dir, meta, options.repair)?;
        if let Some(lost_up_to) = loss {
            // Durable before the node may act: a second restart must still know.
            hard_state.lost_up_to = hard_state.lost_up_to.max(lost_up_to);
            hard_state.lost_term = hard_state.current_term;
            hard_state::store(&dir, hard_state)?;
        }
        // Records a crashed process wrote may sit in the page cache without being on disk. The
        // node will treat everything it loads as stored (and may acknowledge it), so make it
        // durable now; the directory sync also covers a rename or file creation whose
        // directory entry was not yet synced when the process died.
        if let Some(active) = &active {
            active.sync_data()?;
        }
        sync_dir(&dir)?;
        tracing::debug!(dir = %dir.display(), last_index = log.last_index(), "storage recovered");
        let mut storage = FileStorage {
            dir,
            options,
            hard_state,
            durable_hard_state: hard_state,
            log,
            snapshot,
            pending_snapshot: None,
            // The snapshot loaded is the fallback kept by the next compaction; older files
            // (left by a crash before their removal) go then.
            previous_snapshot_index: meta.last_included_index,
            segment_max,
            active,
            active_dirty: false,
            dir_dirty: false,
            pending: Vec::new(),
            tail,
            poisoned: false,
        };
        if let Some(retained) = record_missing {
            // A crash between the snapshot file and its record: write the record now, where
            // replay applied the snapshot, so the next replay takes the same decision before
            // the records appended from here on (without it, it would take it after them).
            let lii = meta.last_included_index;
            if !retained {
                storage.stage(lii, |out| encode_truncate(lii, out));
            }
            storage.stage(lii, |out| encode_snapshot(meta, out));
            storage.write_pending(true)?;
        }
        Ok(storage)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_usable(&self) -> Result<(), StorageError> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        Ok(())
    }

    /// Encodes one record into the pending chunk of the segment it belongs to, starting a new
    /// segment when the current one is full.
    /// `index` is the highest index the record names.
    fn stage(&mut self, index: Index, encode: impl FnOnce(&mut Vec<u8>)) {
        let needs_new = match self.tail {
            None => true,
            Some((_, len)) => len >= self.options.segment_size,
        };
        if needs_new {
            let seq = self.tail.map_or(1, |(seq, _)| seq + 1);
            let bytes = segment::header(seq);
            self.tail = Some((seq, bytes.len() as u64));
            self.segment_max.push((seq, 0));
            self.pending.push(Chunk {
                seq,
                create: true,
                bytes,
            });
        }
        if let Some((_, max)) = self.segment_max.last_mut() {
            *max = (*max).max(index);
        }
        let (seq, len) = self.tail.as_mut().expect("tail set above");
        if self.pending.last().map(|c| c.seq) != Some(*seq) {
            self.pending.push(Chunk {
                seq: *seq,
                create: false,
                bytes: Vec::new(),
            });
        }
        let chunk = self.pending.last_mut().expect("chunk pushed above");
        let before = chunk.bytes.len();
        encode(&mut chunk.bytes);
        *len += (chunk.bytes.len() - before) as u64;
    }

    /// Hands the pending chunks to the OS. With `durable`, also fsyncs as `sync` requires:
    /// a segment is completed on disk (data and directory entry) before the next is created,
    /// which is what lets recovery call any damage in a non-final segment corruption.
    fn write_pending(&mut self, durable: bool) -> Result<(), StorageError> {
        for chunk in std::mem::take(&mut self.pending) {
            if chunk.create {
                if durable {
                    self.finish_active()?;
                }
                self.active = Some(SegmentFile::create(&self.dir, chunk.seq)?);
                self.dir_dirty = true;
            }
            // A new segment's chunk starts with its header.
            self.write_active(&chunk.bytes)?;
        }
        if durable {
            self.finish_active()?;
        }
        Ok(())
    }

    fn write_active(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let active = self
            .active
            .as_mut()
            .expect("a chunk targets an existing segment");
        active.write(bytes)?;
        self.active_dirty = true;
        Ok(())
    }

    /// fdatasync the active segment and fsync the directory if either has unsynced changes.
    fn finish_active(&mut self) -> Result<(), StorageError> {
        if let (Some(active), true) = (&self.active, self.active_dirty) {
            active.sync_data()?;
            self.active_dirty = false;
        }
        if self.dir_dirty {
            sync_dir(&self.dir)?;
            self.dir_dirty = false;
        }
        Ok(())
    }

    fn sync_inner(&mut self) -> Result<(), StorageError> {
        // (1) The snapshot file, atomically, before anything that depends on it: the snapshot
        // record below tells replay to drop the entries it covers.
        let new_snapshot = self.pending_snapshot.take();
        if let Some(snapshot) = &new_snapshot {
            snapshot::store(&self.dir, snapshot)?;
        }
        // (2) Hard state: a log record of term T must not become durable while the durable
        // current_term is still older than T (the node would restart with a log from a term it
        // has not seen). Log bytes reach the OS only below, after this.
        if self.hard_state != self.durable_hard_state {
            hard_state::store(&self.dir, self.hard_state)?;
            self.durable_hard_state = self.hard_state;
        }
        // (3) Log records, including the snapshot record.
        self.write_pending(true)?;
        // (4) Only now is the snapshot durable and recorded: drop what it covers.
        if let Some(snapshot) = new_snapshot {
            self.remove_covered(snapshot.meta.last_included_index)?;
        }
        Ok(())
    }

    /// Deletes the oldest segments whose every record names an index below
    /// `last_included_index` (never the active one; strictly below, so the segment holding the
    /// snapshot record stays), and snapshot files older than the previous snapshot.
    fn remove_covered(&mut self, last_included_index: Index) -> Result<(), StorageError> {
        let active_seq = self.tail.map(|(seq, _)| seq);
        let mut removed = false;
        while let Some(&(seq, max)) = self.segment_max.first() {
            if Some(seq) == active_seq || max >= last_included_index {
                break;
            }
            let path = self.dir.join(segment::file_name(seq));
            fsops::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
            self.segment_max.remove(0);
            removed = true;
        }
        if removed {
            sync_dir(&self.dir)?;
        }
        snapshot::remove_older(&self.dir, self.previous_snapshot_index)?;
        self.previous_snapshot_index = last_included_index;
        Ok(())
    }

    /// Test hook: a crash in the middle of `sync` after step (1): the staged snapshot's file
    /// is durable (it stays pending, so the next `sync` still removes what it covers), and the
    /// staged records reach the OS without any fsync, so tests can damage bytes that were
    /// "written but never synced" the way a crash could.
    #[cfg(test)]
    pub(crate) fn write_unsynced(&mut self) -> Result<(), StorageError> {
        if let Some(snapshot) = &self.pending_snapshot {
            snapshot::store(&self.dir, snapshot)?;
        }
        self.write_pending(false)
    }
}

/// The bytes of a snapshot file, for tests that build damaged directories.
#[cfg(test)]
pub(crate) fn snapshot_bytes_for_test(s: &Snapshot) -> Vec<u8> {
    snapshot::encode(s)
}

/// Replays every segment of `dir` into the log after the snapshot `meta`, repairing a torn
/// tail (and, with `repair`, cutting at other damage: [`repair`]). Returns the log,
/// `Some(kept the log after it)` if the snapshot's record is missing from it, each segment's
/// highest named index, the last segment opened for appending, that segment's number and
/// size, and the highest index a repair lost.
#[allow(clippy::type_complexity)]
fn recover_log(
    dir: &Path,
    meta: SnapshotMeta,
    repair: bool,
) -> Result<
    (
        Log,
        Option<bool>,
        Vec<(u64, Index)>,
        Option<SegmentFile>,
        Option<(u64, u64)>,
        Option<Index>,
    ),
    StorageError,
> {
    let segments = segment::list(dir)?;
    // Segments are numbered consecutively: after a gap, nothing can be replayed.
    let gap = segments.windows(2).position(|p| p[1].0 != p[0].0 + 1);
    let replayable = match gap {
        Some(g) if !repair => {
            return Err(StorageError::MissingSegment {
                path: dir.join(segment::file_name(segments[g].0 + 1)),
            })
        }
        Some(g) => g + 1,
        None => segments.len(),
    };
    let mut replay = Replay::new(meta);
    let mut segment_max = Vec::new();
    let mut tail = None;
    let mut loss = None;
    for (i, (seq, path)) in segments[..replayable].iter().enumerate() {
        let is_last = i + 1 == segments.len();
        let buf = fs::read(path).map_err(|e| StorageError::io(path, e))?;
        let mut max = 0;
        let scanned = segment::scan(path, *seq, &buf, is_last, |record, offset| {
            max = max.max(record_index(&record));
            replay
                .apply(record)
                .map_err(|kind| StorageError::corrupt(path, offset, kind))
        });
        let end = match (scanned, repair) {
            (Ok(end), _) => end,
            (Err(e), true) if e.damage_offset().is_some() => {
                let offset = e.damage_offset().unwrap_or(0);
                let kept = replay.log.last_index();
                loss = Some(repair::cut_at_damage(dir, &segments, i, offset, kept, e)?);
                if offset >= segment::HEADER_LEN as u64 {
                    segment_max.push((*seq, max));
                    tail = Some((*seq, offset));
                }
                break;
            }
            (Err(e), _) => return Err(e),
        };
        segment_max.push((*seq, max));
        match end {
            ScanEnd::Clean => tail = Some((*seq, buf.len() as u64)),
            ScanEnd::TornRecord { valid_len } => {
                tracing::warn!(
                    path = %path.display(),
                    offset = valid_len,
                    dropped_bytes = buf.len() as u64 - valid_len,
                    "dropping torn record at the end of the log (write cut off by a crash)"
                );
                SegmentFile::open(path.clone())?.truncate(valid_len)?;
                tail = Some((*seq, valid_len));
            }
            ScanEnd::TornHeader => {
                tracing::warn!(
                    path = %path.display(),
                    "removing last segment whose header a crash cut off (it holds no record)"
                );
                fsops::remove_file(path).map_err(|e| StorageError::io(path, e))?;
                segment_max.pop();
                sync_dir(dir)?;
            }
        }
    }
    if let (Some(g), None) = (gap, loss) {
        // The missing segment is the damage: the segments after it go.
        let kept = replay.log.last_index();
        let missing = StorageError::MissingSegment {
            path: dir.join(segment::file_name(segments[g].0 + 1)),
        };
        loss = Some(repair::cut_at_damage(
            dir,
            &segments,
            g + 1,
            0,
            kept,
            missing,
        )?);
    }
    let active = match tail {
        Some((seq, _)) => Some(SegmentFile::open(dir.join(segment::file_name(seq)))?),
        None => None,
    };
    let (log, record_missing) = replay.finish();
    Ok((log, record_missing, segment_max, active, tail, loss))
}

fn record_index(record: &Record) -> Index {
    match record {
        Record::Entry(entry) => entry.index,
        Record::Truncate { from } => *from,
        Record::Snapshot(meta) => meta.last_included_index,
    }
}

/// Replay of log records on top of the snapshot loaded from its file: records about entries
/// the snapshot covers only matter for deciding, as the live store did (Figure 13, receiver
/// steps 6-7), whether the entries after it were kept.
struct Replay {
    log: Log,
    meta: SnapshotMeta,
    /// Term of the entry at `meta.last_included_index` in the replayed log, if it holds one.
    term_at_snapshot: Option<Term>,
    /// The snapshot record for `meta` was replayed.
    snapshot_applied: bool,
}

impl Replay {
    fn new(meta: SnapshotMeta) -> Self {
        Replay {
            log: Log::with_snapshot(meta, &[]).expect("an empty log fits any snapshot"),
            meta,
            term_at_snapshot: None,
            snapshot_applied: meta.last_included_index == 0,
        }
    }

    /// The compaction the live store made when it saved the snapshot; whether it kept the
    /// log after it.
    fn compact(&mut self) -> bool {
        let retained = self.term_at_snapshot == Some(self.meta.last_included_term);
        if !retained {
            self.log = Log::with_snapshot(self.meta, &[]).expect("an empty log fits any snapshot");
        }
        self.snapshot_applied = true;
        retained
    }

    fn apply(&mut self, record: Record) -> Result<(), Corruption> {
        let lii = self.meta.last_included_index;
        match record {
            Record::Entry(entry) if entry.index <= lii && !self.snapshot_applied => {
                if entry.index == lii {
                    self.term_at_snapshot = Some(entry.term);
                }
            }
            Record::Entry(entry) => {
                let expected = self.log.last_index() + 1;
                if entry.index != expected {
                    return Err(Corruption::IndexGap {
                        expected,
                        found: entry.index,
                    });
                }
                self.log.append_checked(std::slice::from_ref(&entry));
            }
            Record::Truncate { from } if from <= lii && !self.snapshot_applied => {
                self.term_at_snapshot = None;
                self.log.truncate_from(lii + 1);
            }
            Record::Truncate { from } => {
                // Truncation records are only written when they remove something.
                if from < self.log.first_index() || from > self.log.last_index() {
                    return Err(Corruption::BadTruncation {
                        from,
                        last_index: self.log.last_index(),
                    });
                }
                self.log.truncate_from(from);
            }
            // An older compaction: what it discarded, it wrote as a truncation record.
            Record::Snapshot(seen) if seen.last_included_index < lii => {}
            Record::Snapshot(seen) if seen == self.meta && !self.snapshot_applied => {
                self.compact();
            }
            Record::Snapshot(seen) => {
                return Err(Corruption::MissingSnapshot {
                    last_included_index: seen.last_included_index,
                })
            }
        }
        Ok(())
    }

    /// The log after the snapshot, and `Some(kept the log)` if the snapshot's record was
    /// missing. A snapshot whose file is durable but whose record never made it (a crash
    /// between the two) is applied here: no later record can exist.
    fn finish(mut self) -> (Log, Option<bool>) {
        let record_missing = (!self.snapshot_applied).then(|| self.compact());
        (self.log, record_missing)
    }
}

/// Removes `path` if it exists (a temp file a crash left behind).
fn remove_if_present(path: &Path) -> Result<(), StorageError> {
    match fsops::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io(path, e)),
    }
}

/// fsync a directory, making file creations, renames and removals in it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    fsops::sync_dir(dir).map_err(|e| StorageError::io(dir, e))
}

impl Storage for FileStorage {
    fn hard_state(&self) -> HardState {
        self.hard_state
    }

    fn first_index(&self) -> Index {
        self.log.first_index()
    }

    fn last_index(&self) -> Index {
        self.log.last_index()
    }

    fn term(&self, index: Index) -> Option<Term> {
        self.log.term(index)
    }

    fn entries(&self, lo: Index, hi: Index) -> Result<Vec<Entry>, StorageError> {
        Ok(self.log.slice(lo, hi)?.to_vec())
    }

    fn snapshot_meta(&self) -> SnapshotMeta {
        self.log.snapshot_meta()
    }

    fn snapshot(&self) -> Result<Option<Snapshot>, StorageError> {
        Ok(self.snapshot.clone())
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        self.check_usable()?;
        self.log.check_snapshot(snapshot.meta)?;
        let meta = snapshot.meta;
        let lii = meta.last_included_index;
        if !self.log.compact(meta) {
            // Figure 13 step 7 discarded the log: say so with a truncation record, which
            // replay on top of a newer snapshot also applies (it skips this snapshot record).
            self.stage(lii, |out| encode_truncate(lii, out));
        }
        self.stage(lii, |out| encode_snapshot(meta, out));
        self.snapshot = Some(snapshot.clone());
        self.pending_snapshot = Some(snapshot.clone());
        Ok(())
    }

    fn save_hard_state(&mut self, hard_state: HardState) -> Result<(), StorageError> {
        self.check_usable()?;
        self.hard_state = hard_state;
        Ok(())
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        self.check_usable()?;
        if let Some(from) = self.log.check_append(entries)? {
            // §5.3: the conflicting suffix goes first, as its own record.
            self.stage(from, |out| encode_truncate(from, out));
        }
        for entry in entries {
            self.stage(entry.index, |out| encode_entry(entry, out));
        }
        self.log.append_checked(entries);
        Ok(())
    }

    fn truncate_suffix(&mut self, from: Index) -> Result<(), StorageError> {
        self.check_usable()?;
        if self.log.check_truncate(from)? {
            self.stage(from, |out| encode_truncate(from, out));
            self.log.truncate_from(from);
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        self.check_usable()?;
        let result = self.sync_inner();
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }
}

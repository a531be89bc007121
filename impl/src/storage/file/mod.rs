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
//! The whole log is also kept in memory to serve reads; log compaction will bound it.
//! The on-disk format is described in `docs/storage-format.md`.

mod hard_state;
mod record;
mod segment;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use self::record::{encode_entry, encode_truncate, Record};
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
}

impl Default for FileStorageOptions {
    fn default() -> Self {
        FileStorageOptions {
            segment_size: 64 * 1024 * 1024,
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
        let hard_state = hard_state::load(&dir)?;
        let (log, active, tail) = recover_log(&dir)?;
        // Records a crashed process wrote may sit in the page cache without being on disk. The
        // node will treat everything it loads as stored (and may acknowledge it), so make it
        // durable now; the directory sync also covers a rename or file creation whose
        // directory entry was not yet synced when the process died.
        if let Some(active) = &active {
            active.sync_data()?;
        }
        sync_dir(&dir)?;
        tracing::debug!(dir = %dir.display(), last_index = log.last_index(), "storage recovered");
        Ok(FileStorage {
            dir,
            options,
            hard_state,
            durable_hard_state: hard_state,
            log,
            active,
            active_dirty: false,
            dir_dirty: false,
            pending: Vec::new(),
            tail,
            poisoned: false,
        })
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
    fn stage(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        let needs_new = match self.tail {
            None => true,
            Some((_, len)) => len >= self.options.segment_size,
        };
        if needs_new {
            let seq = self.tail.map_or(1, |(seq, _)| seq + 1);
            let bytes = segment::header(seq);
            self.tail = Some((seq, bytes.len() as u64));
            self.pending.push(Chunk {
                seq,
                create: true,
                bytes,
            });
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
        // Hard state first: a log record of term T must not become durable while the durable
        // current_term is still older than T (the node would restart with a log from a term it
        // has not seen). Log bytes reach the OS only below, after this.
        if self.hard_state != self.durable_hard_state {
            hard_state::store(&self.dir, self.hard_state)?;
            self.durable_hard_state = self.hard_state;
        }
        self.write_pending(true)
    }

    /// Test hook: writes the staged records to the OS without any fsync, so tests can damage
    /// bytes that were "written but never synced" the way a crash could.
    #[cfg(test)]
    pub(crate) fn write_unsynced(&mut self) -> Result<(), StorageError> {
        self.write_pending(false)
    }
}

/// Replays every segment of `dir` into a log, repairing a torn tail. Returns the log, the last
/// segment opened for appending, and that segment's number and size.
#[allow(clippy::type_complexity)]
fn recover_log(dir: &Path) -> Result<(Log, Option<SegmentFile>, Option<(u64, u64)>), StorageError> {
    let segments = segment::list(dir)?;
    let mut log = Log::default();
    let mut tail = None;
    for (i, (seq, path)) in segments.iter().enumerate() {
        let is_last = i + 1 == segments.len();
        let buf = fs::read(path).map_err(|e| StorageError::io(path, e))?;
        let end = segment::scan(path, *seq, &buf, is_last, |record, offset| {
            replay(&mut log, record).map_err(|kind| StorageError::corrupt(path, offset, kind))
        })?;
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
                fs::remove_file(path).map_err(|e| StorageError::io(path, e))?;
                sync_dir(dir)?;
            }
        }
    }
    let active = match tail {
        Some((seq, _)) => Some(SegmentFile::open(dir.join(segment::file_name(seq)))?),
        None => None,
    };
    Ok((log, active, tail))
}

/// Applies one recovered record, checking that it fits the log replayed so far.
fn replay(log: &mut Log, record: Record) -> Result<(), Corruption> {
    match record {
        Record::Entry(entry) => {
            let expected = log.last_index() + 1;
            if entry.index != expected {
                return Err(Corruption::IndexGap {
                    expected,
                    found: entry.index,
                });
            }
            log.append_checked(std::slice::from_ref(&entry));
        }
        Record::Truncate { from } => {
            // Truncation records are only written when they remove something.
            if from < log.first_index() || from > log.last_index() {
                return Err(Corruption::BadTruncation {
                    from,
                    last_index: log.last_index(),
                });
            }
            log.truncate_from(from);
        }
    }
    Ok(())
}

/// fsync a directory, making file creations, renames and removals in it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io(dir, e))
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
        Ok(None)
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        self.check_usable()?;
        self.log.check_snapshot(snapshot.meta)?;
        Err(StorageError::Unsupported {
            operation: "saving a snapshot to a FileStorage",
        })
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
            self.stage(|out| encode_truncate(from, out));
        }
        for entry in entries {
            self.stage(|out| encode_entry(entry, out));
        }
        self.log.append_checked(entries);
        Ok(())
    }

    fn truncate_suffix(&mut self, from: Index) -> Result<(), StorageError> {
        self.check_usable()?;
        if self.log.check_truncate(from)? {
            self.stage(|out| encode_truncate(from, out));
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

//! The filesystem calls that change a data directory (create, write, fsync, rename, delete),
//! in one place so that tests can crash at any of them.
//!
//! In the product each function is the plain `std` call. In test builds a thread may arm a
//! [`crash`] plan: the calls are counted, and from the chosen one on every call fails as if
//! the process had died there (a write at the crash point lands half its bytes, a torn write).
//! The plan also records, per file, the length last made durable by an fsync, so a test can
//! then drop what a power loss would (see `crash_point_tests.rs`).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

#[cfg(test)]
pub(crate) use crash::{arm, disarm, Call};

/// `File::create` (the temp files of the snapshot and the hard state).
pub(crate) fn create(path: &Path) -> io::Result<File> {
    crash::point(crash::Op::Create, path)?;
    File::create(path)
}

/// `fs::OpenOptions::open` with `create_new` (a new log segment).
pub(crate) fn create_new(options: &fs::OpenOptions, path: &Path) -> io::Result<File> {
    crash::point(crash::Op::Create, path)?;
    options.open(path)
}

pub(crate) fn write_all(file: &mut File, path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Err(e) = crash::point(crash::Op::Write, path) {
        // A write cut off by the crash: some prefix of it reached the file.
        if crash::is_crash_point(&e) {
            file.write_all(&bytes[..bytes.len() / 2])?;
        }
        return Err(e);
    }
    file.write_all(bytes)
}

/// fsync (data and metadata).
pub(crate) fn sync_all(file: &File, path: &Path) -> io::Result<()> {
    crash::point(crash::Op::Fsync, path)?;
    file.sync_all()
}

/// fdatasync.
pub(crate) fn sync_data(file: &File, path: &Path) -> io::Result<()> {
    crash::point(crash::Op::Fsync, path)?;
    file.sync_data()
}

pub(crate) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    crash::point(crash::Op::Rename { from }, to)?;
    fs::rename(from, to)
}

pub(crate) fn remove_file(path: &Path) -> io::Result<()> {
    crash::point(crash::Op::Remove, path)?;
    fs::remove_file(path)
}

/// fsync of a directory: makes creations, renames and removals in it durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    crash::point(crash::Op::SyncDir, dir)?;
    File::open(dir).and_then(|d| d.sync_all())
}

#[cfg(not(test))]
mod crash {
    use std::io;
    use std::path::Path;

    pub(super) enum Op<'a> {
        Create,
        Write,
        Fsync,
        Rename {
            #[allow(dead_code)]
            from: &'a Path,
        },
        Remove,
        SyncDir,
    }

    #[inline(always)]
    pub(super) fn point(_op: Op<'_>, _path: &Path) -> io::Result<()> {
        Ok(())
    }

    #[inline(always)]
    pub(super) fn is_crash_point(_e: &io::Error) -> bool {
        false
    }
}

#[cfg(test)]
pub(crate) mod crash {
    //! Test-only crash plans, one per thread (each test runs on its own thread).

    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::fs;
    use std::io;
    use std::path::{Path, PathBuf};

    pub(crate) enum Op<'a> {
        Create,
        Write,
        Fsync,
        Rename { from: &'a Path },
        Remove,
        SyncDir,
    }

    /// One call, as recorded: its kind and the path it named (the target of a rename).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub(crate) struct Call {
        pub(crate) kind: &'static str,
        pub(crate) path: PathBuf,
    }

    #[derive(Debug, Default)]
    struct Plan {
        /// The call (counted from 0) at which the process dies; `None`: only record.
        crash_at: Option<usize>,
        calls: Vec<Call>,
        /// Per file: the length its last fsync made durable (0 for a file created since).
        durable_len: BTreeMap<PathBuf, u64>,
    }

    thread_local! {
        static PLAN: RefCell<Option<Plan>> = const { RefCell::new(None) };
    }

    const MESSAGE: &str = "injected crash";

    /// Arms a plan on this thread: count and record calls, and die at call `crash_at`. Every
    /// file already in `dir` is taken as durable at its current length.
    pub(crate) fn arm(dir: &Path, crash_at: Option<usize>) {
        let mut durable_len = BTreeMap::new();
        for item in fs::read_dir(dir).unwrap() {
            let path = item.unwrap().path();
            let len = fs::metadata(&path).unwrap().len();
            durable_len.insert(path, len);
        }
        PLAN.with(|p| {
            *p.borrow_mut() = Some(Plan {
                crash_at,
                calls: Vec::new(),
                durable_len,
            })
        });
    }

    /// Disarms the plan; returns the calls made (up to and including the crash point) and the
    /// durable length of every file the plan knows.
    pub(crate) fn disarm() -> (Vec<Call>, BTreeMap<PathBuf, u64>) {
        let plan = PLAN
            .with(|p| p.borrow_mut().take())
            .expect("a plan was armed");
        (plan.calls, plan.durable_len)
    }

    pub(crate) fn is_crash_point(e: &io::Error) -> bool {
        e.kind() == io::ErrorKind::Other && e.to_string() == MESSAGE
    }

    pub(super) fn point(op: Op<'_>, path: &Path) -> io::Result<()> {
        PLAN.with(|p| {
            let mut p = p.borrow_mut();
            let Some(plan) = p.as_mut() else {
                return Ok(());
            };
            let n = plan.calls.len();
            let kind = match op {
                Op::Create => "create",
                Op::Write => "write",
                Op::Fsync => "fsync",
                Op::Rename { .. } => "rename",
                Op::Remove => "remove",
                Op::SyncDir => "sync_dir",
            };
            if plan.crash_at.is_some_and(|at| n >= at) {
                if plan.crash_at == Some(n) {
                    plan.calls.push(Call {
                        kind,
                        path: path.into(),
                    });
                }
                return Err(io::Error::other(MESSAGE));
            }
            plan.calls.push(Call {
                kind,
                path: path.into(),
            });
            match op {
                Op::Create => {
                    plan.durable_len.insert(path.into(), 0);
                }
                // What was written before this fsync is durable after it.
                Op::Fsync => {
                    let len = fs::metadata(path).map_or(0, |m| m.len());
                    plan.durable_len.insert(path.into(), len);
                }
                Op::Rename { from } => {
                    let len = plan.durable_len.remove(from).unwrap_or(0);
                    plan.durable_len.insert(path.into(), len);
                }
                Op::Remove => {
                    plan.durable_len.remove(path);
                }
                Op::Write | Op::SyncDir => {}
            }
            Ok(())
        })
    }
}

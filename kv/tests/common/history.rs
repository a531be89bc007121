//! Exporting a test's client history: the file goes into the test's temporary directory, and
//! a failing test keeps that directory and prints where the history is.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use raft_kv::history::History;

/// A temporary directory that survives a failing (panicking) test, its path printed.
pub struct KeepOnFailure(Option<tempfile::TempDir>);

impl KeepOnFailure {
    pub fn new() -> Self {
        KeepOnFailure(Some(tempfile::tempdir().unwrap()))
    }

    pub fn path(&self) -> &Path {
        self.0.as_ref().expect("until dropped").path()
    }
}

impl Drop for KeepOnFailure {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            if std::thread::panicking() {
                eprintln!(
                    "test failed: its files are kept in {}",
                    dir.keep().display()
                );
            }
        }
    }
}

/// A history being recorded, written to `path` when this drops (whether the test passes or
/// fails half-way), so a failure always leaves the file to look at.
pub struct HistoryExport {
    pub history: Arc<Mutex<History>>,
    pub path: PathBuf,
}

impl HistoryExport {
    pub fn new(dir: &Path) -> Self {
        HistoryExport {
            history: Arc::new(Mutex::new(History::new())),
            path: dir.join("history.json"),
        }
    }

    /// Writes the file and judges the history with the library's checker (the one
    /// `raftkv check-history` runs); a failure names the file.
    pub fn write_and_check(&self) -> History {
        let h = self.write();
        if let Err(e) = h.check() {
            panic!(
                "{e}\nhistory: {} (draw it: raftkv check-history {0} --html OUT)",
                self.path.display()
            );
        }
        h
    }

    fn write(&self) -> History {
        let h = self
            .history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        std::fs::write(&self.path, h.to_json("us")).expect("write the history");
        h
    }
}

impl Drop for HistoryExport {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.write();
            eprintln!("history of the failing test: {}", self.path.display());
        }
    }
}

/// Reads a history file (written by `raftkv bench --history`) and judges it with the library's
/// checker; a failure names the file.
pub fn check_file(path: &Path) -> History {
    let text = std::fs::read_to_string(path).expect("the history file");
    let h = History::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if let Err(e) = h.check() {
        panic!("{e}\nhistory: {}", path.display());
    }
    h
}

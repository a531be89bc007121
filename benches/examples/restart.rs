//! Restart cost of a node with a long history, with and without a snapshot: `FileStorage`
//! recovery plus `RawNode::restore_with_snapshot`, timed as a whole process (the history is
//! written beforehand by `prepare`, outside the timing).
//!
//! ```sh
//! cargo build --release -p raft-benches --example restart
//! target/release/examples/restart prepare DIR [--compact]
//! /usr/bin/time -v target/release/examples/restart open DIR
//! ```
//!
//! `prepare` writes 1,000,000 entries of 100 bytes (term 1) in synced batches of 10,000; with
//! `--compact` the application then snapshots its state machine at the last entry
//! (`SNAPSHOT_BYTES` of state). `open` recovers and restores, then prints the time that took
//! and the bytes the node holds. Figures are in `docs/performance.md`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;
use raft_impl::core::{Config, RawNode};
use raft_impl::storage::{FileStorage, Storage};
use raft_impl::types::{Entry, HardState, Snapshot, SnapshotMeta};

const ENTRIES: u64 = 1_000_000;
const ENTRY_BYTES: usize = 100;
const BATCH: u64 = 10_000;
/// The state machine's snapshot: a few MB (a key/value map of ~40k 100-byte values).
const SNAPSHOT_BYTES: usize = 4 << 20;

fn prepare(dir: &Path, compact: bool) -> Result<(), String> {
    let mut s = FileStorage::open(dir).map_err(|e| e.to_string())?;
    if s.last_index() != 0 {
        return Err(format!("{} is not empty", dir.display()));
    }
    s.save_hard_state(HardState {
        current_term: 1,
        voted_for: Some(1),
        lost_up_to: 0,
        lost_term: 0,
    })
    .map_err(|e| e.to_string())?;
    let data = Bytes::from(vec![0xab; ENTRY_BYTES]);
    let mut batch = Vec::with_capacity(BATCH as usize);
    for lo in (1..=ENTRIES).step_by(BATCH as usize) {
        batch.clear();
        batch.extend((lo..lo + BATCH).map(|index| Entry {
            term: 1,
            index,
            data: data.clone(),
        }));
        s.append(&batch).map_err(|e| e.to_string())?;
        s.sync().map_err(|e| e.to_string())?;
    }
    if compact {
        let snapshot = Snapshot {
            meta: SnapshotMeta {
                last_included_index: ENTRIES,
                last_included_term: 1,
            },
            data: Bytes::from(vec![0xcd; SNAPSHOT_BYTES]),
        };
        s.save_snapshot(&snapshot).map_err(|e| e.to_string())?;
        s.sync().map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn open(dir: &Path) -> Result<(), String> {
    let start = Instant::now();
    let storage = FileStorage::open(dir).map_err(|e| e.to_string())?;
    let opened = start.elapsed();
    let state = storage.load().map_err(|e| e.to_string())?;
    let held: usize = state.entries.iter().map(|e| e.data.len()).sum::<usize>()
        + state.snapshot.as_ref().map_or(0, |s| s.data.len());
    let entries = state.entries.len();
    let node = RawNode::restore_with_snapshot(
        Config::production(1, [2, 3], 1),
        state.hard_state,
        state.snapshot,
        state.entries,
    )
    .map_err(|e| e.to_string())?;
    let restored = start.elapsed();
    if node.last_index() != ENTRIES {
        return Err(format!(
            "restored last_index {} instead of {ENTRIES}",
            node.last_index()
        ));
    }
    println!(
        "open_ms={:.1} restore_ms={:.1} entries_in_log={entries} payload_bytes_held={held} first_index={}",
        opened.as_secs_f64() * 1e3,
        restored.as_secs_f64() * 1e3,
        node.first_index()
    );
    drop(storage);
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["prepare", dir] => prepare(Path::new(dir), false),
        ["prepare", dir, "--compact"] => prepare(Path::new(dir), true),
        ["open", dir] => open(Path::new(dir)),
        _ => Err("usage: restart prepare DIR [--compact] | restart open DIR".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("restart: {e}");
            ExitCode::from(2)
        }
    }
}

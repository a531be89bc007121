//! The operator view (`raftkv status`): what a node reports about itself when a client asks
//! ([`Frame::StatusRequest`]), and the blocking query a CLI makes (`ask` also serves
//! `raftkv transfer-leader`).
//!
//! The report is read from what the node loop publishes after every pass (no round trip through
//! the loop) and from the sizes of the files in the data directory.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use raft_impl::core::Role;
use raft_impl::types::{Index, NodeId, Term};
use serde::{Deserialize, Serialize};

use super::frame::Frame;
use super::io::{write_frame_blocking, FrameReader};
use super::node_loop::NodeStats;
use super::stream::BlockingStream;
use super::tls::ClientSecurity;

/// One node's answer to a status request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub id: NodeId,
    pub role: Role,
    pub current_term: Term,
    /// The leader of `current_term` this node knows of.
    pub leader_id: Option<NodeId>,
    pub commit_index: Index,
    pub applied_index: Index,
    /// The snapshot's last index (0: nothing compacted); the log starts after it.
    pub last_included_index: Index,
    pub last_index: Index,
    /// Non-zero while recovering lost entries (protocol-aware recovery).
    pub lost_up_to: Index,
    /// Bytes of log segments (`*.log`) in the data directory.
    pub log_bytes: u64,
    /// Bytes of snapshot files (`snapshot-*.snap`) in the data directory.
    pub snapshot_bytes: u64,
}

impl StatusReport {
    /// What node `id` reports, from its published `stats` and its data directory `dir`.
    pub(crate) fn read(id: NodeId, stats: &NodeStats, dir: &Path) -> StatusReport {
        let (log_bytes, snapshot_bytes) = disk_usage(dir);
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Acquire);
        StatusReport {
            id,
            role: stats.role(),
            current_term: load(&stats.current_term),
            leader_id: Some(load(&stats.leader_id)).filter(|&l| l != 0),
            commit_index: load(&stats.commit_index),
            applied_index: load(&stats.applied_index),
            last_included_index: load(&stats.last_included_index),
            last_index: load(&stats.last_index),
            lost_up_to: load(&stats.lost_up_to),
            log_bytes,
            snapshot_bytes,
        }
    }
}

/// (log segment bytes, snapshot file bytes) in `dir`; files it cannot read count as 0.
fn disk_usage(dir: &Path) -> (u64, u64) {
    let (mut log, mut snap) = (0, 0);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
        if name.ends_with(".log") {
            log += len;
        } else if name.starts_with("snapshot-") && name.ends_with(".snap") {
            snap += len;
        }
    }
    (log, snap)
}

/// Asks the node at `addr` for its status, within `timeout` (connect and answer).
pub fn query_status(
    addr: SocketAddr,
    security: &ClientSecurity,
    timeout: Duration,
) -> Result<StatusReport, String> {
    match ask(addr, security, timeout, &Frame::StatusRequest { id: 1 })? {
        Frame::Status { id: 1, report } => Ok(report),
        other => Err(format!("unexpected {} frame in answer", other.kind())),
    }
}

/// Sends `question` to the node at `addr` on a connection of its own and reads one frame in
/// answer, all within `timeout` (the operator queries: status, transfer).
pub(crate) fn ask(
    addr: SocketAddr,
    security: &ClientSecurity,
    timeout: Duration,
    question: &Frame,
) -> Result<Frame, String> {
    let deadline = Instant::now() + timeout;
    let mut stream = BlockingStream::connect(addr, security, timeout).map_err(|e| e.to_string())?;
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let tcp = stream.tcp();
    (tcp.set_write_timeout(Some(left()))
        .and_then(|()| tcp.set_read_timeout(Some(left()))))
    .map_err(|e| e.to_string())?;
    write_frame_blocking(&mut stream, question).map_err(|e| e.to_string())?;
    let mut reader = FrameReader::default();
    reader
        .read_frame_blocking(&mut stream)
        .map_err(|e| e.to_string())
}

/// A human-readable size: bytes, KiB, MiB or GiB with one decimal.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(64 << 20), "64.0 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn disk_usage_counts_segments_and_snapshots_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("00000000000000000001.log"), [0u8; 100]).unwrap();
        std::fs::write(dir.path().join("00000000000000000002.log"), [0u8; 50]).unwrap();
        let snap = dir.path().join("snapshot-00000000000000000007.snap");
        std::fs::write(snap, [0u8; 30]).unwrap();
        std::fs::write(dir.path().join("hardstate"), [0u8; 41]).unwrap();
        assert_eq!(disk_usage(dir.path()), (150, 30));
        assert_eq!(disk_usage(&dir.path().join("missing")), (0, 0));
    }
}

//! Protocol-aware recovery over TCP (issue 14): a follower whose disk lost acknowledged entries
//! while it was down (the last segment's tail cut off, the segment cut to its header, the whole
//! directory wiped) restarts with a shorter log. The leader notices that the follower refuses
//! entries it had acknowledged, logs a WARN naming it and re-sends them, so the cluster is not
//! silently one replica short: with the *other* follower stopped, writes still commit.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::procs::Processes;

/// Longest any one operation may take: a few elections' worth on a loaded machine.
const OP_LIMIT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Damage {
    /// A few bytes off the end of the last segment: its last record is torn.
    TruncateTail,
    /// The last segment cut to its header: every entry in it is gone.
    CutSegmentToHeader,
    /// The data directory removed.
    Wipe,
    /// One byte flipped in the body of a record in the middle of the log, intact records
    /// after it: not what a crash leaves, so the node starts only with
    /// `--repair-damaged-log`, and then as *recovering* (no votes) until repaired.
    MiddleRecord,
}

/// Offsets of the records of a segment (the format of docs/storage-format.md: a 24-byte file
/// header, then records of a 12-byte header whose first 4 bytes are the body length).
fn record_offsets(buf: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 24;
    while at + 12 <= buf.len() {
        offsets.push(at);
        let body = u32::from_le_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
        at += 12 + body;
    }
    offsets
}

/// The segment files of `dir`, oldest first.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    v.sort();
    v
}

fn damage(dir: &Path, how: Damage) {
    let set_len = |len: fn(u64) -> u64| {
        let last = segments(dir).pop().expect("a segment");
        let f = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
        let before = f.metadata().unwrap().len();
        f.set_len(len(before)).unwrap();
    };
    match how {
        Damage::TruncateTail => set_len(|n| n - 5),
        // magic (8), version (4), segment number (8), crc (4).
        Damage::CutSegmentToHeader => set_len(|_| 24),
        Damage::Wipe => std::fs::remove_dir_all(dir).unwrap(),
        Damage::MiddleRecord => {
            let last = segments(dir).pop().expect("a segment");
            let mut buf = std::fs::read(&last).unwrap();
            let offsets = record_offsets(&buf);
            let victim = offsets[offsets.len() / 2];
            buf[victim + 12 + 3] ^= 0x5a;
            std::fs::write(&last, buf).unwrap();
        }
    }
}

/// The log without terminal colour codes (`ESC [ ... m`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

fn append_tokens(
    cluster: &Processes,
    ck: &mut raft_kv::Clerk<raft_kv::net::TcpTransport>,
    acked: &mut Vec<String>,
    phase: &str,
    n: usize,
) {
    for i in 0..n {
        let token = format!("{phase}.{i};");
        ck.append("k", &token)
            .unwrap_or_else(|e| panic!("append {token} failed: {e}\n{}", cluster.dump_logs()));
        acked.push(token);
    }
}

fn damaged_follower_is_repaired(how: Damage) {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Processes::new(dir.path(), 3, "warn,raft_impl::core=info");
    for i in 0..3 {
        cluster.spawn(i);
    }
    let mut ck = cluster.clerk(OP_LIMIT);
    let mut acked = Vec::new();
    append_tokens(&cluster, &mut ck, &mut acked, "before", 20);
    let leader = ck.core().leader();
    let (follower, other) = ((leader + 1) % 3, (leader + 2) % 3);
    // Heartbeats bring the follower's acknowledgement of every entry to the leader, so what
    // the damage removes was acknowledged.
    std::thread::sleep(Duration::from_millis(500));

    cluster.kill(follower);
    damage(&cluster.data_dir(follower), how);
    if how == Damage::MiddleRecord {
        // Refused by default, naming the file.
        cluster.spawn(follower);
        let status = cluster.wait_exit(follower, Duration::from_secs(20));
        assert!(status.is_some_and(|s| !s.success()), "{status:?}");
        let log = strip_ansi(&std::fs::read_to_string(cluster.log_path(follower)).unwrap());
        assert!(
            log.contains("corrupt data in") && log.contains(".log"),
            "{log}"
        );
        cluster.spawn_with(follower, &["--repair-damaged-log"]);
    } else {
        cluster.spawn(follower);
    }
    append_tokens(&cluster, &mut ck, &mut acked, "damaged", 10);
    // A few heartbeats (30 ms ticks) for the repair.
    std::thread::sleep(Duration::from_millis(1000));

    // Without the other follower only the repaired one can make a majority with the leader.
    cluster.kill(other);
    append_tokens(&cluster, &mut ck, &mut acked, "repaired", 10);

    let leader_log = strip_ansi(&std::fs::read_to_string(cluster.log_path(leader)).unwrap());
    let peer = format!("peer={}", follower + 1);
    let warned = (leader_log.lines())
        .any(|l| l.contains("WARN") && l.contains("lost them") && l.contains(&peer));
    assert!(
        warned,
        "{how:?}: the leader (node {}) did not WARN about node {}:\n{}",
        leader + 1,
        follower + 1,
        cluster.dump_logs()
    );
    if how == Damage::MiddleRecord {
        let log = strip_ansi(&std::fs::read_to_string(cluster.log_path(follower)).unwrap());
        let line = |text: &str| log.lines().position(|l| l.contains(text));
        let (cut, recovering, repaired) = (
            line("repaired a damaged log"),
            line("recovering: entries up to lost_up_to"),
            line("repaired: the leader re-sent"),
        );
        assert!(
            cut.is_some() && cut < recovering && recovering < repaired,
            "{cut:?} {recovering:?} {repaired:?}\n{log}"
        );
    }
    let v = ck.get("k").unwrap().unwrap_or_default();
    for token in &acked {
        assert_eq!(
            v.matches(token.as_str()).count(),
            1,
            "{how:?}: {token} in {v}"
        );
    }

    // The operator's view: the stopped follower is named unreachable (exit 1), the leader and
    // the repaired follower answer with the same commit index and nothing left to recover.
    let (code, out) = cluster.status_cli();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("2/3 nodes answered"), "{out}");
    assert!(out.contains(&format!("leader {}", leader + 1)), "{out}");
    let unreachable = format!("{:<5} {:<21} unreachable", other + 1, cluster.addrs[other]);
    assert!(out.contains(&unreachable), "{out}");
    let security = cluster.pki.client();
    let report = |i: usize| {
        raft_kv::net::status::query_status(cluster.addrs[i], &security, Duration::from_secs(3))
            .unwrap()
    };
    let (l, f) = (report(leader), report(follower));
    assert_eq!((l.id, f.id), (leader as u64 + 1, follower as u64 + 1));
    assert_eq!(l.role, raft_impl::core::Role::Leader);
    assert_eq!(f.leader_id, Some(leader as u64 + 1));
    assert_eq!(f.lost_up_to, 0, "repaired");
    assert!(f.commit_index + 1 >= l.commit_index, "{l:?} {f:?}");
    assert!(l.log_bytes > 0 && f.log_bytes > 0, "{l:?} {f:?}");
}

#[test]
fn follower_with_a_torn_last_record_is_repaired() {
    damaged_follower_is_repaired(Damage::TruncateTail);
}

#[test]
fn follower_with_its_segment_cut_to_the_header_is_repaired() {
    damaged_follower_is_repaired(Damage::CutSegmentToHeader);
}

#[test]
fn follower_with_a_wiped_directory_is_repaired() {
    damaged_follower_is_repaired(Damage::Wipe);
}

#[test]
fn follower_with_a_damaged_record_in_the_middle_recovers_as_a_non_voter() {
    damaged_follower_is_repaired(Damage::MiddleRecord);
}

//! Snapshots with real `raftkv serve` processes (issue 12): nodes compact past a small
//! `--snapshot-threshold` while they are SIGKILLed at random moments under heavy writes (also in
//! the middle of writing a snapshot), and a follower that was down while the others compacted
//! many times catches up by InstallSnapshot. Every node always restarts, nothing acknowledged is
//! lost or applied twice, and the data directories stay bounded.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::procs::Processes;
use raft_kv::net::status::{query_status, StatusReport};
use rand::{Rng, SeedableRng};

const THRESHOLD: &str = "4K";
const OP_LIMIT: Duration = Duration::from_secs(20);
const KEYS: usize = 4;

fn cluster(dir: &std::path::Path) -> Processes {
    let mut c = Processes::new(dir, 3, "warn");
    c.serve_args = vec!["--snapshot-threshold".into(), THRESHOLD.into()];
    for i in 0..3 {
        c.spawn(i);
    }
    c
}

fn status(c: &Processes, i: usize) -> Result<StatusReport, String> {
    query_status(c.addrs[i], &c.pki.client(), Duration::from_secs(3))
}

/// Waits until every node answers and has applied at least `index`.
fn wait_applied(c: &Processes, index: u64) -> Vec<StatusReport> {
    let deadline = Instant::now() + OP_LIMIT;
    loop {
        let all: Vec<_> = (0..3).map(|i| status(c, i)).collect();
        if all
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.applied_index >= index))
        {
            return all.into_iter().map(Result::unwrap).collect();
        }
        assert!(
            Instant::now() < deadline,
            "not applied everywhere: {all:?}\n{}",
            c.dump_logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every acknowledged token is in its key exactly once.
fn check_acked(c: &Processes, acked: &[(usize, String)]) {
    let mut ck = c.clerk(OP_LIMIT);
    for k in 0..KEYS {
        let v = ck.get(&format!("k{k}")).unwrap().unwrap_or_default();
        for (_, t) in acked.iter().filter(|(kk, _)| *kk == k) {
            assert_eq!(v.matches(t.as_str()).count(), 1, "{t} in k{k}: {v}");
        }
    }
}

/// The bound on a data directory with a 4 KiB threshold: the log is at most the threshold past
/// the snapshot plus two 64 KiB segments; the snapshot files (this one and the fallback) hold
/// the state machine twice.
fn assert_bounded(r: &StatusReport, state_bytes: u64) {
    assert!(r.log_bytes <= 4096 + 2 * (64 << 10) + 4096, "log: {r:?}");
    assert!(
        r.snapshot_bytes <= 2 * state_bytes + 4096,
        "snapshots: {r:?}"
    );
}

#[test]
fn sigkills_at_random_moments_under_writes_with_a_small_threshold_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path());
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (mut ck, stop) = (c.clerk(OP_LIMIT), stop.clone());
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let k = (n + w) % KEYS;
                    let token = format!("w{w}.{n};");
                    ck.append(&format!("k{k}"), &token)
                        .unwrap_or_else(|e| panic!("append {token}: {e}"));
                    acked.push((k, token));
                    n += 1;
                }
                acked
            })
        })
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let started = Instant::now();
    let mut kills = 0;
    while started.elapsed() < Duration::from_secs(12) {
        std::thread::sleep(Duration::from_millis(rng.random_range(300..900)));
        let victim = rng.random_range(0..3);
        c.kill(victim);
        kills += 1;
        std::thread::sleep(Duration::from_millis(rng.random_range(50..300)));
        c.spawn(victim);
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            c.is_running(victim),
            "node {} did not restart:\n{}",
            victim + 1,
            c.dump_logs()
        );
    }
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<(usize, String)> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(acked.len() > 300, "only {} appends", acked.len());
    check_acked(&c, &acked);
    let commit = (0..3)
        .filter_map(|i| status(&c, i).ok())
        .map(|r| r.commit_index)
        .max()
        .unwrap();
    let all = wait_applied(&c, commit);
    let state_bytes: u64 = acked.iter().map(|(_, t)| t.len() as u64 + 16).sum::<u64>() + 1024;
    for r in &all {
        assert!(r.last_included_index > 0, "never compacted: {r:?}");
        assert_bounded(r, state_bytes);
    }
    eprintln!("{kills} kills, {} appends, {all:?}", acked.len());
}

#[test]
fn a_follower_down_while_the_others_compact_catches_up_by_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path());
    let mut ck = c.clerk(OP_LIMIT);
    let mut acked = Vec::new();
    let mut append = |ck: &mut raft_kv::Clerk<_>, n: usize| {
        let token = format!("t{n};");
        ck.append(&format!("k{}", n % KEYS), &token).unwrap();
        acked.push((n % KEYS, token));
    };
    for n in 0..20 {
        append(&mut ck, n);
    }
    let follower = (ck.core().leader() + 1) % 3;
    c.kill(follower);
    for n in 20..600 {
        append(&mut ck, n);
    }
    let leader = status(&c, ck.core().leader()).unwrap();
    assert!(
        leader.last_included_index > 100,
        "the others compacted: {leader:?}"
    );
    c.spawn(follower);
    let all = wait_applied(&c, leader.commit_index);
    let f = &all[follower];
    assert!(
        f.last_included_index > 20,
        "caught up by a snapshot, not by the log: {f:?}"
    );
    check_acked(&c, &acked);
    let log = std::fs::read_to_string(c.log_path(follower)).unwrap();
    assert!(!log.contains("ERROR"), "{log}");
}

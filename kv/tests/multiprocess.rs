//! Three `raftkv serve` processes on loopback under concurrent client load, with the current
//! leader SIGKILLed and restarted on the same data directory again and again. At the end every
//! acknowledged Append is present exactly once, and the recorded history is linearizable
//! (stateright's LinearizabilityTester, per key). The history is written to the test's
//! directory as `history.json` (raft-kv-history format); a failing test keeps the directory
//! (node logs and history) and prints its path.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::procs::Processes;
use raft_kv::Op;

const CLIENTS: usize = 4;
const KEYS: usize = 4;
const LOAD: Duration = Duration::from_secs(15);
const KILL_EVERY: Duration = Duration::from_millis(3000);
/// Longest any one operation may take before the test fails: several elections' worth.
const OP_LIMIT: Duration = Duration::from_secs(20);

fn key(k: usize) -> String {
    format!("k{k}")
}

#[test]
fn leader_sigkill_and_restart_under_load_keeps_acknowledged_writes_and_linearizability() {
    let dir = common::history::KeepOnFailure::new();
    let mut cluster = Processes::new(dir.path(), 3, "warn");
    for i in 0..3 {
        cluster.spawn(i);
    }
    let export = common::history::HistoryExport::new(dir.path());
    let history = export.history.clone();
    let stop = Arc::new(AtomicBool::new(false));

    // Each client appends unique tokens and reads; returns the tokens acknowledged per key.
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (mut ck, history, stop) = (cluster.clerk(OP_LIMIT), history.clone(), stop.clone());
            std::thread::spawn(move || -> Result<Vec<(usize, String)>, String> {
                let mut acked = Vec::new();
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let k = (n * 7 + c) % KEYS;
                    let op = if n % 3 == 2 {
                        Op::Get { key: key(k) }
                    } else {
                        Op::Append {
                            key: key(k),
                            value: format!("c{c}.{n};"),
                        }
                    };
                    // Invoke and return are recorded under the lock, bracketing the real
                    // operation, so the history's real-time order is sound.
                    history.lock().unwrap().invoke(c, op.clone());
                    let r = ck.run(op.clone()).map_err(|e| format!("client {c}: {e}"))?;
                    history.lock().unwrap().ret(c, r);
                    if let Op::Append { value, .. } = op {
                        acked.push((k, value));
                    }
                    n += 1;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(acked)
            })
        })
        .collect();

    // The fault loop: find the leader (the server that answered last), SIGKILL it, restart it
    // on the same data directory after a short pause.
    let mut probe = cluster.clerk(OP_LIMIT);
    let started = Instant::now();
    let mut kills = 0;
    while started.elapsed() < LOAD {
        std::thread::sleep(KILL_EVERY);
        probe
            .get("probe")
            .expect("the cluster answers between faults");
        let leader = probe.core().leader();
        cluster.kill(leader);
        kills += 1;
        std::thread::sleep(Duration::from_millis(400));
        cluster.spawn(leader);
    }
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for c in clients {
        acked.extend(
            c.join()
                .expect("client thread")
                .unwrap_or_else(|e| panic!("{e}\n{}", cluster.dump_logs())),
        );
    }
    assert!(kills >= 3, "only {kills} leader kills");

    // Every acknowledged Append is in the final value, exactly once.
    let mut ck = cluster.clerk(OP_LIMIT);
    for k in 0..KEYS {
        let v = ck.get(&key(k)).unwrap().unwrap_or_default();
        for (_, token) in acked.iter().filter(|(kk, _)| *kk == k) {
            assert_eq!(
                v.matches(token.as_str()).count(),
                1,
                "{token} in {}: {v}",
                key(k)
            );
        }
    }
    let h = export.write_and_check();
    assert!(
        h.completed() > 200,
        "only {} operations completed",
        h.completed()
    );
    eprintln!(
        "{} operations, {} acknowledged appends, {kills} leader kills; linearizable",
        h.completed(),
        acked.len()
    );
}

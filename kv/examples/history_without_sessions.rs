//! Writes a client history that is NOT linearizable, for `raftkv check-history` to judge and
//! draw: the simulated KV cluster (5 servers, 3 clients on one key, an unreliable network) with
//! the service bug `ServiceFault::NoSessions` (every attempt a fresh sequence number, so a
//! retried Append applies twice). Tries seeds until one breaks linearizability.
//!
//! ```sh
//! cargo run --release -p raft-kv --example history_without_sessions -- bad.json
//! cargo run --release -p raft-kv --bin raftkv -- check-history bad.json --html bad.html
//! ```

use raft_kv::sim::{KvSim, KvSimConfig, ServiceFault};
use raft_sim::SEC;

fn main() {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: history_without_sessions OUT.json");
        std::process::exit(2);
    };
    for seed in 50_000..50_100 {
        let mut cfg = KvSimConfig::new(5, 3, seed);
        cfg.fault = Some(ServiceFault::NoSessions);
        let mut sim = KvSim::new(cfg);
        sim.set_unreliable(true);
        for c in 0..3 {
            sim.start_workload(c, vec!["k".into()]);
        }
        if let Err(e) = sim.run_for(5 * SEC) {
            eprintln!("seed {seed}: the simulator stopped: {e}");
            continue;
        }
        sim.stop_workloads();
        if sim.wait_all_idle(30 * SEC).is_err() {
            continue;
        }
        let h = sim.history();
        if h.check().is_err() {
            if let Err(e) = std::fs::write(&out, h.to_json("us")) {
                eprintln!("cannot write {out}: {e}");
                std::process::exit(1);
            }
            println!(
                "seed {seed}: {} operations, not linearizable: wrote {out}",
                h.completed()
            );
            return;
        }
    }
    eprintln!("no seed in 50000..50100 broke linearizability");
    std::process::exit(1);
}

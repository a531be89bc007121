//! Exported histories: the simulated cluster writes them, `raftkv check-history` judges and
//! draws them, on a correct service and on one without sessions (a retried append applies
//! twice).

mod common;

use std::path::Path;
use std::process::Command;

use raft_kv::history::History;
use raft_kv::sim::{KvSim, KvSimConfig, ServiceFault};
use raft_sim::SEC;

fn run(fault: Option<ServiceFault>, seed: u64) -> History {
    let mut cfg = KvSimConfig::new(5, 3, seed);
    cfg.fault = fault;
    let mut sim = KvSim::new(cfg);
    sim.set_unreliable(true);
    for c in 0..3 {
        sim.start_workload(c, vec!["k".into()]);
    }
    sim.run_for(5 * SEC).expect("raft stays safe");
    sim.stop_workloads();
    sim.wait_all_idle(30 * SEC).expect("clients finish");
    sim.history().clone()
}

fn check_history(file: &Path, html: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_raftkv"))
        .arg("check-history")
        .arg(file)
        .arg("--html")
        .arg(html)
        .output()
        .expect("raftkv runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_correct_history_checks_and_draws() {
    let dir = tempfile::tempdir().unwrap();
    let (file, html) = (dir.path().join("h.json"), dir.path().join("h.html"));
    let h = run(None, 50_000);
    assert!(h.completed() > 20, "{}", h.completed());
    std::fs::write(&file, h.to_json("us")).unwrap();
    let (code, out, err) = check_history(&file, &html);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("linearizable:"), "{out}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.matches(">client ").count() >= 3);
    assert!(
        !page.contains(" unplaced\""),
        "nothing drawn as unplaceable"
    );
}

#[test]
fn a_history_without_sessions_is_refused_and_shows_what_cannot_be_placed() {
    let dir = tempfile::tempdir().unwrap();
    let (file, html) = (dir.path().join("h.json"), dir.path().join("h.html"));
    // Some seed loses a reply and retries an append: it applies twice.
    let bad = (0..10)
        .map(|seed| run(Some(ServiceFault::NoSessions), 50_000 + seed))
        .find(|h| h.check().is_err())
        .expect("a duplicated append on some seed");
    std::fs::write(&file, bad.to_json("us")).unwrap();
    let (code, out, err) = check_history(&file, &html);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("NOT linearizable"), "{out}");
    assert!(out.contains("cannot be placed"), "{out}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains(" unplaced\""),
        "an operation drawn as unplaceable"
    );
    assert!(
        page.contains("#1 "),
        "the linearization's order is numbered"
    );
}

#[test]
fn a_broken_history_file_is_exit_2_naming_where() {
    let dir = tempfile::tempdir().unwrap();
    let (file, html) = (dir.path().join("h.json"), dir.path().join("h.html"));
    std::fs::write(&file, "{\"format\": \"raft-kv-history\", \"version\": 1, \"time_unit\": \"us\", \"operations\": [{\"client\": 0}]}").unwrap();
    let (code, _, err) = check_history(&file, &html);
    assert_eq!(code, 2);
    assert!(
        err.contains("line 1") && err.contains("missing field"),
        "{err}"
    );
}

#[test]
fn a_short_bench_records_a_history_that_check_history_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bench.json");
    // Short, few keys, half Gets: a history the checker judges in well under a second.
    let out = Command::new(env!("CARGO_BIN_EXE_raftkv"))
        .args([
            "bench",
            "--in-process",
            "--clients",
            "4",
            "--duration",
            "0.2",
        ])
        .args(["--keys", "3", "--get-percent", "50", "--tick-ms", "10"])
        .arg("--history")
        .arg(&file)
        .output()
        .expect("raftkv runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("operations written to"), "{stdout}");
    let h = History::from_json(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let ops = h.operations();
    assert!(h.completed() > 50, "{}", h.completed());
    // Clients share the keys, and a Get sees some client's (unique) value.
    let clients_on_k0: std::collections::BTreeSet<usize> = ops
        .iter()
        .filter(|o| o.op.key().ends_with("-k0"))
        .map(|o| o.client)
        .collect();
    assert!(clients_on_k0.len() >= 2, "{clients_on_k0:?}");
    let puts: Vec<&str> = ops
        .iter()
        .filter_map(|o| match &o.op {
            raft_kv::Op::Put { value, .. } => Some(value.as_str()),
            _ => None,
        })
        .collect();
    let distinct: std::collections::BTreeSet<&&str> = puts.iter().collect();
    assert_eq!(distinct.len(), puts.len(), "every Put writes its own value");
    assert!(ops.iter().any(|o| matches!(
        &o.ret,
        Some((_, raft_kv::OpResult::Value(Some(v)))) if puts.contains(&v.as_str())
    )));
    // The binary and the library agree: linearizable.
    assert_eq!(h.check(), Ok(()));
    let (code, out, err) = check_history(&file, &dir.path().join("bench.html"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("linearizable:"), "{out}");
}

#[test]
fn a_failing_test_keeps_its_directory_and_history() {
    let (tx, rx) = std::sync::mpsc::channel();
    let failed = std::thread::spawn(move || {
        let dir = common::history::KeepOnFailure::new();
        let export = common::history::HistoryExport::new(dir.path());
        let get = raft_kv::Op::Get { key: "k".into() };
        export.history.lock().unwrap().invoke(0, get);
        tx.send(export.path.clone()).unwrap();
        panic!("the test fails half-way");
    })
    .join();
    assert!(failed.is_err());
    let path = rx.recv().unwrap();
    let text = std::fs::read_to_string(&path).expect("the history was written and kept");
    let h = History::from_json(&text).unwrap();
    assert_eq!((h.operations().len(), h.completed()), (1, 0));
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

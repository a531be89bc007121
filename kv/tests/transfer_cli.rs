//! `raftkv transfer-leader` against three real `raftkv serve` processes on loopback (thesis
//! §3.10), and the node side of the request (`raft_kv::net::transfer::request_transfer`).
//! Every wait is bounded.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::procs::Processes;
use raft_impl::core::Role;
use raft_impl::types::{NodeId, Term};
use raft_kv::net::status::query_status;
use raft_kv::net::transfer::{request_transfer, TransferOutcome};

const BIN: &str = env!("CARGO_BIN_EXE_raftkv");

/// `raftkv ARGS --cluster <the cluster> <client TLS flags>`.
fn raftkv(cluster: &Processes, args: &[&str]) -> Output {
    let list: Vec<String> = cluster.addrs.iter().map(|a| a.to_string()).collect();
    Command::new(BIN)
        .args(args)
        .args(["--cluster", &list.join(",")])
        .args(cluster.pki.client_flags())
        .output()
        .expect("run raftkv")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The node that reports itself leader (highest term), polling up to 20 s.
fn leader(cluster: &Processes) -> (NodeId, Term) {
    let sec = cluster.pki.client();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let best = (cluster.addrs.iter())
            .filter_map(|&a| query_status(a, &sec, Duration::from_secs(1)).ok())
            .filter(|r| r.role == Role::Leader)
            .max_by_key(|r| r.current_term);
        if let Some(r) = best {
            return (r.id, r.current_term);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no leader within 20 s\n{}", cluster.dump_logs());
}

#[test]
fn transfer_leader_hands_leadership_to_a_follower_and_the_cluster_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Processes::new(dir.path(), 3, "info");
    for i in 0..3 {
        cluster.spawn(i);
    }
    let mut ck = cluster.clerk(Duration::from_secs(20));
    ck.put("k", "v1").unwrap();
    let (old, old_term) = leader(&cluster);
    let to = (1..=3).find(|&i| i != old).unwrap();
    let addr = |id: NodeId| cluster.addrs[id as usize - 1];
    let sec = cluster.pki.client();
    let t = Duration::from_secs(5);

    // The node side: a follower refuses with a hint; the leader refuses an unknown target.
    let o = request_transfer(addr(to), &sec, old, t).unwrap();
    assert!(
        matches!(
            o,
            TransferOutcome::NotLeader {
                leader_hint: Some(_)
            }
        ),
        "{o:?}"
    );
    let o = request_transfer(addr(old), &sec, 9, t).unwrap();
    assert_eq!(o, TransferOutcome::UnknownTarget { target: 9 });

    let o = raftkv(
        &cluster,
        &["transfer-leader", &to.to_string(), "--timeout", "10"],
    );
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{out}{err}\n{}", cluster.dump_logs());
    let want = format!("transfer-leader: node {to} is leader (term ");
    assert!(out.starts_with(&want), "{out}");
    let term: Term = out[want.len()..]
        .split(')')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(term > old_term, "{out} (old term {old_term})");

    let (code, status) = cluster.status_cli();
    assert_eq!(code, 0, "{status}");
    assert!(
        status.contains(&format!("leader {to} (term {term})")),
        "{status}"
    );
    // What was written before is still there, and a new write goes through the new leader.
    assert_eq!(ck.get("k").unwrap().as_deref(), Some("v1"));
    ck.put("k2", "v2").unwrap();
    assert_eq!(ck.get("k2").unwrap().as_deref(), Some("v2"));
    assert_eq!(leader(&cluster).0, to);

    // To the node that leads: nothing to do.
    let o = raftkv(&cluster, &["transfer-leader", &to.to_string()]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    assert!(out.contains(&format!("node {to} already leads")), "{out}");

    // To a node that is down: refused before the leader is asked, naming it.
    cluster.kill(old as usize - 1);
    let o = raftkv(
        &cluster,
        &["transfer-leader", &old.to_string(), "--timeout", "5"],
    );
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("node {old}")) && err.contains("unreachable"),
        "{err}"
    );
    assert_eq!(leader(&cluster).0, to, "the leader kept leading");
}

#[test]
fn transfer_leader_to_an_unknown_id_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Processes::new(dir.path(), 3, "info");
    for i in 0..3 {
        cluster.spawn(i);
    }
    let (before, _) = leader(&cluster);
    let t = Instant::now();
    let o = raftkv(&cluster, &["transfer-leader", "7", "--timeout", "5"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("node 7") && err.contains("not in --cluster"),
        "{err}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "refused without waiting"
    );
    assert_eq!(leader(&cluster).0, before, "nothing was asked");
}

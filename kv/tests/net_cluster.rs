//! An in-process 3-node cluster over real TCP on loopback, with mutual TLS between nodes and
//! client certificates: every node has its own listener, data directory (FileStorage, fsync)
//! and node loop; clients are TCP Clerks.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use raft_kv::net::{tcp_clerk, NetConfig, Node, NodeConfig};
use raft_kv::{ClerkConfig, ReadMode};

const TICK: Duration = Duration::from_millis(20);

/// The cluster's certificates, in `dir/pki`.
fn pki(dir: &Path) -> common::Pki {
    common::Pki::in_dir(dir, 3)
}

fn node_config(id: u64, addrs: &[SocketAddr], dir: &Path) -> NodeConfig {
    node_config_in(id, addrs, dir, ReadMode::Log, false)
}

fn node_config_in(
    id: u64,
    addrs: &[SocketAddr],
    dir: &Path,
    read_mode: ReadMode,
    persist_thread: bool,
) -> NodeConfig {
    let net = NetConfig {
        tick: TICK,
        read_mode,
        persist_thread,
        ..NetConfig::default()
    };
    common::node_config(id, addrs, dir, net)
}

fn clerk(addrs: &[SocketAddr], dir: &Path) -> raft_kv::Clerk<raft_kv::net::TcpTransport> {
    let cfg = ClerkConfig {
        attempt_timeout: Duration::from_millis(400),
        ..ClerkConfig::default()
    };
    let ids = (1..=addrs.len() as u64).collect();
    tcp_clerk(
        ids,
        addrs.to_vec(),
        pki(dir).client(),
        cfg,
        Some(Duration::from_secs(15)),
    )
}

#[test]
fn put_append_get_and_leader_failover_over_tcp() {
    failover_over_tcp(ReadMode::Log, false);
}

#[test]
fn put_append_get_and_leader_failover_over_tcp_with_read_index() {
    failover_over_tcp(ReadMode::ReadIndex, false);
}

/// Writes on a persist thread, the leader's in parallel with replication.
#[test]
fn put_append_get_and_leader_failover_over_tcp_with_a_persist_thread() {
    failover_over_tcp(ReadMode::Log, true);
    failover_over_tcp(ReadMode::ReadIndex, true);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Three nodes on `addrs`, each with its directory under `dir`.
fn start_nodes(
    rt: &tokio::runtime::Runtime,
    addrs: &[SocketAddr],
    dir: &Path,
    mode: ReadMode,
    persist_thread: bool,
) -> Vec<Option<Node>> {
    (1..=addrs.len() as u64)
        .map(|id| {
            let cfg = node_config_in(id, addrs, dir, mode, persist_thread);
            Some(rt.block_on(Node::start(cfg)).unwrap())
        })
        .collect()
}

fn failover_over_tcp(mode: ReadMode, persist_thread: bool) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let addrs = common::free_addrs(3);
    let mut nodes = start_nodes(&rt, &addrs, dir.path(), mode, persist_thread);

    let mut ck = clerk(&addrs, dir.path());
    ck.put("a", "1").unwrap();
    ck.append("a", "2").unwrap();
    assert_eq!(ck.get("a").unwrap().as_deref(), Some("12"));
    assert_eq!(ck.get("missing").unwrap(), None);

    // Stop the leader (the server that last answered); the others elect a new one and every
    // acknowledged write survives.
    for round in 0..2 {
        let leader = ck.core().leader();
        let node = nodes[leader].take().unwrap();
        rt.block_on(node.shutdown()).unwrap();
        ck.append("a", &format!("-{round}")).unwrap();
        assert_ne!(ck.core().leader(), leader, "a stopped node cannot answer");
        // Bring it back on the same data directory: it recovers its log and catches up.
        let id = leader as u64 + 1;
        nodes[leader] = Some(
            rt.block_on(Node::start(node_config_in(
                id,
                &addrs,
                dir.path(),
                mode,
                persist_thread,
            )))
            .unwrap(),
        );
    }
    assert_eq!(ck.get("a").unwrap().as_deref(), Some("12-0-1"));

    // A second client sees the same state (linearizable reads, by log or ReadIndex).
    let mut other = clerk(&addrs, dir.path());
    assert_eq!(other.get("a").unwrap().as_deref(), Some("12-0-1"));

    for n in nodes.into_iter().flatten() {
        rt.block_on(n.shutdown()).unwrap();
    }
}

#[test]
fn a_node_refuses_a_foreign_data_directory() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let addrs = common::free_addrs(3);
    let cfg = node_config(1, &addrs, dir.path());
    std::fs::create_dir_all(&cfg.data_dir).unwrap();
    std::fs::write(
        cfg.data_dir.join("hardstate"),
        b"this is not a raft file at all, 33b",
    )
    .unwrap();
    let err = rt.block_on(Node::start(cfg)).err().expect("must refuse");
    let msg = err.to_string();
    assert!(
        msg.contains("hardstate") && msg.contains("foreign"),
        "{msg}"
    );
}

#[test]
fn a_taken_port_is_named() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut addrs = common::free_addrs(3);
    addrs[0] = addr;
    let err = rt
        .block_on(Node::start(node_config(1, &addrs, dir.path())))
        .err()
        .expect("must refuse");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

/// 32 sessions share one connection per server ([`MuxTcpTransport`]); the leader is stopped
/// while they run, failing every request queued on its connection. Each session appends its
/// own numbers to its own key: at the end every key holds each number exactly once, in order.
#[test]
fn sessions_sharing_connections_stay_exactly_once_across_a_leader_change() {
    use raft_kv::net::{AsyncClerk, MuxTcpTransport};
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let addrs = common::free_addrs(3);
    let mut nodes = start_nodes(&rt, &addrs, dir.path(), ReadMode::Log, false);
    let shared = MuxTcpTransport::new(addrs.clone(), pki(dir.path()).client());
    let cfg = ClerkConfig {
        attempt_timeout: Duration::from_millis(400),
        ..ClerkConfig::default()
    };
    let ids: Vec<u64> = (1..=3).collect();
    let limit = Some(Duration::from_secs(15));
    let mut probe = AsyncClerk::new(ids.clone(), shared.clone(), cfg.clone(), limit);
    rt.block_on(probe.put("probe", "")).unwrap();
    let leader = probe.core().leader();

    const SESSIONS: usize = 32;
    const OPS: usize = 200;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = (0..SESSIONS)
        .map(|c| {
            let mut ck = AsyncClerk::new(ids.clone(), shared.clone(), cfg.clone(), limit);
            let done = done.clone();
            rt.spawn(async move {
                for i in 0..OPS {
                    ck.run(raft_kv::Op::Append {
                        key: format!("k{c}"),
                        value: format!("{i},"),
                    })
                    .await
                    .unwrap();
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    let progress = || done.load(std::sync::atomic::Ordering::Relaxed);
    while progress() < SESSIONS * OPS / 3 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let at_stop = progress();
    rt.block_on(nodes[leader].take().unwrap().shutdown())
        .unwrap();
    assert!(
        at_stop < SESSIONS * OPS,
        "the leader stopped while sessions were running"
    );
    for t in tasks {
        rt.block_on(t).unwrap();
    }
    let expected: String = (0..OPS).map(|i| format!("{i},")).collect();
    for c in 0..SESSIONS {
        let got = rt.block_on(probe.get(&format!("k{c}"))).unwrap();
        assert_eq!(got.as_deref(), Some(expected.as_str()), "session {c}");
    }
    assert_ne!(
        probe.core().leader(),
        leader,
        "the stopped node cannot answer"
    );
    for n in nodes.into_iter().flatten() {
        rt.block_on(n.shutdown()).unwrap();
    }
}

//! An in-process 3-node cluster over real TCP on loopback: every node has its own listener,
//! data directory (FileStorage, fsync) and node loop; clients are TCP Clerks.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use raft_kv::net::{tcp_clerk, NetConfig, Node, NodeConfig};
use raft_kv::{ClerkConfig, ReadMode};

const TICK: Duration = Duration::from_millis(20);

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
    let peers: BTreeMap<u64, SocketAddr> = (1..=addrs.len() as u64)
        .filter(|&p| p != id)
        .map(|p| (p, addrs[p as usize - 1]))
        .collect();
    NodeConfig {
        id,
        peers,
        listen: addrs[id as usize - 1],
        data_dir: dir.join(format!("node-{id}")),
        net: NetConfig {
            tick: TICK,
            read_mode,
            persist_thread,
            ..NetConfig::default()
        },
    }
}

fn clerk(addrs: &[SocketAddr]) -> raft_kv::Clerk<raft_kv::net::TcpTransport> {
    let cfg = ClerkConfig {
        attempt_timeout: Duration::from_millis(400),
        ..ClerkConfig::default()
    };
    let ids = (1..=addrs.len() as u64).collect();
    tcp_clerk(ids, addrs.to_vec(), cfg, Some(Duration::from_secs(15)))
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

fn failover_over_tcp(mode: ReadMode, persist_thread: bool) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let addrs = common::free_addrs(3);
    let mut nodes: Vec<Option<Node>> = (1..=3)
        .map(|id| {
            Some(
                rt.block_on(Node::start(node_config_in(
                    id,
                    &addrs,
                    dir.path(),
                    mode,
                    persist_thread,
                )))
                .unwrap(),
            )
        })
        .collect();

    let mut ck = clerk(&addrs);
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
    let mut other = clerk(&addrs);
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

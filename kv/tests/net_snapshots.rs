//! Snapshots over real TCP (mutual TLS, FileStorage): nodes compact their logs past a small
//! threshold, a follower that was down while the others compacted catches up by InstallSnapshot
//! in chunks, and every node restarts from its snapshot with the session table intact.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use raft_kv::net::{tcp_clerk, NetConfig, Node, NodeConfig};
use raft_kv::ClerkConfig;

const TICK: Duration = Duration::from_millis(20);
/// Small, so that a few hundred operations compact several times.
const THRESHOLD: u64 = 4 << 10;

fn node_config(id: u64, addrs: &[SocketAddr], dir: &Path) -> NodeConfig {
    let net = NetConfig {
        tick: TICK,
        snapshot_threshold: Some(THRESHOLD),
        ..NetConfig::default()
    };
    common::node_config(id, addrs, dir, net)
}

fn snapshot_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("snapshot-") && n.ends_with(".snap"))
        .collect();
    v.sort();
    v
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_follower_behind_the_compacted_log_catches_up_by_snapshot_and_restarts_from_it() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let addrs = common::free_addrs(3);
    let start = |id: u64| {
        rt.block_on(Node::start(node_config(id, &addrs, dir.path())))
            .unwrap()
    };
    let mut nodes: Vec<Option<Node>> = (1..=3).map(|id| Some(start(id))).collect();
    let cfg = ClerkConfig {
        attempt_timeout: Duration::from_millis(400),
        ..ClerkConfig::default()
    };
    let mut ck = tcp_clerk(
        vec![1, 2, 3],
        addrs.clone(),
        common::Pki::in_dir(dir.path(), 3).client(),
        cfg,
        Some(Duration::from_secs(15)),
    );
    ck.put("k", "").unwrap();

    // Node 3 goes down; the other two apply far more than the threshold and compact.
    rt.block_on(nodes[2].take().unwrap().shutdown()).unwrap();
    let mut expected = String::new();
    for i in 0..300 {
        let piece = format!("{i};");
        ck.append("k", &piece).unwrap();
        expected.push_str(&piece);
        ck.put(&format!("key{}", i % 17), &"v".repeat(20)).unwrap();
    }
    let leader_first = (0..2)
        .map(|i| nodes[i].as_ref().unwrap().status().last_included_index)
        .max()
        .unwrap();
    assert!(leader_first > 10, "the log was compacted: {leader_first}");
    for id in 1..=2 {
        let files = snapshot_files(&dir.path().join(format!("node-{id}")));
        // The newest, and at most the one before it as a fallback (storage-format.md).
        assert!(matches!(files.len(), 1 | 2), "node {id}: {files:?}");
    }

    // Back on its old directory: the entries it lacks are compacted everywhere, so only an
    // InstallSnapshot can bring it up to date; then the log after the snapshot.
    nodes[2] = Some(start(3));
    let leader_commit = || {
        (0..2)
            .filter_map(|i| nodes[i].as_ref())
            .map(|n| n.status().commit_index)
            .max()
            .unwrap()
    };
    let target = leader_commit();
    wait_for("node 3 to apply the leader's commit index", || {
        nodes[2].as_ref().unwrap().status().applied_index >= target
    });
    let st = nodes[2].as_ref().unwrap().status();
    assert!(
        st.last_included_index >= leader_first,
        "node 3 installed the leader's snapshot: {st:?}"
    );
    assert!(!snapshot_files(&dir.path().join("node-3")).is_empty());

    // Every node restarts from its snapshot plus the log after it, session tables included:
    // the Clerk's next operations are neither lost nor applied twice.
    for n in nodes.iter_mut() {
        rt.block_on(n.take().unwrap().shutdown()).unwrap();
    }
    let mut nodes: Vec<Option<Node>> = (1..=3).map(|id| Some(start(id))).collect();
    ck.append("k", "end").unwrap();
    expected.push_str("end");
    assert_eq!(ck.get("k").unwrap().as_deref(), Some(expected.as_str()));
    for n in nodes.iter_mut() {
        let st = n.as_ref().unwrap().status();
        assert!(
            st.last_included_index > 0,
            "restarted from a snapshot: {st:?}"
        );
        rt.block_on(n.take().unwrap().shutdown()).unwrap();
    }
}

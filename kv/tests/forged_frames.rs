//! Forged Raft frames against a 3-node TLS cluster (issue 14): a RequestVote at term + 50 and
//! an AppendEntries at term + 100 carrying an entry and a commit index, the two frames that
//! deposed a leader and diverged a replica on the plaintext cluster. Sent from a non-member,
//! with a member's id on a connection not authenticated as that member, with a stolen id but a
//! certificate from another CA: every connection is refused and no node's term or log changes.
//! The same frames on an `--insecure` cluster do raise the term, so the check can fail.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use raft_impl::testing::{append, entry, env, vote};
use raft_kv::net::certs;
use raft_kv::net::frame::{self, Frame};
use raft_kv::net::stream::BlockingStream;
use raft_kv::net::{
    tcp_clerk, ClientAuth, ClientSecurity, ClientTls, NetConfig, Node, NodeConfig, NodeStatus,
    NodeTls, Security,
};
use raft_kv::{ClerkConfig, Command, Op};

/// Slow enough that a loaded machine does not start elections of its own during the test.
const TICK: Duration = Duration::from_millis(100);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

struct Cluster {
    rt: tokio::runtime::Runtime,
    addrs: Vec<SocketAddr>,
    nodes: Vec<Node>,
    client: ClientSecurity,
}

impl Cluster {
    fn start(dir: &Path, security: impl Fn(u64) -> Security, client: ClientSecurity) -> Self {
        let rt = runtime();
        let addrs = common::free_addrs(3);
        let nodes = (1..=3u64)
            .map(|id| {
                let peers: BTreeMap<u64, SocketAddr> = (1..=3)
                    .filter(|&p| p != id)
                    .map(|p| (p, addrs[p as usize - 1]))
                    .collect();
                let cfg = NodeConfig {
                    id,
                    peers,
                    listen: addrs[id as usize - 1],
                    data_dir: dir.join(format!("node-{id}")),
                    net: NetConfig {
                        tick: TICK,
                        ..NetConfig::default()
                    },
                    security: security(id),
                };
                rt.block_on(Node::start(cfg)).unwrap()
            })
            .collect();
        Cluster {
            rt,
            addrs,
            nodes,
            client,
        }
    }

    /// Puts `key`, then waits until every node holds and has committed the same log.
    /// Returns the position of the node that answered (the leader).
    fn put_and_settle(&self, key: &str) -> usize {
        let mut ck = tcp_clerk(
            vec![1, 2, 3],
            self.addrs.clone(),
            self.client.clone(),
            ClerkConfig::default(),
            Some(Duration::from_secs(20)),
        );
        ck.put(key, "v").unwrap();
        let leader = ck.core().leader();
        let t = Instant::now();
        loop {
            let s = self.statuses();
            if s.iter()
                .all(|x| x.last_index == s[0].last_index && x.commit_index == s[0].last_index)
            {
                return leader;
            }
            assert!(t.elapsed() < Duration::from_secs(10), "no settle: {s:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn statuses(&self) -> Vec<NodeStatus> {
        self.nodes.iter().map(|n| n.status()).collect()
    }

    fn shutdown(self) {
        for n in self.nodes {
            self.rt.block_on(n.shutdown()).unwrap();
        }
    }
}

/// The two frames of the issue, from `from` to `to`, against `to`'s status.
fn forged(from: u64, to: u64, s: NodeStatus) -> Vec<u8> {
    let t = s.current_term;
    let vote = env(from, to, vote(t + 50, s.last_index + 1000, t + 50));
    let cmd = Command {
        client_id: 666,
        seq: 1,
        op: Op::Put {
            key: "forged".into(),
            value: "x".into(),
        },
    };
    let forged_entry = entry(s.last_index + 1, t + 100, cmd.encode());
    let append = env(
        from,
        to,
        append(t + 100)
            .prev(s.last_index, t)
            .entries(vec![forged_entry])
            .commit(s.last_index + 1),
    );
    let mut bytes = frame::encode(&Frame::Raft(vote)).unwrap();
    bytes.extend(frame::encode(&Frame::Raft(append)).unwrap());
    bytes
}

/// How an attacker connects.
enum Via {
    Plain,
    Tls(ClientSecurity),
}

/// Sends `bytes` to `addr` and expects the node to close the connection (or refuse it) rather
/// than keep listening. Returns what happened, for the failure message.
fn attack(addr: SocketAddr, via: &Via, bytes: &[u8]) -> String {
    let timeout = Duration::from_secs(5);
    let mut s = match via {
        Via::Plain => BlockingStream::connect(addr, &ClientSecurity::Insecure, timeout),
        Via::Tls(sec) => BlockingStream::connect(addr, sec, timeout),
    }
    .map_err(|e| format!("connect refused: {e}"));
    let Ok(s) = s.as_mut() else {
        return s.err().unwrap();
    };
    s.tcp().set_read_timeout(Some(timeout)).unwrap();
    if let Err(e) = s.write_all(bytes).and_then(|()| s.flush()) {
        return format!("write refused: {e}");
    }
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return "closed".into(),
            // A plaintext peer of a TLS listener may get a TLS alert back.
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("the node kept the forging connection open")
            }
            Err(e) => return format!("closed: {e}"),
        }
    }
}

fn tls_client(ca: &Path, cert_key: Option<(&Path, &Path)>, token: Option<&[u8]>) -> Via {
    Via::Tls(ClientSecurity::Tls(Arc::new(
        ClientTls::load(ca, cert_key, token.map(<[u8]>::to_vec)).unwrap(),
    )))
}

/// The attacks of the module documentation against `cluster`, whose CA is in `pki` (with a
/// certificate for non-member node 9) and with another CA in `rogue`; `token` is the
/// cluster's client token, if it has one.
fn every_forgery_is_refused_and_changes_nothing(
    cluster: &Cluster,
    pki: &Path,
    rogue: &Path,
    token: Option<&[u8]>,
) {
    let leader = cluster.put_and_settle("before") as u64 + 1;
    let target = leader % 3 + 1; // a follower
    let other = 6 - leader - target; // the other follower
    let before = cluster.statuses();
    let addr = cluster.addrs[target as usize - 1];
    let ca = certs::ca_file(pki);
    let client = certs::named_files(pki, "client");
    let node = |dir: &Path, id| certs::node_files(dir, id);
    let n9 = node(pki, 9);
    let n_other = node(pki, other);
    let stolen = node(rogue, leader);
    let mut attacks: Vec<(String, Via, u64)> = vec![
        ("plaintext, claiming the leader".into(), Via::Plain, leader),
        (
            "TLS without a certificate or token, claiming the leader".into(),
            tls_client(&ca, None, None),
            leader,
        ),
        (
            "a client certificate, claiming the leader".into(),
            tls_client(&ca, Some((&client.cert, &client.key)), token),
            leader,
        ),
        (
            "a client certificate, claiming non-member 9".into(),
            tls_client(&ca, Some((&client.cert, &client.key)), token),
            9,
        ),
        (
            "a CA-signed certificate of non-member node 9".into(),
            tls_client(&ca, Some((&n9.cert, &n9.key)), token),
            9,
        ),
        (
            "the other follower's certificate, claiming the leader".into(),
            tls_client(&ca, Some((&n_other.cert, &n_other.key)), None),
            leader,
        ),
        (
            "the leader's id in a certificate from another CA".into(),
            tls_client(&ca, Some((&stolen.cert, &stolen.key)), None),
            leader,
        ),
    ];
    if token.is_some() {
        attacks.push((
            "TLS with the token but no certificate, claiming the leader".into(),
            tls_client(&ca, None, token),
            leader,
        ));
    }
    for (what, via, from) in &attacks {
        let bytes = forged(*from, target, before[target as usize - 1]);
        let outcome = attack(addr, via, &bytes);
        eprintln!("{what}: {outcome}");
    }
    // Several heartbeats later nothing has moved: no term raised, no entry appended.
    std::thread::sleep(TICK * 6);
    assert_eq!(cluster.statuses(), before, "a forged frame changed a node");
    // And the cluster still serves, in the same term.
    cluster.put_and_settle("after");
    let after = cluster.statuses();
    assert!(after
        .iter()
        .all(|s| s.current_term == before[0].current_term));
}

/// A CA for the cluster (nodes 1-3, non-member 9, a client) and another CA.
fn two_cas(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (pki, rogue) = (dir.join("pki"), dir.join("rogue"));
    certs::generate(&pki, &[1, 2, 3, 9], &["client"]).unwrap();
    certs::generate(&rogue, &[1, 2, 3], &["client"]).unwrap();
    (pki, rogue)
}

fn node_security(pki: &Path, id: u64, auth: ClientAuth) -> Security {
    let f = certs::node_files(pki, id);
    Security::Tls(Arc::new(
        NodeTls::load(id, &certs::ca_file(pki), &f.cert, &f.key, auth).unwrap(),
    ))
}

#[test]
fn forged_peer_frames_are_refused_with_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let (pki, rogue) = two_cas(dir.path());
    let client = certs::named_files(&pki, "client");
    let cluster = Cluster::start(
        dir.path(),
        |id| node_security(&pki, id, ClientAuth::Certificate),
        ClientSecurity::Tls(Arc::new(
            ClientTls::load(
                &certs::ca_file(&pki),
                Some((&client.cert, &client.key)),
                None,
            )
            .unwrap(),
        )),
    );
    every_forgery_is_refused_and_changes_nothing(&cluster, &pki, &rogue, None);
    cluster.shutdown();
}

/// With token authentication a connection without a certificate gets through the handshake:
/// the frame itself must be refused.
#[test]
fn forged_peer_frames_are_refused_with_token_clients() {
    let dir = tempfile::tempdir().unwrap();
    let (pki, rogue) = two_cas(dir.path());
    let token = b"let-me-in".to_vec();
    let cluster = Cluster::start(
        dir.path(),
        |id| node_security(&pki, id, ClientAuth::Token(token.clone())),
        ClientSecurity::Tls(Arc::new(
            ClientTls::load(&certs::ca_file(&pki), None, Some(token.clone())).unwrap(),
        )),
    );
    every_forgery_is_refused_and_changes_nothing(&cluster, &pki, &rogue, Some(&token));
    cluster.shutdown();
}

/// The control: on a plaintext cluster the same forged vote request is taken at its word.
#[test]
fn on_an_insecure_cluster_the_forged_vote_raises_the_term() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), |_| Security::Insecure, ClientSecurity::Insecure);
    let leader = cluster.put_and_settle("before") as u64 + 1;
    let target = leader % 3 + 1;
    let before = cluster.statuses()[target as usize - 1];
    let mut s = std::net::TcpStream::connect(cluster.addrs[target as usize - 1]).unwrap();
    s.write_all(&forged(leader, target, before)).unwrap();
    let t = Instant::now();
    while cluster.statuses()[target as usize - 1].current_term < before.current_term + 50 {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the forged vote request was not taken"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(s);
    cluster.shutdown();
}

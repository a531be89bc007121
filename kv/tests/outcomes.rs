//! Client outcomes over TLS, through a proxy that swallows the server's replies: a retry after
//! a timeout carries the same session and sequence number, so the operation applies once; a
//! Clerk that gives up after a delivered request says "outcome unknown" (and `raftkv` exits 3),
//! never "not applied".

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use raft_kv::net::{tcp_clerk, NetConfig, Node, NodeConfig};
use raft_kv::{ClerkConfig, ClerkError};

const BIN: &str = env!("CARGO_BIN_EXE_raftkv");

/// Forwards connections to `upstream`; the first `swallow` connections (counted from now)
/// forward requests but drop every reply. "Reply" means what the server sends after the TLS
/// handshake: the proxy forwards the server's handshake flight and starts dropping once the
/// client has sent its first encrypted record (TLS 1.3: content type 23, its `Finished`).
struct Proxy {
    addr: SocketAddr,
    swallow: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let swallow = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (sw, acc) = (swallow.clone(), accepted.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                acc.fetch_add(1, Ordering::SeqCst);
                let swallow = sw
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let handshake_done = Arc::new(AtomicBool::new(false));
                let done = handshake_done.clone();
                std::thread::spawn(move || pipe(client, server, Watch::ClientRecords(done)));
                let back = if swallow {
                    Watch::DropAfter(handshake_done)
                } else {
                    Watch::Nothing
                };
                std::thread::spawn(move || pipe(s2, c2, back));
            }
        });
        Proxy {
            addr,
            swallow,
            accepted,
        }
    }
}

/// What a pipe does besides copying.
enum Watch {
    Nothing,
    /// Client to server: set the flag at the client's first application-data record.
    ClientRecords(Arc<AtomicBool>),
    /// Server to client: drop everything once the flag is set.
    DropAfter(Arc<AtomicBool>),
}

/// Copies `from` to `to` until either end closes, doing what `watch` says.
fn pipe(mut from: TcpStream, mut to: TcpStream, watch: Watch) {
    let mut buf = [0u8; 16 << 10];
    // TLS record framing of the client's bytes: header bytes seen, body bytes left.
    let (mut header, mut header_len, mut body_left) = ([0u8; 5], 0usize, 0usize);
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        match &watch {
            Watch::Nothing => {}
            Watch::ClientRecords(flag) => {
                for &b in &buf[..n] {
                    if body_left > 0 {
                        body_left -= 1;
                        continue;
                    }
                    header[header_len] = b;
                    header_len += 1;
                    if header_len == 5 {
                        if header[0] == 23 {
                            flag.store(true, Ordering::SeqCst);
                        }
                        body_left = u16::from_be_bytes([header[3], header[4]]) as usize;
                        header_len = 0;
                    }
                }
            }
            Watch::DropAfter(flag) if flag.load(Ordering::SeqCst) => continue,
            Watch::DropAfter(_) => {}
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
    let _ = from.shutdown(std::net::Shutdown::Both);
}

struct One {
    rt: tokio::runtime::Runtime,
    node: Option<Node>,
    pki: common::Pki,
    _dir: tempfile::TempDir,
}

fn one_node() -> One {
    let dir = tempfile::tempdir().unwrap();
    let pki = common::Pki::in_dir(dir.path(), 1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = common::free_addrs(1)[0];
    let cfg = NodeConfig {
        id: 1,
        peers: Default::default(),
        listen: addr,
        data_dir: dir.path().join("node"),
        net: NetConfig {
            tick: Duration::from_millis(20),
            ..NetConfig::default()
        },
        security: pki.node(1),
    };
    let node = rt.block_on(Node::start(cfg)).unwrap();
    One {
        rt,
        node: Some(node),
        pki,
        _dir: dir,
    }
}

impl One {
    fn addr(&self) -> SocketAddr {
        self.node.as_ref().unwrap().addr()
    }

    fn clerk(
        &self,
        addr: SocketAddr,
        limit: Duration,
    ) -> raft_kv::Clerk<raft_kv::net::TcpTransport> {
        let cfg = ClerkConfig {
            attempt_timeout: Duration::from_millis(300),
            ..ClerkConfig::default()
        };
        tcp_clerk(vec![1], vec![addr], self.pki.client(), cfg, Some(limit))
    }
}

impl Drop for One {
    fn drop(&mut self) {
        if let Some(n) = self.node.take() {
            let _ = self.rt.block_on(n.shutdown());
        }
    }
}

#[test]
fn a_retry_after_a_timeout_applies_once() {
    let one = one_node();
    let proxy = Proxy::start(one.addr());
    let mut direct = one.clerk(one.addr(), Duration::from_secs(10));
    direct.put("k", "a").unwrap();
    // The first connection delivers the append but swallows its reply: the attempt times out
    // and the retry, on a new connection, is answered from the session table.
    proxy.swallow.store(1, Ordering::SeqCst);
    let mut ck = one.clerk(proxy.addr, Duration::from_secs(10));
    ck.append("k", "b").unwrap();
    assert!(
        proxy.accepted.load(Ordering::SeqCst) >= 2,
        "the append was retried on a new connection"
    );
    assert_eq!(
        direct.get("k").unwrap().as_deref(),
        Some("ab"),
        "applied once"
    );
}

#[test]
fn giving_up_after_a_delivered_request_is_outcome_unknown() {
    let one = one_node();
    let proxy = Proxy::start(one.addr());
    proxy.swallow.store(usize::MAX, Ordering::SeqCst);
    let mut ck = one.clerk(proxy.addr, Duration::from_secs(1));
    let err = ck.append("k", "x").unwrap_err();
    assert!(matches!(err, ClerkError::OutcomeUnknown { .. }), "{err}");
    // It was applied: "not applied" would have been a lie. Exactly once, too.
    let mut direct = one.clerk(one.addr(), Duration::from_secs(10));
    assert_eq!(direct.get("k").unwrap().as_deref(), Some("x"));

    // The command line says so, with its own exit code.
    let o = Command::new(BIN)
        .args([
            "append",
            "--cluster",
            &proxy.addr.to_string(),
            "--timeout",
            "1",
        ])
        .args(one.pki.client_flags())
        .args(["k", "y"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{e}");
    assert!(e.contains("append outcome unknown"), "{e}");
    assert_eq!(direct.get("k").unwrap().as_deref(), Some("xy"));
}

//! The `raftkv` binary's error reporting and the one-command local cluster (loopback only;
//! every wait is bounded).

mod common;

use raft_impl::testing;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_raftkv");

fn raftkv(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run raftkv")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `raftkv serve` as node 1, with its certificate from `pki`.
fn serve_args(dir: &str, listen: &str, peers: &str, pki: &common::Pki) -> Vec<String> {
    let mut v: Vec<String> = [
        "serve",
        "--id",
        "1",
        "--peers",
        peers,
        "--data-dir",
        dir,
        "--listen",
        listen,
    ]
    .map(String::from)
    .to_vec();
    v.extend(pki.serve_flags(1));
    v
}

fn raftkv_owned(args: &[String]) -> Output {
    Command::new(BIN).args(args).output().expect("run raftkv")
}

/// A client command with the client's TLS flags.
fn client(pki: &common::Pki, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .args(pki.client_flags())
        .output()
        .expect("run raftkv")
}

#[test]
fn a_bad_flag_exits_2_naming_it() {
    let o = raftkv(&["serve", "--id", "1", "--bogus-flag"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--bogus-flag"), "{}", stderr(&o));
    let o = raftkv(&["get", "--cluster", "not-an-address", "k"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not-an-address"), "{}", stderr(&o));
}

#[test]
fn a_port_in_use_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let other = common::free_addrs(1)[0];
    let peers = format!("1={addr},2={other}");
    let pki = common::Pki::new(2);
    let o = raftkv_owned(&serve_args(
        dir.path().to_str().unwrap(),
        &addr,
        &peers,
        &pki,
    ));
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains(&addr) && e.contains("in use"), "{e}");
}

#[test]
fn a_foreign_data_directory_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hardstate"),
        b"{\"this\": \"is somebody else's file\"}",
    )
    .unwrap();
    let a = common::free_addrs(2);
    let peers = format!("1={},2={}", a[0], a[1]);
    let pki = common::Pki::new(2);
    let o = raftkv_owned(&serve_args(
        dir.path().to_str().unwrap(),
        &a[0].to_string(),
        &peers,
        &pki,
    ));
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("hardstate") && e.contains("foreign"), "{e}");
}

#[test]
fn an_unreachable_cluster_fails_in_bounded_time_naming_the_addresses() {
    let a = common::free_addrs(2);
    let list = format!("{},{}", a[0], a[1]);
    let pki = common::Pki::new(2);
    let t = Instant::now();
    let o = client(&pki, &["get", "--cluster", &list, "--timeout", "1", "k"]);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains(&a[0].to_string()) && e.contains(&a[1].to_string()),
        "{e}"
    );
    // A put that never reached a server was not applied: exit 1, and it says so.
    let o = client(
        &pki,
        &["put", "--cluster", &list, "--timeout", "1", "k", "v"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("put not applied"), "{}", stderr(&o));
}

#[test]
fn a_client_without_tls_credentials_is_a_usage_error() {
    let o = Command::new(BIN)
        .args(["put", "--cluster", "127.0.0.1:1", "k", "v"])
        .env_remove("RAFTKV_TLS_DIR")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--tls-dir") && stderr(&o).contains("--insecure"),
        "{}",
        stderr(&o)
    );
    let o = raftkv(&["serve", "--id", "1", "--peers", "1=127.0.0.1:1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--cert"), "{}", stderr(&o));
}

/// Kills the child if the test fails half-way.
struct Reap(std::process::Child);
impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn cluster_serves_clients_and_stops_cleanly_on_sigterm() {
    cluster_serves_clients(&[], 0);
}

#[test]
fn cluster_with_read_index_and_a_persist_thread_serves_clients() {
    cluster_serves_clients(&["--read-mode", "read-index", "--persist-thread"], 41);
}

#[test]
fn an_insecure_cluster_warns_and_serves_plaintext_clients() {
    cluster_serves_clients(&["--insecure"], 83);
}

#[test]
fn a_cluster_with_token_client_auth_serves_token_clients() {
    cluster_serves_clients(&["--client-auth", "token"], 127);
}

#[test]
fn a_bad_read_mode_exits_2_naming_the_values() {
    let o = raftkv(&[
        "cluster",
        "--base-port",
        "1",
        "--data-dir",
        "x",
        "--read-mode",
        "lease",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("--read-mode") && e.contains("read-index"), "{e}");
    // The bench's flag is for its own in-process cluster only.
    let o = raftkv(&["bench", "--cluster", "127.0.0.1:1", "--read-mode", "log"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn in_process_bench_runs_in_both_read_modes() {
    for mode in ["log", "read-index"] {
        let o = raftkv(&[
            "bench",
            "--in-process",
            "--read-mode",
            mode,
            "--clients",
            "4",
            "--duration",
            "0.3",
            "--get-percent",
            "50",
            "--tick-ms",
            "10",
        ]);
        assert!(o.status.success(), "{mode}: {}", stderr(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("throughput="), "{mode}: {out}");
    }
}

/// `raftkv cluster` with `extra` flags serves put/append/get and stops on SIGTERM. `salt`
/// keeps tests running at once from picking the same ports.
fn cluster_serves_clients(extra: &[&str], salt: u16) {
    let dir = common::history::KeepOnFailure::new();
    // Three consecutive free ports: try a few random bases.
    let base = (0..50)
        .map(|i| 20000 + ((std::process::id() as u16).wrapping_mul(7) % 20000) + i * 97 + salt * 3)
        .find(|&p| (p..p + 3).all(|q| std::net::TcpListener::bind(("127.0.0.1", q)).is_ok()))
        .expect("three free consecutive ports");
    let mut child = Reap(
        Command::new(BIN)
            .args(["cluster", "--nodes", "3", "--base-port", &base.to_string()])
            .args([
                "--data-dir",
                dir.path().to_str().unwrap(),
                "--tick-ms",
                "20",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let err_lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let printed: Vec<String> = lines
        .by_ref()
        .take(10)
        .map_while(Result::ok)
        .take_while(|l| !l.starts_with("cluster: "))
        .collect();
    let list = format!(
        "127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}",
        base,
        base + 1,
        base + 2
    );
    let insecure = extra.contains(&"--insecure");
    let tls_dir = dir.path().join("tls");
    let tells = printed.contains(&format!("clients: --tls-dir {}", tls_dir.display()));
    assert_eq!(tells, !insecure, "{printed:?}");
    let path = |f: &str| tls_dir.join(f).display().to_string();
    let creds: Vec<String> = if insecure {
        vec!["--insecure".into()]
    } else if extra.contains(&"token") {
        vec![
            "--ca".into(),
            path("ca.pem"),
            "--token-file".into(),
            path("token"),
        ]
    } else {
        vec!["--tls-dir".into(), tls_dir.display().to_string()]
    };
    // stderr must keep draining, or the cluster blocks on a full pipe.
    let (warn_tx, warn_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in err_lines.map_while(Result::ok) {
            if l.contains("INSECURE") {
                let _ = warn_tx.send(());
            }
        }
    });
    if insecure {
        assert!(
            warn_rx.recv_timeout(Duration::from_secs(10)).is_ok(),
            "an insecure cluster warns at startup"
        );
    }
    let raftkv = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .args(&creds)
            .output()
            .expect("run raftkv")
    };
    if !insecure {
        // A plaintext client gets no answer from a TLS cluster.
        let o = Command::new(BIN)
            .args([
                "get",
                "--cluster",
                &list,
                "--timeout",
                "1",
                "--insecure",
                "k",
            ])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    }
    let o = raftkv(&["put", "--cluster", &list, "k", "v1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = raftkv(&["append", "--cluster", &list, "k", "+v2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = raftkv(&["get", "--cluster", &list, "k"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "v1+v2\n");
    // The load generator, its clients sharing one connection per server and 8 keys (the checker's
    // time grows fast with the operations concurrent on a key); its
    // history (kept with the directory if the test fails) is linearizable.
    let history = dir.path().join("bench-history.json");
    let o = raftkv(&[
        "bench",
        "--cluster",
        &list,
        "--clients",
        "8",
        "--duration",
        "0.5",
        "--shared-connections",
        "--keys",
        "8",
        "--get-percent",
        "50",
        "--history",
        history.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("\nclients=8 ") && out.contains(" ops/s "),
        "{out}"
    );
    let h = common::history::check_file(&history);
    assert!(h.completed() > 20, "{} operations", h.completed());
    let clients: std::collections::BTreeSet<usize> =
        h.operations().iter().map(|o| o.client).collect();
    assert_eq!(clients.len(), 8);

    // SAFETY: plain kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) }, 0);
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "cluster did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

/// Bad frames (oversized, another wire version, an unknown variant, a bad client command, a
/// frame type a client must not send) each cost only their own connection: the node logs an
/// error naming what was wrong, closes that connection and keeps serving.
#[test]
fn bad_frames_drop_their_connection_with_a_clear_error_and_the_node_keeps_serving() {
    use raft_kv::net::frame::{self, Frame};
    use raft_kv::net::stream::BlockingStream;
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let addr = common::free_addrs(1)[0].to_string();
    let peers = format!("1={addr}");
    let data = dir.path().join("node");
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let pki = common::Pki::new(1);
    let mut node = Reap(
        Command::new(BIN)
            .args(serve_args(data.to_str().unwrap(), &addr, &peers, &pki))
            .args(["--tick-ms", "20"])
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    );
    let o = client(&pki, &["put", "--cluster", &addr, "k", "v"]);
    assert!(o.status.success(), "{}", stderr(&o));

    let with_prefix = |body: &[u8]| {
        let mut b = (body.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(body);
        b
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("oversized", vec![0xFF, 0xFF, 0xFF, 0xFF]),
        ("another version", with_prefix(&[9, 0])),
        ("unknown variant", with_prefix(&[frame::WIRE_VERSION, 200])),
        (
            "bad command",
            frame::encode(&Frame::Request {
                id: 1,
                command: vec![0xAB, 1, 2],
            })
            .unwrap(),
        ),
        (
            "a Raft frame from a client",
            frame::encode(&Frame::Raft(testing::env(2, 1, testing::vote(50, 100, 50)))).unwrap(),
        ),
        (
            "a response from a client",
            frame::encode(&Frame::Response {
                id: 1,
                reply: Ok(raft_kv::OpResult::Done),
            })
            .unwrap(),
        ),
    ];
    // Sent by an authenticated client, inside TLS.
    let security = pki.client();
    for (what, bytes) in &cases {
        let mut s =
            BlockingStream::connect(addr.parse().unwrap(), &security, Duration::from_secs(10))
                .unwrap();
        s.tcp()
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        s.write_all(bytes).unwrap();
        s.flush().unwrap();
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
                ) => {}
            other => panic!("{what}: the node should close the connection, got {other:?}"),
        }
        let o = client(&pki, &["get", "--cluster", &addr, "k"]);
        assert!(o.status.success(), "{what}: {}", stderr(&o));
        assert_eq!(String::from_utf8_lossy(&o.stdout), "v\n", "{what}");
    }

    // SAFETY: plain kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(node.0.id() as i32, libc::SIGTERM) }, 0);
    let _ = node.0.wait();
    let log = std::fs::read_to_string(&log_path).unwrap();
    for expected in [
        "frame length 4294967295 exceeds the maximum",
        "wire format version 9 is not supported",
        "malformed frame body",
        "malformed client command",
        "unexpected frame type",
        "refused Raft frame: claims to come from node 2 on a connection not authenticated as a node",
    ] {
        assert!(
            log.contains(expected),
            "missing {expected:?} in the node's log:\n{log}"
        );
    }
}

/// A node whose peers are down says so once per peer, naming it, and keeps retrying quietly.
#[test]
fn unreachable_peers_are_named_once_per_outage() {
    let dir = tempfile::tempdir().unwrap();
    let addrs = common::free_addrs(3);
    let peers = format!("1={},2={},3={}", addrs[0], addrs[1], addrs[2]);
    let listen = addrs[0].to_string();
    let data = dir.path().join("node");
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let pki = common::Pki::new(3);
    let mut node = Reap(
        Command::new(BIN)
            .args(serve_args(data.to_str().unwrap(), &listen, &peers, &pki))
            .args(["--tick-ms", "20"])
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: plain kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(node.0.id() as i32, libc::SIGTERM) }, 0);
    let _ = node.0.wait();
    let log = std::fs::read_to_string(&log_path).unwrap();
    for peer in &addrs[1..] {
        let warnings = log
            .lines()
            .filter(|l| l.contains("peer unreachable") && l.contains(&peer.to_string()))
            .count();
        assert_eq!(
            warnings, 1,
            "one warning for {peer} (retries are debug):\n{log}"
        );
    }
}

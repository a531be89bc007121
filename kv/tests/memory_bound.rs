//! The memory-exhaustion attack of issue 14, scaled to CI: 64 authenticated client connections
//! each send 15 MiB of a frame announced as 16 MiB, then stall. Before, that took a node from
//! 27 MB to 1.03 GB of RSS. Now frame buffers grow only with the bytes received and client
//! connections share a 64 MiB budget, so most of the attackers are cut off at the budget, the
//! rest are closed as stalled after the frame timeout (a WARN naming each), the node's peak RSS
//! stays under [`PEAK_RSS_BOUND`] (`docs/kv-service.md`, "Security"), and it keeps serving.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use raft_kv::net::stream::BlockingStream;
use raft_kv::net::MAX_FRAME_LEN;

const BIN: &str = env!("CARGO_BIN_EXE_raftkv");
const CONNECTIONS: usize = 64;
const SENT_PER_CONNECTION: usize = 15 << 20;
/// The documented bound on the node's peak RSS under this attack, in bytes.
const PEAK_RSS_BOUND: u64 = 200 << 20;

/// `VmHWM` (peak RSS) and `VmRSS` of process `pid`, in bytes.
fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    (field("VmHWM:"), field("VmRSS:"))
}

struct Reap(std::process::Child);
impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One attacker: announces a 16 MiB frame, sends 15 MiB of it, then waits for the node to
/// close the connection. Returns its local address and whether the node closed it.
fn attacker(addr: SocketAddr, pki: &common::Pki, start: &Barrier) -> (String, bool) {
    let security = pki.client();
    start.wait();
    let mut s = BlockingStream::connect(addr, &security, Duration::from_secs(10)).unwrap();
    let local = s.tcp().local_addr().unwrap().to_string();
    s.tcp()
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut bytes = ((MAX_FRAME_LEN) as u32).to_be_bytes().to_vec();
    bytes.push(raft_kv::net::WIRE_VERSION);
    let chunk = vec![0u8; 1 << 20];
    let mut sent = 0;
    let mut ok = s.write_all(&bytes).is_ok();
    while ok && sent < SENT_PER_CONNECTION {
        ok = s.write_all(&chunk).and_then(|()| s.flush()).is_ok();
        sent += chunk.len();
    }
    s.tcp()
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 16];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) => {
                break !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    };
    (local, closed)
}

#[test]
fn sixty_four_huge_stalled_frames_keep_rss_bounded_and_the_node_serving() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(common::Pki::new(1));
    let addr = common::free_addrs(1)[0];
    let log_path = dir.path().join("node.log");
    let node = Reap(
        Command::new(BIN)
            .args(["serve", "--id", "1", "--peers", &format!("1={addr}")])
            .args(["--listen", &addr.to_string(), "--tick-ms", "20"])
            .arg("--data-dir")
            .arg(dir.path().join("node"))
            .args(pki.serve_flags(1))
            .args(["--frame-timeout-ms", "3000"])
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let pid = node.0.id();
    let kv = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .args(["--cluster", &addr.to_string(), "--timeout", "20"])
            .args(pki.client_flags())
            .output()
            .unwrap()
    };
    let o = kv(&["put", "k", "before"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (baseline, _) = rss(pid);

    let start = Arc::new(Barrier::new(CONNECTIONS + 1));
    let attackers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (pki, start) = (pki.clone(), start.clone());
            std::thread::spawn(move || attacker(addr, &pki, &start))
        })
        .collect();
    start.wait();
    // While the attack is under way (the stalled frames are still open), clients are served.
    std::thread::sleep(Duration::from_millis(1000));
    let t = Instant::now();
    let o = kv(&["put", "k", "during"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let during = t.elapsed();
    let results: Vec<(String, bool)> = attackers.into_iter().map(|a| a.join().unwrap()).collect();
    assert!(
        results.iter().all(|(_, closed)| *closed),
        "the node closed every attacking connection"
    );
    let (peak, now) = rss(pid);
    let o = kv(&["get", "k"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "during\n");
    eprintln!(
        "baseline {} MiB, peak {} MiB, after {} MiB, put during the attack {during:?}",
        baseline >> 20,
        peak >> 20,
        now >> 20
    );
    assert!(
        peak < PEAK_RSS_BOUND,
        "peak RSS {} MiB exceeds the bound of {} MiB",
        peak >> 20,
        PEAK_RSS_BOUND >> 20
    );

    drop(node);
    let log = std::fs::read_to_string(&log_path).unwrap();
    let warned = |needle: &str| {
        log.lines()
            .filter(|l| l.contains("WARN") && l.contains(needle))
            .count()
    };
    let stalled = warned("frame stalled");
    let over = warned("buffer budget exhausted");
    eprintln!("{stalled} closed as stalled, {over} at the budget");
    assert!(stalled >= 1, "a stalled frame is warned about:\n{log}");
    assert!(over >= 1, "the budget refusals are warned about:\n{log}");
    assert_eq!(
        stalled + over,
        CONNECTIONS,
        "one warning per attacker:\n{log}"
    );
    // Each warning names the remote: every attacker's address appears in one.
    for (local, _) in &results {
        assert!(
            log.lines()
                .any(|l| l.contains("WARN") && l.contains(local.as_str())),
            "no warning names {local}:\n{log}"
        );
    }
}

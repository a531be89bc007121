//! A cluster of real `raftkv serve` processes on loopback, each logging to `dir/node-ID.log`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_addrs, Pki};

const BIN: &str = env!("CARGO_BIN_EXE_raftkv");

/// `n` `raftkv serve` processes (ids 1..=n), data in `dir/node-ID`, TLS from a throw-away PKI.
/// Dropping it SIGKILLs every process still running.
pub struct Processes {
    pub addrs: Vec<SocketAddr>,
    pub dir: PathBuf,
    pub pki: Pki,
    procs: Vec<Option<Child>>,
    /// `RUST_LOG` of the processes.
    log_filter: String,
    /// Arguments every `raftkv serve` gets (after the usual ones).
    pub serve_args: Vec<String>,
}

impl Processes {
    /// Starts nothing yet: call [`Processes::spawn`] per node.
    pub fn new(dir: &Path, n: usize, log_filter: &str) -> Self {
        Processes {
            addrs: free_addrs(n),
            dir: dir.to_path_buf(),
            pki: Pki::new(n as u64),
            procs: (0..n).map(|_| None).collect(),
            log_filter: log_filter.into(),
            serve_args: Vec::new(),
        }
    }

    /// The data directory of node `i` (0-based).
    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node-{}", i + 1))
    }

    /// The log file of node `i` (0-based).
    pub fn log_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node-{}.log", i + 1))
    }

    /// Starts node `i` (0-based), appending to its log file.
    pub fn spawn(&mut self, i: usize) {
        self.spawn_with(i, &[]);
    }

    /// [`Processes::spawn`] with extra `raftkv serve` arguments.
    pub fn spawn_with(&mut self, i: usize, extra: &[&str]) {
        let peers: Vec<String> = (self.addrs.iter().enumerate())
            .map(|(j, a)| format!("{}={a}", j + 1))
            .collect();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(i))
            .unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--id", &(i + 1).to_string()])
            .args(["--peers", &peers.join(",")])
            .args(["--listen", &self.addrs[i].to_string(), "--tick-ms", "30"])
            .args(self.pki.serve_flags(i as u64 + 1))
            .arg("--data-dir")
            .arg(self.data_dir(i))
            .args(&self.serve_args)
            .args(extra)
            .env("RUST_LOG", &self.log_filter)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn raftkv serve");
        self.procs[i] = Some(child);
    }

    /// Waits up to `limit` for node `i` to exit on its own; its exit status, if it did.
    pub fn wait_exit(&mut self, i: usize, limit: Duration) -> Option<std::process::ExitStatus> {
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            let child = self.procs[i].as_mut()?;
            if let Some(status) = child.try_wait().unwrap() {
                self.procs[i] = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Whether node `i`'s process is running (started and not exited).
    pub fn is_running(&mut self, i: usize) -> bool {
        match self.procs[i].as_mut() {
            Some(c) => c.try_wait().unwrap().is_none(),
            None => false,
        }
    }

    /// SIGKILLs node `i` (no chance to flush anything) and waits for it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.procs[i].take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// The last lines of every node's log, for a failure message.
    pub fn dump_logs(&self) -> String {
        (0..self.procs.len())
            .map(|i| {
                let log = std::fs::read_to_string(self.log_path(i)).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                format!(
                    "--- node {}\n{}",
                    i + 1,
                    lines[lines.len().saturating_sub(20)..].join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Runs `raftkv status` against the cluster: (exit code, stdout).
    pub fn status_cli(&self) -> (i32, String) {
        let list: Vec<String> = self.addrs.iter().map(|a| a.to_string()).collect();
        let out = Command::new(BIN)
            .args(["status", "--cluster", &list.join(","), "--timeout", "3"])
            .args(self.pki.client_flags())
            .output()
            .expect("run raftkv status");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code().unwrap_or(-1), stdout)
    }

    /// A Clerk for the cluster with short attempts, giving up after `limit`.
    pub fn clerk(&self, limit: Duration) -> raft_kv::Clerk<raft_kv::net::TcpTransport> {
        let cfg = raft_kv::ClerkConfig {
            attempt_timeout: Duration::from_millis(300),
            ..raft_kv::ClerkConfig::default()
        };
        raft_kv::net::tcp_clerk(
            (1..=self.addrs.len() as u64).collect(),
            self.addrs.clone(),
            self.pki.client(),
            cfg,
            Some(limit),
        )
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for i in 0..self.procs.len() {
            self.kill(i);
        }
    }
}

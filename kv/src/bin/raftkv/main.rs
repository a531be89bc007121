//! `raftkv`: run replicated KV nodes, a local cluster, or talk to one. See `docs/kv-service.md`.
//!
//! Exit codes: 0 success; 2 usage error (bad flag or value); 3 a put/append whose outcome is
//! unknown (it may have been applied, or may still be); 1 anything else (an operation not
//! applied, data directory refused, address in use...), with the reason on stderr.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use raft_impl::types::NodeId;
use raft_kv::net::{tcp_clerk, NetConfig, Node, NodeConfig};
use raft_kv::{ClerkConfig, ClerkError, Op, OpResult, ReadMode};

mod bench;
mod check_history;
mod security;
mod status;
mod transfer;

use security::{ClientAuthArgs, ClientTlsArgs, ServeTls, Usage};

/// Exit code of a put/append whose outcome is unknown.
const EXIT_OUTCOME_UNKNOWN: u8 = 3;

#[derive(Parser)]
#[command(
    name = "raftkv",
    version,
    about = "Replicated key/value store over Raft"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one node. Peers and clients connect to the same --listen address.
    Serve {
        /// This node's id (>= 1).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        id: NodeId,
        /// Every node's address as ID=ADDR,ID=ADDR,... (this node's own entry is optional and
        /// ignored).
        #[arg(long, value_parser = parse_peer, value_delimiter = ',', required = true)]
        peers: Vec<(NodeId, SocketAddr)>,
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        listen: SocketAddr,
        /// Raft tick in milliseconds (election timeout 10-20 ticks, heartbeat every 2).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
        tick_ms: u64,
        #[command(flatten)]
        tls: ServeTls,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Run a local cluster in this process: node i listens on 127.0.0.1:(P+i-1) and keeps its
    /// data in DIR/node-i. TLS with a throw-away CA made in DIR/tls (clients: --tls-dir
    /// DIR/tls). Stops on Ctrl-C or SIGTERM.
    Cluster {
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=9))]
        nodes: u64,
        #[arg(long)]
        base_port: u16,
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
        tick_ms: u64,
        /// Plaintext and unauthenticated (development only; logs a warning).
        #[arg(long)]
        insecure: bool,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Make a development CA and certificates for nodes and clients.
    Certs(security::CertsArgs),
    /// Set KEY to VALUE.
    Put {
        #[command(flatten)]
        target: Target,
        key: String,
        value: String,
    },
    /// Append VALUE to KEY's value.
    Append {
        #[command(flatten)]
        target: Target,
        key: String,
        value: String,
    },
    /// Print KEY's value on stdout (nothing, and exit code 0, if it has none).
    Get {
        #[command(flatten)]
        target: Target,
        key: String,
    },
    /// One line per node: role, term, leader, commit/applied/snapshot/last index, recovery,
    /// log and snapshot bytes on disk. Exit 1 if a node does not answer.
    Status {
        #[command(flatten)]
        target: Target,
    },
    /// Ask the leader to hand leadership to node ID (thesis §3.10) and wait until ID leads.
    /// Exit 0 once it does (or already did); 1 if ID is unknown or unreachable, the transfer
    /// was aborted, or --timeout passed.
    TransferLeader {
        #[command(flatten)]
        target: Target,
        /// The node to lead next.
        #[arg(value_name = "ID")]
        node: NodeId,
    },
    /// Load generator: N concurrent clients for D seconds; prints throughput and latency.
    Bench(bench::BenchArgs),
    /// Check a recorded history for linearizability (exit 0 yes, 1 no, 2 unreadable).
    CheckHistory(check_history::CheckHistoryArgs),
}

/// How a node serves Get.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default)]
pub enum ReadModeArg {
    /// Every Get is a log entry, like a write.
    #[default]
    Log,
    /// The leader confirms its leadership with a heartbeat round and answers from its state
    /// machine once it has applied the commit index it read (no log entry).
    ReadIndex,
}

impl From<ReadModeArg> for ReadMode {
    fn from(m: ReadModeArg) -> ReadMode {
        match m {
            ReadModeArg::Log => ReadMode::Log,
            ReadModeArg::ReadIndex => ReadMode::ReadIndex,
        }
    }
}

/// Options of a serving node (`serve`, `cluster`).
#[derive(clap::Args, Clone)]
pub struct NodeArgs {
    #[command(flatten)]
    client_auth: ClientAuthArgs,
    /// Inbound connections at once that are not cluster members (clients, handshakes).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// MiB that client connections may buffer together beyond 64 KiB each.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=65536))]
    max_buffered_mib: u64,
    /// A frame not received in full this many milliseconds after its first byte closes its
    /// connection (with a warning naming the remote).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    frame_timeout_ms: u64,
    /// How Gets are served.
    #[arg(long, value_enum, default_value_t = ReadModeArg::Log)]
    read_mode: ReadModeArg,
    /// Write and fsync on a separate thread per node, the leader's writes in parallel with
    /// replication (see docs/kv-service.md).
    #[arg(long)]
    persist_thread: bool,
    /// Snapshot the state machine and compact the log once this many bytes of log were applied
    /// since the last snapshot (6.824's maxraftstate; suffixes K, M, G); 0 or `none` never
    /// compacts.
    #[arg(long, default_value = "64M", value_parser = parse_threshold)]
    snapshot_threshold: Threshold,
    /// Start on a log damaged in a way a crash cannot explain (a bad record with data after
    /// it, a damaged or missing segment) by cutting it before the damage: the node then votes
    /// again only once a leader has re-sent what was cut. Without it such a node refuses to
    /// start, naming the file.
    #[arg(long)]
    repair_damaged_log: bool,
}

/// A snapshot threshold in bytes, or none.
#[derive(Clone, Copy, Debug)]
pub struct Threshold(Option<u64>);

fn parse_threshold(s: &str) -> Result<Threshold, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(Threshold(None));
    }
    let (digits, shift) = match s.as_bytes().last().map(u8::to_ascii_uppercase) {
        Some(b'K') => (&s[..s.len() - 1], 10),
        Some(b'M') => (&s[..s.len() - 1], 20),
        Some(b'G') => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a size in bytes (e.g. 1048576, 64M, none)"))?;
    let bytes = n
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{s}` is too large"))?;
    Ok(Threshold((bytes > 0).then_some(bytes)))
}

/// Which cluster a client command talks to.
#[derive(clap::Args, Clone)]
pub struct Target {
    /// Server addresses ADDR,ADDR,... (node ids 1, 2, ... in this order) or ID=ADDR,...
    #[arg(long, value_parser = parse_server, value_delimiter = ',', required = true)]
    cluster: Vec<(Option<NodeId>, SocketAddr)>,
    /// Give up after this many seconds without a successful answer.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    #[command(flatten)]
    tls: ClientTlsArgs,
}

impl Target {
    /// Node ids (positional 1, 2, ... unless given) and addresses.
    pub fn servers(&self) -> (Vec<NodeId>, Vec<SocketAddr>) {
        self.cluster
            .iter()
            .enumerate()
            .map(|(i, &(id, a))| (id.unwrap_or(i as NodeId + 1), a))
            .unzip()
    }

    pub fn addr_list(&self) -> String {
        let (_, addrs) = self.servers();
        addrs
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn time_limit(&self) -> Duration {
        Duration::from_secs_f64(self.timeout.max(0.001))
    }
}

fn parse_peer(s: &str) -> Result<(NodeId, SocketAddr), String> {
    let (id, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not ID=ADDR"))?;
    let id: NodeId = id
        .trim()
        .parse()
        .map_err(|e| format!("bad node id {id:?}: {e}"))?;
    if id == 0 {
        return Err("node ids start at 1".into());
    }
    let addr = addr
        .trim()
        .parse()
        .map_err(|e| format!("bad address {addr:?}: {e}"))?;
    Ok((id, addr))
}

pub(crate) fn parse_server(s: &str) -> Result<(Option<NodeId>, SocketAddr), String> {
    if s.contains('=') {
        return parse_peer(s).map(|(id, a)| (Some(id), a));
    }
    s.trim()
        .parse()
        .map(|a| (None, a))
        .map_err(|e| format!("bad address {s:?}: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cmd = match cli.cmd {
        Cmd::CheckHistory(args) => return check_history::run(args),
        cmd => cmd,
    };
    let default_level = match cmd {
        Cmd::Serve { .. } | Cmd::Cluster { .. } => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .init();
    match run(cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("raftkv: error: {e:#}");
            if e.downcast_ref::<Usage>().is_some() {
                ExitCode::from(2)
            } else if matches!(
                e.downcast_ref::<ClerkError>(),
                Some(ClerkError::OutcomeUnknown { .. })
            ) && e.downcast_ref::<GetFailed>().is_none()
            {
                ExitCode::from(EXIT_OUTCOME_UNKNOWN)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Serve {
            id,
            peers,
            data_dir,
            listen,
            tick_ms,
            tls,
            node,
        } => {
            let mut map = BTreeMap::new();
            for (pid, addr) in peers {
                if pid == id {
                    continue;
                }
                if map.insert(pid, addr).is_some() {
                    bail!("--peers names node {pid} twice");
                }
            }
            let security = tls.security(id, &node.client_auth)?;
            let cfg = NodeConfig {
                id,
                peers: map,
                listen,
                data_dir,
                net: net_config(tick_ms, &node),
                security,
            };
            runtime()?.block_on(serve(vec![cfg]))
        }
        Cmd::Cluster {
            nodes,
            base_port,
            data_dir,
            tick_ms,
            insecure,
            node,
        } => {
            let addrs: Vec<SocketAddr> = (0..nodes)
                .map(|i| {
                    let port = base_port
                        .checked_add(i as u16)
                        .context("--base-port + --nodes exceeds 65535")?;
                    Ok(SocketAddr::from(([127, 0, 0, 1], port)))
                })
                .collect::<Result<_>>()?;
            let (tls_dir, securities) =
                security::cluster_security(&data_dir, nodes, insecure, &node.client_auth)?;
            let cfgs = (1..=nodes)
                .zip(securities)
                .map(|(id, security)| NodeConfig {
                    id,
                    peers: (1..=nodes)
                        .filter(|&p| p != id)
                        .map(|p| (p, addrs[p as usize - 1]))
                        .collect(),
                    listen: addrs[id as usize - 1],
                    data_dir: data_dir.join(format!("node-{id}")),
                    net: net_config(tick_ms, &node),
                    security,
                })
                .collect();
            if let Some(dir) = tls_dir {
                println!("clients: --tls-dir {}", dir.display());
            }
            runtime()?.block_on(serve(cfgs))
        }
        Cmd::Certs(args) => security::certs(args),
        Cmd::Put { target, key, value } => client_op(&target, Op::Put { key, value }),
        Cmd::Append { target, key, value } => client_op(&target, Op::Append { key, value }),
        Cmd::Get { target, key } => client_op(&target, Op::Get { key }),
        Cmd::Status { target } => status::run(&target),
        Cmd::TransferLeader { target, node } => transfer::run(&target, node),
        Cmd::Bench(args) => bench::run(args),
        Cmd::CheckHistory(_) => unreachable!("handled in main: it has its own exit codes"),
    }
}

fn net_config(tick_ms: u64, node: &NodeArgs) -> NetConfig {
    NetConfig {
        tick: Duration::from_millis(tick_ms),
        read_mode: node.read_mode.into(),
        persist_thread: node.persist_thread,
        snapshot_threshold: node.snapshot_threshold.0,
        repair_damaged_log: node.repair_damaged_log,
        max_connections: node.max_connections as usize,
        max_buffered_bytes: (node.max_buffered_mib as usize) << 20,
        read_timeout: Duration::from_millis(node.frame_timeout_ms),
        ..NetConfig::default()
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

/// Starts every node, prints their addresses, and runs until Ctrl-C / SIGTERM or until a node
/// stops by itself (storage failure); then stops them all.
async fn serve(cfgs: Vec<NodeConfig>) -> Result<()> {
    let mut nodes = Vec::new();
    for cfg in cfgs {
        let id = cfg.id;
        match Node::start(cfg).await {
            Ok(n) => nodes.push(n),
            Err(e) => {
                for n in nodes {
                    let _ = n.shutdown().await;
                }
                return Err(e).with_context(|| format!("node {id} cannot start"));
            }
        }
    }
    for n in &nodes {
        println!("node {} listening on {}", n.id(), n.addr());
    }
    let list: Vec<String> = nodes.iter().map(|n| n.addr().to_string()).collect();
    println!("cluster: {}", list.join(","));
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    let mut poll = tokio::time::interval(Duration::from_millis(200));
    let reason = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break "interrupt",
            _ = term.recv() => break "SIGTERM",
            _ = poll.tick() => {
                if nodes.iter().any(|n| n.is_stopped()) {
                    break "a node stopped";
                }
            }
        }
    };
    tracing::info!(reason, "shutting down");
    let mut first_err = None;
    for n in nodes {
        let id = n.id();
        if let Err(e) = n.shutdown().await {
            first_err.get_or_insert(anyhow::Error::new(e).context(format!("node {id}")));
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Marks a failed Get: it changes nothing, so whether it "executed" does not matter.
#[derive(Debug)]
struct GetFailed;

impl std::fmt::Display for GetFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("get failed")
    }
}

fn client_op(target: &Target, op: Op) -> Result<()> {
    let (ids, addrs) = target.servers();
    let limit = target.time_limit();
    let security = target.tls.security()?;
    let name = match &op {
        Op::Put { .. } => "put",
        Op::Append { .. } => "append",
        Op::Get { .. } => "get",
    };
    let is_get = matches!(op, Op::Get { .. });
    let mut clerk = tcp_clerk(ids, addrs, security, ClerkConfig::default(), Some(limit));
    let list = target.addr_list();
    let r = match clerk.run(op) {
        Ok(r) => r,
        Err(e) if is_get => {
            return Err(anyhow::Error::new(e)
                .context(format!(
                    "no leader answered within {limit:?} (cluster {list})"
                ))
                .context(GetFailed))
        }
        Err(e @ ClerkError::NotApplied { .. }) => {
            return Err(anyhow::Error::new(e).context(format!(
                "{name} not applied: no leader answered within {limit:?}, and no attempt reached \
                 a leader's log (cluster {list})"
            )))
        }
        Err(e @ ClerkError::OutcomeUnknown { .. }) => {
            return Err(anyhow::Error::new(e).context(format!(
                "{name} outcome unknown: no leader answered within {limit:?}, but the {name} \
                 may have been applied or may still be; read the key to find out (cluster {list})"
            )))
        }
    };
    if let OpResult::Value(Some(v)) = r {
        println!("{v}");
    }
    Ok(())
}

//! `raftkv`: run replicated KV nodes, a local cluster, or talk to one. See `docs/kv-service.md`.
//!
//! Exit codes: 0 success; 2 usage error (bad flag or value, reported by clap); 1 anything else
//! (unreachable cluster, data directory refused, address in use...), with the reason on stderr.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use raft_impl::types::NodeId;
use raft_kv::net::{tcp_clerk, NetConfig, Node, NodeConfig};
use raft_kv::{ClerkConfig, Op, OpResult, ReadMode};

mod bench;
mod check_history;

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
        node: NodeArgs,
    },
    /// Run a local cluster in this process: node i listens on 127.0.0.1:(P+i-1) and keeps its
    /// data in DIR/node-i. Stops on Ctrl-C or SIGTERM.
    Cluster {
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=9))]
        nodes: u64,
        #[arg(long)]
        base_port: u16,
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
        tick_ms: u64,
        #[command(flatten)]
        node: NodeArgs,
    },
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
#[derive(clap::Args, Clone, Copy)]
pub struct NodeArgs {
    /// How Gets are served.
    #[arg(long, value_enum, default_value_t = ReadModeArg::Log)]
    read_mode: ReadModeArg,
    /// Write and fsync on a separate thread per node, the leader's writes in parallel with
    /// replication (see docs/kv-service.md).
    #[arg(long)]
    persist_thread: bool,
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
            ExitCode::FAILURE
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
            let cfg = NodeConfig {
                id,
                peers: map,
                listen,
                data_dir,
                net: net_config(tick_ms, node),
            };
            runtime()?.block_on(serve(vec![cfg]))
        }
        Cmd::Cluster {
            nodes,
            base_port,
            data_dir,
            tick_ms,
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
            let cfgs = (1..=nodes)
                .map(|id| NodeConfig {
                    id,
                    peers: (1..=nodes)
                        .filter(|&p| p != id)
                        .map(|p| (p, addrs[p as usize - 1]))
                        .collect(),
                    listen: addrs[id as usize - 1],
                    data_dir: data_dir.join(format!("node-{id}")),
                    net: net_config(tick_ms, node),
                })
                .collect();
            runtime()?.block_on(serve(cfgs))
        }
        Cmd::Put { target, key, value } => client_op(&target, Op::Put { key, value }),
        Cmd::Append { target, key, value } => client_op(&target, Op::Append { key, value }),
        Cmd::Get { target, key } => client_op(&target, Op::Get { key }),
        Cmd::Bench(args) => bench::run(args),
        Cmd::CheckHistory(_) => unreachable!("handled in main: it has its own exit codes"),
    }
}

fn net_config(tick_ms: u64, node: NodeArgs) -> NetConfig {
    NetConfig {
        tick: Duration::from_millis(tick_ms),
        read_mode: node.read_mode.into(),
        persist_thread: node.persist_thread,
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

fn client_op(target: &Target, op: Op) -> Result<()> {
    let (ids, addrs) = target.servers();
    let limit = target.time_limit();
    let name = match &op {
        Op::Put { .. } => "put",
        Op::Append { .. } => "append",
        Op::Get { .. } => "get",
    };
    let mut clerk = tcp_clerk(ids, addrs, ClerkConfig::default(), Some(limit));
    let r = clerk.run(op).with_context(|| {
        format!(
            "{name} failed: no leader answered within {limit:?} (cluster {})",
            target.addr_list()
        )
    })?;
    if let OpResult::Value(Some(v)) = r {
        println!("{v}");
    }
    Ok(())
}

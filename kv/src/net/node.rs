//! One KV node on the real network: opens its data directory, binds its listener, starts one
//! connection task per peer (`peer.rs`), one task per accepted connection (`inbound.rs`), and
//! the node loop thread.
//!
//! A single listener serves peers and clients: the frame type says which (see
//! [`frame`](super::frame)), and the connection's TLS identity says whether it may
//! ([`tls`](super::tls)). Peer traffic is one-way per connection: each node dials every peer
//! and only writes Raft frames on that connection; replies come back on the peer's own
//! connection to us. That keeps reconnect logic on the sending side only.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use raft_impl::core::{Config, InitError, RawNode};
use raft_impl::storage::{FileStorage, FileStorageOptions, Storage, StorageError};
use raft_impl::types::{Index, NodeId, Term};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::frame::MAX_FRAME_LEN;
use super::inbound::{accept_loop, ConnCtx};
use super::io::ByteBudget;
use super::node_loop::{Event, LoopError, NodeLoop, NodeStats, PeerTx};
use super::peer::peer_task;
use super::tls::Security;
use crate::reads::ReadMode;
use crate::server::KvServer;

/// Timeouts and limits of the network side.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Logical tick of the Raft core (election timeout is 10-20 ticks, heartbeat 2).
    pub tick: Duration,
    pub connect_timeout: Duration,
    /// Bound on writing one batch of frames to a peer or client.
    pub write_timeout: Duration,
    /// Bound on receiving a whole frame once its first byte arrived: a slower frame is closed
    /// with a WARN naming the remote.
    pub read_timeout: Duration,
    /// Bound on an inbound TLS handshake.
    pub handshake_timeout: Duration,
    /// Inbound connections open at once that are not authenticated cluster members (clients,
    /// handshakes in progress; with `Security::Insecure`, every connection).
    pub max_connections: usize,
    /// Longest frame a client connection may send (at most `MAX_FRAME_LEN`).
    pub max_conn_buffer: usize,
    /// Frame buffer bytes all client connections may hold together beyond 64 KiB each
    /// (`io::FREE_CAPACITY`); a frame that would need more closes its connection.
    pub max_buffered_bytes: usize,
    /// A connection silent this long is closed (peers send heartbeats every 2 ticks).
    pub idle_timeout: Duration,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// How the node executes Get (through the log by default).
    pub read_mode: ReadMode,
    /// Write and fsync on a thread of its own instead of on the node loop, with the leader's
    /// writes in parallel with replication (Raft thesis §10.2.1; see `node_loop.rs` and
    /// `pipeline.rs`). Off by default: on the 2-core machine of `docs/performance.md` it costs
    /// more CPU than it saves in latency.
    pub persist_thread: bool,
    /// Snapshot the state machine and compact the log once this many bytes of log (entry data
    /// plus a fixed per-entry overhead) were applied since the last snapshot (6.824's
    /// `maxraftstate`); `None` never compacts.
    pub snapshot_threshold: Option<u64>,
    /// Start on a log damaged in a way a crash cannot explain by cutting it before the damage
    /// and recovering the rest from the peers (`FileStorageOptions::repair`); off: refuse to
    /// start, naming the file.
    pub repair_damaged_log: bool,
}

/// Log segment size for a snapshot threshold: a quarter of it, between 64 KiB and 64 MiB. A
/// compaction deletes only segments wholly below the snapshot, so the log on disk stays within
/// about the threshold plus two segments.
fn segment_size(snapshot_threshold: Option<u64>) -> u64 {
    const MAX: u64 = 64 << 20;
    snapshot_threshold.map_or(MAX, |t| (t / 4).clamp(64 << 10, MAX))
}

/// The default [`NetConfig::snapshot_threshold`]: 64 MiB of log.
pub const DEFAULT_SNAPSHOT_THRESHOLD: u64 = 64 << 20;

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            tick: Duration::from_millis(50),
            connect_timeout: Duration::from_secs(1),
            write_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(5),
            max_connections: 1024,
            max_conn_buffer: MAX_FRAME_LEN,
            max_buffered_bytes: 64 << 20,
            idle_timeout: Duration::from_secs(120),
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_secs(1),
            read_mode: ReadMode::Log,
            persist_thread: false,
            snapshot_threshold: Some(DEFAULT_SNAPSHOT_THRESHOLD),
            repair_damaged_log: false,
        }
    }
}

/// Everything one node needs.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub id: NodeId,
    /// Raft addresses of the *other* nodes.
    pub peers: BTreeMap<NodeId, SocketAddr>,
    /// Where to accept peers and clients.
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub net: NetConfig,
    /// TLS (peers authenticated by certificate, clients by certificate or token) or plaintext.
    pub security: Security,
}

/// Why a node could not start (or stopped).
#[derive(Debug, Error)]
pub enum NodeError {
    // The cause is part of the message (and not also a `source`), so that printing the error
    // chain does not repeat it.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("data directory {}: {error}", dir.display())]
    Storage { dir: PathBuf, error: StorageError },
    #[error("data directory {} does not fit this node: {error}", dir.display())]
    Init { dir: PathBuf, error: InitError },
    #[error("node loop thread: {0}")]
    Thread(String),
    #[error("node stopped: {0}")]
    Stopped(LoopError),
}

/// Depth of the event queue into the node loop; beyond it, Raft frames are dropped (retransmitted
/// later) and client requests wait in their connection (TCP backpressure).
pub(crate) const EVENT_QUEUE: usize = 8192;
/// Per-peer queue of outgoing messages.
const PEER_QUEUE: usize = 1024;

/// What a running node's loop last published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    pub current_term: Term,
    pub last_index: Index,
    pub commit_index: Index,
    /// The latest snapshot's last index (0: nothing compacted); the log starts after it.
    pub last_included_index: Index,
    /// Last index the state machine applied.
    pub applied_index: Index,
    /// Protocol-aware recovery: non-zero while this node may lack acknowledged entries up to
    /// here (it votes again once a leader has re-sent them).
    pub lost_up_to: Index,
}

/// A running node. Dropping it without [`Node::shutdown`] leaves its tasks running.
pub struct Node {
    id: NodeId,
    addr: SocketAddr,
    events: SyncSender<Event>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    node_loop: Option<JoinHandle<Result<(), LoopError>>>,
    data_dir: PathBuf,
    stats: Arc<NodeStats>,
}

impl Node {
    /// Opens storage (refusing a corrupt or foreign directory), binds, and starts everything.
    /// Must be called inside a tokio runtime.
    pub async fn start(cfg: NodeConfig) -> Result<Node, NodeError> {
        let dir = cfg.data_dir.clone();
        let options = FileStorageOptions {
            repair: cfg.net.repair_damaged_log,
            segment_size: segment_size(cfg.net.snapshot_threshold),
        };
        let storage =
            FileStorage::open_with(&dir, options).map_err(|error| NodeError::Storage {
                dir: dir.clone(),
                error,
            })?;
        let stored = storage.load().map_err(|error| NodeError::Storage {
            dir: dir.clone(),
            error,
        })?;
        // The core resumes applying after the snapshot: the state machine starts from it.
        let mut kv = KvServer::with_read_mode(cfg.net.read_mode);
        let (snapshot_index, snapshot_bytes) = match &stored.snapshot {
            Some(s) => {
                let index = s.meta.last_included_index;
                kv.on_snapshot(&s.data)
                    .map_err(|error| NodeError::Stopped(LoopError::Snapshot { index, error }))?;
                (index, s.data.len())
            }
            None => (0, 0),
        };
        tracing::info!(
            id = cfg.id,
            snapshot_index,
            snapshot_bytes,
            entries = stored.entries.len(),
            lost_up_to = stored.hard_state.lost_up_to,
            "recovered from {}",
            dir.display()
        );
        let peer_ids: Vec<NodeId> = cfg.peers.keys().copied().collect();
        // Seeded per node and per start, so restarted nodes do not replay the same timeouts.
        let seed = cfg.id ^ rand::random::<u64>();
        let raft_cfg = Config::production(cfg.id, peer_ids, seed);
        let node = RawNode::restore_with_snapshot(
            raft_cfg,
            stored.hard_state,
            stored.snapshot,
            stored.entries,
        )
        .map_err(|error| NodeError::Init {
            dir: dir.clone(),
            error,
        })?;
        let listener = TcpListener::bind(cfg.listen)
            .await
            .map_err(|error| NodeError::Bind {
                addr: cfg.listen,
                error,
            })?;
        let addr = listener.local_addr().map_err(|error| NodeError::Bind {
            addr: cfg.listen,
            error,
        })?;

        if let Security::Insecure = cfg.security {
            tracing::warn!(
                id = cfg.id,
                %addr,
                "INSECURE: plaintext and unauthenticated; anyone who can reach this port can \
                 act as a cluster member or a client (run with TLS certificates instead)"
            );
        }
        let (stop, stop_rx) = watch::channel(false);
        let (events, events_rx) = sync_channel(EVENT_QUEUE);
        let mut tasks = JoinSet::new();
        let mut peers = HashMap::new();
        for (&pid, &paddr) in &cfg.peers {
            let (tx, rx) = mpsc::channel(PEER_QUEUE);
            peers.insert(pid, PeerTx::Tcp(tx));
            tasks.spawn(peer_task(
                pid,
                paddr,
                rx,
                cfg.net.clone(),
                cfg.security.clone(),
                stop_rx.clone(),
            ));
        }
        let stats = Arc::new(NodeStats::default());
        let ctx = ConnCtx {
            id: cfg.id,
            peers: cfg.peers.keys().copied().collect(),
            events: events.clone(),
            net: cfg.net.clone(),
            security: cfg.security.clone(),
            budget: ByteBudget::new(cfg.net.max_buffered_bytes),
            stats: stats.clone(),
            data_dir: dir.clone(),
        };
        tasks.spawn(accept_loop(listener, ctx, stop_rx));

        let node_loop = NodeLoop {
            stats: stats.clone(),
            node,
            storage,
            kv,
            snapshot_threshold: cfg.net.snapshot_threshold,
            peers,
            events: events_rx,
            tick: cfg.net.tick,
            persist_wake: cfg.net.persist_thread.then(|| events.clone()),
        };
        let id = cfg.id;
        let node_loop = std::thread::Builder::new()
            .name(format!("raftkv-node-{id}"))
            .spawn(move || {
                let r = node_loop.run();
                if let Err(e) = &r {
                    tracing::error!(id, error = %e, "storage failed; node stopped");
                }
                r
            })
            .map_err(|e| NodeError::Thread(e.to_string()))?;
        tracing::info!(id, %addr, dir = %dir.display(), "node started");
        Ok(Node {
            id,
            addr,
            events,
            stop,
            tasks,
            node_loop: Some(node_loop),
            data_dir: dir,
            stats,
        })
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The address actually bound (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The node loop's term and log position as of its last pass (for tests and tools).
    pub fn status(&self) -> NodeStatus {
        NodeStatus {
            current_term: self.stats.current_term.load(Ordering::Acquire),
            last_index: self.stats.last_index.load(Ordering::Acquire),
            commit_index: self.stats.commit_index.load(Ordering::Acquire),
            last_included_index: self.stats.last_included_index.load(Ordering::Acquire),
            applied_index: self.stats.applied_index.load(Ordering::Acquire),
            lost_up_to: self.stats.lost_up_to.load(Ordering::Acquire),
        }
    }

    /// True once the node loop has ended (storage failure or shutdown).
    pub fn is_stopped(&self) -> bool {
        match &self.node_loop {
            Some(h) => h.is_finished(),
            None => true,
        }
    }

    /// Stops every task and the node loop and waits for them, so the port and the data
    /// directory are free when this returns. Reports a storage failure that stopped the loop.
    pub async fn shutdown(mut self) -> Result<(), NodeError> {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        let handle = self.node_loop.take().expect("shut down once");
        let events = self.events.clone();
        let joined = tokio::task::spawn_blocking(move || {
            // The loop keeps draining its queue, so a full queue only delays this; it fails
            // only if the loop has already ended. (A persist thread holds a sender too, so the
            // loop would not see the queue disconnect.)
            let _ = events.send(Event::Shutdown);
            handle.join()
        })
        .await
        .map_err(|e| NodeError::Thread(e.to_string()))?;
        match joined {
            Ok(Ok(())) => Ok(()),
            Ok(Err(LoopError::Storage(error))) => Err(NodeError::Storage {
                dir: self.data_dir.clone(),
                error,
            }),
            Ok(Err(error @ LoopError::Snapshot { .. })) => Err(NodeError::Stopped(error)),
            Err(_) => Err(NodeError::Thread("node loop panicked".into())),
        }
    }
}

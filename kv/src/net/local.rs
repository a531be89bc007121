//! An in-process cluster for benchmarking the service without disks or sockets: every node is
//! the real node loop (`RawNode` + [`KvServer`] + group commit) over [`VolatileStorage`], and the
//! transport is channels: a node loop hands a peer's messages straight to that peer's event
//! queue, and a client's request goes into the server's queue with a channel for the reply.
//! This is the setup of openraft's `benchmarks/minimal` (3 nodes in one process, in memory).

use std::collections::HashMap;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use raft_impl::core::{Config, RawNode};
use raft_impl::storage::VolatileStorage;
use raft_impl::types::NodeId;
use tokio::sync::mpsc;

use super::async_clerk::{AsyncClerk, AsyncTransport};
use super::frame::Frame;
use super::node::EVENT_QUEUE;
use super::node_loop::{Event, LoopError, NodeLoop, PeerTx};
use crate::clerk::{ClerkConfig, TransportError};
use crate::command::Command;
use crate::reads::ReadMode;
use crate::server::{KvServer, Reply};

/// `n` node loops (ids 1..=n) on their own threads, wired by channels. Dropping it stops them.
pub struct LocalCluster {
    ids: Vec<NodeId>,
    events: Vec<SyncSender<Event>>,
    threads: Vec<JoinHandle<Result<(), LoopError>>>,
}

impl LocalCluster {
    /// Starts `n` fresh nodes (in-memory logs) with Raft tick `tick`, serving log reads.
    pub fn start(n: usize, tick: Duration) -> LocalCluster {
        Self::start_with(n, tick, ReadMode::Log)
    }

    /// [`LocalCluster::start`] with Gets served in `read_mode`.
    pub fn start_with(n: usize, tick: Duration, read_mode: ReadMode) -> LocalCluster {
        assert!(n >= 1, "a cluster needs a node");
        let ids: Vec<NodeId> = (1..=n as NodeId).collect();
        let (events, receivers): (Vec<_>, Vec<_>) =
            ids.iter().map(|_| sync_channel(EVENT_QUEUE)).unzip();
        let threads = ids
            .iter()
            .zip(receivers)
            .map(|(&id, rx)| {
                let peers: HashMap<NodeId, PeerTx> = ids
                    .iter()
                    .zip(&events)
                    .filter(|(&p, _)| p != id)
                    .map(|(&p, tx)| (p, PeerTx::Local(tx.clone())))
                    .collect();
                let cfg = Config::production(id, peers.keys().copied(), id ^ rand::random::<u64>());
                let node = RawNode::new(cfg).expect("a production config is valid");
                let node_loop = NodeLoop {
                    node,
                    storage: VolatileStorage::new(),
                    kv: KvServer::with_read_mode(read_mode),
                    peers,
                    events: rx,
                    tick,
                    // Nothing to wait for: no node restarts, so nothing has to be made durable.
                    persist_wake: None,
                    stats: Default::default(),
                    // The in-process benchmark measures the log path; it does not compact.
                    snapshot_threshold: None,
                };
                std::thread::Builder::new()
                    .name(format!("raftkv-local-{id}"))
                    .spawn(move || node_loop.run())
                    .expect("spawn a node loop thread")
            })
            .collect();
        LocalCluster {
            ids,
            events,
            threads,
        }
    }

    pub fn ids(&self) -> &[NodeId] {
        &self.ids
    }

    /// A transport to every node (positions follow [`LocalCluster::ids`]).
    pub fn transport(&self) -> LocalTransport {
        let (tx, rx) = mpsc::unbounded_channel();
        LocalTransport {
            servers: self.events.clone(),
            reply_tx: tx,
            reply_rx: rx,
            next_id: 1,
        }
    }

    /// A new client session (random client id) over a fresh [`LocalTransport`].
    pub fn clerk(
        &self,
        cfg: ClerkConfig,
        time_limit: Option<Duration>,
    ) -> AsyncClerk<LocalTransport> {
        AsyncClerk::new(self.ids.clone(), self.transport(), cfg, time_limit)
    }

    /// Stops every node loop and waits for it.
    pub fn shutdown(mut self) -> Result<(), LoopError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), LoopError> {
        for tx in &self.events {
            // Fails only if that loop already ended.
            let _ = tx.send(Event::Shutdown);
        }
        let mut first = Ok(());
        for t in self.threads.drain(..) {
            let r = t.join().unwrap_or(Ok(()));
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A client's channels into a [`LocalCluster`]: requests go into a node's event queue, replies
/// come back on this transport's own channel (ids tell late replies apart).
pub struct LocalTransport {
    servers: Vec<SyncSender<Event>>,
    reply_tx: mpsc::UnboundedSender<Frame>,
    reply_rx: mpsc::UnboundedReceiver<Frame>,
    next_id: u64,
}

impl AsyncTransport for LocalTransport {
    async fn call(
        &mut self,
        server: usize,
        cmd: &Command,
        timeout: Duration,
    ) -> Result<Reply, TransportError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let id = self.next_id;
        self.next_id += 1;
        let mut ev = Event::Request {
            id,
            cmd: cmd.clone(),
            reply_to: self.reply_tx.clone(),
        };
        loop {
            match self.servers[server].try_send(ev) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => {
                    return Err(TransportError::Unreachable(format!(
                        "node at position {server} stopped"
                    )))
                }
                Err(TrySendError::Full(back)) => {
                    if tokio::time::Instant::now() >= deadline {
                        // Never queued: not delivered.
                        return Err(TransportError::Unreachable(format!(
                            "node at position {server}: queue full for {timeout:?}"
                        )));
                    }
                    ev = back;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
        loop {
            match tokio::time::timeout_at(deadline, self.reply_rx.recv()).await {
                Err(_) => return Err(TransportError::Timeout(timeout)),
                Ok(Some(Frame::Response { id: got, reply })) if got == id => return Ok(reply),
                // A late answer to an abandoned attempt.
                Ok(Some(_)) => continue,
                Ok(None) => unreachable!("the transport holds a sender"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_cluster_serves_concurrent_clerks() {
        serves_concurrent_clerks(ReadMode::Log);
    }

    #[test]
    fn local_cluster_serves_concurrent_clerks_with_read_index() {
        serves_concurrent_clerks(ReadMode::ReadIndex);
    }

    fn serves_concurrent_clerks(mode: ReadMode) {
        let cluster = LocalCluster::start_with(3, Duration::from_millis(10), mode);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let limit = Some(Duration::from_secs(10));
        let clerks: Vec<_> = (0..4)
            .map(|_| cluster.clerk(ClerkConfig::default(), limit))
            .collect();
        rt.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for (c, mut clerk) in clerks.into_iter().enumerate() {
                tasks.spawn(async move {
                    for i in 0..20 {
                        clerk.put(&format!("k{c}"), &i.to_string()).await.unwrap();
                    }
                    clerk.get(&format!("k{c}")).await.unwrap()
                });
            }
            while let Some(v) = tasks.join_next().await {
                assert_eq!(v.unwrap().as_deref(), Some("19"));
            }
        });
        cluster.shutdown().unwrap();
    }
}

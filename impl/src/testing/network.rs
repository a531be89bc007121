//! A scripted, message-by-message network of [`RawNode`]s over [`MemStorage`].
//!
//! Nothing happens unless the test asks: a node's outputs are collected only by
//! [`Network::flush`], which follows the Ready contract (stage and sync to storage, then queue
//! the messages, then apply). Queued messages wait in [`Network::in_flight`] until the test
//! delivers or drops them, so reading them has no side effect. A crash loses the node and
//! whatever its storage had not synced; a restart rebuilds it from what was durable.

use std::collections::BTreeSet;

use bytes::Bytes;

use crate::core::{Config, Envelope, RawNode, Role};
use crate::storage::{MemStorage, Storage, StoredState};
use crate::types::{Entry, Index, NodeId, Term};

/// One server: its node while up, its storage always, what it applied since it started.
#[derive(Debug)]
struct Server {
    cfg: Config,
    node: Option<RawNode>,
    storage: MemStorage,
    applied: Vec<Entry>,
}

/// What happened to a message the network tried to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The recipient stepped it.
    Delivered(Envelope),
    /// Lost: the link is cut or the recipient is down.
    Lost(Envelope, &'static str),
}

/// A whole cluster in one process with a network the test drives step by step.
#[derive(Debug)]
pub struct Network {
    servers: Vec<Server>,
    in_flight: Vec<Envelope>,
    /// Every message ever queued, in order.
    sent: Vec<Envelope>,
    /// Directed links that lose every message (`(from, to)`).
    cut: BTreeSet<(NodeId, NodeId)>,
}

impl Network {
    /// Nodes `1..=n` in the conformance configuration (fixed timeouts, one entry per append).
    pub fn new(n: u64) -> Self {
        Self::with_configs((1..=n).map(|id| Config::conformance(id, (1..=n).filter(|&p| p != id))))
    }

    /// One fresh node per config; ids must be `1..=n` in order.
    pub fn with_configs(configs: impl IntoIterator<Item = Config>) -> Self {
        let servers: Vec<Server> = configs
            .into_iter()
            .map(|cfg| Server {
                node: Some(RawNode::new(cfg.clone()).expect("valid config")),
                cfg,
                storage: MemStorage::new(),
                applied: Vec::new(),
            })
            .collect();
        for (i, s) in servers.iter().enumerate() {
            assert_eq!(s.cfg.id, i as NodeId + 1, "node ids must be 1..=n in order");
        }
        Network {
            servers,
            in_flight: Vec::new(),
            sent: Vec::new(),
            cut: BTreeSet::new(),
        }
    }

    /// The ids of every server, up or down.
    pub fn ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.servers.iter().map(|s| s.cfg.id)
    }

    fn server(&mut self, id: NodeId) -> &mut Server {
        let n = self.servers.len();
        self.servers
            .get_mut((id as usize).wrapping_sub(1))
            .unwrap_or_else(|| panic!("no node {id} in a cluster of {n}"))
    }

    /// Node `id`, if up.
    pub fn node(&self, id: NodeId) -> Option<&RawNode> {
        self.servers
            .get((id as usize).wrapping_sub(1))?
            .node
            .as_ref()
    }

    /// Node `id` for feeding inputs directly; panics if it is down. Call [`Network::flush`]
    /// afterwards to collect its outputs.
    pub fn node_mut(&mut self, id: NodeId) -> &mut RawNode {
        self.server(id)
            .node
            .as_mut()
            .unwrap_or_else(|| panic!("node {id} is down"))
    }

    /// Whether node `id` is up.
    pub fn is_up(&self, id: NodeId) -> bool {
        self.node(id).is_some()
    }

    /// What node `id` applied since it last started (or last restored a leader's
    /// snapshot), in order.
    pub fn applied(&self, id: NodeId) -> &[Entry] {
        &self.servers[(id - 1) as usize].applied
    }

    /// What node `id` would restart from.
    pub fn durable(&self, id: NodeId) -> StoredState {
        self.servers[(id - 1) as usize].storage.durable_snapshot()
    }

    /// Messages sent and neither delivered nor dropped yet, oldest first.
    pub fn in_flight(&self) -> &[Envelope] {
        &self.in_flight
    }

    /// Every message queued since the network was built, in order (delivered or not).
    pub fn sent(&self) -> &[Envelope] {
        &self.sent
    }

    /// The queued messages sent by `from`, oldest first (a peek: nothing is consumed).
    pub fn outbox(&self, from: NodeId) -> Vec<&Envelope> {
        self.in_flight.iter().filter(|e| e.from == from).collect()
    }

    /// Handles node `id`'s Ready as a runtime must: persist and sync, then queue the
    /// messages, then apply, then advance. Returns the messages queued.
    pub fn flush(&mut self, id: NodeId) -> Vec<Envelope> {
        let s = self.server(id);
        let Some(node) = s.node.as_mut() else {
            return Vec::new();
        };
        if !node.has_ready() {
            return Vec::new();
        }
        let rd = node.ready();
        s.storage
            .stage_ready(
                rd.snapshot.as_ref(),
                rd.hard_state,
                rd.truncate_from,
                &rd.entries,
            )
            .and_then(|()| s.storage.sync())
            .expect("MemStorage accepts what the core asks to persist");
        if rd.restore_snapshot {
            // The state machine is the leader's snapshot now; what it applied
            // before is replaced (Figure 13, receiver step 8).
            s.applied.clear();
        }
        s.applied.extend(rd.committed_entries.iter().cloned());
        let sent = rd.messages.clone();
        node.advance(rd);
        self.in_flight.extend(sent.iter().cloned());
        self.sent.extend(sent.iter().cloned());
        sent
    }

    /// [`Network::flush`] for every node up, in id order.
    pub fn flush_all(&mut self) -> Vec<Envelope> {
        let ids: Vec<NodeId> = self.ids().collect();
        ids.into_iter().flat_map(|id| self.flush(id)).collect()
    }

    /// Delivers (or loses, if cut or down) the in-flight message at `pos`, then flushes the
    /// recipient.
    pub fn deliver_at(&mut self, pos: usize) -> Delivery {
        let env = self.in_flight.remove(pos);
        if self.cut.contains(&(env.from, env.to)) {
            return Delivery::Lost(env, "cut");
        }
        let to = env.to;
        let Some(node) = self.server(to).node.as_mut() else {
            return Delivery::Lost(env, "down");
        };
        node.step(env.clone())
            .unwrap_or_else(|e| panic!("node {to} refused {env:?}: {e}"));
        self.flush(to);
        Delivery::Delivered(env)
    }

    /// Delivers the oldest message from `from` to `to`, if any.
    pub fn deliver(&mut self, from: NodeId, to: NodeId) -> Option<Delivery> {
        let pos = self.position(from, to)?;
        Some(self.deliver_at(pos))
    }

    /// Drops the oldest message from `from` to `to`, if any, and returns it.
    pub fn drop_message(&mut self, from: NodeId, to: NodeId) -> Option<Envelope> {
        let pos = self.position(from, to)?;
        Some(self.in_flight.remove(pos))
    }

    fn position(&self, from: NodeId, to: NodeId) -> Option<usize> {
        self.in_flight
            .iter()
            .position(|e| e.from == from && e.to == to)
    }

    /// Flushes every node and delivers messages, oldest first, until none is in flight.
    /// Returns what happened to each, in order. Panics if traffic never stops.
    pub fn stabilize(&mut self) -> Vec<Delivery> {
        let mut log = Vec::new();
        self.flush_all();
        while !self.in_flight.is_empty() {
            log.push(self.deliver_at(0));
            assert!(log.len() < 100_000, "the network never quiesces");
        }
        log
    }

    /// Fires node `id`'s election timer now (§5.2) and flushes it.
    pub fn campaign(&mut self, id: NodeId) -> Vec<Envelope> {
        self.node_mut(id).election_timeout_now();
        self.flush(id)
    }

    /// Advances node `id`'s logical clock by one tick and flushes it.
    pub fn tick(&mut self, id: NodeId) -> Vec<Envelope> {
        self.node_mut(id).tick();
        self.flush(id)
    }

    /// Node `id` proposes `data` and replicates at once; `None` if it is not leader.
    pub fn propose(&mut self, id: NodeId, data: impl Into<Bytes>) -> Option<(Index, Term)> {
        let node = self.node_mut(id);
        let at = node.propose(data).ok()?;
        node.replicate_now().expect("still leader");
        self.flush(id);
        Some(at)
    }

    /// Makes node `id` leader of exactly `term` by real elections: it campaigns alone (its
    /// RequestVotes dropped) until its term is `term - 1`, then campaigns once more and the
    /// network stabilizes. Errors if `term` is not above its term or the election fails.
    pub fn make_leader(&mut self, id: NodeId, term: Term) -> Result<(), String> {
        let current = self
            .node(id)
            .ok_or(format!("node {id} is down"))?
            .current_term();
        if term <= current {
            return Err(format!("node {id} is already at term {current} >= {term}"));
        }
        while self.node_mut(id).current_term() + 1 < term {
            self.campaign(id);
            self.in_flight.retain(|e| e.from != id);
        }
        self.campaign(id);
        self.stabilize();
        let n = self.node(id).expect("up");
        if (n.role(), n.current_term()) == (Role::Leader, term) {
            Ok(())
        } else {
            Err(format!("node {id} did not win term {term}: {n:?}"))
        }
    }

    /// Crashes node `id`: the node is gone and its storage keeps only what was synced.
    pub fn crash(&mut self, id: NodeId) {
        let s = self.server(id);
        s.node = None;
        s.storage.crash();
    }

    /// Restarts node `id` from what its storage made durable (Figure 2, rule 9).
    pub fn restart(&mut self, id: NodeId) {
        let s = self.server(id);
        let durable = s.storage.durable_snapshot();
        s.node = Some(
            RawNode::restore_with_snapshot(
                s.cfg.clone(),
                durable.hard_state,
                durable.snapshot,
                durable.entries,
            )
            .expect("durable state is valid"),
        );
        s.applied.clear();
    }

    /// Crashes node `id` and restarts it from its durable state minus the last `lost` log
    /// entries, as after a damaged disk. With `detected`, storage reported the loss: the
    /// hard state's `lost_up_to` is raised to the last index before the damage (protocol-aware
    /// recovery); without, the node restarts unaware (a wiped or silently truncated log).
    pub fn restart_losing_tail(&mut self, id: NodeId, lost: usize, detected: bool) {
        self.crash(id);
        let mut state = self.durable(id);
        let last = state.entries.last().map(|e| e.index);
        state
            .entries
            .truncate(state.entries.len().saturating_sub(lost));
        if let (true, Some(last)) = (detected, last) {
            state.hard_state.lost_up_to = state.hard_state.lost_up_to.max(last);
            state.hard_state.lost_term = state.hard_state.current_term;
        }
        self.restore(id, state);
    }

    /// Replaces node `id` by one restarted from `state`, as if its disk held it.
    pub fn restore(&mut self, id: NodeId, state: StoredState) {
        let s = self.server(id);
        s.storage = MemStorage::with_state(state).expect("a log contiguous after its snapshot");
        s.node = None;
        self.restart(id);
    }

    /// Cuts every link between `id` and the others, both ways.
    pub fn isolate(&mut self, id: NodeId) {
        let others: Vec<NodeId> = self.ids().filter(|&p| p != id).collect();
        for p in others {
            self.cut.insert((id, p));
            self.cut.insert((p, id));
        }
    }

    /// Splits the cluster: links between different groups are cut (nodes in no group are
    /// isolated).
    pub fn partition(&mut self, groups: &[&[NodeId]]) {
        let group_of = |id: NodeId| groups.iter().position(|g| g.contains(&id));
        let ids: Vec<NodeId> = self.ids().collect();
        for &a in &ids {
            for &b in &ids {
                if a != b && (group_of(a).is_none() || group_of(a) != group_of(b)) {
                    self.cut.insert((a, b));
                }
            }
        }
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cut.clear();
    }
}

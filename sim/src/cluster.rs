//! The discrete-event cluster: simulated clock, event queue, nodes, network, invariant checks
//! and trace recording. Every random choice comes from one RNG seeded by [`SimConfig::seed`],
//! and ties in the queue are broken by insertion order, so a seed fixes the run bit for bit.

use std::collections::BinaryHeap;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::{SimError, Violation};
use crate::invariants::Checker;
use crate::leadership::ElectionCount;
use crate::network::{NetConfig, Network};
use crate::node::{Apply, Effects, RuntimeFault, SimNode};
use crate::schedule::Scheduled;
use crate::state_machine::{SnapshotPolicy, StateMachineOwner};
use crate::steps::{StepAction, StepRecorder};
use crate::trace::{EventKind, MsgSummary, Trace, TraceEvent, TRACE_FORMAT};
use raft_impl::core::{Config, Envelope};
use raft_impl::types::{NodeId, Term};

/// Simulated microseconds per millisecond / second, for readable durations.
pub const MS: u64 = 1_000;
pub const SEC: u64 = 1_000_000;

/// How to build a cluster.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub servers: usize,
    pub seed: u64,
    /// Simulated time between two ticks of a node. With the production config (election 10
    /// ticks, heartbeat 2) the default 50 ms gives 0.5-1 s election timeouts and 10
    /// heartbeats a second, the 6.824 budget.
    pub tick_us: u64,
    /// Duration of a storage sync (inclusive range). `(0, 0)` syncs within the event.
    pub sync_delay_us: (u64, u64),
    pub net: NetConfig,
    /// Record a [`Trace`] (costs memory and time; the soak runner enables it to reproduce).
    pub record_trace: bool,
    /// Builds node `id`'s core config from its peers and a seed.
    pub core_config: fn(NodeId, Vec<NodeId>, u64) -> Config,
    /// A deliberate runtime bug in every node (`None`: the runtime follows the contract).
    pub runtime_fault: Option<RuntimeFault>,
    /// Conformance mode (see [`SimConfig::conformance`] and `docs/simulator.md`): the runtime
    /// behaves as the model's environment and a [`StepTrace`](crate::StepTrace) is recorded.
    /// Requires synchronous syncs (`sync_delay_us == (0, 0)`). Off by default.
    pub conformance: bool,
    /// When nodes compact their logs into snapshots (§7). Off by default; not in conformance
    /// mode (the step trace has no compaction action).
    pub snapshot: SnapshotPolicy,
    /// Whose state machine the nodes apply to: the simulator's command list (default) or an
    /// application's, fed through [`Cluster::take_applies`] (see [`StateMachineOwner`]).
    pub state_machine: StateMachineOwner,
    /// Overrides every node's `Config::max_snapshot_chunk` (the production 1 MiB is far
    /// larger than the simulated state machine, so a transfer would be one chunk).
    pub max_snapshot_chunk: Option<usize>,
}

impl SimConfig {
    /// `servers` nodes with the production core config and default faults.
    pub fn new(servers: usize, seed: u64) -> Self {
        SimConfig {
            servers,
            seed,
            tick_us: 50 * MS,
            sync_delay_us: (50, 2 * MS),
            net: NetConfig::default(),
            record_trace: false,
            core_config: Config::production,
            runtime_fault: None,
            conformance: false,
            snapshot: SnapshotPolicy::Off,
            state_machine: StateMachineOwner::Simulator,
            max_snapshot_chunk: None,
        }
    }
}

#[derive(Debug)]
pub(crate) enum Action {
    Tick(usize),
    Deliver(Envelope),
    SyncDone {
        pos: usize,
        incarnation: u64,
    },
    /// The runtime sends the proposals accepted so far at this instant as one batch.
    Replicate {
        pos: usize,
        incarnation: u64,
    },
}

/// A simulated Raft cluster. Node positions `0..servers` (as in 6.824) have ids `1..=servers`.
pub struct Cluster {
    pub(crate) cfg: SimConfig,
    now: u64,
    queue: BinaryHeap<Scheduled<Action>>,
    next_seq: u64,
    pub(crate) rng: StdRng,
    pub(crate) nodes: Vec<SimNode>,
    pub(crate) net: Network,
    pub(crate) checker: Checker,
    /// Events processed so far (the next event's number).
    events: u64,
    trace: Option<Vec<TraceEvent>>,
    pub(crate) violation: Option<Violation>,
    /// 6.824 `connected[]`: nodes not cut off by `disconnect`.
    pub(crate) connected: Vec<bool>,
    /// The step trace, in conformance mode.
    pub(crate) steps: Option<StepRecorder>,
    pub(crate) elections: ElectionCount,
}

/// Deterministically derives a 64-bit value from a seed and a salt (SplitMix64 finaliser).
pub fn derive_seed(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Cluster {
    pub fn new(cfg: SimConfig) -> Self {
        assert!(cfg.servers >= 1, "a cluster needs at least one server");
        // One event must be one protocol action: a sync that completes later would split an
        // action's state change from its messages.
        assert!(
            !cfg.conformance || cfg.sync_delay_us == (0, 0),
            "conformance mode needs synchronous syncs (sync_delay_us = (0, 0))"
        );
        assert!(
            !cfg.conformance || cfg.snapshot == SnapshotPolicy::Off,
            "conformance mode has no compaction action"
        );
        let app = cfg.state_machine == StateMachineOwner::Application;
        assert!(
            !app || (cfg.snapshot == SnapshotPolicy::Off && !cfg.conformance),
            "an application-owned state machine compacts itself, outside conformance mode"
        );
        let n = cfg.servers;
        let ids: Vec<NodeId> = (1..=n as NodeId).collect();
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let nodes = ids
            .iter()
            .enumerate()
            .map(|(pos, &id)| {
                let peers = ids.iter().copied().filter(|&p| p != id).collect();
                let mut core = (cfg.core_config)(id, peers, derive_seed(cfg.seed, id));
                if let Some(chunk) = cfg.max_snapshot_chunk {
                    core.max_snapshot_chunk = chunk;
                }
                let mut node = SimNode::new(pos, core).expect("the core config is valid");
                node.fault = cfg.runtime_fault;
                node.owner = cfg.state_machine;
                node
            })
            .collect();
        let mut cluster = Cluster {
            now: 0,
            queue: BinaryHeap::new(),
            next_seq: 0,
            nodes,
            net: Network::new(n, cfg.net.clone()),
            checker: Checker::new(ids),
            events: 0,
            trace: cfg.record_trace.then(Vec::new),
            violation: None,
            connected: vec![true; n],
            steps: None,
            elections: ElectionCount::new(n),
            rng: StdRng::seed_from_u64(0),
            cfg,
        };
        if cluster.cfg.conformance {
            let initial = cluster.node_states();
            cluster.steps = Some(StepRecorder::new(initial));
        }
        // Each node's clock starts at a random phase, so ticks do not line up.
        for pos in 0..n {
            let phase = rng.random_range(0..cluster.cfg.tick_us.max(1));
            cluster.schedule(phase, Action::Tick(pos));
        }
        cluster.rng = rng;
        cluster
    }

    pub(crate) fn schedule(&mut self, delay: u64, action: Action) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push(Scheduled {
            time: self.now + delay,
            seq,
            item: action,
        });
    }

    // ---- accessors ----

    pub fn servers(&self) -> usize {
        self.nodes.len()
    }
    pub fn seed(&self) -> u64 {
        self.cfg.seed
    }
    /// Simulated time, microseconds.
    pub fn now(&self) -> u64 {
        self.now
    }
    /// Events processed so far.
    pub fn events(&self) -> u64 {
        self.events
    }
    /// The cluster's RNG, for tests' own random choices (keeps the run one-seeded).
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }
    pub fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }
    /// Node id of position `i`.
    pub fn id(&self, i: usize) -> NodeId {
        self.nodes[i].id
    }
    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].is_up()
    }
    /// 6.824 `GetState`: `(current_term, is_leader)`, `None` while crashed.
    pub fn get_state(&self, i: usize) -> Option<(Term, bool)> {
        self.nodes[i]
            .state()
            .map(|(t, r)| (t, r == raft_impl::core::Role::Leader))
    }
    /// The core node at position `i`, if up (read-only: status, logs).
    pub fn raw(&self, i: usize) -> Option<&raft_impl::core::RawNode> {
        self.nodes[i].raw.as_ref()
    }
    /// Commands applied by node `i` in its current incarnation (`[k]` is index `k + 1`).
    pub fn applied(&self, i: usize) -> &[Bytes] {
        &self.nodes[i].applied
    }
    /// Messages lost and duplicated by the network so far.
    pub fn messages_lost(&self) -> u64 {
        self.net.messages_lost
    }
    pub fn messages_duplicated(&self) -> u64 {
        self.net.messages_duplicated
    }

    /// The recorded trace (empty unless [`SimConfig::record_trace`]).
    pub fn trace(&self) -> Trace {
        Trace {
            format: TRACE_FORMAT,
            seed: self.cfg.seed,
            servers: self.nodes.len(),
            tick_us: self.cfg.tick_us,
            events: self.trace.clone().unwrap_or_default(),
            failure: self.violation.as_ref().map(|v| v.to_string()),
        }
    }

    /// `Err` once a violation has been found.
    pub fn check(&self) -> Result<(), SimError> {
        match &self.violation {
            Some(v) => Err(SimError::Violation(Box::new(v.clone()))),
            None => Ok(()),
        }
    }

    pub(crate) fn failed(&self, what: impl Into<String>) -> SimError {
        if let Err(e) = self.check() {
            return e;
        }
        SimError::Failed {
            seed: self.cfg.seed,
            time_us: self.now,
            what: what.into(),
        }
    }

    // ---- running ----

    /// Processes every event up to simulated time `until`; stops early at a violation.
    pub fn run_until(&mut self, until: u64) -> Result<(), SimError> {
        while self.violation.is_none() {
            match self.queue.peek() {
                Some(s) if s.time <= until => {}
                _ => break,
            }
            let s = self.queue.pop().expect("peeked");
            self.now = s.time;
            self.handle(s.item);
        }
        if self.violation.is_none() {
            self.now = self.now.max(until);
        }
        self.check()
    }

    /// Processes events one at a time until `pred` holds (checked before each event) or time
    /// `until` is reached. Returns whether `pred` held.
    pub fn run_until_pred(
        &mut self,
        until: u64,
        pred: impl Fn(&Cluster) -> bool,
    ) -> Result<bool, SimError> {
        loop {
            self.check()?;
            if pred(self) {
                return Ok(true);
            }
            match self.queue.peek() {
                Some(s) if s.time <= until => {}
                _ => {
                    self.now = self.now.max(until);
                    return Ok(false);
                }
            }
            let s = self.queue.pop().expect("peeked");
            self.now = s.time;
            self.handle(s.item);
        }
    }

    /// Runs for `dur` microseconds of simulated time.
    pub fn run_for(&mut self, dur: u64) -> Result<(), SimError> {
        self.run_until(self.now + dur)
    }

    fn handle(&mut self, action: Action) {
        match action {
            Action::Tick(pos) => {
                self.schedule(self.cfg.tick_us, Action::Tick(pos));
                let Some(raw) = self.nodes[pos].raw.as_mut() else {
                    return;
                };
                if let Some(rec) = self.steps.as_mut() {
                    rec.tick_term = Some(raw.current_term());
                }
                raw.tick();
                self.after_input(pos, EventKind::Tick, None, None);
            }
            Action::Deliver(env) => {
                let Some(to) = self.pos_of(env.to) else {
                    return;
                };
                let from = self.pos_of(env.from).unwrap_or(to);
                // Lost if the receiver is down or the link was cut while in flight.
                if !self.net.link_up(from, to) || !self.nodes[to].is_up() {
                    self.net.messages_lost += 1;
                    self.record_loss(env);
                    return;
                }
                if let Some(rec) = self.steps.as_mut() {
                    rec.take(&env);
                    rec.pending = Some(StepAction::Deliver(env.clone()));
                }
                let summary = self.trace.is_some().then(|| MsgSummary::of(&env));
                let raw = self.nodes[to].raw.as_mut().expect("checked up");
                if let Err(e) = raw.step(env) {
                    // The sender is a correct node of this cluster: refusing its message as
                    // malformed means one of the two cores is wrong.
                    let detail = format!("message from a correct peer refused: {e}");
                    self.checker.runtime_contract(to, detail);
                }
                self.after_input(to, EventKind::Deliver, summary, None);
            }
            Action::SyncDone { pos, incarnation } => {
                if self.nodes[pos].incarnation != incarnation || !self.nodes[pos].is_up() {
                    return;
                }
                let mut fx = Effects::default();
                self.nodes[pos].sync_done(&mut self.checker, &mut fx);
                self.finish(Some(pos), fx, EventKind::SyncDone, None, None);
            }
            Action::Replicate { pos, incarnation } => {
                self.nodes[pos].replicate_scheduled = false;
                if self.nodes[pos].incarnation != incarnation {
                    return;
                }
                let Some(raw) = self.nodes[pos].raw.as_mut() else {
                    return;
                };
                // Not leader any more: the entries wait for the next leader (or are overwritten).
                let _ = raw.replicate_now();
                self.after_input(pos, EventKind::Replicate, None, None);
            }
        }
    }

    pub(crate) fn pos_of(&self, id: NodeId) -> Option<usize> {
        let pos = id.checked_sub(1)? as usize;
        (pos < self.nodes.len()).then_some(pos)
    }

    /// After an input to node `pos`: run its Ready, then end the event.
    pub(crate) fn after_input(
        &mut self,
        pos: usize,
        kind: EventKind,
        msg: Option<MsgSummary>,
        detail: Option<String>,
    ) {
        let mut fx = Effects::default();
        self.nodes[pos].process_ready(&mut self.checker, &mut fx);
        self.finish(Some(pos), fx, kind, msg, detail);
    }

    /// Ends an event: start a sync if needed, send, check invariants, record.
    pub(crate) fn finish(
        &mut self,
        pos: Option<usize>,
        fx: Effects,
        kind: EventKind,
        msg: Option<MsgSummary>,
        detail: Option<String>,
    ) {
        if let Some(p) = pos {
            self.settle(p, fx, kind);
        }
        let seq = self.events;
        self.events += 1;
        if let Some(f) = self.checker.finish_event() {
            if self.violation.is_none() {
                self.violation = Some(Violation {
                    seed: self.cfg.seed,
                    event: seq,
                    time_us: self.now,
                    finding: f.clone(),
                });
            }
        }
        let links_down =
            (self.trace.is_some() && kind == EventKind::Link).then(|| self.links_down());
        if let Some(trace) = &mut self.trace {
            let state = self.nodes.iter().map(|n| n.obs()).collect();
            let ev = TraceEvent {
                seq,
                time_us: self.now,
                kind,
                node: pos.map(|p| self.nodes[p].id),
                msg,
                detail,
                links_down,
                state,
            };
            trace.push(ev);
        }
    }

    /// Every directed link that is down, as (from, to) node ids.
    fn links_down(&self) -> Vec<(NodeId, NodeId)> {
        let n = self.nodes.len();
        (0..n)
            .flat_map(|a| (0..n).map(move |b| (a, b)))
            .filter(|&(a, b)| a != b && !self.net.link_up(a, b))
            .map(|(a, b)| (self.nodes[a].id, self.nodes[b].id))
            .collect()
    }

    /// The node part of ending an event: start (or, with synchronous storage, do) a sync,
    /// send, feed the checker, then compact if the policy says so (after the checker saw the
    /// entries the snapshot covers) and settle the compaction's Ready the same way.
    fn settle(&mut self, p: usize, mut fx: Effects, kind: EventKind) {
        if fx.needs_sync {
            let (lo, hi) = self.cfg.sync_delay_us;
            if hi == 0 {
                self.nodes[p].sync_done(&mut self.checker, &mut fx);
            } else {
                let d = self.rng.random_range(lo..=hi);
                let incarnation = self.nodes[p].incarnation;
                self.schedule(
                    d,
                    Action::SyncDone {
                        pos: p,
                        incarnation,
                    },
                );
            }
        }
        let sent = std::mem::take(&mut fx.send);
        if self.steps.is_some() {
            self.record_event(p, kind, &sent);
        }
        for env in sent {
            self.send(p, env);
        }
        self.observe(p, &fx.applied);
        if !fx.applied.is_empty() {
            let mut compacted = Effects::default();
            if self.maybe_compact(p, &mut compacted) {
                self.settle(p, compacted, kind);
            }
        }
    }

    /// Feeds node `p`'s state and applied entries to the checker.
    fn observe(&mut self, p: usize, applied: &[Apply]) {
        let Some(raw) = self.nodes[p].raw.as_ref() else {
            return;
        };
        let (term, role, commit) = (raw.current_term(), raw.role(), raw.commit_index());
        let voted_for = raw.hard_state().voted_for;
        self.elections
            .observe(p, self.nodes[p].id, term, voted_for, role);
        let meta = raw.snapshot().meta;
        // The Readies must have described every log change: the checker's copy is the core's.
        let last = (
            raw.last_index(),
            raw.status()
                .log
                .last()
                .map_or(meta.last_included_term, |e| e.term),
        );
        if self.checker.last_of(p) != last {
            let detail = format!(
                "log is at {last:?} (index, term) but its Readies describe {:?}",
                self.checker.last_of(p)
            );
            self.checker.runtime_contract(p, detail);
        }
        self.checker.observe(p, term, role, commit);
        self.checker
            .snapshot_bounds(p, meta.last_included_index, commit);
        for a in applied {
            match a {
                Apply::Entry(e) => self.checker.applied(p, e),
                Apply::Restore(lii) => self.checker.restored(p, *lii),
            }
        }
    }

    pub(crate) fn send(&mut self, from: usize, env: Envelope) {
        let Some(to) = self.pos_of(env.to) else {
            let detail = format!("message addressed to unknown node {}", env.to);
            return self.checker.runtime_contract(from, detail);
        };
        let fate = self.net.route(&mut self.rng, from, to, &env.msg);
        if self.steps.is_some() {
            self.record_fate(&env, fate.first.is_some(), fate.duplicate.is_some());
        }
        match (fate.first, fate.duplicate) {
            (Some(a), Some(b)) => {
                self.schedule(a, Action::Deliver(env.clone()));
                self.schedule(b, Action::Deliver(env));
            }
            (Some(a), None) => self.schedule(a, Action::Deliver(env)),
            _ => {}
        }
    }
}

//! A deterministic simulated KV cluster: `raft_sim::Cluster` (cores, storage, the Ready
//! runtime, faulty server network, crashes, invariant checks) with a [`KvServer`] per node,
//! simulated clients running [`ClerkCore`]s over a faulty client network, and every client
//! operation recorded in a [`History`] for the linearizability check.
//!
//! Raft events and KV events share one simulated clock. The KV side has its own queue; between
//! two KV events the Raft cluster runs, stopping whenever a node applies an entry or changes
//! term so the node's service layer sees it at that instant.
//!
//! The [`KvServer`]s own the state machines (`StateMachineOwner::Application`): each node's
//! committed entries and snapshots reach its server through `Cluster::take_applies`, and with
//! [`KvSimConfig::max_raft_state`] a server whose node's Raft state outgrows it snapshots its
//! state machine into the core (6.824 Lab 3B `maxraftstate`).

mod client;
mod faults;
mod net;
mod snapshots;

use std::collections::BinaryHeap;
use std::time::Duration;

use raft_impl::core::{NotLeader, Role};
use raft_impl::types::{Index, Term};
use raft_sim::{derive_seed, Cluster, Scheduled, SimConfig, SimError, StateMachineOwner, MS};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use client::{SimClient, Workload};
pub use net::{ClientNet, ClientNetConfig};

use crate::clerk::{Attempt, ClerkConfig, ClerkCore, Next};
use crate::command::{Command, Op, OpResult, Seq};
use crate::history::History;
use crate::reads::ReadMode;
use crate::server::{KvServer, Proposer, Reply};

/// How to build a [`KvSim`].
#[derive(Clone, Debug)]
pub struct KvSimConfig {
    pub servers: usize,
    pub clients: usize,
    pub seed: u64,
    pub clerk: ClerkConfig,
    pub net: ClientNetConfig,
    /// Pause between a workload client's operations, microseconds (inclusive range). Bounds
    /// history length, which the linearizability search is sensitive to.
    pub think_us: (u64, u64),
    /// A deliberate service bug, to show the checks catch it (`None`: correct service).
    pub fault: Option<ServiceFault>,
    /// How servers execute Get.
    pub read_mode: ReadMode,
    /// 6.824 `maxraftstate`: once a node's stored Raft state (`Cluster::raft_state_size`)
    /// reaches this many bytes, its server snapshots the state machine (map and session
    /// table) at its applied index and the log is compacted. `None`: never.
    pub max_raft_state: Option<u64>,
}

/// Bugs the simulator can inject, each one a classic KV-service mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceFault {
    /// Every attempt carries a fresh sequence number, as if the Clerk kept no session: a retry
    /// after a lost reply executes the operation again.
    NoSessions,
    /// Any server answers Get from its local state machine without going through the log: a
    /// deposed leader or a lagging follower returns stale values.
    LocalReads,
    /// ReadIndex without the heartbeat round: a node that believes it leads takes its commit
    /// index as the read index at once (still waiting for it to be applied), so a deposed
    /// leader cut off from the new one serves stale reads. Only matters in
    /// [`ReadMode::ReadIndex`].
    ReadIndexWithoutHeartbeat,
    /// Snapshots hold the key/value map but not the session table: a server restored from
    /// one (restart or InstallSnapshot) executes again a retried operation it had executed
    /// before the snapshot (6.824 Lab 3B's classic bug).
    SnapshotWithoutSessions,
}

impl KvSimConfig {
    pub fn new(servers: usize, clients: usize, seed: u64) -> Self {
        KvSimConfig {
            servers,
            clients,
            seed,
            clerk: ClerkConfig {
                attempt_timeout: Duration::from_millis(300),
                ..ClerkConfig::default()
            },
            net: ClientNetConfig::default(),
            think_us: (0, 100 * MS),
            fault: None,
            read_mode: ReadMode::Log,
            max_raft_state: None,
        }
    }
}

/// Where a server's reply goes: a client's attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    client: usize,
    attempt: u64,
    seq: Seq,
}

#[derive(Debug)]
enum Event {
    /// The client puts an attempt's request on the wire (after its backoff delay).
    Transmit {
        client: usize,
        attempt: u64,
        server: usize,
        cmd: Command,
    },
    Request {
        server: usize,
        token: Token,
        cmd: Command,
    },
    Reply {
        server: usize,
        token: Token,
        reply: Reply,
    },
    Timeout {
        client: usize,
        attempt: u64,
    },
    /// A workload client starts its next operation.
    Think {
        client: usize,
    },
}

/// Proposes through the simulated cluster's node `pos`.
struct SimProposer<'a> {
    cluster: &'a mut Cluster,
    pos: usize,
    /// [`ServiceFault::ReadIndexWithoutHeartbeat`]: reads "confirmed" at once, `(ctx, index)`.
    unconfirmed_reads: Option<Vec<(u64, Index)>>,
}

impl Proposer for SimProposer<'_> {
    fn propose(&mut self, data: Vec<u8>) -> Result<(Index, Term), NotLeader> {
        self.cluster.start(self.pos, data).ok_or_else(|| NotLeader {
            leader_hint: self.cluster.raw(self.pos).and_then(|r| r.leader_id()),
        })
    }

    fn read_index(&mut self, ctx: u64) -> Option<Result<Term, NotLeader>> {
        let raw = self.cluster.raw(self.pos)?;
        let term = raw.current_term();
        if let Some(reads) = self.unconfirmed_reads.as_mut() {
            let res = match raw.role() {
                Role::Leader => {
                    reads.push((ctx, raw.commit_index()));
                    Ok(term)
                }
                _ => Err(NotLeader {
                    leader_hint: raw.leader_id(),
                }),
            };
            return Some(res);
        }
        Some(self.cluster.read_index(self.pos, ctx).map(|()| term))
    }
}

/// The simulated KV cluster. Servers are positions `0..servers` (node ids `1..=servers`),
/// clients positions `0..clients`.
pub struct KvSim {
    cfg: KvSimConfig,
    cluster: Cluster,
    servers: Vec<KvServer<Token>>,
    seen_term: Vec<Term>,
    /// Snapshots each server took (its own compactions) and restored from, all incarnations.
    snapshots_taken: Vec<u64>,
    snapshots_restored: Vec<u64>,
    /// Log entries handed to each server in its current incarnation.
    entries_applied: Vec<u64>,
    /// The first thing the service layer got wrong (an unreadable snapshot, a refused
    /// compaction): the run fails with it.
    service_error: Option<String>,
    clients: Vec<SimClient>,
    net: ClientNet,
    queue: BinaryHeap<Scheduled<Event>>,
    next_seq: u64,
    rng: StdRng,
    history: History,
}

impl KvSim {
    pub fn new(cfg: KvSimConfig) -> Self {
        let cluster = Cluster::new(SimConfig {
            state_machine: StateMachineOwner::Application,
            ..SimConfig::new(cfg.servers, cfg.seed)
        });
        let ids: Vec<_> = (0..cfg.servers).map(|i| cluster.id(i)).collect();
        let mut rng = StdRng::seed_from_u64(derive_seed(cfg.seed, 0x6b76));
        let clients = (0..cfg.clients)
            .map(|_| SimClient::new(ClerkCore::new(cfg.clerk.clone(), ids.clone(), rng.random())))
            .collect();
        KvSim {
            servers: (0..cfg.servers)
                .map(|_| KvServer::with_read_mode(cfg.read_mode))
                .collect(),
            seen_term: vec![0; cfg.servers],
            snapshots_taken: vec![0; cfg.servers],
            snapshots_restored: vec![0; cfg.servers],
            entries_applied: vec![0; cfg.servers],
            service_error: None,
            clients,
            net: ClientNet::new(cfg.net.clone(), cfg.clients, cfg.servers),
            queue: BinaryHeap::new(),
            next_seq: 0,
            rng,
            history: History::new(),
            cluster,
            cfg,
        }
    }

    // ---- accessors ----

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }
    /// The Raft cluster, for faults the KV layer does not wrap (the KV state of a node
    /// crashed directly would be stale: crash through [`KvSim::crash`]).
    pub fn cluster_mut(&mut self) -> &mut Cluster {
        &mut self.cluster
    }
    pub fn now(&self) -> u64 {
        self.cluster.now()
    }
    pub fn seed(&self) -> u64 {
        self.cfg.seed
    }
    pub fn client(&self, c: usize) -> &SimClient {
        &self.clients[c]
    }
    pub fn server(&self, i: usize) -> &KvServer<Token> {
        &self.servers[i]
    }
    pub fn history(&self) -> &History {
        &self.history
    }
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// A test failure at the current time (or the Raft violation that caused it).
    pub fn failed(&self, what: impl Into<String>) -> SimError {
        if let Err(e) = self.cluster.check() {
            return e;
        }
        if let Some(e) = &self.service_error {
            return SimError::Failed {
                seed: self.cfg.seed,
                time_us: self.now(),
                what: format!("service layer: {e}"),
            };
        }
        SimError::Failed {
            seed: self.cfg.seed,
            time_us: self.now(),
            what: what.into(),
        }
    }

    fn schedule(&mut self, delay: u64, event: Event) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push(Scheduled {
            time: self.now() + delay,
            seq,
            item: event,
        });
    }

    // ---- running ----

    /// Runs Raft and KV events up to simulated time `until`.
    pub fn run_until(&mut self, until: u64) -> Result<(), SimError> {
        loop {
            let next = self.queue.peek().map(|s| s.time).filter(|&t| t <= until);
            let horizon = next.unwrap_or(until);
            let seen_term = &self.seen_term;
            let changed = self.cluster.run_until_pred(horizon, |c| {
                (0..c.servers()).any(|i| {
                    c.has_reads(i)
                        || c.has_applies(i)
                        || c.get_state(i).is_some_and(|(t, _)| t != seen_term[i])
                })
            })?;
            if changed {
                self.poll_servers();
                if self.service_error.is_some() {
                    return Err(self.failed("the service layer failed"));
                }
                continue;
            }
            if next.is_none() {
                return Ok(());
            }
            let s = self.queue.pop().expect("peeked");
            self.handle(s.item);
        }
    }

    pub fn run_for(&mut self, dur: u64) -> Result<(), SimError> {
        self.run_until(self.now() + dur)
    }

    /// Hands new terms and applied entries to each live server's service layer.
    fn poll_servers(&mut self) {
        for i in 0..self.servers.len() {
            let mut replies = Vec::new();
            if let Some((term, _)) = self.cluster.get_state(i) {
                if term != self.seen_term[i] {
                    self.seen_term[i] = term;
                    replies.extend(self.servers[i].on_term(term));
                }
            }
            for msg in self.cluster.take_applies(i) {
                replies.extend(self.apply(i, msg));
            }
            self.maybe_snapshot(i);
            // After the entries of the same Ready: a read's index may be among them.
            let (confirmed, dropped) = self.cluster.take_reads(i);
            let server = &mut self.servers[i];
            for r in confirmed {
                replies.extend(server.on_read_state(r.ctx, r.index));
            }
            for ctx in dropped {
                replies.extend(server.on_read_dropped(ctx));
            }
            replies.extend(server.take_read_replies());
            for (token, reply) in replies {
                self.send_reply(i, token, reply);
            }
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Transmit {
                client,
                attempt,
                server,
                mut cmd,
            } => {
                if !self.net.reaches(client, server) {
                    return;
                }
                let token = Token {
                    client,
                    attempt,
                    seq: cmd.seq,
                };
                if self.cfg.fault == Some(ServiceFault::NoSessions) {
                    // Attempt numbers grow per client, so the server sees a new operation.
                    cmd.seq = attempt;
                }
                for d in self.net.fate(&mut self.rng, true) {
                    let cmd = cmd.clone();
                    self.schedule(d, Event::Request { server, token, cmd });
                }
            }
            Event::Request { server, token, cmd } => {
                // Lost if the link was cut in flight or the server is down.
                if !self.net.reaches(token.client, server) || !self.cluster.is_up(server) {
                    return;
                }
                if let (Some(ServiceFault::LocalReads), Op::Get { key }) = (self.cfg.fault, &cmd.op)
                {
                    let v = self.servers[server]
                        .state_machine()
                        .peek(key)
                        .map(str::to_string);
                    return self.send_reply(server, token, Ok(OpResult::Value(v)));
                }
                let fault = self.cfg.fault == Some(ServiceFault::ReadIndexWithoutHeartbeat);
                let mut raft = SimProposer {
                    cluster: &mut self.cluster,
                    pos: server,
                    unconfirmed_reads: fault.then(Vec::new),
                };
                let mut replies: Vec<(Token, Reply)> = self.servers[server]
                    .on_request(token, cmd, &mut raft)
                    .into_iter()
                    .collect();
                for (ctx, index) in raft.unconfirmed_reads.unwrap_or_default() {
                    replies.extend(self.servers[server].on_read_state(ctx, index));
                }
                for (token, reply) in replies {
                    self.send_reply(server, token, reply);
                }
            }
            Event::Reply {
                server,
                token,
                reply,
            } => {
                if !self.net.reaches(token.client, server) {
                    return;
                }
                let c = &mut self.clients[token.client];
                if c.attempt != token.attempt {
                    return;
                }
                if let Some(next) = c.clerk.on_reply(server, token.seq, reply) {
                    self.on_next(token.client, next);
                }
            }
            Event::Timeout { client, attempt } => {
                let c = &mut self.clients[client];
                if c.attempt != attempt {
                    return;
                }
                if let Some(next) = c.clerk.on_timeout() {
                    self.on_next(client, next);
                }
            }
            Event::Think { client } => {
                if !self.clients[client].is_idle() {
                    return;
                }
                let c = &mut self.clients[client];
                if let Some(w) = c.workload.as_mut() {
                    let op = w.next_op(client, &mut self.rng);
                    self.begin(client, op);
                }
            }
        }
    }

    fn send_reply(&mut self, server: usize, token: Token, reply: Reply) {
        if !self.net.reaches(token.client, server) {
            return;
        }
        for d in self.net.fate(&mut self.rng, false) {
            let reply = reply.clone();
            self.schedule(
                d,
                Event::Reply {
                    server,
                    token,
                    reply,
                },
            );
        }
    }

    fn on_next(&mut self, client: usize, next: Next) {
        match next {
            Next::Retry(a) => self.send_attempt(client, a),
            Next::Done(result) => {
                let c = &mut self.clients[client];
                let op = c.op.take().expect("an operation was in flight");
                c.attempt += 1; // late events of the finished operation are stale
                c.results.push((op, result.clone()));
                let now = self.now();
                self.history.ret_at(client, result, now);
                if self.clients[client].workload.is_some() {
                    let (lo, hi) = self.cfg.think_us;
                    let d = self.rng.random_range(lo..=hi);
                    self.schedule(d, Event::Think { client });
                }
            }
        }
    }

    fn send_attempt(&mut self, client: usize, a: Attempt) {
        let c = &mut self.clients[client];
        c.attempt += 1;
        let attempt = c.attempt;
        let delay = a.delay.as_micros() as u64;
        let timeout = a.timeout.as_micros() as u64;
        self.schedule(delay + timeout, Event::Timeout { client, attempt });
        let (server, cmd) = (a.server, a.cmd);
        self.schedule(
            delay,
            Event::Transmit {
                client,
                attempt,
                server,
                cmd,
            },
        );
    }

    fn begin(&mut self, client: usize, op: Op) {
        let now = self.now();
        self.history.invoke_at(client, op.clone(), now);
        let c = &mut self.clients[client];
        c.op = Some(op.clone());
        let a = c.clerk.begin(op);
        self.send_attempt(client, a);
    }

    // ---- clients ----

    /// Starts `op` at idle client `c`; it runs as the simulation runs.
    pub fn submit(&mut self, c: usize, op: Op) {
        assert!(
            self.clients[c].is_idle(),
            "client {c} already has an operation in flight"
        );
        self.begin(c, op);
    }

    /// Runs until client `c` is idle or `within` has passed; its last result if it finished.
    pub fn wait_for(&mut self, c: usize, within: u64) -> Result<Option<OpResult>, SimError> {
        let deadline = self.now() + within;
        while !self.clients[c].is_idle() && self.now() < deadline {
            self.run_until((self.now() + 5 * MS).min(deadline))?;
        }
        Ok(self.clients[c]
            .is_idle()
            .then(|| self.clients[c].results.last().expect("done").1.clone()))
    }

    /// Runs `op` at client `c` to completion; fails if it takes longer than `within`.
    pub fn op(&mut self, c: usize, op: Op, within: u64) -> Result<OpResult, SimError> {
        let what = format!("{op:?}");
        self.submit(c, op);
        self.wait_for(c, within)?
            .ok_or_else(|| self.failed(format!("client {c}: {what} did not complete")))
    }

    pub fn get(&mut self, c: usize, key: &str, within: u64) -> Result<Option<String>, SimError> {
        match self.op(c, Op::Get { key: key.into() }, within)? {
            OpResult::Value(v) => Ok(v),
            OpResult::Done => Err(self.failed("Get answered Done")),
        }
    }

    /// Client `c` keeps issuing random operations over `keys` until [`KvSim::stop_workloads`].
    pub fn start_workload(&mut self, c: usize, keys: Vec<String>) {
        self.clients[c].workload = Some(Workload::new(keys));
        let d = self.rng.random_range(0..=10 * MS);
        self.schedule(d, Event::Think { client: c });
    }

    /// Workload clients finish their current operation and start no new one.
    pub fn stop_workloads(&mut self) {
        for c in &mut self.clients {
            c.workload = None;
        }
    }

    /// Runs until every client is idle; fails after `within`.
    pub fn wait_all_idle(&mut self, within: u64) -> Result<(), SimError> {
        let deadline = self.now() + within;
        while self.clients.iter().any(|c| !c.is_idle()) {
            if self.now() >= deadline {
                let busy: Vec<usize> = (0..self.clients.len())
                    .filter(|&c| !self.clients[c].is_idle())
                    .collect();
                return Err(self.failed(format!("clients {busy:?} did not finish their operation")));
            }
            self.run_until((self.now() + 10 * MS).min(deadline))?;
        }
        Ok(())
    }

    /// Checks the whole recorded history for linearizability.
    pub fn check_linearizable(&self) -> Result<(), SimError> {
        self.cluster.check()?;
        // The tester's search recurses once per operation of a key; give it a deep stack.
        let res = std::thread::scope(|s| {
            std::thread::Builder::new()
                .stack_size(256 << 20)
                .spawn_scoped(s, || self.history.check())
                .expect("spawn checker thread")
                .join()
                .expect("checker thread")
        });
        res.map_err(|e| {
            // Keep the evidence: the history, for `raftkv check-history FILE --html OUT`.
            let path =
                std::env::temp_dir().join(format!("raft-kv-history-seed-{}.json", self.cfg.seed));
            let saved = match std::fs::write(&path, self.history.to_json("us")) {
                Ok(()) => format!("; history written to {}", path.display()),
                Err(w) => format!("; could not write the history to {}: {w}", path.display()),
            };
            self.failed(format!("{e}{saved}"))
        })
    }
}

//! N core nodes with in-memory storage and the bag of in-flight messages,
//! driven one model action at a time.
//!
//! The harness is the runtime of the Ready contract: after every input it
//! drains each node's Readies, persisting and syncing before it puts the
//! messages in the bag. A restart therefore reloads exactly what a crash
//! would have kept. The bag is owned here, not by the nodes: loss and
//! duplication are network events no node sees.
//!
//! The harness is also each node's application: its state machine is what
//! the node applied, which is the node's snapshot content followed by its
//! committed entries, so a `Snapshot` action snapshots exactly that
//! ([`mapping::snapshot_content`]).

use crate::mapping::{self, Application, Input, MapError, Mutant};
use raft_impl::core::{Envelope, Mutation, RawNode};
use raft_impl::storage::{MemStorage, Storage};
use raft_impl::types::HardState;
use raft_model::state::{self as model, Server};
use raft_model::{Action, Config};
use std::panic::{catch_unwind, AssertUnwindSafe};

struct Node {
    raw: RawNode<Option<Mutation>>,
    storage: MemStorage,
}

/// What one input did, as far as the network can see.
#[derive(Debug, Default)]
pub struct Effect {
    /// Messages the nodes sent, mapped to the model (sorted).
    pub sent: Vec<model::Envelope>,
    /// Sent messages the model cannot represent.
    pub unmappable: Vec<String>,
    /// Why the harness or the core refused the input, if it did (an invalid
    /// message, `NotLeader`, a storage error, a panic, a message not in flight).
    pub refused: Option<String>,
}

pub struct Cluster {
    config: Config,
    mutation: Option<Mutation>,
    app: Application,
    nodes: Vec<Node>,
    /// In flight: each message with the exact envelope its sender emitted.
    bag: Vec<(model::Envelope, Envelope)>,
}

impl Cluster {
    /// Fresh nodes (term 0, empty logs) for the model's `config`, with the
    /// core and application parts of `mutant`, if any.
    pub fn new(config: &Config, mutant: Option<Mutant>) -> Cluster {
        let mutation = mutant.and_then(Mutant::core);
        let app = mutant.map(Mutant::application).unwrap_or_default();
        let nodes = (0..config.servers)
            .map(|s| {
                let raw = RawNode::restore_mutated(
                    mapping::core_config(s, config),
                    HardState::default(),
                    None,
                    Vec::new(),
                    mutation,
                )
                .expect("the conformance config of a valid model config is valid");
                Node {
                    raw,
                    storage: MemStorage::new(),
                }
            })
            .collect();
        Cluster {
            config: config.clone(),
            mutation,
            app,
            nodes,
            bag: Vec::new(),
        }
    }

    pub fn servers(&self) -> usize {
        self.nodes.len()
    }

    /// The model messages in flight, sorted like the model's network.
    pub fn network(&self) -> Vec<model::Envelope> {
        let mut v: Vec<model::Envelope> = self.bag.iter().map(|(m, _)| m.clone()).collect();
        v.sort();
        v
    }

    /// Every node's abstract state (see [`mapping::abstract_server`]).
    pub fn abstract_servers(&self) -> Result<Vec<Server>, MapError> {
        let n = self.nodes.len();
        let switches = mapping::state::Switches::of(&self.config);
        self.nodes
            .iter()
            .map(|node| {
                let (status, data) = (node.raw.status(), &node.raw.snapshot().data);
                mapping::abstract_server(&status, data, n, switches)
            })
            .collect()
    }

    /// Applies the core input of one model action.
    pub fn apply(&mut self, action: &Action) -> Effect {
        let mut effect = Effect::default();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let input = mapping::input(action).map_err(|e| e.to_string())?;
            self.input(input, &mut effect)
        }));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(why)) => effect.refused = Some(why),
            Err(panic) => {
                let text = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                effect.refused = Some(format!("the core panicked: {text}"));
            }
        }
        effect.sent.sort();
        effect
    }

    fn input(&mut self, input: Input, effect: &mut Effect) -> Result<(), String> {
        let node = |s: u8| s as usize;
        match input {
            Input::Deliver(m) => {
                let env = self.take(&m)?;
                let to = node(m.to);
                let stepped = self.nodes[to].raw.step(env);
                // Even a refused message may leave nothing to drain; drain anyway.
                self.drain(to, effect)?;
                stepped.map_err(|e| format!("the core refused the message: {e}"))?;
            }
            Input::ElectionTimeout(i) => {
                let started = self.nodes[node(i)].raw.election_timeout_now();
                self.drain(node(i), effect)?;
                if !started {
                    return Err("election_timeout_now: ignored (the node is leader)".into());
                }
            }
            Input::Heartbeat(i) => {
                let sent = self.nodes[node(i)].raw.heartbeat_now();
                self.drain(node(i), effect)?;
                sent.map_err(|e| format!("heartbeat_now: {e}"))?;
            }
            Input::Propose(i, data) => {
                let proposed = self.nodes[node(i)].raw.propose(data);
                self.drain(node(i), effect)?;
                proposed.map_err(|e| format!("propose: {e}"))?;
            }
            Input::Restart(i) => self.restart(node(i))?,
            Input::RestartLosingTail(i) => self.restart_losing_tail(node(i))?,
            Input::Drop(m) => {
                self.take(&m)?;
            }
            Input::Duplicate(m) => {
                let copy = self
                    .bag
                    .iter()
                    .find(|(x, _)| *x == m)
                    .cloned()
                    .ok_or_else(|| not_in_flight(&m))?;
                self.bag.push(copy);
            }
            Input::CheckQuorum(i) => {
                let checked = self.nodes[node(i)].raw.check_quorum_now();
                self.drain(node(i), effect)?;
                checked.map_err(|e| format!("check_quorum_now: {e}"))?;
            }
            Input::TransferLeadership(i, t) => {
                let started = self.nodes[node(i)].raw.transfer_leader(mapping::node_id(t));
                self.drain(node(i), effect)?;
                started.map_err(|e| format!("transfer_leader: {e}"))?;
            }
            Input::AbortTransfer(i) => {
                let aborted = self.nodes[node(i)].raw.abort_transfer_now();
                self.drain(node(i), effect)?;
                aborted.map_err(|e| format!("abort_transfer_now: {e}"))?;
            }
            Input::Snapshot(i) => {
                let raw = &mut self.nodes[node(i)].raw;
                let (index, data) =
                    mapping::snapshot_content(&raw.status(), &raw.snapshot().data, self.app)
                        .map_err(|e| format!("the application's snapshot: {e}"))?;
                let compacted = raw.compact(index, data);
                self.drain(node(i), effect)?;
                compacted.map_err(|e| format!("compact({index}): {e}"))?;
            }
        }
        Ok(())
    }

    /// Removes one copy of `m` from the bag and returns its envelope.
    fn take(&mut self, m: &model::Envelope) -> Result<Envelope, String> {
        let at = self
            .bag
            .iter()
            .position(|(x, _)| x == m)
            .ok_or_else(|| not_in_flight(m))?;
        Ok(self.bag.swap_remove(at).1)
    }

    /// Rule 9: the node loses its volatile state and comes back from what
    /// its storage made durable.
    fn restart(&mut self, i: usize) -> Result<(), String> {
        let s = i as u8;
        let durable = self.nodes[i].storage.durable_snapshot();
        let raw = RawNode::restore_mutated(
            mapping::core_config(s, &self.config),
            durable.hard_state,
            durable.snapshot,
            durable.entries,
            self.mutation,
        )
        .map_err(|e| format!("RawNode::restore refused the durable state: {e}"))?;
        self.nodes[i].raw = raw;
        Ok(())
    }

    /// The data-loss fault: while node `i` is down its disk loses the last
    /// entry of the log; storage reports the loss as `lost_up_to` (the last
    /// index before it), unless the application forgets it.
    fn restart_losing_tail(&mut self, i: usize) -> Result<(), String> {
        let mut durable = self.nodes[i].storage.durable_snapshot();
        let lost = durable
            .entries
            .pop()
            .ok_or("RestartLosingTail: no entry above the snapshot")?;
        if !self.app.forget_lost_tail {
            let hs = &mut durable.hard_state;
            hs.lost_up_to = hs.lost_up_to.max(lost.index);
            hs.lost_term = hs.current_term;
        }
        self.nodes[i].storage = MemStorage::with_state(durable)
            .map_err(|e| format!("storage refused the damaged state: {e}"))?;
        self.restart(i)
    }

    /// The Ready contract: persist and sync, then send, then advance.
    fn drain(&mut self, i: usize, effect: &mut Effect) -> Result<(), String> {
        let n = self.nodes.len();
        let node = &mut self.nodes[i];
        while node.raw.has_ready() {
            let rd = node.raw.ready();
            let storage = &mut node.storage;
            let persisted = storage
                .stage_ready(
                    rd.snapshot.as_ref(),
                    rd.hard_state,
                    rd.truncate_from,
                    &rd.entries,
                )
                .and_then(|()| storage.sync());
            persisted.map_err(|e| format!("storage refused the Ready: {e}"))?;
            for env in &rd.messages {
                match mapping::to_model_msg(env, n) {
                    Ok(m) => {
                        effect.sent.push(m.clone());
                        self.bag.push((m, env.clone()));
                    }
                    Err(e) => effect.unmappable.push(format!("{env:?}: {e}")),
                }
            }
            node.raw.advance(rd);
        }
        Ok(())
    }
}

fn not_in_flight(m: &model::Envelope) -> String {
    format!(
        "the harness has no `{}` in flight",
        raft_model::trace::table::envelope_text(m)
    )
}

//! The mapping between the model (`raft-model`) and the core (`raft-impl`).
//!
//! This module is the only place that knows both vocabularies. It has five
//! parts, read top to bottom:
//!
//! 1. **Identities and configuration**: model server `i` is core node `i + 1`
//!    (the core, like etcd, treats ids as opaque; shifting them keeps the two
//!    numberings from being confused silently). The model's `max_batch` is the
//!    core's `max_entries_per_append`, its `pre_vote` and `check_quorum` the core's;
//!    everything else is [`Config::conformance`](raft_impl::core::Config::conformance).
//!    The model's `transfer` switch has no core counterpart: the core transfers only
//!    when asked.
//! 2. **Actions → inputs**: which call on which node each model action is.
//!    A model `Snapshot(i)` is the application snapshotting its state
//!    machine: `RawNode::compact(applied, data)`, the data being the content
//!    the model keeps ([`snapshot_content`]). A model `CheckQuorum(i)` is
//!    `RawNode::check_quorum_now`, what the tick that reaches the check-quorum deadline
//!    calls (the harness never ticks: a conformance leader's tick would also heartbeat).
//!    `TransferLeadership(i, t)` is `RawNode::transfer_leader(t)`, `AbortTransfer(i)`
//!    `RawNode::abort_transfer_now` (what the tick a transfer's election timeout after
//!    calls).
//! 3. **Messages** in both directions ([`messages`]). A model entry
//!    `(term, v)` at index `i` is the core entry `{term, index: i, data: [v]}`;
//!    a snapshot's content is its data, two bytes per entry.
//! 4. **The abstraction function** ([`state`]): a core node's `Status` and
//!    snapshot data as a model `Server`, and [`comparable`], which blanks the
//!    fields the core cannot show (so both sides are compared on exactly the
//!    same fields).
//! 5. **The bug catalog and the mutants** ([`mutants`]), paired by exhaustive
//!    matches, so a bug or a mutation added on one side only does not compile.
//!
//! Everything that cannot be represented on the other side (a term above
//! 255, an entry whose payload is not one byte, a snapshot sent in chunks,
//! an unknown node id) is a [`MapError`], never a silent truncation.

pub mod messages;
pub mod mutants;
pub mod state;
#[cfg(test)]
mod tests;

pub use messages::{
    snapshot_data, snapshot_entries, to_core_entry, to_core_msg, to_model_entry, to_model_msg,
};
pub use mutants::{application_of, bug_of, mutation_of, Application, Mutant};
pub use state::{abstract_server, comparable};

use bytes::Bytes;
use raft_impl::core::{Config as CoreConfig, Status};
use raft_impl::types::NodeId;
use raft_model::state::{self as model, ServerId};
use raft_model::{Action, Config};
use std::fmt;

/// A value of one side that the other side cannot represent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapError(pub String);

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MapError {}

pub(crate) fn small(what: &str, v: u64) -> Result<u8, MapError> {
    u8::try_from(v).map_err(|_| MapError(format!("{what} {v} does not fit the model's u8")))
}

// ---- 1. identities and configuration ---------------------------------------

/// The core's id of model server `s`.
pub fn node_id(s: ServerId) -> NodeId {
    NodeId::from(s) + 1
}

/// The model's id of core node `n` in a cluster of `servers`.
pub fn server_id(n: NodeId, servers: usize) -> Result<ServerId, MapError> {
    match n.checked_sub(1) {
        Some(s) if (s as usize) < servers => Ok(s as ServerId),
        _ => Err(MapError(format!(
            "node id {n} is not a member of the {servers}-server cluster"
        ))),
    }
}

/// The core configuration of model server `s` under the model's `config`.
pub fn core_config(s: ServerId, config: &Config) -> CoreConfig {
    let peers = (0..config.servers).filter(|&p| p != s).map(node_id);
    let mut cfg = CoreConfig::conformance(node_id(s), peers);
    if config.max_batch > 0 {
        cfg.max_entries_per_append = usize::from(config.max_batch);
    }
    cfg.pre_vote = config.pre_vote;
    cfg.check_quorum = config.check_quorum;
    cfg
}

// ---- 2. actions -> inputs ---------------------------------------------------

/// What the harness does for one model action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Take one copy of the message out of the harness's bag and hand it to
    /// `RawNode::step` of its recipient.
    Deliver(model::Envelope),
    /// `RawNode::election_timeout_now` (rule 2).
    ElectionTimeout(ServerId),
    /// `RawNode::heartbeat_now` (rule 6).
    Heartbeat(ServerId),
    /// `RawNode::propose(data)` (rule 5); the core sends nothing for it.
    Propose(ServerId, Bytes),
    /// Drop the node and rebuild it with `RawNode::restore` from what its
    /// storage made durable (rule 9).
    Restart(ServerId),
    /// The same from a damaged disk: the durable log's last entry is gone and
    /// the storage reports it (`HardState::lost_up_to`, issue 14), unless the
    /// application's `forget_lost_tail`.
    RestartLosingTail(ServerId),
    /// Network faults: the harness's bag only; no node sees them.
    Drop(model::Envelope),
    Duplicate(model::Envelope),
    /// The application snapshots its state machine and compacts the log up
    /// to its applied index (`RawNode::compact`).
    Snapshot(ServerId),
    /// `RawNode::check_quorum_now` (thesis §6.2): the leader's check-quorum deadline.
    CheckQuorum(ServerId),
    /// `RawNode::transfer_leader(target)` at the leader (thesis §3.10): an operator's request.
    TransferLeadership(ServerId, ServerId),
    /// `RawNode::abort_transfer_now`: what the leader's tick calls once the transfer has
    /// been pending for an election timeout.
    AbortTransfer(ServerId),
}

/// The input for `action`; a MapError for an action with no input yet.
pub fn input(action: &Action) -> Result<Input, MapError> {
    Ok(match action {
        Action::Deliver(m) => Input::Deliver(m.clone()),
        Action::ElectionTimeout(i) => Input::ElectionTimeout(*i),
        Action::Heartbeat(i) => Input::Heartbeat(*i),
        Action::Propose(i, v) => Input::Propose(*i, payload(*v)),
        Action::Restart(i) => Input::Restart(*i),
        Action::Drop(m) => Input::Drop(m.clone()),
        Action::Duplicate(m) => Input::Duplicate(m.clone()),
        Action::Snapshot(i) => Input::Snapshot(*i),
        Action::RestartLosingTail(i) => Input::RestartLosingTail(*i),
        Action::CheckQuorum(i) => Input::CheckQuorum(*i),
        Action::TransferLeadership(i, t) => Input::TransferLeadership(*i, *t),
        Action::AbortTransfer(i) => Input::AbortTransfer(*i),
    })
}

/// The command bytes of model value `v`.
pub fn payload(v: u8) -> Bytes {
    Bytes::copy_from_slice(&[v])
}

/// What the application of a node with `status` and snapshot data
/// `snapshot` compacts on a model `Snapshot` action: the index, and the data
/// of its state machine there (the snapshot's content, then the applied
/// entries up to the index, as the model's content is).
pub fn snapshot_content(
    status: &Status<'_>,
    snapshot: &[u8],
    app: Application,
) -> Result<(u64, Bytes), MapError> {
    let index = if app.compact_to_last_index {
        status.last_index()
    } else {
        status.applied_index
    };
    let mut content = snapshot_entries(snapshot)?;
    for e in status.log.iter().take_while(|e| e.index <= index) {
        content.push(to_model_entry(e)?);
    }
    if app.state_one_entry_short {
        content.pop();
    }
    Ok((index, snapshot_data(&content)))
}

//! The validation-grade step trace of a simulator run in conformance mode
//! ([`SimConfig::conformance`](crate::SimConfig::conformance)).
//!
//! The event [`Trace`](crate::Trace) summarises a node by its last index and term; that is
//! enough to read a run, not to check it against a specification. A [`StepTrace`] records,
//! for every step, *which protocol action* it was ([`StepAction`]: a delivery, an election
//! timeout, a heartbeat, a proposal, a crash, a network loss or duplication) and the *whole*
//! observable state after it: every node's Figure 2 state (full log with payloads, a leader's
//! progress, a candidate's tally) and the multiset of messages in flight, with their entries.
//!
//! One simulator event becomes zero or more steps:
//! - a tick that fires the election timer is an `ElectionTimeout`, one that fires the
//!   heartbeat timer a `Heartbeat`; a tick that does neither changes nothing and is elided;
//! - a message the network loses (at send, or on arrival over a cut link or at a crashed
//!   node) is a `Drop` step, and a duplicate the network decides to deliver twice is a
//!   `Duplicate` step, right after the step that sent it: partitions are just drops;
//! - a crash is a `Restart`: the node loses its volatile state at once; while it is down its
//!   state is what its storage holds (role follower, commit 0), exactly what it restarts with,
//!   so the restart event changes nothing and is elided;
//! - every other event (link and reliability changes, a rejected proposal, a restart) must
//!   leave the observable state unchanged and is elided; if one does change it, it is recorded
//!   as `Unexplained` so that validation fails on it rather than missing it.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use raft_impl::core::{Envelope, Role};
use raft_impl::types::{Entry, Index, NodeId, Term};

/// A recorded run: the initial state and every step after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepTrace {
    pub seed: u64,
    pub servers: usize,
    /// Every node's state before the first step (fresh nodes: term 0, empty logs).
    pub initial: Vec<NodeState>,
    pub steps: Vec<Step>,
}

/// One protocol action and the state it left.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The simulator event it belongs to (several steps may share one: a heartbeat and the
    /// loss of one of its messages).
    pub event: u64,
    pub time_us: u64,
    pub action: StepAction,
    /// Every node after the step, in id order.
    pub nodes: Vec<NodeState>,
    /// The messages in flight after the step, as a multiset in send order.
    pub in_flight: Vec<Envelope>,
}

/// What a step was, in protocol terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepAction {
    /// One copy of the message left the network and its recipient stepped it.
    Deliver(Envelope),
    /// A tick fired the node's election timer (`election_timeout_now`).
    ElectionTimeout(NodeId),
    /// A tick fired the leader's heartbeat timer (`heartbeat_now`).
    Heartbeat(NodeId),
    /// A client's command was accepted by the leader (`propose`).
    Propose { node: NodeId, data: Bytes },
    /// The node crashed: its volatile state is gone (it restarts later from what it keeps).
    Restart(NodeId),
    /// The network lost one copy of the message.
    Drop(Envelope),
    /// The network added one copy of the message.
    Duplicate(Envelope),
    /// A simulator event of this kind changed the observable state without being any of the
    /// actions above: a recorder or runtime bug that validation must report.
    Unexplained { kind: String, node: Option<NodeId> },
}

/// A node's observable state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    pub id: NodeId,
    /// False while crashed: the fields are then what its storage holds and what it will
    /// restart with (follower, commit 0, no tally, no progress).
    pub up: bool,
    pub current_term: Term,
    pub voted_for: Option<NodeId>,
    pub role: Role,
    /// The whole log, index 1 first, with payloads.
    pub log: Vec<Entry>,
    pub commit_index: Index,
    /// Candidate only: itself and the peers that granted their vote.
    pub votes_granted: Vec<NodeId>,
    /// Leader only: `(peer, next_index, match_index)` in config order.
    pub progress: Vec<(NodeId, Index, Index)>,
}

impl NodeState {
    pub(crate) fn of_status(st: &raft_impl::core::Status<'_>) -> Self {
        NodeState {
            id: st.id,
            up: true,
            current_term: st.current_term,
            voted_for: st.voted_for,
            role: st.role,
            log: st.log.to_vec(),
            commit_index: st.commit_index,
            votes_granted: st.votes_granted.clone(),
            progress: st
                .progress
                .iter()
                .map(|p| (p.id, p.next_index, p.match_index))
                .collect(),
        }
    }

    /// A crashed node: its durable state, as it will restart.
    pub(crate) fn durable(id: NodeId, storage: &raft_impl::storage::MemStorage) -> Self {
        let d = storage.durable_snapshot();
        NodeState {
            id,
            up: false,
            current_term: d.hard_state.current_term,
            voted_for: d.hard_state.voted_for,
            role: Role::Follower,
            log: d.entries,
            commit_index: 0,
            votes_granted: Vec::new(),
            progress: Vec::new(),
        }
    }

    /// The same protocol state, ignoring whether the node is up (a restart changes only that).
    pub fn same_protocol_state(&self, other: &NodeState) -> bool {
        NodeState {
            up: other.up,
            ..self.clone()
        } == *other
    }
}

/// The recorder's working state inside a cluster.
#[derive(Debug, Default)]
pub(crate) struct StepRecorder {
    pub initial: Vec<NodeState>,
    pub steps: Vec<Step>,
    /// Messages in flight, one element per copy the network will deliver or drop.
    pub bag: Vec<Envelope>,
    /// The node states after the last step (to elide events that change nothing).
    pub last_nodes: Vec<NodeState>,
    /// Set by the event handler before the event ends: the action it is, if known.
    pub pending: Option<StepAction>,
    /// For a tick: the node's term before it (a timeout is the tick that raised it).
    pub tick_term: Option<Term>,
}

impl StepRecorder {
    pub fn new(initial: Vec<NodeState>) -> Self {
        StepRecorder {
            last_nodes: initial.clone(),
            initial,
            ..StepRecorder::default()
        }
    }

    /// Removes one copy of `env` from the bag; false if none is there.
    pub fn take(&mut self, env: &Envelope) -> bool {
        match self.bag.iter().position(|m| m == env) {
            Some(at) => {
                self.bag.remove(at);
                true
            }
            None => false,
        }
    }

    pub fn push(&mut self, event: u64, time_us: u64, action: StepAction, nodes: Vec<NodeState>) {
        self.last_nodes = nodes.clone();
        self.steps.push(Step {
            event,
            time_us,
            action,
            nodes,
            in_flight: self.bag.clone(),
        });
    }

    /// True if `nodes` differ from the last recorded states in anything but `up`.
    pub fn changed(&self, nodes: &[NodeState]) -> bool {
        nodes.len() != self.last_nodes.len()
            || nodes
                .iter()
                .zip(&self.last_nodes)
                .any(|(a, b)| !a.same_protocol_state(b))
    }
}

impl StepTrace {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a step trace always serialises")
    }

    pub fn from_json(s: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(s)
    }
}

//! Leadership on a [`Cluster`]: an operator's leadership transfer (thesis §3.10) as one
//! external event, and counters of elections started and leaders elected, for tests that
//! compare configurations (pre-vote, §9.6; check-quorum, §6.2).

use crate::cluster::Cluster;
use crate::trace::EventKind;
use raft_impl::core::{Config, NotLeader, Role, TransferError};
use raft_impl::types::{NodeId, Term};

/// What the cluster has seen of elections so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElectionCount {
    /// Times a node raised its own `current_term` and voted for itself (§5.2: it started an
    /// election). A pre-vote round (§9.6) does not raise the term and is not counted.
    pub started: u64,
    /// Terms that got a leader.
    pub leaders: u64,
    /// Leadership transfers a leader accepted (§3.10; completed or not).
    pub transfers: u64,
    /// Per position: the highest term the node was seen in.
    max_term: Vec<Term>,
    /// The highest term seen with a leader.
    leader_term: Term,
}

impl ElectionCount {
    /// Adds another run's counts (the per-node bookkeeping is not summed).
    pub fn add(&mut self, o: &ElectionCount) {
        self.started += o.started;
        self.leaders += o.leaders;
        self.transfers += o.transfers;
    }

    pub(crate) fn new(servers: usize) -> Self {
        ElectionCount {
            max_term: vec![0; servers],
            ..ElectionCount::default()
        }
    }

    /// After an event at position `p`: its term, its vote and its role.
    pub(crate) fn observe(
        &mut self,
        p: usize,
        id: NodeId,
        term: Term,
        voted_for: Option<NodeId>,
        role: Role,
    ) {
        if term > self.max_term[p] {
            self.max_term[p] = term;
            // A node that only learned a higher term is a follower that voted for no one
            // or for another; a candidate (or a single-node leader) voted for itself.
            if voted_for == Some(id) && role != Role::Follower {
                self.started += 1;
            }
        }
        if role == Role::Leader && term > self.leader_term {
            self.leader_term = term;
            self.leaders += 1;
        }
    }
}

impl Cluster {
    /// Elections started and leaders elected so far (see [`ElectionCount`]).
    pub fn elections(&self) -> &ElectionCount {
        &self.elections
    }

    /// Thesis §3.10: asks node `i` to hand its leadership to the node at position `target`
    /// ([`RawNode::transfer_leader`](raft_impl::core::RawNode::transfer_leader)). One event,
    /// checked and recorded like a proposal. Not in conformance mode: the step trace has no
    /// transfer action.
    pub fn transfer_leader(&mut self, i: usize, target: usize) -> Result<(), TransferError> {
        assert!(
            !self.cfg.conformance,
            "conformance mode has no transfer action"
        );
        let to = self.id(target);
        let Some(raw) = self.nodes[i].raw.as_mut() else {
            return Err(NotLeader { leader_hint: None }.into());
        };
        if self.violation.is_some() {
            return Err(NotLeader { leader_hint: None }.into());
        }
        let res = raw.transfer_leader(to);
        if res.is_ok() {
            self.elections.transfers += 1;
        }
        let detail = Some(match &res {
            Ok(()) => format!("transfer to {to} started"),
            Err(e) => format!("transfer to {to} refused: {e}"),
        });
        self.after_input(i, EventKind::Transfer, None, detail);
        res
    }

    /// Node `i`'s pending transfer target, if it is a leader handing over.
    pub fn lead_transferee(&self, i: usize) -> Option<NodeId> {
        self.nodes[i].raw.as_ref()?.lead_transferee()
    }

    /// Aborts node `i`'s pending transfer, if any (`Ok(true)` if there was one).
    pub fn abort_transfer(&mut self, i: usize) -> Result<bool, NotLeader> {
        assert!(
            !self.cfg.conformance,
            "conformance mode has no transfer action"
        );
        let Some(raw) = self.nodes[i].raw.as_mut() else {
            return Err(NotLeader { leader_hint: None });
        };
        let res = raw.abort_transfer_now();
        let detail = Some(format!("abort transfer: {res:?}"));
        self.after_input(i, EventKind::Transfer, None, detail);
        res
    }

    /// The base election timeout of node `i`'s core, in simulated microseconds
    /// (`election_ticks` ticks; a node's timeout is drawn from `[base, 2 * base)`).
    pub fn election_timeout_us(&self, i: usize) -> u64 {
        u64::from(self.nodes[i].config().election_ticks) * self.cfg.tick_us
    }
}

/// A node's core config, as [`SimConfig::core_config`](crate::SimConfig::core_config) takes it.
pub type CoreConfigFn = fn(NodeId, Vec<NodeId>, u64) -> Config;

/// `Config::production` with pre-vote (§9.6) and check-quorum (§6.2) switched as asked.
pub fn production_with(pre_vote: bool, check_quorum: bool) -> CoreConfigFn {
    fn with<const PV: bool, const CQ: bool>(id: NodeId, peers: Vec<NodeId>, seed: u64) -> Config {
        Config {
            pre_vote: PV,
            check_quorum: CQ,
            ..Config::production(id, peers, seed)
        }
    }
    match (pre_vote, check_quorum) {
        (true, true) => with::<true, true>,
        (true, false) => with::<true, false>,
        (false, true) => with::<false, true>,
        (false, false) => with::<false, false>,
    }
}

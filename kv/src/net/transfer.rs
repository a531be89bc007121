//! Leadership transfer on request (`raftkv transfer-leader`, thesis §3.10): the node loop's
//! side of a [`Frame::TransferLeader`] and the blocking request a CLI makes.
//!
//! The loop asks the core (`RawNode::transfer_leader`). A refusal is answered at once; an
//! accepted transfer is answered once it has settled: this node stopped leading (the target's
//! election, normally) or it still leads with no transfer to that target pending (the core
//! aborted it after an election timeout, or another request replaced it).

use std::net::SocketAddr;
use std::time::Duration;

use raft_impl::core::{RawNode, Role, TransferError};
use raft_impl::types::{NodeId, Term};
use serde::{Deserialize, Serialize};

use super::frame::Frame;
use super::status::ask;
use super::tls::ClientSecurity;

/// A node's answer to a transfer request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferOutcome {
    /// This node led and no longer does: `term` is its current_term now, `leader_hint` the
    /// leader it knows of (normally the target, once it has won).
    Handed {
        term: Term,
        leader_hint: Option<NodeId>,
    },
    /// This node still leads in `term` but the transfer is no longer pending: the target did
    /// not take over within an election timeout, or another transfer replaced it.
    Aborted { term: Term },
    /// The target is this node, and it leads in `term`.
    AlreadyLeader { term: Term },
    /// This node does not lead; it may know who does.
    NotLeader { leader_hint: Option<NodeId> },
    /// The target is not a voting member of the cluster.
    UnknownTarget { target: NodeId },
}

/// The answer to a refused `transfer_leader` at `node`.
fn refused(node: &RawNode, e: TransferError) -> TransferOutcome {
    match e {
        TransferError::NotLeader(n) => TransferOutcome::NotLeader {
            leader_hint: n.leader_hint,
        },
        TransferError::ToSelf(_) => TransferOutcome::AlreadyLeader {
            term: node.current_term(),
        },
        TransferError::UnknownTarget(target) => TransferOutcome::UnknownTarget { target },
    }
}

/// The answer for a transfer to `target` accepted in `term`, once it has settled.
fn settled(node: &RawNode, target: NodeId, term: Term) -> Option<TransferOutcome> {
    if node.role() != Role::Leader || node.current_term() != term {
        return Some(TransferOutcome::Handed {
            term: node.current_term(),
            leader_hint: node.leader_id(),
        });
    }
    (node.lead_transferee() != Some(target)).then_some(TransferOutcome::Aborted { term })
}

/// One accepted request waiting for its transfer to settle.
struct Waiting<T> {
    tok: T,
    target: NodeId,
    term: Term,
}

/// The transfer requests the node loop holds; `T` says where an answer goes.
pub(crate) struct PendingTransfers<T> {
    waiting: Vec<Waiting<T>>,
}

impl<T> Default for PendingTransfers<T> {
    fn default() -> Self {
        PendingTransfers {
            waiting: Vec::new(),
        }
    }
}

impl<T> PendingTransfers<T> {
    /// Asks `node` to transfer to `target`: the answer now if it refused, else `None` (the
    /// answer comes from [`check`](Self::check)).
    pub fn start(
        &mut self,
        node: &mut RawNode,
        tok: T,
        target: NodeId,
    ) -> Option<(T, TransferOutcome)> {
        match node.transfer_leader(target) {
            Ok(()) => {
                let term = node.current_term();
                self.waiting.push(Waiting { tok, target, term });
                None
            }
            Err(e) => Some((tok, refused(node, e))),
        }
    }

    /// The requests whose transfer has settled, with their answers (after every loop pass).
    pub fn check(&mut self, node: &RawNode) -> Vec<(T, TransferOutcome)> {
        if self.waiting.is_empty() {
            return Vec::new();
        }
        let mut done = Vec::new();
        let mut still = Vec::new();
        for w in self.waiting.drain(..) {
            match settled(node, w.target, w.term) {
                Some(o) => done.push((w.tok, o)),
                None => still.push(w),
            }
        }
        self.waiting = still;
        done
    }
}

/// Asks the node at `addr` to transfer leadership to `target`; waits up to `timeout` (connect
/// and answer; the answer comes once the transfer has settled, within an election timeout).
pub fn request_transfer(
    addr: SocketAddr,
    security: &ClientSecurity,
    target: NodeId,
    timeout: Duration,
) -> Result<TransferOutcome, String> {
    match ask(
        addr,
        security,
        timeout,
        &Frame::TransferLeader { id: 1, target },
    )? {
        Frame::TransferReply { id: 1, outcome } => Ok(outcome),
        other => Err(format!("unexpected {} frame in answer", other.kind())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft_impl::testing::Network;

    /// Nodes 1..=3, node 1 the leader of term 1 with every log caught up.
    fn cluster() -> Network {
        let mut net = Network::new(3);
        net.make_leader(1, 1).unwrap();
        net.stabilize();
        net
    }

    #[test]
    fn refusals_are_answered_at_once() {
        let mut net = cluster();
        let mut p = PendingTransfers::default();
        let hint = net.node(2).unwrap().leader_id();
        assert_eq!(hint, Some(1));
        assert_eq!(
            p.start(net.node_mut(2), "a", 3),
            Some(("a", TransferOutcome::NotLeader { leader_hint: hint }))
        );
        assert_eq!(
            p.start(net.node_mut(1), "b", 9),
            Some(("b", TransferOutcome::UnknownTarget { target: 9 }))
        );
        assert_eq!(
            p.start(net.node_mut(1), "c", 1),
            Some(("c", TransferOutcome::AlreadyLeader { term: 1 }))
        );
        assert!(p.check(net.node(1).unwrap()).is_empty());
    }

    #[test]
    fn an_accepted_transfer_is_answered_once_the_leader_steps_down() {
        let mut net = cluster();
        let mut p = PendingTransfers::default();
        assert_eq!(p.start(net.node_mut(1), "a", 2), None);
        // Pending while node 1 still leads with the transfer under way.
        assert!(p.check(net.node(1).unwrap()).is_empty());
        net.stabilize();
        assert_eq!(net.node(2).unwrap().role(), Role::Leader);
        let term = net.node(2).unwrap().current_term();
        assert!(term > 1);
        let done = p.check(net.node(1).unwrap());
        assert_eq!(
            done,
            vec![(
                "a",
                TransferOutcome::Handed {
                    term,
                    leader_hint: Some(2)
                }
            )]
        );
        assert!(p.check(net.node(1).unwrap()).is_empty(), "answered once");
    }

    #[test]
    fn an_aborted_or_replaced_transfer_is_answered_aborted() {
        let mut net = cluster();
        let mut p = PendingTransfers::default();
        assert_eq!(p.start(net.node_mut(1), "a", 2), None);
        assert_eq!(p.start(net.node_mut(1), "b", 3), None);
        // Node 3 replaced node 2 as the target: the first request settles as aborted.
        assert_eq!(
            p.check(net.node(1).unwrap()),
            vec![("a", TransferOutcome::Aborted { term: 1 })]
        );
        net.node_mut(1).abort_transfer_now().unwrap();
        assert_eq!(
            p.check(net.node(1).unwrap()),
            vec![("b", TransferOutcome::Aborted { term: 1 })]
        );
    }
}

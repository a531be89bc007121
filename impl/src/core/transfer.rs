//! Leadership transfer (Raft thesis §3.10).
//!
//! An operator asks the leader to hand over to a peer ([`RawNode::transfer_leader`]). The
//! leader stops accepting proposals, brings the target's log up to date with its ordinary
//! AppendEntries, and once the target's `match_index` is its last index sends it
//! [`TimeoutNow`]. The target starts an election at once (no pre-vote), its RequestVote marked
//! `transfer` so that leader stickiness (§4.2.3) does not ignore it; with the most up-to-date
//! log and the head start it normally wins in `current_term + 1`. A transfer that has not
//! completed within an election timeout is aborted and the leader accepts proposals again.
//! The pending transfer lives in `RoleState::Leader`, so any role change clears it.

use tracing::{debug, info, trace};

use super::error::{NotLeader, TransferError};
use super::message::{Message, TimeoutNow};
use super::mutation::{Mutation, Mutator};
use super::node::RawNode;
use super::role::{RoleState, Transfer};
use super::status::Role;
use crate::types::NodeId;

impl<M: Mutator> RawNode<M> {
    /// Thesis §3.10: start handing leadership to `target`. Proposals are refused
    /// ([`ProposeError::TransferInProgress`](super::ProposeError::TransferInProgress)) until
    /// leadership changes or the transfer is aborted ([`abort_transfer_now`], or `tick` after
    /// `election_ticks`). If `target` is caught up (`match_index == last_index`) it is sent
    /// TimeoutNow now; otherwise the leader's next AppendEntries bring it up to date and its
    /// successful reply triggers TimeoutNow. Asking again for the same target changes nothing;
    /// another target replaces it and restarts the timer.
    ///
    /// [`abort_transfer_now`]: Self::abort_transfer_now
    pub fn transfer_leader(&mut self, target: NodeId) -> Result<(), TransferError> {
        self.require_leader()?;
        if target == self.cfg.id {
            return Err(TransferError::ToSelf(target));
        }
        let Some(slot) = self.peer_slot(target) else {
            return Err(TransferError::UnknownTarget(target));
        };
        if self.lead_transferee() == Some(target) {
            debug!(id = self.cfg.id, target, "transfer already in progress");
            return Ok(());
        }
        if let RoleState::Leader { transfer, .. } = &mut self.state {
            *transfer = Some(Transfer { target, elapsed: 0 });
        }
        info!(
            id = self.cfg.id,
            term = self.current_term,
            target,
            "leadership transfer started"
        );
        let caught_up = self.progress()[slot].match_index == self.log.last_index();
        let caught_up = caught_up || self.mutant(Mutation::TransferWithoutCatchUp);
        if caught_up {
            self.send_timeout_now(target);
        }
        self.debug_check();
        Ok(())
    }

    /// Thesis §3.10: abort a pending transfer now; the leader accepts proposals again.
    /// Returns whether one was pending.
    pub fn abort_transfer_now(&mut self) -> Result<bool, NotLeader> {
        self.require_leader()?;
        let RoleState::Leader { transfer, .. } = &mut self.state else {
            unreachable!("require_leader");
        };
        let pending = transfer.take();
        if let Some(t) = pending {
            info!(
                id = self.cfg.id,
                target = t.target,
                "leadership transfer aborted"
            );
        }
        self.debug_check();
        Ok(pending.is_some())
    }

    /// The peer leadership is being handed to (leader only; `None` otherwise).
    pub fn lead_transferee(&self) -> Option<NodeId> {
        match &self.state {
            RoleState::Leader { transfer, .. } => transfer.map(|t| t.target),
            _ => None,
        }
    }

    /// `tick` at a leader: a transfer pending for `election_ticks` is aborted (thesis §3.10:
    /// the target did not take over within an election timeout).
    pub(crate) fn tick_transfer(&mut self) {
        let RoleState::Leader {
            transfer: Some(t), ..
        } = &mut self.state
        else {
            return;
        };
        t.elapsed += 1;
        if t.elapsed >= self.cfg.election_ticks {
            let _ = self.abort_transfer_now();
        }
    }

    /// Spec step 3: a successful AppendEntriesResponse from `from` (after `match_index` and
    /// the commit index are updated): the transfer target caught up is sent TimeoutNow, on
    /// every such reply.
    pub(crate) fn maybe_send_timeout_now(&mut self, from: NodeId, slot: usize) {
        if self.lead_transferee() == Some(from)
            && self.progress()[slot].match_index == self.log.last_index()
        {
            self.send_timeout_now(from);
        }
    }

    fn send_timeout_now(&mut self, to: NodeId) {
        debug!(id = self.cfg.id, to, "sending TimeoutNow");
        let term = self.current_term;
        self.send(to, Message::TimeoutNow(TimeoutNow { term }));
    }

    /// Thesis §3.10, the target (after `step`'s term rule): a follower of the leader's term
    /// that is not recovering starts an election at once, skipping pre-vote. Candidates,
    /// pre-candidates, leaders, recovering nodes and stale terms ignore it, with no reply.
    pub(crate) fn handle_timeout_now(&mut self, from: NodeId, m: TimeoutNow) {
        let act =
            self.role() == Role::Follower && m.term == self.current_term && self.lost_up_to == 0;
        if !act {
            trace!(
                id = self.cfg.id,
                from,
                term = m.term,
                role = ?self.role(),
                lost_up_to = self.lost_up_to,
                "TimeoutNow ignored"
            );
            return;
        }
        info!(
            id = self.cfg.id,
            from,
            term = m.term,
            "TimeoutNow: campaigning for the transfer"
        );
        self.become_candidate(true);
    }
}

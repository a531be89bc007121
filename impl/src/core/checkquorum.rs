//! Check-quorum (Raft thesis §6.2), behind `Config::check_quorum`.
//!
//! A leader records the peers it heard from in its term since the last check. Every
//! election timeout (`election_ticks`) it checks: unless those peers and itself (counted
//! once) are a majority, it steps down to follower, keeping `current_term` and `voted_for`.
//! Either way the record starts over. A leader cut off from the cluster so stops serving
//! within an election timeout. Leader stickiness (§4.2.3), its counterpart, is in `step`.

use tracing::{debug, info};

use super::error::NotLeader;
use super::mutation::{Mutation, Mutator};
use super::node::RawNode;
use super::quorum::{majority, VoteTally};
use super::role::RoleState;
use crate::types::NodeId;

impl<M: Mutator> RawNode<M> {
    /// §6.2: the leader heard from `from` in its term.
    pub(crate) fn heard_from_peer(&mut self, from: NodeId) {
        let slot = self.peer_slot(from);
        if let (RoleState::Leader { heard, .. }, Some(slot)) = (&mut self.state, slot) {
            heard.grant(slot);
        }
    }

    /// §6.2: the check-quorum timer fires now (`tick` calls it every `election_ticks` at a
    /// leader with `Config::check_quorum`). A leader that heard from no majority in this
    /// period, itself counted once, becomes follower of its term (`voted_for` kept). Returns
    /// whether it stepped down.
    pub fn check_quorum_now(&mut self) -> Result<bool, NotLeader> {
        self.require_leader()?;
        self.election_elapsed = 0;
        let RoleState::Leader { heard, .. } = &mut self.state else {
            unreachable!("require_leader");
        };
        // The period's record, which starts over; its count includes the leader once.
        let record = std::mem::replace(heard, VoteTally::new(heard.peers()));
        let count = record.count();
        let count = self.mutant_or(Mutation::CheckQuorumCountsSelfTwice, count, |c| c + 1);
        let quorum = count >= majority(record.peers() + 1);
        debug!(id = self.cfg.id, count, quorum, "check quorum");
        if !quorum {
            info!(
                id = self.cfg.id,
                term = self.current_term,
                "no majority heard within the election timeout: stepping down"
            );
            self.become_follower(self.current_term, None);
        }
        self.debug_check();
        Ok(!quorum)
    }

    /// §6.2: the peers the leader heard from in this check period, in config order (empty
    /// unless leader).
    pub(crate) fn heard_from(&self) -> Vec<NodeId> {
        match &self.state {
            RoleState::Leader { heard, .. } => {
                heard.granted_slots().map(|s| self.cfg.peers[s]).collect()
            }
            _ => Vec::new(),
        }
    }
}

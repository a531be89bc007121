//! The node's invariants, checked at the end of every step in debug builds
//! (`debug_check`) and by the conformance harness.

use super::mutation::Mutator;
use super::node::RawNode;
use super::role::RoleState;

impl<M: Mutator> RawNode<M> {
    /// Checks the node's invariants (`commit_index <= last_index`, a leader's
    /// and candidate's self-vote, progress bounds, log shape, ...).
    pub fn check_invariants(&self) -> Result<(), String> {
        self.log.check()?;
        let last = self.log.last_index();
        if let Some(e) = self
            .log
            .entries()
            .iter()
            .find(|e| e.term > self.current_term)
        {
            return Err(format!(
                "entry {} has term {} > current_term {}",
                e.index, e.term, self.current_term
            ));
        }
        if let Some(v) = self.voted_for {
            if v != self.cfg.id && self.peer_slot(v).is_none() {
                return Err(format!("voted_for {v} is not a member"));
            }
        }
        match &self.state {
            RoleState::Leader {
                progress,
                reads,
                transfer,
                ..
            } => {
                // Thesis §3.10: a transfer targets a peer and is aborted at election_ticks.
                if let Some(t) = transfer {
                    if self.peer_slot(t.target).is_none() || t.elapsed >= self.cfg.election_ticks {
                        return Err(format!("transfer {t:?} out of bounds"));
                    }
                }
                if self.voted_for != Some(self.cfg.id) {
                    return Err("leader has not voted for itself".into());
                }
                if progress.len() != self.cfg.peers.len() || reads.peers() != self.cfg.peers.len() {
                    return Err("leader progress does not cover every peer".into());
                }
                for p in progress {
                    if p.match_index > last
                        || p.next_index <= p.match_index
                        || p.next_index > last + 1
                    {
                        return Err(format!(
                            "peer {}: match {} next {} out of bounds (last {last})",
                            p.id, p.match_index, p.next_index
                        ));
                    }
                }
                // The leader's own match index is its last index by construction
                // (maybe_commit counts it as such); the log's last term is its term
                // or earlier.
                if self.log.last_term() > self.current_term {
                    return Err("leader log ahead of its term".into());
                }
            }
            RoleState::Candidate { votes } => {
                if self.voted_for != Some(self.cfg.id) {
                    return Err("candidate has not voted for itself".into());
                }
                if votes.peers() != self.cfg.peers.len() {
                    return Err("candidate tally does not cover every peer".into());
                }
            }
            RoleState::PreCandidate { votes } => {
                if votes.peers() != self.cfg.peers.len() {
                    return Err("pre-candidate tally does not cover every peer".into());
                }
            }
            RoleState::Follower { leader_id } => {
                if *leader_id == Some(self.cfg.id) {
                    return Err("follower knows itself as leader".into());
                }
            }
        }
        Ok(())
    }
}

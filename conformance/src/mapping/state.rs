//! Part 4 of the mapping: the abstraction function.

use super::messages::{snapshot_entries, to_model_entry};
use super::{server_id, small, MapError};
use raft_impl::core::{Role as CoreRole, Status};
use raft_model::state::{self as model, Role, Server, ServerId};

/// The model's protocol switches that decide which fields the abstraction fills.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Switches {
    pub pre_vote: bool,
    pub check_quorum: bool,
}

impl Switches {
    pub fn of(config: &raft_model::Config) -> Switches {
        Switches {
            pre_vote: config.pre_vote,
            check_quorum: config.check_quorum,
        }
    }
}

/// A core node's state as a model [`Server`]; `snapshot_data` is the data
/// of the node's latest snapshot (`RawNode::snapshot`; empty when nothing is
/// compacted), decoded as the model snapshot's content.
///
/// `votes_granted` is the candidate's tally from `Status::votes_granted`
/// (itself included, as in the model; empty in the other roles, as the model
/// clears it; a pre-candidate's pre-votes likewise). A leader's own `next_index`/`match_index` slot, which the
/// model keeps but never uses, is 0. [`comparable`] blanks the same fields
/// on the model side.
///
/// With pre-vote or check-quorum (the model's `--pre-vote`, `--check-quorum`), the
/// model's `heard_from_leader` is a follower's knowing the leader of its term
/// (`Status::leader_id`): the harness never ticks, so that leader was heard from within the
/// election timeout (§9.6, §4.2.3). With check-quorum, a leader's `heard_from` is
/// `Status::heard_from` (§6.2). Without the switches the model keeps both empty.
pub fn abstract_server(
    status: &Status<'_>,
    snapshot_data: &[u8],
    servers: usize,
    switches: Switches,
) -> Result<Server, MapError> {
    let role = match status.role {
        CoreRole::Follower => Role::Follower,
        CoreRole::Candidate => Role::Candidate,
        CoreRole::Leader => Role::Leader,
        CoreRole::PreCandidate => Role::PreCandidate,
    };
    let leader_known = role == Role::Follower && status.leader_id.is_some();
    let heard_from_leader = (switches.pre_vote || switches.check_quorum) && leader_known;
    let mut heard_from = 0u8;
    if switches.check_quorum {
        for &p in &status.heard_from {
            heard_from |= 1 << server_id(p, servers)?;
        }
    }
    let (mut next_index, mut match_index) = (Vec::new(), Vec::new());
    if role == Role::Leader {
        next_index = vec![0; servers];
        match_index = vec![0; servers];
        for p in &status.progress {
            let slot = server_id(p.id, servers)? as usize;
            next_index[slot] = small("next_index", p.next_index)?;
            match_index[slot] = small("match_index", p.match_index)?;
        }
    }
    let mut votes_granted = 0u8;
    for &voter in &status.votes_granted {
        votes_granted |= 1 << server_id(voter, servers)?;
    }
    // Figure 13: the log holds the entries after the snapshot's last one.
    let lii = status.last_included_index;
    for (position, e) in status.log.iter().enumerate() {
        if e.index != lii + position as u64 + 1 {
            return Err(MapError(format!(
                "log position {position} after snapshot index {lii} holds index {}",
                e.index
            )));
        }
    }
    Ok(Server {
        current_term: small("current_term", status.current_term)?,
        voted_for: status
            .voted_for
            .map(|v| server_id(v, servers))
            .transpose()?,
        log: status
            .log
            .iter()
            .map(to_model_entry)
            .collect::<Result<_, _>>()?,
        snapshot: model::Snapshot {
            last_included_index: small("last_included_index", lii)?,
            last_included_term: small("last_included_term", status.last_included_term)?,
            entries: snapshot_entries(snapshot_data)?,
        },
        lost_up_to: small("lost_up_to", status.lost_up_to)?,
        lost_term: small("lost_term", status.lost_term)?,
        role,
        heard_from_leader,
        heard_from,
        lead_transferee: status
            .lead_transferee
            .map(|t| server_id(t, servers))
            .transpose()?,
        commit_index: small("commit_index", status.commit_index)?,
        votes_granted,
        next_index,
        match_index,
    })
}

/// The fields of model server `me` that the comparison looks at: everything
/// but the leader's own `next_index`/`match_index` slot (unused by the model).
pub fn comparable(s: &Server, me: ServerId) -> Server {
    let mut c = s.clone();
    if let Some(n) = c.next_index.get_mut(me as usize) {
        *n = 0;
    }
    if let Some(m) = c.match_index.get_mut(me as usize) {
        *m = 0;
    }
    c
}

//! The mapping between the model (`raft-model`) and the core (`raft-impl`).
//!
//! This module is the only place that knows both vocabularies. It has five
//! parts, read top to bottom:
//!
//! 1. **Identities and configuration**: model server `i` is core node `i + 1`
//!    (the core, like etcd, treats ids as opaque; shifting them keeps the two
//!    numberings from being confused silently). The model's `max_batch` is the
//!    core's `max_entries_per_append`; everything else is
//!    [`Config::conformance`](raft_impl::core::Config::conformance).
//! 2. **Actions → inputs**: which call on which node each model action is.
//! 3. **Messages** in both directions. A model entry `(term, v)` at index `i`
//!    is the core entry `{term, index: i, data: [v]}`.
//! 4. **The abstraction function**: a core node's [`Status`] as a model
//!    [`Server`], and [`comparable`], which blanks the fields the core cannot
//!    show (so both sides are compared on exactly the same fields).
//! 5. **The bug catalog and the core's mutations**, paired by two exhaustive
//!    matches, so a bug or a mutation added on one side only does not compile.
//!
//! Everything that cannot be represented on the other side (a term above
//! 255, an entry whose payload is not one byte, an unknown node id) is a
//! [`MapError`], never a silent truncation.

use bytes::Bytes;
use raft_impl::core::Mutation;
use raft_impl::core::{self as raft_core, Config as CoreConfig, Role as CoreRole, Status};
use raft_impl::types::{Entry as CoreEntry, NodeId};
use raft_model::state::{self as model, Entry, Role, Server, ServerId};
use raft_model::Bug;
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

fn small(what: &str, v: u64) -> Result<u8, MapError> {
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
    /// Network faults: the harness's bag only; no node sees them.
    Drop(model::Envelope),
    Duplicate(model::Envelope),
    /// The application compacts the node's log up to its commit index.
    Snapshot(ServerId),
}

pub fn input(action: &Action) -> Input {
    match action {
        Action::Deliver(m) => Input::Deliver(m.clone()),
        Action::ElectionTimeout(i) => Input::ElectionTimeout(*i),
        Action::Heartbeat(i) => Input::Heartbeat(*i),
        Action::Propose(i, v) => Input::Propose(*i, payload(*v)),
        Action::Restart(i) => Input::Restart(*i),
        Action::Drop(m) => Input::Drop(m.clone()),
        Action::Duplicate(m) => Input::Duplicate(m.clone()),
        Action::Snapshot(i) => Input::Snapshot(*i),
    }
}

/// The command bytes of model value `v`.
pub fn payload(v: u8) -> Bytes {
    Bytes::copy_from_slice(&[v])
}

// ---- 3. messages --------------------------------------------------------------

pub fn to_core_entry(index: u64, e: &Entry) -> CoreEntry {
    CoreEntry {
        term: e.term.into(),
        index,
        data: payload(e.value),
    }
}

pub fn to_model_entry(e: &CoreEntry) -> Result<Entry, MapError> {
    match e.data.as_ref() {
        [v] => Ok(Entry {
            term: small("entry term", e.term)?,
            value: *v,
        }),
        other => Err(MapError(format!(
            "entry {} carries {} bytes; model values are one byte",
            e.index,
            other.len()
        ))),
    }
}

fn to_core_hint(h: &model::ConflictHint) -> raft_core::ConflictHint {
    raft_core::ConflictHint {
        term: h.term.map(u64::from),
        first_index: h.first_index.into(),
        log_len: h.log_len.into(),
    }
}

fn to_model_hint(h: &raft_core::ConflictHint) -> Result<model::ConflictHint, MapError> {
    Ok(model::ConflictHint {
        term: h.term.map(|t| small("conflict term", t)).transpose()?,
        first_index: small("conflict first_index", h.first_index)?,
        log_len: small("conflict log_len", h.log_len)?,
    })
}

pub fn to_core_msg(env: &model::Envelope) -> Result<raft_core::Envelope, MapError> {
    use raft_core::Message as Core;
    let msg = match &env.msg {
        model::Message::RequestVote(m) => Core::RequestVote(raft_core::RequestVote {
            term: m.term.into(),
            last_log_index: m.last_log_index.into(),
            last_log_term: m.last_log_term.into(),
        }),
        model::Message::RequestVoteResponse(m) => {
            Core::RequestVoteResponse(raft_core::RequestVoteResponse {
                term: m.term.into(),
                vote_granted: m.vote_granted,
            })
        }
        model::Message::AppendEntries(m) => Core::AppendEntries(raft_core::AppendEntries {
            term: m.term.into(),
            prev_log_index: m.prev_log_index.into(),
            prev_log_term: m.prev_log_term.into(),
            entries: (u64::from(m.prev_log_index) + 1..)
                .zip(&m.entries)
                .map(|(index, e)| to_core_entry(index, e))
                .collect(),
            leader_commit: m.leader_commit.into(),
            // The model has no ReadIndex: a conformance-mode leader never starts a read round.
            read_round: 0,
        }),
        model::Message::AppendEntriesResponse(m) => {
            Core::AppendEntriesResponse(raft_core::AppendEntriesResponse {
                term: m.term.into(),
                success: m.success,
                match_index: m.match_index.into(),
                conflict: m.conflict.as_ref().map(to_core_hint),
                read_round: 0,
            })
        }
        model::Message::InstallSnapshot(_) | model::Message::InstallSnapshotResponse(_) => {
            return Err(MapError(format!(
                "{}: the core has no InstallSnapshot yet",
                env.msg.kind()
            )))
        }
    };
    Ok(raft_core::Envelope {
        from: node_id(env.from),
        to: node_id(env.to),
        msg,
    })
}

pub fn to_model_msg(
    env: &raft_core::Envelope,
    servers: usize,
) -> Result<model::Envelope, MapError> {
    use model::Message as Model;
    let msg = match &env.msg {
        raft_core::Message::RequestVote(m) => Model::RequestVote(model::RequestVote {
            term: small("term", m.term)?,
            last_log_index: small("last_log_index", m.last_log_index)?,
            last_log_term: small("last_log_term", m.last_log_term)?,
        }),
        raft_core::Message::RequestVoteResponse(m) => {
            Model::RequestVoteResponse(model::RequestVoteResponse {
                term: small("term", m.term)?,
                vote_granted: m.vote_granted,
            })
        }
        raft_core::Message::AppendEntries(m) => Model::AppendEntries(model::AppendEntries {
            term: small("term", m.term)?,
            prev_log_index: small("prev_log_index", m.prev_log_index)?,
            prev_log_term: small("prev_log_term", m.prev_log_term)?,
            entries: m
                .entries
                .iter()
                .map(to_model_entry)
                .collect::<Result<_, _>>()?,
            leader_commit: small("leader_commit", m.leader_commit)?,
        }),
        raft_core::Message::AppendEntriesResponse(m) => {
            Model::AppendEntriesResponse(model::AppendEntriesResponse {
                term: small("term", m.term)?,
                success: m.success,
                match_index: small("match_index", m.match_index)?,
                conflict: m.conflict.as_ref().map(to_model_hint).transpose()?,
            })
        }
        raft_core::Message::InstallSnapshot(_) | raft_core::Message::InstallSnapshotResponse(_) => {
            return Err(MapError(format!(
                "{}: snapshots are not mapped to the model yet",
                env.msg.kind()
            )))
        }
    };
    Ok(model::Envelope {
        from: server_id(env.from, servers)?,
        to: server_id(env.to, servers)?,
        msg,
    })
}

// ---- 4. the abstraction function ---------------------------------------------

/// A core node's state as a model [`Server`].
///
/// `votes_granted` is the candidate's tally from `Status::votes_granted`
/// (itself included, as in the model; empty in the other roles, as the model
/// clears it). A leader's
/// own `next_index`/`match_index` slot, which the model keeps but never uses,
/// is 0. [`comparable`] blanks the same fields on the model side.
pub fn abstract_server(status: &Status<'_>, servers: usize) -> Result<Server, MapError> {
    let role = match status.role {
        CoreRole::Follower => Role::Follower,
        CoreRole::Candidate => Role::Candidate,
        CoreRole::Leader => Role::Leader,
    };
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
    for (position, e) in status.log.iter().enumerate() {
        if e.index != position as u64 + 1 {
            return Err(MapError(format!(
                "log position {position} holds index {}",
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
        role,
        commit_index: small("commit_index", status.commit_index)?,
        votes_granted,
        next_index,
        match_index,
        // The core keeps its whole log (no compaction yet).
        snapshot: model::Snapshot::default(),
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

// ---- 5. the bug catalog and the core's mutations ---------------------------
//
// Each model bug is re-created by one core mutation, and each mutation
// re-creates one bug. Both functions are exhaustive matches without a
// wildcard: a bug or a mutation added on one side only does not compile.

/// The core mutation that re-creates the model's `bug`; None for the
/// snapshot bugs until the core has compaction.
pub fn mutation_of(bug: Bug) -> Option<Mutation> {
    Some(match bug {
        Bug::VoteResetOnSameTerm => Mutation::VoteResetOnSameTerm,
        Bug::NoUpToDateCheck => Mutation::NoUpToDateCheck,
        Bug::CommitPreviousTerm => Mutation::CommitPreviousTerm,
        Bug::TruncateOnEveryAppend => Mutation::TruncateOnEveryAppend,
        Bug::EntriesStampedWithLeaderTerm => Mutation::EntriesStampedWithLeaderTerm,
        Bug::VoteNotPersisted => Mutation::VoteNotPersisted,
        Bug::AcceptStaleReply => Mutation::AcceptStaleReply,
        Bug::CommitBeyondLastNewEntry => Mutation::CommitBeyondLastNewEntry,
        Bug::LogNotPersisted => Mutation::LogNotPersisted,
        Bug::SnapshotBeyondCommit
        | Bug::InstallDiscardsSuffix
        | Bug::InstallOlderSnapshot
        | Bug::WrongLastIncludedTerm
        | Bug::SnapshotNotPersistedWithState
        | Bug::CommitNotAdvancedOnInstall
        | Bug::SnapshotStateIndexMismatch => return None,
    })
}

/// The model bug that the core mutation `m` re-creates (its name is the
/// mutant's name on the command line and in reports).
pub fn bug_of(m: Mutation) -> Bug {
    match m {
        Mutation::VoteResetOnSameTerm => Bug::VoteResetOnSameTerm,
        Mutation::NoUpToDateCheck => Bug::NoUpToDateCheck,
        Mutation::CommitPreviousTerm => Bug::CommitPreviousTerm,
        Mutation::TruncateOnEveryAppend => Bug::TruncateOnEveryAppend,
        Mutation::EntriesStampedWithLeaderTerm => Bug::EntriesStampedWithLeaderTerm,
        Mutation::VoteNotPersisted => Bug::VoteNotPersisted,
        Mutation::AcceptStaleReply => Bug::AcceptStaleReply,
        Mutation::CommitBeyondLastNewEntry => Bug::CommitBeyondLastNewEntry,
        Mutation::LogNotPersisted => Bug::LogNotPersisted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs() -> Vec<model::Envelope> {
        use model::Message as M;
        let e = |term, value| Entry { term, value };
        let env = |from, to, msg| model::Envelope { from, to, msg };
        vec![
            env(
                0,
                2,
                M::RequestVote(model::RequestVote {
                    term: 3,
                    last_log_index: 2,
                    last_log_term: 1,
                }),
            ),
            env(
                2,
                0,
                M::RequestVoteResponse(model::RequestVoteResponse {
                    term: 3,
                    vote_granted: true,
                }),
            ),
            env(
                1,
                0,
                M::AppendEntries(model::AppendEntries {
                    term: 2,
                    prev_log_index: 1,
                    prev_log_term: 1,
                    entries: vec![e(1, 2), e(2, 1)],
                    leader_commit: 1,
                }),
            ),
            env(
                0,
                1,
                M::AppendEntriesResponse(model::AppendEntriesResponse {
                    term: 2,
                    success: false,
                    match_index: 0,
                    conflict: Some(model::ConflictHint {
                        term: Some(1),
                        first_index: 1,
                        log_len: 3,
                    }),
                }),
            ),
        ]
    }

    #[test]
    fn messages_round_trip_and_ids_shift_by_one() {
        for m in msgs() {
            let env = to_core_msg(&m).unwrap();
            assert_eq!(env.from, u64::from(m.from) + 1);
            assert_eq!(to_model_msg(&env, 3), Ok(m));
        }
    }

    #[test]
    fn entries_carry_their_index_and_one_byte() {
        let env = to_core_msg(&msgs()[2]).unwrap();
        let raft_core::Message::AppendEntries(ae) = env.msg else {
            panic!("an AppendEntries maps to an AppendEntries")
        };
        assert_eq!(
            ae.entries.iter().map(|e| e.index).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(ae.entries[0].data.as_ref(), &[2]);
    }

    #[test]
    fn unrepresentable_values_are_errors() {
        let mut env = to_core_msg(&msgs()[0]).unwrap();
        env.from = 9;
        assert!(to_model_msg(&env, 3).unwrap_err().0.contains("node id 9"));
        let big = CoreEntry {
            term: 300,
            index: 1,
            data: payload(1),
        };
        assert!(to_model_entry(&big).unwrap_err().0.contains("300"));
        let wide = CoreEntry {
            term: 1,
            index: 1,
            data: Bytes::from_static(b"ab"),
        };
        assert!(to_model_entry(&wide).unwrap_err().0.contains("2 bytes"));
    }

    #[test]
    fn max_batch_maps_to_the_core_batching_limit() {
        let mut c = Config::default();
        assert_eq!(core_config(1, &c).max_entries_per_append, usize::MAX);
        c.max_batch = 1;
        let cfg = core_config(1, &c);
        assert_eq!(cfg.max_entries_per_append, 1);
        assert_eq!((cfg.id, cfg.peers.clone()), (2, vec![1, 3]));
    }

    #[test]
    fn comparable_blanks_only_unobservable_fields() {
        let mut s = Server::new();
        s.role = Role::Leader;
        s.votes_granted = 0b11;
        s.next_index = vec![3, 2, 1];
        s.match_index = vec![0, 1, 0];
        let c = comparable(&s, 0);
        assert_eq!(c.votes_granted, 0b11);
        assert_eq!(c.next_index, vec![0, 2, 1]);
        assert_eq!(c.match_index, vec![0, 1, 0]);
    }
}

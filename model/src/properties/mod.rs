//! The properties checked in every reachable state.
//!
//! The first five are Figure 3 of the Raft paper; the next ten are the
//! project's own state invariants (the last five about snapshots); the rest are the transition properties
//! of [`transitions`], each read from the history bit its rule sets when a
//! step breaks it. Each is a pure function of one state (history variables
//! included), so it can be evaluated on a replayed trace or on a hand-built
//! state as well as by the checker.

pub mod checkquorum;
pub mod explain;
pub mod prevote;
pub mod recovery;
pub mod transfer;
pub mod transitions;

use crate::state::{Role, Server, State};
use transitions::TRANSITIONS;

/// The invariant that reads transition property `$i`'s history bit.
macro_rules! rule {
    ($i:literal) => {
        Invariant {
            name: TRANSITIONS[$i].name,
            holds: |s| s.history.broken & 1 << $i == 0,
        }
    };
}

pub struct Invariant {
    pub name: &'static str,
    pub holds: fn(&State) -> bool,
}

pub const INVARIANTS: &[Invariant] = &[
    Invariant {
        name: "Election Safety",
        holds: election_safety,
    },
    Invariant {
        name: "Leader Append-Only",
        holds: leader_append_only,
    },
    Invariant {
        name: "Log Matching",
        holds: log_matching,
    },
    Invariant {
        name: "Leader Completeness",
        holds: leader_completeness,
    },
    Invariant {
        name: "State Machine Safety",
        holds: state_machine_safety,
    },
    Invariant {
        name: "commit_index within log",
        holds: commit_index_within_log,
    },
    Invariant {
        name: "log terms never decrease",
        holds: log_terms_monotonic,
    },
    Invariant {
        name: "current_term covers log",
        holds: current_term_covers_log,
    },
    Invariant {
        name: "one vote per term",
        holds: one_vote_per_term,
    },
    Invariant {
        name: "match_index is accurate",
        holds: match_index_accurate,
    },
    Invariant {
        name: "a snapshot holds only committed entries",
        holds: snapshot_only_committed,
    },
    Invariant {
        name: "a snapshot holds exactly the entries up to its last index",
        holds: snapshot_content_matches_index,
    },
    Invariant {
        name: "last_included_term is the last included entry's term",
        holds: last_included_term_matches,
    },
    Invariant {
        name: "commit_index covers the snapshot",
        holds: commit_index_covers_snapshot,
    },
    Invariant {
        name: "applied sequences agree",
        holds: applied_sequences_agree,
    },
    rule!(0),
    rule!(1),
    rule!(2),
    rule!(3),
    rule!(4),
    rule!(5),
    rule!(6),
    rule!(7),
    rule!(8),
    rule!(9),
    rule!(10),
    rule!(11),
    rule!(12),
    rule!(13),
    rule!(14),
    rule!(15),
    rule!(16),
    rule!(17),
    rule!(18),
    rule!(19),
    rule!(20),
];

/// The invariants that are states' own (the rest are transition properties).
pub const STATE_INVARIANTS: usize = 15;
const _: () = assert!(INVARIANTS.len() == STATE_INVARIANTS + TRANSITIONS.len());

/// The names of the invariants `state` violates, in catalog order.
pub fn violated(state: &State) -> Vec<&'static str> {
    INVARIANTS
        .iter()
        .filter(|inv| !(inv.holds)(state))
        .map(|inv| inv.name)
        .collect()
}

/// Election Safety: at most one leader can be elected in a given term.
pub fn election_safety(state: &State) -> bool {
    state.history.leaders.iter().all(|l| l.count_ones() <= 1)
}

/// Leader Append-Only: a leader never overwrites or deletes entries in its
/// log; it only appends new entries.
pub fn leader_append_only(state: &State) -> bool {
    !state.history.leader_log_rewritten
}

/// Log Matching: if two logs contain an entry with the same index and term,
/// then the logs are identical in all entries up through that index
/// (logical logs: snapshot content, then the log).
pub fn log_matching(state: &State) -> bool {
    let logs: Vec<_> = state.servers.iter().map(Server::logical_log).collect();
    logs.iter().enumerate().all(|(i, a)| {
        logs[i + 1..].iter().all(|b| {
            let common = a.len().min(b.len());
            // The highest index where the terms agree decides: everything up
            // to it must be identical.
            match (0..common).rev().find(|&k| a[k].term == b[k].term) {
                Some(k) => a[..=k] == b[..=k],
                None => true,
            }
        })
    })
}

/// Leader Completeness: if a log entry is committed in a given term, that
/// entry is present in the logs of the leaders of all higher terms.
pub fn leader_completeness(state: &State) -> bool {
    let leaders = state.servers.iter().filter(|s| s.role == Role::Leader);
    leaders.into_iter().all(|l| {
        state
            .history
            .commits
            .iter()
            .filter(|c| l.current_term > c.term)
            .all(|c| l.entry(c.index) == Some(c.entry))
    })
}

/// State Machine Safety: if a server has applied a log entry at a given
/// index, no other server ever applies a different entry at that index.
/// Committed entries count as applied. A server whose committed prefix
/// changed under it has applied something else than it now holds.
pub fn state_machine_safety(state: &State) -> bool {
    let commits = &state.history.commits;
    let unique = commits.windows(2).all(|w| w[0].index != w[1].index);
    unique
        && state.servers.iter().all(|s| {
            (1..=s.commit_index.min(s.last_index())).all(|index| {
                commits
                    .iter()
                    .any(|c| c.index == index && Some(c.entry) == s.entry(index))
            })
        })
}

pub fn commit_index_within_log(state: &State) -> bool {
    state
        .servers
        .iter()
        .all(|s| s.commit_index <= s.last_index())
}

pub fn log_terms_monotonic(state: &State) -> bool {
    state.servers.iter().all(|s| {
        s.logical_entries()
            .zip(s.logical_entries().skip(1))
            .all(|(a, b)| a.term <= b.term)
    })
}

pub fn current_term_covers_log(state: &State) -> bool {
    state
        .servers
        .iter()
        .all(|s| s.logical_entries().all(|e| e.term <= s.current_term))
}

/// At most one vote per (server, term), even across restarts.
pub fn one_vote_per_term(state: &State) -> bool {
    state.history.votes_cast.iter().all(|v| v.count_ones() <= 1)
}

/// A leader's match_index is true: every server not in a newer term, and
/// not recovering from a lost tail, holds the leader's entries up to it. A success reply of the leader's term T
/// comes from a server in term T and describes its log then; while that
/// server stays in term T only the leader (which only appends) changes its
/// log, and a server in an older term has acknowledged nothing (its
/// match_index is 0). The leader's own slot is unused and 0. The commit
/// rule (Figure 2, Rules for Servers, Leaders, last bullet) counts
/// replicas by match_index, so a false one can commit an entry that is
/// not on a majority. A recovering server lost entries it acknowledged:
/// its match_index is false until the leader learns so or repairs it, and
/// it grants no vote meanwhile (issue 14).
pub fn match_index_accurate(state: &State) -> bool {
    let leaders = state.servers.iter().filter(|s| s.role == Role::Leader);
    leaders.into_iter().all(|l| {
        let followers = state.servers.iter().zip(&l.match_index);
        followers
            .filter(|(f, _)| f.current_term <= l.current_term && !f.recovering())
            .all(|(f, &m)| {
                let m = m as usize;
                let (l, f) = (l.logical_log(), f.logical_log());
                m <= l.len() && m <= f.len() && l[..m] == f[..m]
            })
    })
}

/// A snapshot holds only committed entries (§7: a server compacts what its
/// state machine applied).
pub fn snapshot_only_committed(state: &State) -> bool {
    state.servers.iter().all(|s| {
        (1..).zip(&s.snapshot.entries).all(|(index, e)| {
            state
                .history
                .commits
                .iter()
                .any(|c| c.index == index && c.entry == *e)
        })
    })
}

/// A snapshot's content is the state machine after applying exactly the
/// entries up to last_included_index: no fewer, no more.
pub fn snapshot_content_matches_index(state: &State) -> bool {
    state
        .servers
        .iter()
        .all(|s| s.snapshot.entries.len() == s.snapshot.last_included_index as usize)
}

/// A snapshot's last_included_term is the term of its last included entry
/// (checked where the content has the right length; the invariant above
/// covers the rest).
pub fn last_included_term_matches(state: &State) -> bool {
    state.servers.iter().all(|s| {
        let snap = &s.snapshot;
        snap.entries.len() != snap.last_included_index as usize
            || snap.entries.last().map_or(0, |e| e.term) == snap.last_included_term
    })
}

/// commit_index is at least the snapshot's last index: a snapshot is
/// committed and applied.
pub fn commit_index_covers_snapshot(state: &State) -> bool {
    state
        .servers
        .iter()
        .all(|s| s.commit_index >= s.snapshot.last_included_index)
}

/// Every server's applied sequence (snapshot content, then the committed
/// entries of its log) is a prefix of every other's.
pub fn applied_sequences_agree(state: &State) -> bool {
    let servers = &state.servers;
    servers.iter().enumerate().all(|(i, a)| {
        servers[i + 1..].iter().all(|b| {
            let n = a.applied_len().min(b.applied_len());
            (0..n).all(|k| a.applied_at(k) == b.applied_at(k))
        })
    })
}

/// Sanity properties that a single state shows.
pub struct Sanity {
    pub name: &'static str,
    pub reached: fn(&State) -> bool,
}

pub const SANITY: &[Sanity] = &[
    Sanity {
        name: "a leader is elected",
        reached: |s| s.servers.iter().any(|x| x.role == Role::Leader),
    },
    Sanity {
        name: "an entry is committed",
        reached: |s| s.servers.iter().any(|x| x.commit_index >= 1),
    },
    Sanity {
        name: "an entry is committed on every server",
        reached: |s| s.servers.iter().all(|x: &Server| x.commit_index >= 1),
    },
];

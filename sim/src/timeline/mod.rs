//! A recorded run as a picture: one lane per node over simulated time, with its role as
//! colour bands (down while crashed), its `current_term` changes, the stretches where it is
//! cut off from part of the cluster, its commits (`commit_index` advances), its snapshots,
//! and the violation that ended the run. `raft-sim --seed N --html FILE` draws it.
//!
//! [`layout`] turns a [`Trace`] into what is drawn, without geometry, so tests can check the
//! structure; [`html`] draws it as a self-contained page (SVG, no script).

mod svg;
mod table;

pub use svg::{escape, html};

use crate::trace::{EventKind, MsgBody, Trace};
use raft_impl::core::Role;
use raft_impl::types::{Index, NodeId, Term};

/// A stretch of simulated time, `[from_us, to_us)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Band<T> {
    pub from_us: u64,
    pub to_us: u64,
    pub what: T,
}

/// What a node is doing: its role (§5.1), or crashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaneState {
    Down,
    Follower,
    Candidate,
    Leader,
}

/// How much of the cluster a node can talk to (both directions up), itself included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reach {
    pub sees: usize,
    pub of: usize,
    /// Bit `j - 1` set: node `j` is out of reach.
    pub unreachable: u32,
}

impl Reach {
    /// The node ids out of reach.
    pub fn cut_from(&self) -> Vec<NodeId> {
        (1..=self.of as NodeId)
            .filter(|j| self.unreachable & (1 << (j - 1)) != 0)
            .collect()
    }

    /// Too few to elect a leader or commit (§5.2: a majority of the servers).
    pub fn minority(&self) -> bool {
        self.sees * 2 <= self.of
    }
}

/// How a node's snapshot moved (§7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotKind {
    /// It compacted its own log.
    Compacted,
    /// It installed a leader's snapshot (the last InstallSnapshot chunk).
    Installed,
}

/// One node's lane.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lane {
    pub id: NodeId,
    /// Consecutive bands from time 0 to the end of the run.
    pub roles: Vec<Band<LaneState>>,
    /// Where the node cannot reach every other node.
    pub cut_off: Vec<Band<Reach>>,
    /// `(time, new current_term)` at every change.
    pub terms: Vec<(u64, Term)>,
    /// `(time, new commit_index)` at every advance.
    pub commits: Vec<(u64, Index)>,
    /// `(time, last_included_index, how)` at every snapshot change.
    pub snapshots: Vec<(u64, Index, SnapshotKind)>,
    /// Times InstallSnapshot chunks were delivered to this node.
    pub chunks: Vec<u64>,
    /// Times any message was delivered to this node (drawn as a density strip).
    pub deliveries: Vec<u64>,
    /// `(time, kind)` of each crash (`Crash` or `CrashDuringSync`).
    pub crashes: Vec<(u64, EventKind)>,
    pub restarts: Vec<u64>,
}

/// A change of the network as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetChange {
    pub time_us: u64,
    pub seq: u64,
    /// What the run said it did ("partition s1 s3 | s2", "heal", "unreliable=true").
    pub detail: String,
}

/// The invariant violation (or liveness failure) that ended the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The last event's time and number: a run stops at the event that broke an invariant.
    pub time_us: u64,
    pub seq: u64,
    /// Short: "Election Safety violated" or "liveness failure".
    pub name: String,
    /// The nodes the report names.
    pub nodes: Vec<NodeId>,
    /// The whole report.
    pub text: String,
}

/// Everything the picture shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    pub seed: u64,
    pub tick_us: u64,
    pub events: usize,
    pub end_us: u64,
    pub lanes: Vec<Lane>,
    /// Stretches with the 6.824 unreliable network (loss, duplication, delay) on.
    pub unreliable: Vec<Band<()>>,
    /// Stretches with long reordering on.
    pub reordering: Vec<Band<()>>,
    /// Connectivity and reliability changes and operator transfer requests, in order.
    pub net_changes: Vec<NetChange>,
    pub failure: Option<Failure>,
}

impl Timeline {
    /// Number of times some node became leader.
    pub fn elections(&self) -> usize {
        let leads = |l: &Lane| {
            l.roles
                .iter()
                .filter(|b| b.what == LaneState::Leader)
                .count()
        };
        self.lanes.iter().map(leads).sum()
    }
}

/// Opens and closes bands as a value changes over time.
struct Bands<T: Copy + PartialEq> {
    open: Option<(u64, T)>,
    done: Vec<Band<T>>,
}

impl<T: Copy + PartialEq> Bands<T> {
    fn new() -> Self {
        Bands {
            open: None,
            done: Vec::new(),
        }
    }

    /// From `time` the value is `v` (`None`: no band).
    fn set(&mut self, time: u64, v: Option<T>) {
        if self.open.map(|(_, o)| o) == v {
            return;
        }
        if let Some((from, what)) = self.open.take().filter(|&(from, _)| from < time) {
            self.done.push(Band {
                from_us: from,
                to_us: time,
                what,
            });
        }
        self.open = v.map(|v| (time, v));
    }

    fn finish(mut self, end: u64) -> Vec<Band<T>> {
        self.set(end, None);
        self.done
    }
}

fn lane_state(up: bool, role: Option<Role>) -> LaneState {
    match (up, role) {
        (false, _) => LaneState::Down,
        (true, Some(Role::Leader)) => LaneState::Leader,
        (true, Some(Role::Candidate)) => LaneState::Candidate,
        (true, _) => LaneState::Follower,
    }
}

/// The short name of a failure report: `seed S event E (t=…s): Election Safety violated
/// (nodes …): …` gives "Election Safety violated".
fn failure_name(text: &str) -> String {
    if text.starts_with("liveness") {
        return "liveness failure".into();
    }
    let after = text.split_once("s): ").map_or(text, |(_, r)| r);
    let name = after.split_once(" (nodes").map_or(after, |(n, _)| n);
    name.chars().take(80).collect()
}

/// The nodes a failure report names: `(nodes [2, 1], …`.
fn failure_nodes(text: &str) -> Vec<NodeId> {
    let Some((_, rest)) = text.split_once("(nodes [") else {
        return Vec::new();
    };
    let list = rest.split_once(']').map_or("", |(l, _)| l);
    list.split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// Follows every node through `trace`. The picture ends one tick after the last event, so
/// the state that event left (a leader elected by it, say) shows.
pub fn layout(trace: &Trace) -> Timeline {
    let n = trace.servers;
    let last_us = trace.events.last().map_or(0, |e| e.time_us);
    let end_us = last_us + trace.tick_us.max(1);
    let mut lanes: Vec<Lane> = (0..n)
        .map(|i| Lane {
            id: i as NodeId + 1,
            ..Lane::default()
        })
        .collect();
    let mut roles: Vec<Bands<LaneState>> = (0..n).map(|_| Bands::new()).collect();
    let mut cut: Vec<Bands<Reach>> = (0..n).map(|_| Bands::new()).collect();
    let (mut unreliable, mut reordering) = (Bands::new(), Bands::new());
    let mut net_changes = Vec::new();
    // Per node: last term, commit_index (0 after a crash: it is volatile) and snapshot seen.
    let mut last: Vec<(Term, Index, Index)> = vec![(0, 0, 0); n];
    for (i, r) in roles.iter_mut().enumerate() {
        r.set(0, Some(LaneState::Follower));
        lanes[i].terms.push((0, 0));
    }
    for ev in &trace.events {
        let t = ev.time_us;
        let at = ev.node.and_then(|id| (id as usize).checked_sub(1));
        match ev.kind {
            EventKind::Crash | EventKind::CrashDuringSync => {
                if let Some(l) = at.and_then(|p| lanes.get_mut(p)) {
                    l.crashes.push((t, ev.kind));
                }
            }
            EventKind::Restart => {
                if let Some(l) = at.and_then(|p| lanes.get_mut(p)) {
                    l.restarts.push(t);
                }
            }
            EventKind::Link | EventKind::Network => {
                let detail = ev.detail.clone().unwrap_or_default();
                match detail.split_once('=') {
                    Some(("unreliable", v)) => unreliable.set(t, (v == "true").then_some(())),
                    Some(("long_reordering", v)) => reordering.set(t, (v == "true").then_some(())),
                    _ => {}
                }
                net_changes.push(NetChange {
                    time_us: t,
                    seq: ev.seq,
                    detail,
                });
            }
            // An operator's transfer request is drawn with the other outside interventions.
            EventKind::Transfer => net_changes.push(NetChange {
                time_us: t,
                seq: ev.seq,
                detail: format!(
                    "s{}: {}",
                    ev.node.unwrap_or_default(),
                    ev.detail.clone().unwrap_or_default()
                ),
            }),
            _ => {}
        }
        if let Some(down) = &ev.links_down {
            for (i, c) in cut.iter_mut().enumerate() {
                let id = i as NodeId + 1;
                let blocked = |j: NodeId| down.contains(&(id, j)) || down.contains(&(j, id));
                let unreachable = (1..=n as NodeId)
                    .filter(|&j| j != id && blocked(j))
                    .fold(0u32, |m, j| m | 1 << (j - 1));
                let sees = n - unreachable.count_ones() as usize;
                let reach = Reach {
                    sees,
                    of: n,
                    unreachable,
                };
                c.set(t, (sees < n).then_some(reach));
            }
        }
        if ev.kind == EventKind::Deliver {
            if let Some(l) = at.and_then(|p| lanes.get_mut(p)) {
                l.deliveries.push(t);
            }
        }
        let installing = matches!(
            ev.msg.as_ref().map(|m| &m.body),
            Some(MsgBody::InstallSnapshot { .. })
        );
        if installing {
            if let Some(l) = at.and_then(|p| lanes.get_mut(p)) {
                l.chunks.push(t);
            }
        }
        for (i, s) in ev.state.iter().enumerate().take(n) {
            roles[i].set(t, Some(lane_state(s.up, s.role)));
            let (term, commit, snap) = &mut last[i];
            if s.current_term != *term {
                *term = s.current_term;
                lanes[i].terms.push((t, s.current_term));
            }
            if !s.up {
                *commit = 0;
                continue;
            }
            if s.commit_index > *commit {
                lanes[i].commits.push((t, s.commit_index));
            }
            *commit = s.commit_index;
            if s.last_included_index > *snap {
                let how = if installing && at == Some(i) {
                    SnapshotKind::Installed
                } else {
                    SnapshotKind::Compacted
                };
                lanes[i].snapshots.push((t, s.last_included_index, how));
            }
            *snap = s.last_included_index;
        }
    }
    for (i, (r, c)) in roles.into_iter().zip(cut).enumerate() {
        lanes[i].roles = r.finish(end_us);
        lanes[i].cut_off = c.finish(end_us);
    }
    let failure = trace.failure.as_ref().map(|text| Failure {
        time_us: last_us,
        seq: trace.events.last().map_or(0, |e| e.seq),
        name: failure_name(text),
        nodes: failure_nodes(text),
        text: text.clone(),
    });
    Timeline {
        seed: trace.seed,
        tick_us: trace.tick_us,
        events: trace.events.len(),
        end_us,
        lanes,
        unreliable: unreliable.finish(end_us),
        reordering: reordering.finish(end_us),
        net_changes,
        failure,
    }
}

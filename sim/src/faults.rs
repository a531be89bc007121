//! External events on a [`Cluster`]: client proposals, crashes and restarts, connectivity and
//! network reliability. Each is one event: checked and recorded like a message delivery.

use bytes::Bytes;

use crate::cluster::{derive_seed, Action, Cluster};
use crate::node::{CrashMode, Effects};
use crate::steps::StepAction;
use crate::trace::EventKind;
use raft_impl::types::{Index, Term};

impl Cluster {
    /// 6.824 `Start`: proposes `data` at node `i`. `Some((index, term))` if it is leader.
    pub fn start(&mut self, i: usize, data: impl Into<Bytes>) -> Option<(Index, Term)> {
        if self.violation.is_some() {
            return None;
        }
        let raw = self.nodes[i].raw.as_mut()?;
        let data: Bytes = data.into();
        let res = raw.propose(data.clone()).ok();
        if let (Some(rec), Some(_)) = (self.steps.as_mut(), res) {
            rec.pending = Some(StepAction::Propose {
                node: self.nodes[i].id,
                data,
            });
        }
        // In conformance mode a proposal sends nothing, as in the model: the next heartbeat
        // carries it (`replicate_now` is an optimisation the model does not have).
        if res.is_some() && !self.nodes[i].replicate_scheduled && !self.cfg.conformance {
            // Send new entries now rather than at the next heartbeat, but as one batch with
            // every other proposal of this instant (the core sends nothing on `propose`).
            self.nodes[i].replicate_scheduled = true;
            let incarnation = self.nodes[i].incarnation;
            self.schedule(
                0,
                Action::Replicate {
                    pos: i,
                    incarnation,
                },
            );
        }
        let detail = Some(match res {
            Some((index, term)) => format!("accepted at index {index} term {term}"),
            None => "rejected: not leader".to_string(),
        });
        self.after_input(i, EventKind::Propose, None, detail);
        res
    }

    /// ReadIndex at node `i` (see [`RawNode::read_index`](raft_impl::core::RawNode::read_index)):
    /// `Ok` if it is leader; the outcome appears in [`Cluster::take_reads`].
    pub fn read_index(&mut self, i: usize, ctx: u64) -> Result<(), raft_impl::core::NotLeader> {
        let Some(raw) = self.nodes[i].raw.as_mut() else {
            return Err(raft_impl::core::NotLeader { leader_hint: None });
        };
        if self.violation.is_some() {
            return Err(raft_impl::core::NotLeader { leader_hint: None });
        }
        let res = raw.read_index(ctx);
        let detail = Some(match res {
            Ok(()) => format!("ctx {ctx} accepted"),
            Err(_) => format!("ctx {ctx} rejected: not leader"),
        });
        self.after_input(i, EventKind::ReadIndex, None, detail);
        res
    }

    /// Whether node `i` has ReadIndex outcomes its service layer has not taken.
    pub fn has_reads(&self, i: usize) -> bool {
        !self.nodes[i].read_states.is_empty() || !self.nodes[i].dropped_reads.is_empty()
    }

    /// Node `i`'s confirmed and dropped ReadIndex reads since the last call.
    pub fn take_reads(&mut self, i: usize) -> (Vec<raft_impl::core::ReadState>, Vec<u64>) {
        let n = &mut self.nodes[i];
        (
            std::mem::take(&mut n.read_states),
            std::mem::take(&mut n.dropped_reads),
        )
    }

    /// Crashes node `i`; unsynced writes are lost as `mode` says.
    pub fn crash_with(&mut self, i: usize, mode: CrashMode) {
        if !self.nodes[i].is_up() {
            return;
        }
        self.nodes[i].crash(mode);
        self.checker.node_down(i);
        let (kind, detail) = match mode {
            CrashMode::BeforeSync => (EventKind::Crash, None),
            CrashMode::DuringSync { landed_log_ops } => (
                EventKind::CrashDuringSync,
                Some(format!("{landed_log_ops} staged log ops landed")),
            ),
        };
        self.finish(Some(i), Effects::default(), kind, None, detail);
    }

    /// Crashes node `i` (unsynced writes lost).
    pub fn crash(&mut self, i: usize) {
        self.crash_with(i, CrashMode::BeforeSync);
    }

    /// Number of staged, unsynced log operations at node `i` (for crash-during-sync choices).
    pub fn unsynced_log_ops(&self, i: usize) -> usize {
        self.nodes[i].storage.unsynced_log_ops()
    }

    /// Whether node `i` has written anything its storage has not synced yet.
    pub fn has_unsynced(&self, i: usize) -> bool {
        self.nodes[i].storage.has_unsynced()
    }

    /// Restarts crashed node `i` from its durable state (6.824 `start1` after `crash1`).
    pub fn restart(&mut self, i: usize) {
        if self.nodes[i].is_up() {
            return;
        }
        let seed = derive_seed(self.cfg.seed, (self.nodes[i].incarnation << 16) | i as u64);
        match self.nodes[i].restart(seed) {
            Ok((snapshot, entries)) => {
                let snapshot = snapshot.as_ref().map(|(meta, c)| (*meta, c.as_deref()));
                self.checker.node_up_from_opaque(i, snapshot, &entries)
            }
            Err(detail) => self.checker.runtime_contract(i, detail),
        }
        self.finish(Some(i), Effects::default(), EventKind::Restart, None, None);
    }

    /// Sets the link between `a` and `b` (both directions).
    pub fn set_link(&mut self, a: usize, b: usize, up: bool) {
        self.net.set_link(a, b, up);
        self.net.set_link(b, a, up);
    }

    /// Sets one direction of a link (asymmetric partitions).
    pub fn set_link_one_way(&mut self, from: usize, to: usize, up: bool) {
        self.net.set_link(from, to, up);
    }

    /// Records a connectivity change made by the set_link calls before it.
    pub fn note_links(&mut self, detail: impl Into<String>) {
        self.finish(
            None,
            Effects::default(),
            EventKind::Link,
            None,
            Some(detail.into()),
        );
    }

    /// Records a partition made by the set_link calls before it (`group[i]`: position `i`'s
    /// side) as `partition s1 s3 | s2`, the sides by node id.
    pub fn note_partition(&mut self, group: &[usize]) {
        let mut sides: Vec<(usize, Vec<String>)> = Vec::new();
        for (i, &g) in group.iter().enumerate() {
            let id = format!("s{}", self.nodes[i].id);
            match sides.iter_mut().find(|(s, _)| *s == g) {
                Some((_, ids)) => ids.push(id),
                None => sides.push((g, vec![id])),
            }
        }
        let sides: Vec<String> = sides.into_iter().map(|(_, ids)| ids.join(" ")).collect();
        self.note_links(format!("partition {}", sides.join(" | ")));
    }

    fn relink(&mut self, i: usize) {
        for j in 0..self.nodes.len() {
            if j != i {
                let up = self.connected[i] && self.connected[j];
                self.set_link(i, j, up);
            }
        }
    }

    /// 6.824 `disconnect(i)`: cut `i` off from everyone.
    pub fn disconnect(&mut self, i: usize) {
        self.connected[i] = false;
        self.relink(i);
        self.note_links(format!("disconnect {}", self.nodes[i].id));
    }

    /// 6.824 `connect(i)`: reconnect `i` to every connected server.
    pub fn connect(&mut self, i: usize) {
        self.connected[i] = true;
        self.relink(i);
        self.note_links(format!("connect {}", self.nodes[i].id));
    }

    pub fn is_connected(&self, i: usize) -> bool {
        self.connected[i]
    }

    /// 6.824 `setunreliable`: drop 10%, duplicate 5%, delay up to 27 ms.
    pub fn set_unreliable(&mut self, on: bool) {
        self.net.unreliable = on;
        let d = format!("unreliable={on}");
        self.finish(None, Effects::default(), EventKind::Network, None, Some(d));
    }

    /// 6.824 `setlongreordering`: hold back most responses for 200 ms - 2.2 s.
    pub fn set_long_reordering(&mut self, on: bool) {
        self.net.long_reordering = on;
        let d = format!("long_reordering={on}");
        self.finish(None, Effects::default(), EventKind::Network, None, Some(d));
    }

    /// Total requests (RequestVote + AppendEntries) sent so far.
    pub fn rpc_count(&self) -> u64 {
        self.net.rpc_count
    }

    /// Requests sent by node `i`.
    pub fn rpc_count_of(&self, i: usize) -> u64 {
        self.net.rpc_count_by[i]
    }

    /// Estimated bytes of all requests sent so far (see [`crate::network::wire_size`]).
    pub fn rpc_bytes(&self) -> u64 {
        self.net.rpc_bytes
    }
}

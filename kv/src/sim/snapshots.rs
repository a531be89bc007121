//! The KV servers' snapshots in the simulated cluster (§7, 6.824 Lab 3B): restoring a server
//! from the snapshots its node hands it, and snapshotting once the node's Raft state reaches
//! [`KvSimConfig::max_raft_state`](super::KvSimConfig::max_raft_state).

use raft_sim::ApplyMsg;

use super::{KvSim, ServiceFault, Token};
use crate::server::Reply;

impl KvSim {
    /// Snapshots server `i` took of its state machine (all incarnations).
    pub fn snapshots_taken(&self, i: usize) -> u64 {
        self.snapshots_taken[i]
    }
    /// Snapshots server `i`'s state machine was restored from: a leader's (InstallSnapshot)
    /// or its own durable one at restart (all incarnations).
    pub fn snapshots_restored(&self, i: usize) -> u64 {
        self.snapshots_restored[i]
    }

    /// Log entries handed to server `i` since it last (re)started: after a restart, only
    /// those after its snapshot.
    pub fn entries_applied(&self, i: usize) -> u64 {
        self.entries_applied[i]
    }

    /// Hands one committed entry or snapshot to server `i`.
    pub(super) fn apply(&mut self, i: usize, msg: ApplyMsg) -> Vec<(Token, Reply)> {
        match msg {
            ApplyMsg::Command { index, data, .. } => {
                self.entries_applied[i] += 1;
                self.servers[i]
                    .on_applied(index, &data)
                    .into_iter()
                    .collect()
            }
            ApplyMsg::Snapshot { meta, data } => {
                let lii = meta.last_included_index;
                match self.servers[i].on_snapshot(&data) {
                    Ok(failed) if self.servers[i].state_machine().last_applied() == lii => {
                        self.snapshots_restored[i] += 1;
                        failed
                    }
                    Ok(_) => {
                        let at = self.servers[i].state_machine().last_applied();
                        let e = format!("server {i}: snapshot at {lii} restored a state at {at}");
                        self.service_error.get_or_insert(e);
                        Vec::new()
                    }
                    Err(e) => {
                        let e = format!("server {i}: snapshot at {lii} unreadable: {e}");
                        self.service_error.get_or_insert(e);
                        Vec::new()
                    }
                }
            }
        }
    }

    /// 6.824 Lab 3B: once node `i`'s Raft state reaches `max_raft_state`, its server
    /// snapshots everything it applied (map and session table) and the core compacts (§7).
    pub(super) fn maybe_snapshot(&mut self, i: usize) {
        let Some(max) = self.cfg.max_raft_state else {
            return;
        };
        if !self.cluster.is_up(i) || self.cluster.raft_state_size(i) < max {
            return;
        }
        let sm = self.servers[i].state_machine();
        let index = sm.last_applied();
        // Nothing applied since the last snapshot: compacting again would not shrink the log.
        if index < self.cluster.first_index(i) {
            return;
        }
        let data = if self.cfg.fault == Some(ServiceFault::SnapshotWithoutSessions) {
            sm.snapshot_without_sessions()
        } else {
            sm.snapshot()
        };
        match self.cluster.snapshot(i, index, data) {
            Ok(()) => self.snapshots_taken[i] += 1,
            Err(e) => {
                self.service_error.get_or_insert(format!("server {i}: {e}"));
            }
        }
    }
}

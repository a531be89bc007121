//! Shared setup for the simulated-cluster tests (6.824 `make_config`).
#![allow(dead_code)]

use raft_impl::core::Config;
use raft_impl::types::NodeId;
use raft_sim::{Cluster, SimConfig};

/// The production core config without the leader's no-op: the 6.824 scenarios expect a
/// client command's log index to count client commands only.
pub fn lab_config(id: NodeId, peers: Vec<NodeId>, seed: u64) -> Config {
    Config {
        leader_noop: false,
        ..Config::production(id, peers, seed)
    }
}

/// A reliable cluster of `servers` nodes with the production core config (no no-op).
pub fn make_cluster(servers: usize, seed: u64) -> Cluster {
    Cluster::new(SimConfig {
        core_config: lab_config,
        ..SimConfig::new(servers, seed)
    })
}

/// Like [`make_cluster`], with the network unreliable from the start.
pub fn make_unreliable(servers: usize, seed: u64) -> Cluster {
    let mut c = make_cluster(servers, seed);
    c.set_unreliable(true);
    c
}

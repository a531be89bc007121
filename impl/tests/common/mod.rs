//! Shared setup for the simulated-cluster tests (6.824 `make_config`).
#![allow(dead_code)]

use raft_impl::sim::{Cluster, SimConfig};

/// A reliable cluster of `servers` nodes with the production core config.
pub fn make_cluster(servers: usize, seed: u64) -> Cluster {
    Cluster::new(SimConfig::new(servers, seed))
}

/// Like [`make_cluster`], with the network unreliable from the start.
pub fn make_unreliable(servers: usize, seed: u64) -> Cluster {
    let mut c = make_cluster(servers, seed);
    c.set_unreliable(true);
    c
}

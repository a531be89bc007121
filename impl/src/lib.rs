//! `raft-impl`: the production Raft of this project.
//!
//! - [`types`]: the vocabulary (entries, terms, indices, hard state).
//! - [`storage`]: the storage trait, an in-memory store and a durable file store.
//! - [`core`]: the deterministic, sans-IO Raft node.
//! - [`sim`]: a deterministic simulated cluster with invariant checks (tests, soak).

pub mod core;
pub mod sim;
pub mod storage;
pub mod types;

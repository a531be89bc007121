//! `raft-impl`: the production Raft of this project.
//!
//! - [`types`]: the vocabulary (entries, terms, indices, hard state).
//! - [`storage`]: the storage trait, an in-memory store and a durable file store.
//! - [`core`]: the deterministic, sans-IO Raft node.
//! - `testing` (feature `testing`): builders, a scripted network and golden scripts for tests
//!   of code that uses the core.
//!
//! The simulated cluster that tests all three lives in its own crate, `raft-sim` (`sim/`).

pub mod core;
pub mod storage;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod types;

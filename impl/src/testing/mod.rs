//! A testing surface for users of [`RawNode`](crate::core::RawNode), behind the `testing`
//! feature (the product build does not contain it).
//!
//! - [`build`]: entries and messages that read like the paper
//!   (`env(2, 1, append(2).prev(1, 1).entries(entries_from(2, &[2])).commit(1))`);
//! - [`network`]: a scripted cluster of nodes over `MemStorage`: deliver or drop one chosen
//!   message, crash and restart from what was durable, partition, make a leader by real
//!   elections, and read queued messages without side effect;
//! - [`format`]: stable one-line text for messages and node state;
//! - [`script`]: golden interaction scripts (`testdata/*.txt`) run on a [`Network`].
//!
//! See `docs/testing.md`.

pub mod build;
pub mod format;
pub mod network;
pub mod script;

pub use build::*;
pub use network::{Delivery, Network};

//! `raft-kv`: a replicated key/value service (Put, Append, Get on string keys) over
//! `raft-impl`, in the shape of MIT 6.824 Lab 3. See `docs/kv-service.md`.
//!
//! - [`command`]: operations, client sessions' commands, their versioned log encoding.
//! - [`state_machine`]: the map plus the session table; duplicates are detected at apply time.
//! - [`snapshot`]: the state machine's snapshot bytes (map and session table, checksummed).
//! - [`server`]: the sans-IO service layer (state machine + requests waiting on log indices).
//! - [`reads`]: Gets by ReadIndex (`ReadMode`), waiting for confirmation and then apply.
//! - [`clerk`]: the client: leader finding, retries with backoff, exactly-once sessions.
//! - [`history`]: linearizability checking of client histories with stateright.
//! - [`net`]: the real-network runtime: TCP framing, the node (tokio + a node-loop thread
//!   with `FileStorage`), the Clerk's TCP transport.
//! - [`sim`]: a deterministic KV cluster on `raft_sim` with simulated clients.

pub mod clerk;
pub mod command;
pub mod cow_map;
pub mod history;
pub mod net;
pub mod reads;
pub mod server;
pub mod sim;
pub mod snapshot;
pub mod state_machine;

pub use clerk::{Clerk, ClerkConfig, ClerkCore, ClerkError, Transport, TransportError};
pub use command::{ClientId, Command, Op, OpResult, Seq};
pub use reads::ReadMode;
pub use server::{KvServer, Proposer, Reply, ServerError};

//! The deterministic, sans-IO Raft core.
//!
//! [`RawNode`] holds one server's Figure 2 state and reacts to inputs; it has
//! no clock, thread, socket or global randomness. A runtime drives it:
//!
//! ```text
//! loop {
//!     node.tick()                          // every tick of logical time
//!     node.step(envelope)?                 // every message received
//!     node.propose(data)?; ...             // a batch of commands, then
//!     node.replicate_now()?                //   send them
//!     if node.has_ready() {
//!         let rd = node.ready();
//!         persist(rd.snapshot, rd.hard_state, rd.truncate_from, &rd.entries); // durable!
//!         send(&rd.messages);              // only after persisting
//!         if rd.restore_snapshot { restore(rd.snapshot) }
//!         apply(&rd.committed_entries);
//!         node.advance(rd);
//!     }
//! }
//! ```
//!
//! Module map (after etcd-io/raft; the imports between modules have no
//! cycle, and only the modules that add to `node` import it):
//! - `node`: state, inputs, outputs, the three role transitions;
//!   `step` (message handling per role), `replicate` (leader sending, commit
//!   rule, ReadIndex confirmation), `snapshot` (compaction and
//!   InstallSnapshot, §7), `prevote` (thesis §9.6), `checkquorum` (thesis
//!   §6.2), `transfer` (leadership transfer, thesis §3.10), `durable`
//!   (parallel leader writes) and `invariants` add to it;
//! - `role`: what only the current role holds (follower's leader,
//!   candidate's votes, leader's progress, pending reads and transfer);
//! - pure types: `log`, `progress` (per-follower flow control), `assembly`
//!   (a follower's snapshot chunks), `read_index`
//!   (a leader's ReadIndex reads), `quorum` (majority arithmetic);
//! - `validate` (malformed-input checks), `ready`, `status`, `config`,
//!   `message`, `error`;
//! - `mutation`: the catalog bugs, for mutation testing only; the product's
//!   `RawNode<Correct>` compiles every hook away.

mod assembly;
mod checkquorum;
mod config;
mod durable;
mod error;
mod invariants;
mod log;
mod message;
mod mutation;
mod node;
mod prevote;
mod progress;
mod quorum;
mod read_index;
mod ready;
mod replicate;
mod role;
mod snapshot;
mod status;
mod step;
mod transfer;
mod validate;

#[cfg(test)]
mod tests;

pub use config::{Config, ConfigError};
pub use error::{CompactError, InitError, InvalidMessage, NotLeader, ProposeError, TransferError};
pub use message::{
    AppendEntries, AppendEntriesResponse, ConflictHint, Envelope, InstallSnapshot,
    InstallSnapshotResponse, Message, RequestVote, RequestVoteResponse, TimeoutNow,
};
pub use mutation::{Correct, Mutation, Mutator};
pub use node::RawNode;
pub use progress::{ProgressState, SnapshotTransfer};
pub use quorum::{committed_index, majority};
pub use read_index::ReadState;
pub use ready::Ready;
pub use status::{PeerProgress, Role, Status};

//! `raft-sim`: a deterministic, seeded discrete-event simulator of a `raft-impl` cluster, for
//! tests, the `raft-sim` soak binary and trace validation (conformance mode). It is test
//! machinery, kept out of the product crate. See `docs/simulator.md`.
//!
//! - [`Cluster`]: simulated clock and event queue, nodes (core + [`MemStorage`] + a runtime
//!   that follows the Ready contract), a faulty network, crashes and restarts, invariant checks
//!   after every event, and an optional event [`Trace`].
//! - `harness`: the MIT 6.824 test API on [`Cluster`] (`one`, `check_one_leader`, ...).
//! - [`invariants`]: the Figure 3 safety properties, written independently of the core.
//! - `leadership`: operator leadership transfers, and counts of elections started and won.
//! - [`clients`]: simulated clients that keep proposing (churn tests, soak).
//! - [`soak`]: random fault schedules with a liveness check, one seed at a time.
//! - [`state_machine`]: the simulated state machine's snapshot bytes and the compaction
//!   policy ([`SnapshotPolicy`]).
//! - [`timeline`]: a recorded run as an HTML page, one lane per node over simulated time.
//!
//! [`MemStorage`]: raft_impl::storage::MemStorage

mod cluster;
mod compaction;
mod error;
mod faults;
mod harness;
mod leadership;
mod network;
mod node;
mod record;
mod schedule;

pub mod clients;
pub mod conformance;
pub mod invariants;
pub mod soak;
pub mod state_machine;

pub mod steps;
pub mod timeline;
pub mod trace;

pub use cluster::{derive_seed, Cluster, SimConfig, MS, SEC};
pub use error::{SimError, Violation};
pub use harness::{cmd, ELECTION_TIMEOUT};
pub use invariants::{Checker, Finding, Invariant};
pub use leadership::{production_with, CoreConfigFn, ElectionCount};
pub use network::{wire_size, NetConfig};
pub use node::{CrashMode, RuntimeFault};
pub use schedule::Scheduled;
pub use state_machine::{ApplyMsg, SnapshotPolicy, StateMachineOwner};
pub use steps::{NodeState, Step, StepAction, StepTrace};
pub use trace::{EventKind, MsgBody, MsgSummary, NodeObs, Trace, TraceEvent};

//! `raft-model`: an exhaustive stateright model of Raft.
//!
//! - [`state`]: Figure 2 state, the network, and history variables.
//! - [`message`]: the four Figure 2 messages and their envelope.
//! - [`raft`]: the actions and what each does (the protocol).
//! - [`history`]: the history variables, computed from the states before
//!   and after each step (shared with conformance).
//! - [`properties`]: Figure 3 properties, project invariants, sanity checks.
//! - [`config`]: bounds, fault budgets, the bug catalog and proposed fixes.
//! - [`symmetry`]: reduction over server identities.
//! - [`search`]: the stateright adapter and running the checker with
//!   progress and a verdict.
//! - [`trace`]: readable step tables and the JSON (ITF) trace format.
//! - [`replay`]: re-checking a saved trace against a model.

pub mod config;
pub mod history;
pub mod message;
pub mod properties;
pub mod raft;
pub mod replay;
pub mod search;
pub mod state;
pub mod symmetry;
pub mod trace;

pub use config::{Bug, Config, Fix};
pub use raft::RaftModel;
pub use state::{Action, State};

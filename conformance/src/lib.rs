//! `raft-conformance`: does the Raft core (`raft-impl`) do what the Raft
//! model (`raft-model`) says, step for step?
//!
//! - [`mapping`]: the one module that knows both sides: actions to core
//!   inputs, messages both ways, the abstraction function.
//! - [`cluster`]: N core nodes, in-memory storage, the harness's message bag.
//! - [`replay`]: lockstep replay with one verdict per step.
//! - [`observe`]: history variables, so the model's invariants can be
//!   evaluated on the core.
//! - [`coverage`], [`walks`], [`catalog`]: the generated suite's traces.
//! - [`suite`]: running the suite with progress and a summary line.
//! - [`fixcheck`]: replaying a saved counterexample on the core; [`divergence_html`]: the
//!   page `replay --html` writes (the model's diagram, the divergent step side by side).
//! - [`simvalidate`], [`validate`]: the other direction, simulator runs (and runs of
//!   the harness's own random driver) checked against the model.
//!
//! Each catalog bug can be switched on as a [`Mutant`]: a core mutation
//! ([`Mutation`], in a node of type `RawNode<Option<Mutation>>`), a change in
//! the harness's application, or both, to show the suite detects it; the
//! product's `RawNode` (`RawNode<Correct>`) carries no mutation code.

pub mod catalog;
pub mod cluster;
pub mod coverage;
pub mod divergence_html;
pub mod fixcheck;
pub mod mapping;
pub mod observe;
pub mod replay;
pub mod simvalidate;
pub mod suite;
pub mod validate;
pub mod walks;

pub use mapping::Mutant;
pub use raft_impl::core::Mutation;

/// A behaviour of the model: its states and the action taken between each
/// pair (`actions.len() + 1 == states.len()`).
#[derive(Clone, Debug)]
pub struct Behaviour {
    pub states: Vec<raft_model::State>,
    pub actions: Vec<raft_model::Action>,
}

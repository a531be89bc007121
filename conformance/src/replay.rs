//! Lockstep replay: the core follows a model behaviour step by step, and
//! every step gets one verdict.
//!
//! For a model step `prev --action--> next` the harness applies the action's
//! input to the core, then compares
//! - every node's abstract state with `next.servers` (on the fields of
//!   [`mapping::comparable`]): `incorrect-state`;
//! - the bag of in-flight messages with `next.network`, which after a
//!   matching history is the same as comparing the messages the core emitted
//!   with those the model added: `missing-message` / `unexpected-message`.
//!
//! `not-enabled` is decided on the model side alone ([`model_allows`]): the
//! step is not a behaviour of the model the trace claims to come from.

use crate::cluster::Cluster;
use crate::mapping::{self, MapError};
use crate::observe::Observer;
use crate::Mutant;
use raft_model::properties::violated;
use raft_model::state::{Envelope, Server, State};
use raft_model::trace::table::{action_text, envelope_text, multiset_minus, server_fields};
use raft_model::{Action, Config, RaftModel};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    IncorrectState,
    MissingMessage,
    UnexpectedMessage,
    NotEnabled,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::IncorrectState => "incorrect-state",
            Verdict::MissingMessage => "missing-message",
            Verdict::UnexpectedMessage => "unexpected-message",
            Verdict::NotEnabled => "not-enabled",
        }
    }
}

/// The first step at which the core and the model disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The step number: the state reached by the `step`-th action (1-based;
    /// 0 is the initial state).
    pub step: usize,
    pub verdict: Verdict,
    /// The action taken at this step (None for the initial state).
    pub action: Option<Action>,
    /// One line per differing field or message.
    pub details: Vec<String>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {}: {}", self.step, self.verdict.name())?;
        if let Some(a) = &self.action {
            write!(f, " after `{}`", action_text(a))?;
        }
        for d in &self.details {
            write!(f, "\n    {d}")?;
        }
        Ok(())
    }
}

/// The divergence with the actions that led to it, for people.
pub fn render(div: &Divergence, prefix: &[Action]) -> String {
    let mut out = format!(
        "first divergence at {div}\n  trace prefix ({} steps):\n",
        prefix.len()
    );
    for (k, a) in prefix.iter().enumerate() {
        out.push_str(&format!("    {:>3}. {}\n", k + 1, action_text(a)));
    }
    out
}

/// Checks on the model alone that `prev --action--> next` is a step of `model`.
pub fn model_allows(
    model: &RaftModel,
    prev: &State,
    action: &Action,
    next: &State,
) -> Result<(), String> {
    let mut enabled = Vec::new();
    model.actions(prev, &mut enabled);
    if !enabled.contains(action) {
        return Err(format!(
            "`{}` is not enabled in the model",
            action_text(action)
        ));
    }
    match model.next_state(prev, action) {
        None => Err(format!(
            "`{}` is not enabled in the model",
            action_text(action)
        )),
        Some(s) if s != *next => Err(format!(
            "the model's successor differs from the trace's: {}",
            raft_model::trace::table::state_diff(next, &s).join("; ")
        )),
        Some(_) => Ok(()),
    }
}

/// A core cluster following a model behaviour.
pub struct Replay {
    cluster: Cluster,
    observer: Option<Observer>,
    servers: Vec<Server>,
    step: usize,
}

impl Replay {
    /// `invariants`: also keep the history needed to evaluate the model's
    /// invariants on the core ([`Replay::violations`]); costs a little time.
    pub fn new(config: &Config, mutation: Option<Mutant>, invariants: bool) -> Replay {
        let cluster = Cluster::new(config, mutation);
        let servers = cluster
            .abstract_servers()
            .expect("a fresh node is always representable in the model");
        Replay {
            observer: invariants.then(|| Observer::new(&servers)),
            cluster,
            servers,
            step: 0,
        }
    }

    /// Checks the core's initial state against the behaviour's first state.
    pub fn start(&mut self, init: &State) -> Result<(), Divergence> {
        self.compare(init, None, &[], None)
    }

    /// Replays one model step on the core and compares the results.
    pub fn step(&mut self, action: &Action, next: &State) -> Result<(), Divergence> {
        self.step += 1;
        let effect = self.cluster.apply(action);
        let servers = match self.cluster.abstract_servers() {
            Ok(s) => s,
            Err(MapError(e)) => {
                return Err(Divergence {
                    step: self.step,
                    verdict: Verdict::IncorrectState,
                    action: Some(action.clone()),
                    details: vec![format!("the core's state has no model counterpart: {e}")],
                })
            }
        };
        if let Some(o) = &mut self.observer {
            o.observe(action, &servers, self.cluster.network());
        }
        self.servers = servers;
        let mut notes: Vec<String> = effect
            .unmappable
            .iter()
            .map(|u| format!("unmappable message sent: {u}"))
            .collect();
        if let Some(r) = &effect.refused {
            notes.push(format!("note: {r}"));
        }
        self.compare(next, Some(action), &notes, Some(&effect.sent))
    }

    fn compare(
        &self,
        expected: &State,
        action: Option<&Action>,
        notes: &[String],
        sent: Option<&[Envelope]>,
    ) -> Result<(), Divergence> {
        let mut state_lines = Vec::new();
        for (i, (m, c)) in expected.servers.iter().zip(&self.servers).enumerate() {
            let me = i as u8;
            state_lines.extend(server_diff(
                me,
                &mapping::comparable(m, me),
                &mapping::comparable(c, me),
            ));
        }
        if expected.servers.len() != self.servers.len() {
            state_lines.push(format!(
                "servers: model has {}, core cluster has {}",
                expected.servers.len(),
                self.servers.len()
            ));
        }
        let network = self.cluster.network();
        let missing = multiset_minus(&expected.network, &network);
        let mut unexpected: Vec<String> = multiset_minus(&network, &expected.network)
            .iter()
            .map(|m| format!("unexpected: {}", envelope_text(m)))
            .collect();
        unexpected.extend(
            notes
                .iter()
                .filter(|n| n.starts_with("unmappable"))
                .cloned(),
        );
        let verdict = if !state_lines.is_empty() {
            Verdict::IncorrectState
        } else if !missing.is_empty() {
            Verdict::MissingMessage
        } else if !unexpected.is_empty() {
            Verdict::UnexpectedMessage
        } else {
            return Ok(());
        };
        let mut details = state_lines;
        details.extend(
            missing
                .iter()
                .map(|m| format!("missing: {} (the model sent it)", envelope_text(m))),
        );
        details.extend(unexpected);
        if let Some(sent) = sent {
            let sent: Vec<String> = sent.iter().map(envelope_text).collect();
            details.push(format!("the core sent at this step: [{}]", sent.join(", ")));
        }
        details.extend(
            notes
                .iter()
                .filter(|n| !n.starts_with("unmappable"))
                .cloned(),
        );
        Err(Divergence {
            step: self.step,
            verdict,
            action: action.cloned(),
            details,
        })
    }

    /// The invariants the core's abstract state (with its observed history)
    /// violates now. Empty unless built with `invariants`.
    pub fn violations(&self) -> Vec<&'static str> {
        match &self.observer {
            Some(o) => violated(o.state()),
            None => Vec::new(),
        }
    }

    /// The core's abstract servers after the last step.
    pub fn servers(&self) -> &[Server] {
        &self.servers
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }
}

/// Field-by-field differences of server `me`, model first.
pub fn server_diff(me: u8, model: &Server, core: &Server) -> Vec<String> {
    server_fields(model)
        .into_iter()
        .zip(server_fields(core))
        .filter(|((_, m), (_, c))| m != c)
        .map(|((name, m), (_, c))| format!("s{me}.{name}: model {m}, core {c}"))
        .collect()
}

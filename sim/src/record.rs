//! Recording the [`StepTrace`] of a conformance-mode run: how each simulator event becomes
//! protocol steps (see [`crate::steps`] for the rules).

use crate::cluster::Cluster;
use crate::steps::{NodeState, StepAction, StepTrace};
use crate::trace::EventKind;
use raft_impl::core::{Envelope, Role};

impl Cluster {
    /// Every node's observable state now (a crashed node: what it will restart with).
    pub(crate) fn node_states(&self) -> Vec<NodeState> {
        self.nodes
            .iter()
            .map(|n| match &n.raw {
                Some(raw) => NodeState::of_status(&raw.status()),
                None => NodeState::durable(n.id, &n.storage),
            })
            .collect()
    }

    /// The step trace recorded so far (`None` unless [`SimConfig::conformance`]).
    ///
    /// [`SimConfig::conformance`]: crate::SimConfig::conformance
    pub fn step_trace(&self) -> Option<StepTrace> {
        let rec = self.steps.as_ref()?;
        Some(StepTrace {
            seed: self.seed(),
            servers: self.servers(),
            initial: rec.initial.clone(),
            steps: rec.steps.clone(),
        })
    }

    /// Steps recorded so far (0 unless in conformance mode).
    pub fn steps_recorded(&self) -> usize {
        self.steps.as_ref().map_or(0, |r| r.steps.len())
    }

    /// The end of an event at node `p` that sent `sent` (its messages are about to be routed):
    /// records it as the action it was, or elides it if it changed nothing.
    pub(crate) fn record_event(&mut self, p: usize, kind: EventKind, sent: &[Envelope]) {
        let nodes = self.node_states();
        let (event, now, id) = (self.events(), self.now(), self.id(p));
        let Some(rec) = self.steps.as_mut() else {
            return;
        };
        let pending = rec.pending.take();
        let tick_term = rec.tick_term.take();
        let action = match kind {
            // The core's `tick` fires at most one timer; which one shows in what it did.
            EventKind::Tick => {
                let now_state = &nodes[p];
                if tick_term.is_some_and(|t| now_state.current_term > t) {
                    Some(StepAction::ElectionTimeout(id))
                } else if now_state.role == Role::Leader && !sent.is_empty() {
                    Some(StepAction::Heartbeat(id))
                } else {
                    None
                }
            }
            EventKind::Deliver | EventKind::Propose => pending,
            // A crash loses the volatile state now; the restart later changes nothing more.
            EventKind::Crash | EventKind::CrashDuringSync => Some(StepAction::Restart(id)),
            _ => None,
        };
        let action = match action {
            Some(a) => a,
            None if sent.is_empty() && !rec.changed(&nodes) => return,
            None => StepAction::Unexplained {
                kind: format!("{kind:?}"),
                node: Some(id),
            },
        };
        rec.bag.extend(sent.iter().cloned());
        rec.push(event, now, action, nodes);
    }

    /// The network decided the fate of `env`, already in the bag: lost, or delivered twice.
    pub(crate) fn record_fate(&mut self, env: &Envelope, delivered: bool, duplicated: bool) {
        if !delivered {
            self.record_loss(env.clone());
        } else if duplicated {
            let nodes = self.node_states();
            let (event, now) = (self.events(), self.now());
            let Some(rec) = self.steps.as_mut() else {
                return;
            };
            rec.bag.push(env.clone());
            rec.push(event, now, StepAction::Duplicate(env.clone()), nodes);
        }
    }

    /// One copy of `env` is lost (at send, or on arrival over a cut link or at a crashed node).
    pub(crate) fn record_loss(&mut self, env: Envelope) {
        if self.steps.is_none() {
            return;
        }
        let nodes = self.node_states();
        let (event, now) = (self.events(), self.now());
        let rec = self.steps.as_mut().expect("checked");
        rec.take(&env);
        rec.push(event, now, StepAction::Drop(env), nodes);
    }
}

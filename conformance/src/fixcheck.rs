//! Replaying a saved trace on the core, with the model's invariants
//! evaluated on the core's abstract state after every step.
//!
//! This is how a proposed fix is checked: a counterexample of the buggy
//! model (`raft-model check --bug X --trace-out t.json`) replayed on a core
//! carrying the same bug reproduces the violation; replayed on the fixed
//! core, it departs from the trace at the step the fix changes, and the
//! report says whether any invariant broke before that.

use crate::replay::{model_allows, render, Divergence, Replay, Verdict};
use crate::Mutant;
use raft_model::state::{Envelope, Server};
use raft_model::trace::TraceFile;
use raft_model::{Action, RaftModel};

#[derive(Clone, Debug)]
pub struct TraceReport {
    /// Actions in the trace.
    pub steps: usize,
    /// Steps the core followed (all of them when `divergence` is None).
    pub followed: usize,
    pub divergence: Option<Divergence>,
    /// The first step at which the core's abstract state violates an
    /// invariant, with the invariants, if any (up to and including the
    /// divergent step).
    pub violation: Option<(usize, Vec<&'static str>)>,
    /// The violation the trace was saved for, if it is a counterexample.
    pub trace_violation: Option<String>,
    pub prefix: Vec<Action>,
    /// The core's abstract servers and in-flight messages at the divergent step (for the
    /// side-by-side view, [`crate::divergence_html`]).
    pub core_at_divergence: Option<(Vec<Server>, Vec<Envelope>)>,
}

impl TraceReport {
    /// The exit status of `replay`: for a counterexample, 1 when the core
    /// reproduces a violation; for any other trace, 1 when the core departs.
    pub fn failed(&self) -> bool {
        let not_a_behaviour =
            matches!(&self.divergence, Some(d) if d.verdict == Verdict::NotEnabled);
        match self.trace_violation {
            Some(_) => self.violation.is_some() || not_a_behaviour,
            None => self.divergence.is_some() || self.violation.is_some(),
        }
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        if let Some(d) = &self.divergence {
            out.push_str(&render(d, &self.prefix));
            if d.verdict == Verdict::NotEnabled {
                out.push_str(&format!(
                    "the trace is not a behaviour of its own model at step {}: nothing to replay beyond it\n",
                    d.step
                ));
            } else {
                out.push_str(&format!(
                    "the implementation departs from the trace at step {} of {} ({})\n",
                    d.step,
                    self.steps,
                    d.verdict.name()
                ));
            }
        } else {
            out.push_str(&format!(
                "the implementation follows all {} steps of the trace\n",
                self.steps
            ));
        }
        match &self.violation {
            Some((k, names)) => out.push_str(&format!(
                "violation reproduced at step {k}: {}\n",
                names.join(", ")
            )),
            None => out.push_str(&format!(
                "no invariant broke in the implementation in steps 0..={}\n",
                self.divergence.as_ref().map_or(self.steps, |d| d.step)
            )),
        }
        if let Some(v) = &self.trace_violation {
            out.push_str(&format!(
                "(the trace was saved as a counterexample to {v})\n"
            ));
        }
        out
    }
}

/// Replays `trace` on a core (carrying `mutation`, if any). The trace's own
/// model (its config, bugs included) decides `not-enabled`.
pub fn replay_trace(trace: &TraceFile, mutation: Option<Mutant>) -> TraceReport {
    let model = RaftModel::new(trace.config.clone());
    let steps = trace.steps.len() - 1;
    let mut report = TraceReport {
        steps,
        followed: 0,
        divergence: None,
        violation: None,
        trace_violation: trace.violation.clone(),
        prefix: Vec::new(),
        core_at_divergence: None,
    };
    let init = &trace.steps[0].0;
    if *init != model.init_state() {
        report.divergence = Some(Divergence {
            step: 0,
            verdict: Verdict::NotEnabled,
            action: None,
            details: vec!["the trace's first state is not the model's initial state".into()],
        });
        return report;
    }
    let mut r = Replay::new(&trace.config, mutation, true);
    if let Err(d) = r.start(init) {
        report.divergence = Some(d);
        return report;
    }
    note(&mut report, 0, &r);
    for k in 1..=steps {
        let (prev, action) = (&trace.steps[k - 1].0, &trace.steps[k - 1].1);
        let next = &trace.steps[k].0;
        let Some(action) = action else {
            report.divergence = Some(not_enabled(
                k,
                None,
                "the trace has no action for this step".into(),
            ));
            return report;
        };
        report.prefix.push(action.clone());
        if let Err(why) = model_allows(&model, prev, action, next) {
            report.divergence = Some(not_enabled(k, Some(action.clone()), why));
            return report;
        }
        let stepped = r.step(action, next);
        note(&mut report, k, &r);
        if let Err(d) = stepped {
            report.core_at_divergence = Some((r.servers().to_vec(), r.cluster().network()));
            report.divergence = Some(d);
            return report;
        }
        report.followed = k;
    }
    report
}

fn note(report: &mut TraceReport, step: usize, r: &Replay) {
    if report.violation.is_none() {
        let v = r.violations();
        if !v.is_empty() {
            report.violation = Some((step, v));
        }
    }
}

fn not_enabled(step: usize, action: Option<Action>, why: String) -> Divergence {
    Divergence {
        step,
        verdict: Verdict::NotEnabled,
        action,
        details: vec![why],
    }
}

//! Re-checking a saved trace against a (possibly different) model: is it
//! still a behaviour of that model, and does it still end in a violation?

use crate::properties::violated;
use crate::raft::RaftModel;
use crate::state::State;
use crate::trace::table::{action_text, state_diff};
use crate::trace::TraceFile;

/// Where and why the trace stops being a behaviour of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    pub step: usize,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayReport {
    pub steps: usize,
    /// None: every step of the trace is a behaviour of the model.
    pub divergence: Option<Divergence>,
    /// The first step whose state violates an invariant, with the
    /// invariants it violates.
    pub violation: Option<(usize, Vec<&'static str>)>,
}

impl ReplayReport {
    /// Steps replayed successfully (the trace prefix that is a behaviour).
    pub fn replayed(&self) -> usize {
        self.divergence.as_ref().map_or(self.steps, |d| d.step)
    }

    pub fn summary(&self) -> String {
        let mut out = String::new();
        match &self.divergence {
            None => out.push_str(&format!(
                "behaviour: yes: all {} steps are a behaviour of this model\n",
                self.steps.saturating_sub(1)
            )),
            Some(d) => out.push_str(&format!(
                "behaviour: no: the trace stops being a behaviour of this model at step {}: {}\n",
                d.step, d.reason
            )),
        }
        match &self.violation {
            Some((k, names)) => {
                out.push_str(&format!("violation: {} at step {k}\n", names.join(", ")))
            }
            None => out.push_str(&format!(
                "violation: none: no invariant is violated in steps 0..={}\n",
                self.replayed().saturating_sub(1)
            )),
        }
        out
    }
}

/// Replays `trace` step by step in `model`, from the model's initial state.
pub fn replay(model: &RaftModel, trace: &TraceFile) -> ReplayReport {
    let steps = trace.steps.len();
    let mut report = ReplayReport {
        steps,
        divergence: None,
        violation: None,
    };
    let diverge = |step: usize, reason: String| Some(Divergence { step, reason });
    let mut state = model.init_state();
    if state != trace.steps[0].0 {
        report.divergence = diverge(0, differs(&trace.steps[0].0, &state));
        return report;
    }
    note_violation(&mut report, 0, &state);
    for k in 1..steps {
        let Some(action) = &trace.steps[k - 1].1 else {
            report.divergence = diverge(k, "the trace has no action for this step".into());
            return report;
        };
        let Some(next) = model.next_state(&state, action) else {
            report.divergence = diverge(k, format!("`{}` is not enabled", action_text(action)));
            return report;
        };
        if !model.within_bounds(&next) {
            report.divergence = diverge(
                k,
                format!("`{}` leaves the model's bounds", action_text(action)),
            );
            return report;
        }
        if next != trace.steps[k].0 {
            report.divergence = diverge(
                k,
                format!(
                    "after `{}`: {}",
                    action_text(action),
                    differs(&trace.steps[k].0, &next)
                ),
            );
            return report;
        }
        note_violation(&mut report, k, &next);
        state = next;
    }
    report
}

fn note_violation(report: &mut ReplayReport, step: usize, state: &State) {
    if report.violation.is_none() {
        let names = violated(state);
        if !names.is_empty() {
            report.violation = Some((step, names));
        }
    }
}

fn differs(recorded: &State, model: &State) -> String {
    let lines = state_diff(recorded, model);
    format!(
        "the model's state differs from the trace's (trace -> model): {}",
        lines.join("; ")
    )
}

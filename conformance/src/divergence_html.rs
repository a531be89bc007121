//! `replay --html`: a replayed trace as one self-contained page: the model's space-time
//! diagram of the prefix the core followed (the model's own renderer), then the step where the
//! core departs side by side: every server's fields, model and core, the differing ones marked,
//! and the messages in flight on both sides.

use std::fmt::Write;

use raft_model::state::{Envelope, Server, State};
use raft_model::trace::diagram::{escape, svg};
use raft_model::trace::table::{envelope_text, multiset_minus, server_fields};
use raft_model::trace::TraceFile;

use crate::fixcheck::TraceReport;
use crate::mapping;

const STYLE: &str = "body{font-family:sans-serif;margin:16px}h1{font-size:20px}h1.departs{color:#900}\
h1.follows{color:#060}.config{font-family:monospace;color:#555}table.side{border-collapse:collapse;margin:8px 0}\
.side td,.side th{border:1px solid #bbb;padding:3px 6px;font-family:monospace;font-size:12px;vertical-align:top}\
.side th{background:#eee}.side td.diff{background:#ffd6d6;font-weight:bold}.side td.name{background:#f6f6f6}\
ul.msgs li{font-family:monospace;font-size:12px}li.missing{color:#900}li.unexpected{color:#a60}\
.details li{font-family:monospace;font-size:12px}pre{font-size:11px}";

/// The page for `report`, the replay of `trace` on the core named `core`.
pub fn html(trace: &TraceFile, report: &TraceReport, core: &str) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">");
    let (title, class) = match &report.divergence {
        Some(d) => (
            format!(
                "the implementation ({core}) departs from the trace at step {} of {}: {}",
                d.step,
                report.steps,
                d.verdict.name()
            ),
            "departs",
        ),
        None => (
            format!(
                "the implementation ({core}) follows all {} steps",
                report.steps
            ),
            "follows",
        ),
    };
    let _ = write!(
        out,
        "<title>{}</title><style>{STYLE}</style></head><body><h1 class=\"{class}\">{}</h1>\
         <p class=\"config\">{}</p>",
        escape(&title),
        escape(&title),
        escape(&trace.config.summary())
    );
    if let Some((k, names)) = &report.violation {
        let _ = write!(
            out,
            "<p><b>Invariant broken in the implementation at step {k}:</b> {}</p>",
            escape(&names.join(", "))
        );
    }
    let shown = report
        .divergence
        .as_ref()
        .map_or(report.steps, |d| d.step.min(report.steps));
    if let (Some(d), Some((servers, network))) = (&report.divergence, &report.core_at_divergence) {
        let expected = &trace.steps[d.step].0;
        if let Some(a) = &d.action {
            let _ = write!(
                out,
                "<h2>Step {}: {}</h2>",
                d.step,
                escape(&raft_model::trace::table::action_text(a))
            );
        }
        side_by_side(&mut out, expected, servers);
        messages(&mut out, &expected.network, network);
        out.push_str("<b>What the replay reported</b><ul class=\"details\">");
        for line in &d.details {
            let _ = write!(out, "<li>{}</li>", escape(line));
        }
        out.push_str("</ul>");
    }
    // The model's diagram of the steps up to the divergence (the core followed all but the last).
    let prefix = TraceFile {
        config: trace.config.clone(),
        violation: None,
        description: trace.description.clone(),
        steps: trace.steps[..=shown].to_vec(),
    };
    let _ = write!(
        out,
        "<h2>The model's trace, steps 0 to {shown}</h2>{}",
        svg(&prefix)
    );
    out.push_str("</body></html>\n");
    out
}

/// One column pair (model, core) per server, one row per field; differing cells marked.
fn side_by_side(out: &mut String, expected: &State, core: &[Server]) {
    out.push_str("<table class=\"side\"><tr><th>field</th>");
    for i in 0..expected.servers.len() {
        let _ = write!(out, "<th>s{i} model</th><th>s{i} core</th>");
    }
    out.push_str("</tr>");
    let fields: Vec<_> = expected
        .servers
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let me = i as u8;
            let c = core.get(i).map(|c| mapping::comparable(c, me));
            (
                server_fields(&mapping::comparable(m, me)),
                c.map(|c| server_fields(&c)),
            )
        })
        .collect();
    for row in 0..fields.first().map_or(0, |f| f.0.len()) {
        let _ = write!(out, "<tr><td class=\"name\">{}</td>", fields[0].0[row].0);
        for (m, c) in &fields {
            let mv = &m[row].1;
            let cv = c.as_ref().map_or("(missing)", |c| c[row].1.as_str());
            let class = if mv == cv { "" } else { " class=\"diff\"" };
            let _ = write!(
                out,
                "<td{class}>{}</td><td{class}>{}</td>",
                escape(mv),
                escape(cv)
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

/// The messages in flight after the step: those only the model has, those only the core has.
fn messages(out: &mut String, model: &[Envelope], core: &[Envelope]) {
    let missing = multiset_minus(model, core);
    let unexpected = multiset_minus(core, model);
    let _ = write!(
        out,
        "<b>In flight after the step</b>: {} in the model, {} in the core<ul class=\"msgs\">",
        model.len(),
        core.len()
    );
    for m in &missing {
        let _ = write!(
            out,
            "<li class=\"missing\">only in the model: {}</li>",
            escape(&envelope_text(m))
        );
    }
    for m in &unexpected {
        let _ = write!(
            out,
            "<li class=\"unexpected\">only in the core: {}</li>",
            escape(&envelope_text(m))
        );
    }
    if missing.is_empty() && unexpected.is_empty() {
        out.push_str("<li>the same on both sides</li>");
    }
    out.push_str("</ul>");
}

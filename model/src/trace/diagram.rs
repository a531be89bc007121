//! A space-time diagram of a trace: one lane per server, one row per step,
//! each message an arrow from the step that sent it to the step that
//! delivered (or dropped) it. [`svg`] draws it; [`html`] wraps it in a
//! self-contained page (no script, no fetch) with the step table below.
//!
//! [`layout`] computes what is drawn (cells, arrows, the violating step)
//! without any geometry, so tests can check the structure.

use crate::properties::explain::explain;
use crate::properties::transitions::Step;
use crate::state::{Action, Envelope, Message, Role, Server, ServerId, State};
use crate::trace::table::{action_text, envelope_text, render, state_diff};
use crate::trace::TraceFile;
use std::fmt::Write;

/// What becomes of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Delivered,
    Dropped,
    /// Still in flight at the end of the trace.
    InFlight,
}

/// One message instance, from the row that sent it to the row that ended it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrow {
    pub from: ServerId,
    pub to: ServerId,
    pub sent: usize,
    /// The row that delivered or dropped it (the last row when in flight).
    pub end: usize,
    pub fate: Fate,
    /// A copy made by the network (`Duplicate`), not by its sender.
    pub duplicate: bool,
    pub msg: Envelope,
}

/// The diagram's content: `rows[k]` is the state after step k (row 0 the
/// initial state) with the action that led to it.
pub struct Layout<'a> {
    pub servers: usize,
    pub rows: Vec<(&'a State, Option<&'a Action>)>,
    pub arrows: Vec<Arrow>,
    /// The violated property, drawn on the last row.
    pub violation: Option<&'a str>,
}

/// Follows every message of `trace` from its send to its end.
pub fn layout(trace: &TraceFile) -> Layout<'_> {
    let steps = &trace.steps;
    let mut rows = vec![(&steps[0].0, None)];
    let mut arrows: Vec<Arrow> = Vec::new();
    // In-flight instances, oldest first: (message, arrow index).
    let mut pending: Vec<(Envelope, usize)> = Vec::new();
    for k in 1..steps.len() {
        let (before, action) = (&steps[k - 1].0, steps[k - 1].1.as_ref());
        let after = &steps[k].0;
        rows.push((after, action));
        let Some(action) = action else { continue };
        let mut end = |m: &Envelope, fate: Fate, arrows: &mut Vec<Arrow>| {
            if let Some(at) = pending.iter().position(|(p, _)| p == m) {
                let (_, i) = pending.remove(at);
                arrows[i].end = k;
                arrows[i].fate = fate;
            }
        };
        match action {
            Action::Deliver(m) => end(m, Fate::Delivered, &mut arrows),
            Action::Drop(m) => end(m, Fate::Dropped, &mut arrows),
            Action::Duplicate(m) => {
                pending.push((m.clone(), arrows.len()));
                arrows.push(arrow(m, k, true));
            }
            _ => {}
        }
        for m in Step::new(before, action, after).sent {
            pending.push((m.clone(), arrows.len()));
            arrows.push(arrow(m, k, false));
        }
    }
    let last = rows.len() - 1;
    for (_, i) in pending {
        arrows[i].end = last;
    }
    Layout {
        servers: steps[0].0.servers.len(),
        rows,
        arrows,
        violation: trace.violation.as_deref(),
    }
}

fn arrow(m: &Envelope, sent: usize, duplicate: bool) -> Arrow {
    Arrow {
        from: m.from,
        to: m.to,
        sent,
        end: sent,
        fate: Fate::InFlight,
        duplicate,
        msg: m.clone(),
    }
}

// ---- geometry --------------------------------------------------------------

const LABEL_W: usize = 330;
const LANE_W: usize = 230;
const HEAD_H: usize = 56;
const ROW_H: usize = 48;

fn lane_x(i: usize) -> usize {
    LABEL_W + i * LANE_W + LANE_W / 2
}

fn row_y(k: usize) -> usize {
    HEAD_H + k * ROW_H + ROW_H / 2
}

/// Escapes text for SVG and HTML: `& < > " '` (text and quoted attributes).
pub fn escape(s: &str) -> String {
    html_escape::encode_quoted_attribute(s).into_owned()
}

fn kind_class(m: &Message) -> &'static str {
    match m {
        Message::RequestVote(_) => "rv",
        Message::RequestVoteResponse(_) => "rvr",
        Message::AppendEntries(_) => "ae",
        Message::AppendEntriesResponse(_) => "aer",
        Message::InstallSnapshot(_) => "is",
        Message::InstallSnapshotResponse(_) => "isr",
        Message::PreVote(_) => "pv",
        Message::PreVoteResponse(_) => "pvr",
        Message::TimeoutNow(_) => "tn",
    }
}

/// A short arrow label: kind, term, and what matters of the payload.
fn short(m: &Message) -> String {
    match m {
        Message::RequestVote(rv) if rv.transfer => format!("RV t{} transfer", rv.term),
        Message::RequestVote(rv) => format!("RV t{}", rv.term),
        Message::RequestVoteResponse(r) => format!(
            "vote t{} {}",
            r.term,
            if r.vote_granted { "yes" } else { "no" }
        ),
        Message::AppendEntries(ae) => format!(
            "AE t{} @{} +{}",
            ae.term,
            ae.prev_log_index,
            ae.entries.len()
        ),
        Message::AppendEntriesResponse(r) if r.success => {
            format!("ok t{} ={}", r.term, r.match_index)
        }
        Message::AppendEntriesResponse(r) => format!("no t{}", r.term),
        Message::InstallSnapshot(is) => format!("SNAP t{} ≤{}", is.term, is.last_included_index),
        Message::InstallSnapshotResponse(r) => format!("snap ok t{} ={}", r.term, r.match_index),
        Message::PreVote(pv) => format!("PV t{}", pv.term),
        Message::PreVoteResponse(r) => format!(
            "pre-vote t{} {}",
            r.term,
            if r.vote_granted { "yes" } else { "no" }
        ),
        Message::TimeoutNow(t) => format!("TIMEOUT-NOW t{}", t.term),
    }
}

/// A one-line action label that fits the label column.
fn compact(a: &Action) -> String {
    let hop = |m: &Envelope| format!("s{}→s{} {}", m.from, m.to, short(&m.msg));
    match a {
        Action::Deliver(m) => format!("deliver {}", hop(m)),
        Action::Drop(m) => format!("network drops {}", hop(m)),
        Action::Duplicate(m) => format!("network duplicates {}", hop(m)),
        other => action_text(other),
    }
}

fn role_class(r: Role) -> &'static str {
    match r {
        Role::Follower => "follower",
        Role::Candidate => "candidate",
        Role::Leader => "leader",
        Role::PreCandidate => "pre-candidate",
    }
}

/// One server's cell at one row: term and role, then its snapshot and log
/// as boxes, the committed prefix filled.
fn cell(out: &mut String, i: usize, k: usize, s: &Server, changed: bool) {
    let (x, y) = (LABEL_W + i * LANE_W + 6, HEAD_H + k * ROW_H + 4);
    let class = format!(
        "cell {}{}",
        role_class(s.role),
        if changed { " changed" } else { "" }
    );
    let _ = write!(
        out,
        r#"<rect class="{class}" x="{x}" y="{y}" width="{}" height="{}" rx="4"/>"#,
        LANE_W - 12,
        ROW_H - 8
    );
    let role = match s.role {
        Role::Follower => "F",
        Role::Candidate => "C",
        Role::Leader => "L",
        Role::PreCandidate => "P",
    };
    let vote = s.voted_for.map_or(String::new(), |v| format!(" v{v}"));
    // Recovering from a lost tail: the watermark of what it may have lost.
    let lost = match s.lost_up_to {
        0 => String::new(),
        n => format!(" lost≤{n}@t{}", s.lost_term),
    };
    let _ = write!(
        out,
        r#"<text class="term" x="{}" y="{}">t{} {role}{vote} c{}{lost}</text>"#,
        x + 4,
        y + 14,
        s.current_term,
        s.commit_index
    );
    let mut bx = x + 4;
    let by = y + 20;
    if s.snapshot.last_included_index > 0 {
        let _ = write!(
            out,
            r#"<rect class="snap" x="{bx}" y="{by}" width="34" height="16"/><text class="entry" x="{}" y="{}">≤{}</text>"#,
            bx + 3,
            by + 12,
            s.snapshot.last_included_index
        );
        bx += 38;
    }
    for (n, e) in (s.first_index() + 1..).zip(&s.log) {
        let committed = if n <= s.commit_index {
            " committed"
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<rect class="entry-box{committed}" x="{bx}" y="{by}" width="30" height="16"><title>index {n}: term {} value {}</title></rect><text class="entry" x="{}" y="{}">{}:{}</text>"#,
            e.term,
            e.value,
            bx + 4,
            by + 12,
            e.term,
            e.value
        );
        bx += 33;
    }
}

/// The diagram as a standalone SVG document.
pub fn svg(trace: &TraceFile) -> String {
    let l = layout(trace);
    let width = LABEL_W + l.servers * LANE_W + 10;
    let height = HEAD_H + l.rows.len() * ROW_H + 30;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">"#
    );
    out.push_str(STYLE);
    out.push_str(
        r#"<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>"#,
    );
    for i in 0..l.servers {
        let _ = write!(
            out,
            r#"<text class="lane" x="{}" y="30" text-anchor="middle">s{i}</text><line class="lane-line" x1="{0}" y1="40" x2="{0}" y2="{}"/>"#,
            lane_x(i),
            height - 20
        );
    }
    let last = l.rows.len() - 1;
    for (k, (state, action)) in l.rows.iter().enumerate() {
        let top = HEAD_H + k * ROW_H;
        if k == last && l.violation.is_some() {
            let _ = write!(
                out,
                r#"<rect class="violation" x="0" y="{top}" width="{width}" height="{ROW_H}"/>"#
            );
        }
        let (label, shown) = match action {
            None => ("initial state".to_string(), "initial state".to_string()),
            Some(a) => (action_text(a), compact(a)),
        };
        let _ = write!(
            out,
            r#"<text class="step" x="6" y="{}">{k:>3}. {}<title>{}</title></text>"#,
            top + ROW_H / 2 + 4,
            escape(&shown),
            escape(&label)
        );
        let prev = (k > 0).then(|| l.rows[k - 1].0);
        for (i, s) in state.servers.iter().enumerate() {
            let changed = prev.is_some_and(|p| p.servers[i] != *s);
            cell(&mut out, i, k, s, changed);
        }
    }
    for a in &l.arrows {
        draw_arrow(&mut out, a);
    }
    if let Some(property) = l.violation {
        let _ = write!(
            out,
            r#"<text class="violation-label" x="6" y="{}">VIOLATION of {} at step {last}</text>"#,
            HEAD_H + l.rows.len() * ROW_H + 18,
            escape(property)
        );
    }
    out.push_str("</svg>");
    out
}

fn draw_arrow(out: &mut String, a: &Arrow) {
    let (x1, y1) = (lane_x(a.from as usize), row_y(a.sent) + ROW_H / 2 - 4);
    let (x2, y2) = (lane_x(a.to as usize), row_y(a.end) - ROW_H / 2 + 6);
    let mut class = format!("msg {}", kind_class(&a.msg.msg));
    if a.duplicate {
        class.push_str(" duplicate");
    }
    match a.fate {
        Fate::Delivered => {}
        Fate::Dropped => class.push_str(" dropped"),
        Fate::InFlight => class.push_str(" inflight"),
    }
    let title = format!(
        "{}{} (sent at step {}, {} at step {})",
        if a.duplicate { "duplicate of " } else { "" },
        envelope_text(&a.msg),
        a.sent,
        match a.fate {
            Fate::Delivered => "delivered",
            Fate::Dropped => "dropped",
            Fate::InFlight => "still in flight",
        },
        a.end
    );
    let head = if a.fate == Fate::Delivered {
        r#" marker-end="url(#head)""#
    } else {
        ""
    };
    let _ = write!(
        out,
        r#"<g class="{class}"><title>{}</title><line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"{head}/>"#,
        escape(&title)
    );
    if a.fate == Fate::Dropped {
        let _ = write!(
            out,
            r#"<text class="cross" x="{}" y="{}">✕</text>"#,
            x2 - 5,
            y2 + 5
        );
    }
    let (mx, my) = ((x1 + x2) / 2, (y1 + y2) / 2);
    let _ = write!(
        out,
        r#"<text class="msg-label" x="{}" y="{my}">{}</text></g>"#,
        mx + 3,
        escape(&short(&a.msg.msg))
    );
}

/// A self-contained HTML page: a header, the diagram, a legend, and the
/// step table.
pub fn html(trace: &TraceFile) -> String {
    let l = layout(trace);
    let last = trace.steps.len() - 1;
    let mut out = String::from("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">");
    let title = match &trace.violation {
        Some(p) => format!("VIOLATION of {p} after {last} steps"),
        None => format!("trace of {last} steps"),
    };
    let _ = write!(
        out,
        "<title>{}</title><style>{PAGE_STYLE}</style></head><body>",
        escape(&title)
    );
    let _ = write!(
        out,
        "<h1>{}</h1><p class=\"config\">{}</p>",
        escape(&title),
        escape(&trace.config.summary())
    );
    if let (Some(property), true) = (l.violation, last > 0) {
        let state = &trace.steps[last].0;
        let action = trace.steps[last - 1]
            .1
            .as_ref()
            .map_or(String::new(), action_text);
        let _ = write!(out, "<div class=\"why\"><b>Why it is violated</b><ul>");
        for line in explain(property, state) {
            let _ = write!(out, "<li>{}</li>", escape(&line));
        }
        let _ = write!(out, "</ul><b>Step {last}: {}</b><ul>", escape(&action));
        for line in state_diff(&trace.steps[last - 1].0, state) {
            let _ = write!(out, "<li>{}</li>", escape(&line));
        }
        out.push_str("</ul></div>");
    }
    out.push_str(LEGEND);
    out.push_str(&svg(trace));
    let _ = writeln!(
        out,
        "<details><summary>The step table</summary><pre>{}</pre></details></body></html>",
        escape(&render(&trace.steps))
    );
    out
}

const STYLE: &str = r#"<style>
.lane{font-size:14px;font-weight:bold}.lane-line{stroke:#ccc;stroke-dasharray:2 4}
.step{fill:#222}.cell{stroke:#999;fill:#fff}.cell.leader{fill:#fff2b3}.cell.candidate{fill:#dceeff}.cell.pre-candidate{fill:#eef6ff}
.cell.changed{stroke:#c00;stroke-width:1.5}.term{fill:#333}
.entry-box{fill:#fff;stroke:#555}.entry-box.committed{fill:#9fd49f}.snap{fill:#ccc;stroke:#555}.entry{font-size:10px}
.msg line{stroke-width:1.4}.msg.rv line{stroke:#1f5fbf}.msg.rvr line{stroke:#7aa7e8}.msg.ae line{stroke:#2e8b2e}
.msg.aer line{stroke:#8fb36b}.msg.is line{stroke:#8a3fbf}.msg.isr line{stroke:#c39be0}
.msg.dropped line{stroke-dasharray:5 3;opacity:.7}.msg.inflight line{stroke-dasharray:1 3}.msg.duplicate line{stroke-dasharray:8 2 2 2}
.msg-label{font-size:9px;fill:#444}.cross{fill:#c00;font-size:14px}
.violation{fill:#ffd6d6}.violation-label{fill:#c00;font-size:13px;font-weight:bold}
</style>"#;

const PAGE_STYLE: &str = "body{font-family:sans-serif;margin:16px}h1{font-size:20px;color:#900}\
.config{font-family:monospace;color:#555}.why{background:#fff0f0;border:1px solid #e99;padding:6px 12px;margin:8px 0}\
.why li{font-family:monospace}.legend span{display:inline-block;margin-right:14px;font-size:12px}\
pre{font-size:11px}";

const LEGEND: &str = "<p class=\"legend\"><span>cell: <b>t</b>erm, role (<b>L</b>eader, <b>C</b>andidate, <b>F</b>ollower), \
<b>v</b>ote, <b>c</b>ommit_index; boxes: log entries term:value, green = committed, grey ≤N = snapshot</span>\
<span style=\"color:#1f5fbf\">— RequestVote</span><span style=\"color:#7aa7e8\">— vote</span>\
<span style=\"color:#2e8b2e\">— AppendEntries</span><span style=\"color:#8fb36b\">— its response</span>\
<span style=\"color:#8a3fbf\">— InstallSnapshot</span><span>- - dropped (✕) · dotted: still in flight · dash-dot: duplicate</span>\
<span style=\"color:#c00\">red outline: changed at this step</span></p>";

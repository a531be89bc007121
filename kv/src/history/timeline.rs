//! A history as a picture: one row per client, each operation a bar from
//! its invocation to its return, as Porcupine draws them. On a history that
//! is not linearizable, the operations of the longest linearization found
//! are numbered in its order and the ones that cannot be placed are red.

use std::fmt::Write;

use super::linearize::KeyReport;
use super::{History, Operation};
use crate::command::{Op, OpResult};

const LABEL_W: f64 = 90.0;
const ROW_H: f64 = 34.0;
/// Approximate width of a character of the 10 px monospace labels.
const CHAR_W: f64 = 6.1;

fn escape(s: &str) -> String {
    html_escape::encode_quoted_attribute(s).into_owned()
}

fn describe(o: &Operation) -> String {
    let ret = match &o.ret {
        None => " → ?".to_string(),
        Some((_, OpResult::Done)) => String::new(),
        Some((_, OpResult::Value(Some(v)))) => format!(" → {v:?}"),
        Some((_, OpResult::Value(None))) => " → (none)".to_string(),
    };
    match &o.op {
        Op::Put { key, value } => format!("put {key}={value:?}{ret}"),
        Op::Append { key, value } => format!("append {key}+={value:?}{ret}"),
        Op::Get { key } => format!("get {key}{ret}"),
    }
}

/// The timeline as a self-contained HTML page. `reports` come from
/// [`super::linearize::analyze`]; `verdict` is the checker's line.
pub fn html(history: &History, reports: &[KeyReport], verdict: &str) -> String {
    let ops = history.operations();
    let clients = ops.iter().map(|o| o.client + 1).max().unwrap_or(0);
    let start = ops.iter().map(|o| o.invoke).min().unwrap_or(0);
    let end = ops
        .iter()
        .map(|o| o.ret.as_ref().map_or(o.invoke, |(t, _)| *t))
        .max()
        .unwrap_or(start)
        .max(start + 1);
    // Wide enough that a client's operations get some room each (the page scrolls).
    let busiest = (0..clients)
        .map(|c| ops.iter().filter(|o| o.client == c).count())
        .max()
        .unwrap_or(0);
    let width = (busiest as f64 * 70.0).clamp(1200.0, 12000.0);
    let x = |t: u64| LABEL_W + (t - start) as f64 / (end - start) as f64 * (width - LABEL_W - 20.0);
    // Per operation: its place in a failing key's best order, or unplaceable.
    let failing: Vec<&KeyReport> = reports.iter().filter(|r| !r.linearizable).collect();
    let place = |i: usize| -> (Option<usize>, bool) {
        for r in &failing {
            if let Some(p) = r.order.iter().position(|&k| k == i) {
                return (Some(p + 1), false);
            }
            if r.unplaced.contains(&i) {
                return (None, true);
            }
        }
        (None, false)
    };
    let height = 40.0 + clients as f64 * ROW_H;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" font-size="10">"#
    );
    for c in 0..clients {
        let y = 30.0 + c as f64 * ROW_H;
        let _ = write!(
            svg,
            r#"<text x="4" y="{}">client {c}</text><line class="row" x1="{LABEL_W}" y1="{}" x2="{width}" y2="{1}"/>"#,
            y + 14.0,
            y + ROW_H - 4.0
        );
    }
    for (i, o) in ops.iter().enumerate() {
        let y = 30.0 + o.client as f64 * ROW_H;
        let x1 = x(o.invoke);
        let x2 = o
            .ret
            .as_ref()
            .map_or(width - 10.0, |(t, _)| x(*t))
            .max(x1 + 3.0);
        let (order, unplaced) = place(i);
        let kind = match o.op {
            Op::Put { .. } => "put",
            Op::Append { .. } => "append",
            Op::Get { .. } => "get",
        };
        let mut class = format!("op {kind}");
        if o.ret.is_none() {
            class.push_str(" pending");
        }
        if unplaced {
            class.push_str(" unplaced");
        }
        let text = describe(o);
        // The whole label where it fits in the bar, else the order number, else nothing
        // (the tooltip always has it all).
        let fits = |l: &str| (l.chars().count() as f64) * CHAR_W + 6.0 <= x2 - x1;
        let full = match order {
            Some(p) => format!("#{p} {text}"),
            None => text.clone(),
        };
        let number = order.map_or(String::new(), |p| format!("#{p}"));
        let label = if fits(&full) {
            full
        } else if fits(&number) {
            number
        } else {
            String::new()
        };
        let _ = write!(
            svg,
            r#"<g class="{class}"><title>{}</title><rect x="{x1:.1}" y="{y:.1}" width="{:.1}" height="18" rx="3"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
            escape(&format!(
                "{text} (client {}, invoked at {}{})",
                o.client,
                o.invoke,
                o.ret
                    .as_ref()
                    .map_or(", no answer".into(), |(t, _)| format!(", returned at {t}"))
            )),
            x2 - x1,
            x1 + 3.0,
            y + 13.0,
            escape(&label)
        );
    }
    svg.push_str("</svg>");
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>history</title><style>",
    );
    out.push_str(STYLE);
    let _ = write!(out, "</style></head><body><h1>{}</h1>", escape(verdict));
    for r in &failing {
        let _ = write!(
            out,
            "<p class=\"why\">key {:?}: the longest linearization found places {} operations (numbered #1, #2, … in its order); {} completed operation(s) cannot be placed after it (red){}.</p>",
            escape(&r.key),
            r.order.len(),
            r.unplaced.len(),
            if r.exhausted { "; the search stopped at its budget" } else { "" }
        );
    }
    out.push_str("<p class=\"legend\">a bar per operation, from invocation to return; hatched: no answer (may or may not have taken effect)</p>");
    out.push_str(&svg);
    out.push_str("</body></html>\n");
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:16px}h1{font-size:18px}.why{color:#900}\
.legend{font-size:12px;color:#555}.row{stroke:#ddd}.op rect{stroke:#333;fill:#dde8ff}\
.op.append rect{fill:#e3f5dc}.op.get rect{fill:#fff4cc}.op.pending rect{fill:#eee;stroke-dasharray:4 2}\
.op.unplaced rect{fill:#ffb3b3;stroke:#c00;stroke-width:2}";

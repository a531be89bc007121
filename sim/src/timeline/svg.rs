//! Drawing a [`Timeline`]: the whole run (scrolls horizontally), a close-up of the last two
//! seconds before a failure, and the last events as a table. Marks closer than a few pixels
//! are drawn as one (its tooltip says how many), so a long run stays a readable picture.

use std::fmt::Write;

use super::{layout, Band, Failure, Lane, LaneState, SnapshotKind, Timeline};
use crate::cluster::SEC;
use crate::trace::{EventKind, Trace};

/// Escapes text for SVG and HTML: `& < > " '` (text and quoted attributes).
pub fn escape(s: &str) -> String {
    html_escape::encode_quoted_attribute(s).into_owned()
}

const LABEL_W: f64 = 70.0;
/// Room left of time 0 (for the first axis label).
const PAD: f64 = 26.0;
const AXIS_H: f64 = 22.0;
const NET_H: f64 = 24.0;
const LANES_Y: f64 = AXIS_H + NET_H + 8.0;
const LANE_H: f64 = 68.0;
/// Marks closer than this many pixels are drawn as one.
const BUCKET_PX: f64 = 3.0;
/// The close-up before a failure.
const CLOSE_UP_US: u64 = 2 * SEC;

pub(super) fn secs(us: u64) -> String {
    format!("{:.3}s", us as f64 / SEC as f64)
}

/// The part of the run a view shows, and its scale.
struct View {
    from_us: u64,
    to_us: u64,
    px_per_sec: f64,
}

impl View {
    fn x(&self, t: u64) -> f64 {
        PAD + (t.saturating_sub(self.from_us)) as f64 / SEC as f64 * self.px_per_sec
    }
    fn width(&self) -> f64 {
        self.x(self.to_us).max(1.0) + 30.0
    }
    fn shows(&self, t: u64) -> bool {
        (self.from_us..=self.to_us).contains(&t)
    }
    /// `band` clipped to the view, as (x, width), if it shows at all.
    fn span<T>(&self, b: &Band<T>) -> Option<(f64, f64)> {
        let (from, to) = (b.from_us.max(self.from_us), b.to_us.min(self.to_us));
        (from < to).then(|| (self.x(from), (self.x(to) - self.x(from)).max(1.0)))
    }
}

/// Groups `(time, value)` points that fall within [`BUCKET_PX`] of each other: (x, count,
/// first value, last value).
fn buckets<V: Copy>(v: &View, points: impl Iterator<Item = (u64, V)>) -> Vec<(f64, usize, V, V)> {
    let mut out: Vec<(f64, usize, V, V)> = Vec::new();
    for (t, val) in points.filter(|(t, _)| v.shows(*t)) {
        let x = v.x(t);
        match out.last_mut() {
            Some(b) if x - b.0 < BUCKET_PX => {
                b.1 += 1;
                b.3 = val;
            }
            _ => out.push((x, 1, val, val)),
        }
    }
    out
}

fn state_class(s: LaneState) -> &'static str {
    match s {
        LaneState::Down => "down",
        LaneState::Follower => "follower",
        LaneState::Candidate => "candidate",
        LaneState::Leader => "leader",
    }
}

/// The lane names, drawn apart from the lanes so they stay in view while those scroll.
fn labels_svg(tl: &Timeline) -> String {
    let height = LANES_Y + tl.lanes.len() as f64 * LANE_H;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="labels" width="{LABEL_W}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    out.push_str("<style>.lane-name{font-weight:bold}.lane-name.named{fill:#d00}</style>");
    let _ = write!(
        out,
        r#"<text x="4" y="{}">network</text>"#,
        AXIS_H + NET_H / 2.0 + 4.0
    );
    let named = |id| tl.failure.as_ref().is_some_and(|f| f.nodes.contains(&id));
    for (k, l) in tl.lanes.iter().enumerate() {
        let y = LANES_Y + k as f64 * LANE_H;
        let (class, mark) = if named(l.id) {
            (" named", " ⚠")
        } else {
            ("", "")
        };
        let _ = write!(
            out,
            r#"<text class="lane-name{class}" x="4" y="{}">s{}{mark}</text>"#,
            y + 26.0,
            l.id
        );
    }
    out.push_str("</svg>");
    out
}

/// The time axis: a tick about every 80 px, at a round number of seconds.
fn axis(out: &mut String, v: &View, height: f64) {
    const STEPS: [f64; 14] = [
        0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0,
    ];
    let step = STEPS
        .iter()
        .copied()
        .find(|s| s * v.px_per_sec >= 80.0)
        .unwrap_or(60.0);
    let step_us = (step * SEC as f64) as u64;
    let digits = if step >= 1.0 { 0 } else { 3 };
    let mut t = v.from_us.div_ceil(step_us) * step_us;
    while t <= v.to_us {
        let x = v.x(t);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{x:.1}" y1="{AXIS_H}" x2="{x:.1}" y2="{height}"/><text class="axis" x="{x:.1}" y="14" text-anchor="middle">{:.digits$}s</text>"#,
            t as f64 / SEC as f64
        );
        t += step_us;
    }
}

/// The network row: unreliable and long-reordering stretches, a mark at each change.
fn network(out: &mut String, tl: &Timeline, v: &View) {
    let y = AXIS_H;
    for (bands, class, label, dy) in [
        (&tl.unreliable, "unreliable", "unreliable", 0.0),
        (&tl.reordering, "reordering", "long reordering", NET_H / 2.0),
    ] {
        for b in bands {
            if let Some((x, w)) = v.span(b) {
                let _ = write!(
                    out,
                    r#"<rect class="{class}" x="{x:.1}" y="{:.1}" width="{w:.1}" height="{:.1}"><title>{label} {} to {}</title></rect>"#,
                    y + dy + 2.0,
                    NET_H / 2.0 - 3.0,
                    secs(b.from_us),
                    secs(b.to_us)
                );
                if w > 90.0 {
                    let _ = write!(
                        out,
                        r#"<text class="band-text" x="{:.1}" y="{:.1}">{label}</text>"#,
                        x + 3.0,
                        y + dy + 10.0
                    );
                }
            }
        }
    }
    let changes: Vec<_> = tl
        .net_changes
        .iter()
        .filter(|c| v.shows(c.time_us))
        .collect();
    for (k, c) in changes.iter().enumerate() {
        let x = v.x(c.time_us);
        let _ = write!(
            out,
            r#"<g class="net-change"><title>event {} at {}: {}</title><path d="M{x:.1},{:.1} l-3,-6 h6 z"/></g>"#,
            c.seq,
            secs(c.time_us),
            escape(&c.detail),
            y + NET_H,
        );
        // Its words too, where they fit before the next change.
        let room = changes
            .get(k + 1)
            .map_or(f64::INFINITY, |n| v.x(n.time_us) - x);
        if c.detail.chars().count() as f64 * 5.0 + 8.0 < room {
            let _ = write!(
                out,
                r#"<text class="net-text" x="{:.1}" y="{:.1}">{}</text>"#,
                x + 4.0,
                y + NET_H - 1.0,
                escape(&c.detail)
            );
        }
    }
}

fn lane(out: &mut String, l: &Lane, top: f64, v: &View) {
    let band_y = top + 13.0;
    for b in &l.roles {
        let Some((x, w)) = v.span(b) else { continue };
        let term = l
            .terms
            .iter()
            .rev()
            .find(|(t, _)| *t <= b.from_us)
            .map_or(0, |(_, term)| *term);
        let what = match b.what {
            LaneState::Down => "down (crashed)".to_string(),
            s => format!("{} in term {term}", state_class(s)),
        };
        let _ = write!(
            out,
            r#"<rect class="role {}" x="{x:.1}" y="{band_y:.1}" width="{w:.1}" height="18"><title>s{} {what}, {} to {}</title></rect>"#,
            state_class(b.what),
            l.id,
            secs(b.from_us),
            secs(b.to_us)
        );
        if b.what == LaneState::Leader && w > 60.0 {
            let _ = write!(
                out,
                r#"<text class="band-text" x="{:.1}" y="{:.1}">leader t{term}</text>"#,
                x + 3.0,
                band_y + 13.0
            );
        }
    }
    // current_term changes: a tick each, a label where there is room.
    let mut last_label = f64::NEG_INFINITY;
    for &(t, term) in l.terms.iter().filter(|(t, _)| *t > 0 && v.shows(*t)) {
        let x = v.x(t);
        let _ = write!(
            out,
            r#"<line class="term-tick" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}"><title>s{} current_term = {term} at {}</title></line>"#,
            band_y - 3.0,
            band_y + 18.0,
            l.id,
            secs(t)
        );
        if x - last_label >= 26.0 {
            last_label = x;
            let _ = write!(
                out,
                r#"<text class="term" x="{:.1}" y="{:.1}">t{term}</text>"#,
                x + 1.0,
                top + 9.0
            );
        }
    }
    for b in &l.cut_off {
        let Some((x, w)) = v.span(b) else { continue };
        let r = b.what;
        let cut: Vec<String> = r.cut_from().iter().map(|j| format!("s{j}")).collect();
        let _ = write!(
            out,
            r#"<rect class="cut{}" x="{x:.1}" y="{:.1}" width="{w:.1}" height="5"><title>s{} reaches {} of {} ({}), cut off from {}, {} to {}</title></rect>"#,
            if r.minority() { " minority" } else { "" },
            band_y + 20.0,
            l.id,
            r.sees,
            r.of,
            if r.minority() {
                "a minority"
            } else {
                "a majority"
            },
            cut.join(", "),
            secs(b.from_us),
            secs(b.to_us)
        );
    }
    let marks_y = band_y + 28.0;
    for (x, count, first, last) in buckets(v, l.commits.iter().copied()) {
        let _ = write!(
            out,
            r#"<line class="commit" x1="{x:.1}" y1="{marks_y:.1}" x2="{x:.1}" y2="{:.1}"><title>s{} commit_index {}{last} ({count} advance{})</title></line>"#,
            marks_y + 8.0,
            l.id,
            if count > 1 {
                format!("{first}…")
            } else {
                String::new()
            },
            if count > 1 { "s" } else { "" }
        );
    }
    let snap_y = marks_y + 13.0;
    let chunks = l.chunks.iter().map(|&t| (t, ()));
    for (x, count, _, _) in buckets(v, chunks) {
        let _ = write!(
            out,
            r#"<circle class="chunk" cx="{x:.1}" cy="{snap_y:.1}" r="2"><title>{count} InstallSnapshot chunk(s) delivered to s{}</title></circle>"#,
            l.id
        );
    }
    // Message traffic into the node: darker where more arrived (a livelock shows as a dark
    // strip with nothing else moving).
    let strip_y = snap_y + 6.0;
    let per_px = 1e6 / v.px_per_sec;
    for (x, count, _, _) in buckets(v, l.deliveries.iter().map(|&t| (t, ()))) {
        let opacity = ((count as f64 + 1.0).log10() / 3.0).clamp(0.15, 1.0);
        let _ = write!(
            out,
            r#"<rect class="traffic" x="{x:.1}" y="{strip_y:.1}" width="{BUCKET_PX}" height="3" opacity="{opacity:.2}"><title>{count} message(s) delivered to s{} within {:.1} ms</title></rect>"#,
            l.id,
            BUCKET_PX * per_px / 1e3
        );
    }
    for kind in [SnapshotKind::Compacted, SnapshotKind::Installed] {
        let marks = l.snapshots.iter().filter(|s| s.2 == kind);
        for (x, count, first, last) in buckets(v, marks.map(|&(t, i, _)| (t, i))) {
            let (class, shape, what) = match kind {
                SnapshotKind::Compacted => ("compacted", "M-3,-3 h6 v6 h-6 z", "compacted its log"),
                SnapshotKind::Installed => (
                    "installed",
                    "M0,-4 l4,4 l-4,4 l-4,-4 z",
                    "installed a leader's snapshot",
                ),
            };
            let range = if count > 1 {
                format!("{count} times, last_included_index {first}…{last}")
            } else {
                format!("last_included_index {last}")
            };
            let _ = write!(
                out,
                r#"<path class="{class}" transform="translate({x:.1},{snap_y:.1})" d="{shape}"><title>s{} {what}: {range}</title></path>"#,
                l.id
            );
        }
    }
    for &(t, kind) in l.crashes.iter().filter(|(t, _)| v.shows(*t)) {
        let how = if kind == EventKind::CrashDuringSync {
            "crashed inside a storage sync"
        } else {
            "crashed (unsynced writes lost)"
        };
        let _ = write!(
            out,
            r#"<text class="crash" x="{:.1}" y="{:.1}">✕<title>s{} {how} at {}</title></text>"#,
            v.x(t) - 4.0,
            band_y + 13.0,
            l.id,
            secs(t)
        );
    }
    for &t in l.restarts.iter().filter(|t| v.shows(**t)) {
        let _ = write!(
            out,
            r#"<path class="restart" transform="translate({:.1},{:.1})" d="M0,-7 l5,8 h-10 z"><title>s{} restarted from its durable state at {}</title></path>"#,
            v.x(t),
            band_y + 12.0,
            l.id,
            secs(t)
        );
    }
}

fn failure_mark(out: &mut String, f: &Failure, v: &View, height: f64) {
    if !v.shows(f.time_us) {
        return;
    }
    let x = v.x(f.time_us);
    let _ = write!(
        out,
        r#"<g class="violation"><title>{}</title><line x1="{x:.1}" y1="0" x2="{x:.1}" y2="{height}"/><text x="{:.1}" y="{}" text-anchor="end">{} at {} (event {})</text></g>"#,
        escape(&f.text),
        x - 4.0,
        AXIS_H + 9.0,
        escape(&f.name),
        secs(f.time_us),
        f.seq
    );
}

fn view_svg(tl: &Timeline, v: &View) -> String {
    let (width, height) = (v.width(), LANES_Y + tl.lanes.len() as f64 * LANE_H);
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="10">"#
    );
    out.push_str(STYLE);
    out.push_str(r##"<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#d0d0d0"/><line x1="0" y1="0" x2="0" y2="6" stroke="#888" stroke-width="3"/></pattern></defs>"##);
    axis(&mut out, v, height);
    network(&mut out, tl, v);
    for (k, l) in tl.lanes.iter().enumerate() {
        let top = LANES_Y + k as f64 * LANE_H;
        let _ = write!(
            out,
            r#"<line class="lane-sep" x1="0" y1="{top:.1}" x2="{width:.0}" y2="{top:.1}"/>"#
        );
        lane(&mut out, l, top, v);
    }
    if let Some(f) = &tl.failure {
        failure_mark(&mut out, f, v, height);
    }
    out.push_str("</svg>");
    out
}

/// One view with its lane names: the names stay put, the lanes scroll.
fn figure(out: &mut String, tl: &Timeline, v: &View) {
    let _ = write!(
        out,
        "<div class=\"figure\">{}<div class=\"scroll\">{}</div></div>",
        labels_svg(tl),
        view_svg(tl, v)
    );
}

/// The whole page for `trace`.
pub fn html(trace: &Trace) -> String {
    let tl = layout(trace);
    let dur_s = (tl.end_us as f64 / SEC as f64).max(0.001);
    // About 100 px a second, at least 1000 px in all, at most 24000.
    let px_per_sec = 100f64.min(24_000.0 / dur_s).max(1_000.0 / dur_s);
    let title = match &tl.failure {
        Some(f) => format!(
            "raft-sim seed {}: {} at {} (event {})",
            tl.seed,
            f.name,
            secs(f.time_us),
            f.seq
        ),
        None => format!("raft-sim seed {}: passed", tl.seed),
    };
    let mut out = String::from("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">");
    let _ = write!(
        out,
        "<title>{0}</title><style>{PAGE_STYLE}</style></head><body><h1 class=\"{1}\">{0}</h1>",
        escape(&title),
        if tl.failure.is_some() { "bad" } else { "ok" }
    );
    let count = |f: fn(&Lane) -> usize| tl.lanes.iter().map(f).sum::<usize>();
    let _ = write!(
        out,
        "<p class=\"config\">{} servers · {} events · {} simulated · tick {} ms · {} elections won · {} crashes · {} compactions · {} snapshots installed</p>",
        tl.lanes.len(),
        tl.events,
        secs(tl.end_us),
        tl.tick_us / 1_000,
        tl.elections(),
        count(|l| l.crashes.len()),
        count(|l| l.snapshots.iter().filter(|s| s.2 == SnapshotKind::Compacted).count()),
        count(|l| l.snapshots.iter().filter(|s| s.2 == SnapshotKind::Installed).count()),
    );
    if let Some(f) = &tl.failure {
        let _ = write!(out, "<div class=\"why\">{}</div>", escape(&f.text));
    }
    out.push_str(LEGEND);
    out.push_str("<h2>The whole run</h2>");
    let whole = View {
        from_us: 0,
        to_us: tl.end_us,
        px_per_sec,
    };
    figure(&mut out, &tl, &whole);
    if let Some(f) = &tl.failure {
        let _ = write!(
            out,
            "<h2>The last {} s before the {}</h2>",
            CLOSE_UP_US / SEC,
            if f.name.starts_with("liveness") {
                "liveness failure"
            } else {
                "violation"
            }
        );
        let close = View {
            from_us: f.time_us.saturating_sub(CLOSE_UP_US),
            to_us: tl.end_us,
            px_per_sec: 600.0,
        };
        figure(&mut out, &tl, &close);
    }
    super::table::table(&mut out, trace);
    out.push_str("</body></html>\n");
    out
}

const STYLE: &str = r#"<style>
.grid{stroke:#eee}.axis{fill:#666}.lane-sep{stroke:#ccc}
.role.follower{fill:#e9e9e9}.role.candidate{fill:#8ec1ee}.role.leader{fill:#f4c430}.role.down{fill:url(#hatch)}
.band-text{fill:#333;font-size:10px}.term{fill:#444;font-size:9px}.term-tick{stroke:#333;stroke-width:1}
.cut{fill:#f7c99a}.cut.minority{fill:#e8702a}
.commit{stroke:#2e8b2e;stroke-width:2}.compacted{fill:#777}.installed{fill:#8a3fbf}.chunk{fill:#c39be0}.traffic{fill:#1f5fbf}
.crash{fill:#c00;font-size:14px;font-weight:bold}.restart{fill:#2e8b2e;stroke:#fff;stroke-width:.5}
.unreliable{fill:#ffe0a8}.reordering{fill:#e3d3f5}.net-change path{fill:#333}.net-text{fill:#555;font-size:8px}
.violation line{stroke:#d00;stroke-width:2}.violation text{fill:#d00;font-size:12px;font-weight:bold}
</style>"#;

const PAGE_STYLE: &str = "body{font-family:sans-serif;margin:16px}h1{font-size:20px}h1.bad{color:#900}h1.ok{color:#262}\
h2{font-size:15px;margin:14px 0 4px}.config{font-family:monospace;color:#555}\
.why{background:#fff0f0;border:1px solid #e99;padding:6px 12px;margin:8px 0;font-family:monospace}\
.legend span{display:inline-block;margin-right:14px;font-size:12px}.sw{display:inline-block;width:18px;height:10px;margin-right:4px;vertical-align:middle}\
.figure{display:flex}.scroll{overflow-x:auto;flex:1}\
table{border-collapse:collapse;font-size:11px;font-family:monospace}td,th{border:1px solid #ddd;padding:1px 5px;text-align:left}tr.bad td{background:#ffd6d6;color:#900}";

const LEGEND: &str = "<p class=\"legend\">\
<span><i class=\"sw\" style=\"background:#e9e9e9\"></i>follower</span>\
<span><i class=\"sw\" style=\"background:#8ec1ee\"></i>candidate</span>\
<span><i class=\"sw\" style=\"background:#f4c430\"></i>leader</span>\
<span><i class=\"sw\" style=\"background:repeating-linear-gradient(45deg,#888 0 3px,#d0d0d0 3px 6px)\"></i>down (<b style=\"color:#c00\">✕</b> crash, <b style=\"color:#2e8b2e\">▲</b> restart)</span>\
<span>| tN: current_term changes</span>\
<span><i class=\"sw\" style=\"background:#f7c99a;height:5px\"></i>cut off from some nodes <i class=\"sw\" style=\"background:#e8702a;height:5px\"></i>from a majority</span>\
<span><b style=\"color:#2e8b2e\">|</b> commit_index advances</span>\
<span><i class=\"sw\" style=\"background:#1f5fbf;height:3px\"></i>messages delivered (darker: more)</span>\
<span><b style=\"color:#777\">■</b> compacted · <b style=\"color:#8a3fbf\">◆</b> installed a leader's snapshot · <b style=\"color:#c39be0\">●</b> InstallSnapshot chunks</span>\
<span>network: <i class=\"sw\" style=\"background:#ffe0a8\"></i>unreliable <i class=\"sw\" style=\"background:#e3d3f5\"></i>long reordering ▼ link change or leadership transfer</span>\
<span>hover any mark for details; marks a few pixels apart are drawn as one</span></p>";

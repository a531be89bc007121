//! The last events of a run as a table, below the timeline: what a person reads once the
//! picture has shown where to look.

use std::fmt::Write;

use super::svg::{escape, secs};
use crate::trace::{MsgBody, MsgSummary, Trace, TraceEvent};

/// Events listed.
const TABLE_EVENTS: usize = 40;

fn role_letter(e: &TraceEvent) -> String {
    let cells: Vec<String> = e
        .state
        .iter()
        .map(|s| {
            let r = match (s.up, s.role) {
                (false, _) => "down".to_string(),
                (true, Some(raft_impl::core::Role::Leader)) => "L".into(),
                (true, Some(raft_impl::core::Role::Candidate)) => "C".into(),
                _ => "F".into(),
            };
            format!("s{} t{} {r} c{}", s.id, s.current_term, s.commit_index)
        })
        .collect();
    cells.join(" · ")
}

/// A message in a few words, Figure 2 field names shortened.
fn message(m: &MsgSummary) -> String {
    let body = match &m.body {
        MsgBody::RequestVote { term, transfer, .. } => format!(
            "RequestVote t{term}{}",
            if *transfer { " (transfer)" } else { "" }
        ),
        MsgBody::TimeoutNow { term } => format!("TimeoutNow t{term}"),
        MsgBody::RequestVoteResponse { term, vote_granted } => {
            format!("vote t{term} {}", if *vote_granted { "yes" } else { "no" })
        }
        MsgBody::PreVote { term, .. } => format!("PreVote t{term}"),
        MsgBody::PreVoteResponse { term, vote_granted } => {
            format!("pre-vote t{term} {}", if *vote_granted { "yes" } else { "no" })
        }
        MsgBody::AppendEntries {
            term,
            prev_log_index,
            entry_terms,
            leader_commit,
            ..
        } => format!(
            "AppendEntries t{term} prev_log_index {prev_log_index} +{} leader_commit {leader_commit}",
            entry_terms.len()
        ),
        MsgBody::AppendEntriesResponse {
            term,
            success,
            match_index,
            ..
        } => format!(
            "AppendEntries reply t{term} {} match_index {match_index}",
            if *success { "ok" } else { "refused" }
        ),
        MsgBody::InstallSnapshot {
            term,
            last_included_index,
            offset,
            done,
            ..
        } => format!(
            "InstallSnapshot t{term} ≤{last_included_index} offset {offset}{}",
            if *done { " done" } else { "" }
        ),
        MsgBody::InstallSnapshotResponse {
            term, match_index, ..
        } => format!("InstallSnapshot reply t{term} match_index {match_index}"),
    };
    format!("s{}→s{} {body}", m.from, m.to)
}

pub(super) fn table(out: &mut String, trace: &Trace) {
    let from = trace.events.len().saturating_sub(TABLE_EVENTS);
    let _ = write!(
        out,
        "<details open><summary>The last {} events</summary><table><tr><th>event</th><th>time</th><th>kind</th><th>node</th><th>message / detail</th><th>every node after it (term, role, commit_index)</th></tr>",
        trace.events.len() - from
    );
    let last = trace.events.len().saturating_sub(1);
    for (k, e) in trace.events.iter().enumerate().skip(from) {
        let bad = k == last && trace.failure.is_some();
        let what = match (&e.msg, &e.detail) {
            (Some(m), _) => message(m),
            (None, Some(d)) => d.clone(),
            (None, None) => String::new(),
        };
        let _ = write!(
            out,
            "<tr{}><td>{}</td><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if bad { " class=\"bad\"" } else { "" },
            e.seq,
            secs(e.time_us),
            e.kind,
            e.node.map_or(String::new(), |n| format!("s{n}")),
            escape(&what),
            escape(&role_letter(e))
        );
    }
    out.push_str("</table></details>");
}

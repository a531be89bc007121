//! Human-readable rendering of actions, messages and state changes.

use crate::properties::transitions::TRANSITIONS;
use crate::state::*;
use std::fmt::Write;

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("-".to_string(), |x| x.to_string())
}

pub fn log_text(log: &[Entry]) -> String {
    let entries: Vec<String> = log
        .iter()
        .map(|e| format!("({},{})", e.term, e.value))
        .collect();
    format!("[{}]", entries.join(" "))
}

pub fn message_text(m: &Message) -> String {
    match m {
        Message::RequestVote(rv) => format!(
            "RequestVote(term={} last_log_index={} last_log_term={}{})",
            rv.term,
            rv.last_log_index,
            rv.last_log_term,
            if rv.transfer { " transfer" } else { "" }
        ),
        Message::TimeoutNow(t) => format!("TimeoutNow(term={})", t.term),
        Message::RequestVoteResponse(r) => format!(
            "RequestVoteResponse(term={} vote_granted={})",
            r.term, r.vote_granted
        ),
        Message::PreVote(pv) => format!(
            "PreVote(term={} last_log_index={} last_log_term={})",
            pv.term, pv.last_log_index, pv.last_log_term
        ),
        Message::PreVoteResponse(r) => format!(
            "PreVoteResponse(term={} vote_granted={})",
            r.term, r.vote_granted
        ),
        Message::AppendEntries(ae) => format!(
            "AppendEntries(term={} prev_log_index={} prev_log_term={} entries={} leader_commit={})",
            ae.term,
            ae.prev_log_index,
            ae.prev_log_term,
            log_text(&ae.entries),
            ae.leader_commit
        ),
        Message::AppendEntriesResponse(r) => {
            let mut s = format!(
                "AppendEntriesResponse(term={} success={} match_index={}",
                r.term, r.success, r.match_index
            );
            if let Some(h) = r.conflict {
                let _ = write!(
                    s,
                    " conflict=(term={} first_index={} log_len={})",
                    opt(h.term),
                    h.first_index,
                    h.log_len
                );
            }
            s + ")"
        }
        Message::InstallSnapshot(is) => format!(
            "InstallSnapshot(term={} last_included_index={} last_included_term={} entries={})",
            is.term,
            is.last_included_index,
            is.last_included_term,
            log_text(&is.entries)
        ),
        Message::InstallSnapshotResponse(r) => format!(
            "InstallSnapshotResponse(term={} match_index={})",
            r.term, r.match_index
        ),
    }
}

/// `(last_included_index,last_included_term) entries`, or `-` for none.
pub fn snapshot_text(s: &Snapshot) -> String {
    if *s == Snapshot::default() {
        return "-".into();
    }
    format!(
        "({},{}) {}",
        s.last_included_index,
        s.last_included_term,
        log_text(&s.entries)
    )
}

pub fn envelope_text(m: &Envelope) -> String {
    format!("s{}->s{} {}", m.from, m.to, message_text(&m.msg))
}

pub fn action_text(a: &Action) -> String {
    match a {
        Action::Deliver(m) => format!("deliver {}", envelope_text(m)),
        Action::ElectionTimeout(i) => format!("election timeout at s{i}"),
        Action::Heartbeat(i) => format!("heartbeat at leader s{i}"),
        Action::Propose(i, v) => format!("client proposes {v} at s{i}"),
        Action::Restart(i) => format!("restart s{i}"),
        Action::RestartLosingTail(i) => format!("restart s{i}, losing its log's last entry"),
        Action::Drop(m) => format!("network drops {}", envelope_text(m)),
        Action::Duplicate(m) => format!("network duplicates {}", envelope_text(m)),
        Action::Snapshot(i) => format!("s{i} snapshots and compacts its log"),
        Action::CheckQuorum(i) => format!("check-quorum at leader s{i}"),
        Action::TransferLeadership(i, t) => {
            format!("operator asks leader s{i} to transfer its leadership to s{t}")
        }
        Action::AbortTransfer(i) => format!("leader s{i} gives up its leadership transfer"),
    }
}

/// Each Figure 2 field of a server, rendered for diffs. The model's step
/// table and conformance's model-versus-core diff both read this list.
pub fn server_fields(s: &Server) -> [(&'static str, String); 14] {
    [
        ("current_term", s.current_term.to_string()),
        ("role", format!("{:?}", s.role)),
        ("heard_from_leader", s.heard_from_leader.to_string()),
        ("heard_from", bits_text(s.heard_from)),
        ("voted_for", opt(s.voted_for.map(|v| format!("s{v}")))),
        ("snapshot", snapshot_text(&s.snapshot)),
        ("log", log_text(&s.log)),
        ("lost_up_to", s.lost_up_to.to_string()),
        ("lost_term", s.lost_term.to_string()),
        ("commit_index", s.commit_index.to_string()),
        ("votes_granted", bits_text(s.votes_granted)),
        ("next_index", format!("{:?}", s.next_index)),
        ("match_index", format!("{:?}", s.match_index)),
        (
            "lead_transferee",
            opt(s.lead_transferee.map(|t| format!("s{t}"))),
        ),
    ]
}

/// What changed from `a` to `b`, one item per line.
pub fn state_diff(a: &State, b: &State) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (x, y)) in a.servers.iter().zip(&b.servers).enumerate() {
        let f: Vec<String> = server_fields(x)
            .into_iter()
            .zip(server_fields(y))
            .filter(|((_, before), (_, after))| before != after)
            .map(|((name, before), (_, after))| format!("{name} {before} -> {after}"))
            .collect();
        if !f.is_empty() {
            out.push(format!("s{i}: {}", f.join(", ")));
        }
    }
    for m in multiset_minus(&b.network, &a.network) {
        out.push(format!("+ {}", envelope_text(m)));
    }
    for m in multiset_minus(&a.network, &b.network) {
        out.push(format!("- {}", envelope_text(m)));
    }
    for (t, (x, y)) in a.history.leaders.iter().zip(&b.history.leaders).enumerate() {
        if x != y {
            out.push(format!("history: leader(s) of term {t}: {}", bits_text(*y)));
        }
    }
    for c in b
        .history
        .commits
        .iter()
        .filter(|c| !a.history.commits.contains(c))
    {
        out.push(format!(
            "history: entry ({},{}) at index {} committed in term {}",
            c.entry.term, c.entry.value, c.index, c.term
        ));
    }
    if b.history.leader_log_rewritten && !a.history.leader_log_rewritten {
        out.push("history: a leader's log was rewritten".to_string());
    }
    let newly_broken = b.history.broken & !a.history.broken;
    for (i, t) in TRANSITIONS.iter().enumerate() {
        if newly_broken & 1 << i != 0 {
            out.push(format!("history: this step breaks \"{}\"", t.name));
        }
    }
    out
}

fn bits_text(b: u8) -> String {
    let ids: Vec<String> = (0..8)
        .filter(|i| b & (1 << i) != 0)
        .map(|i| format!("s{i}"))
        .collect();
    format!("{{{}}}", ids.join(","))
}

/// Elements of sorted multiset `a` not matched in sorted multiset `b`.
pub fn multiset_minus<'a>(a: &'a [Envelope], b: &[Envelope]) -> Vec<&'a Envelope> {
    let mut out = Vec::new();
    let mut j = 0;
    for m in a {
        while j < b.len() && b[j] < *m {
            j += 1;
        }
        if j < b.len() && b[j] == *m {
            j += 1;
        } else {
            out.push(m);
        }
    }
    out
}

/// A full state, for the first row of a table.
pub fn state_text(s: &State) -> Vec<String> {
    let mut out: Vec<String> = s
        .servers
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let mut line = format!(
                "s{i}: current_term={} role={:?} voted_for={} log={} commit_index={}",
                x.current_term,
                x.role,
                opt(x.voted_for.map(|v| format!("s{v}"))),
                log_text(&x.log),
                x.commit_index
            );
            if x.recovering() {
                let _ = write!(
                    line,
                    " lost_up_to={} lost_term={}",
                    x.lost_up_to, x.lost_term
                );
            }
            line
        })
        .collect();
    out.extend(
        s.network
            .iter()
            .map(|m| format!("in flight: {}", envelope_text(m))),
    );
    out
}

/// The readable step table of a trace.
pub fn render(steps: &[(State, Option<Action>)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:>4}  action / what changed", "step");
    let mut prev: Option<&State> = None;
    for (k, (state, _)) in steps.iter().enumerate() {
        match prev {
            None => {
                let _ = writeln!(out, "{k:>4}  initial state");
                for line in state_text(state) {
                    let _ = writeln!(out, "{:>4}      {line}", "");
                }
            }
            Some(p) => {
                // The action that led here is stored with the previous state.
                let action = steps[k - 1].1.as_ref().map_or("?".into(), action_text);
                let _ = writeln!(out, "{k:>4}  {action}");
                for line in state_diff(p, state) {
                    let _ = writeln!(out, "{:>4}      {line}", "");
                }
            }
        }
        prev = Some(state);
    }
    out
}

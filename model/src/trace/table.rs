//! Human-readable rendering of actions, messages and state changes.

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

pub fn body_text(b: &Body) -> String {
    match b {
        Body::RequestVote {
            term,
            last_log_index,
            last_log_term,
        } => format!("RequestVote(term={term} last_log_index={last_log_index} last_log_term={last_log_term})"),
        Body::RequestVoteReply { term, vote_granted } => {
            format!("RequestVoteReply(term={term} vote_granted={vote_granted})")
        }
        Body::AppendEntries {
            term,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
        } => format!(
            "AppendEntries(term={term} prev_log_index={prev_log_index} prev_log_term={prev_log_term} entries={} leader_commit={leader_commit})",
            log_text(entries)
        ),
        Body::AppendEntriesReply {
            term,
            success,
            match_index,
            hint,
        } => {
            let mut s = format!("AppendEntriesReply(term={term} success={success} match_index={match_index}");
            if let Some(h) = hint {
                let _ = write!(
                    s,
                    " hint=(term={} first_index={} log_len={})",
                    opt(h.term),
                    h.first_index,
                    h.log_len
                );
            }
            s + ")"
        }
    }
}

pub fn msg_text(m: &Msg) -> String {
    format!("s{}->s{} {}", m.from, m.to, body_text(&m.body))
}

pub fn action_text(a: &Action) -> String {
    match a {
        Action::Deliver(m) => format!("deliver {}", msg_text(m)),
        Action::Timeout(i) => format!("election timeout at s{i}"),
        Action::Heartbeat(i) => format!("heartbeat at leader s{i}"),
        Action::Propose(i, v) => format!("client proposes {v} at s{i}"),
        Action::Restart(i) => format!("restart s{i}"),
        Action::Drop(m) => format!("network drops {}", msg_text(m)),
        Action::Duplicate(m) => format!("network duplicates {}", msg_text(m)),
    }
}

/// Each field of a server (Figure 2 state, then the `votes_cast` history),
/// rendered for diffs. The model's step table and conformance's
/// model-versus-core diff both read this list.
pub fn server_fields(s: &Server) -> [(&'static str, String); 9] {
    [
        ("current_term", s.current_term.to_string()),
        ("role", format!("{:?}", s.role)),
        ("voted_for", opt(s.voted_for.map(|v| format!("s{v}")))),
        ("log", log_text(&s.log)),
        ("commit_index", s.commit_index.to_string()),
        ("votes_granted", bits_text(s.votes_granted)),
        ("next_index", format!("{:?}", s.next_index)),
        ("match_index", format!("{:?}", s.match_index)),
        ("votes_cast", bits_text(s.votes_cast)),
    ]
}

/// What changed from `a` to `b`, one item per line.
pub fn state_diff(a: &State, b: &State) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (x, y)) in a.servers.iter().zip(&b.servers).enumerate() {
        // votes_cast mirrors voted_for in a correct model: leave it out of tables.
        let f: Vec<String> = server_fields(x)
            .into_iter()
            .zip(server_fields(y))
            .filter(|((name, before), (_, after))| *name != "votes_cast" && before != after)
            .map(|((name, before), (_, after))| format!("{name} {before} -> {after}"))
            .collect();
        if !f.is_empty() {
            out.push(format!("s{i}: {}", f.join(", ")));
        }
    }
    for m in multiset_minus(&b.network, &a.network) {
        out.push(format!("+ {}", msg_text(m)));
    }
    for m in multiset_minus(&a.network, &b.network) {
        out.push(format!("- {}", msg_text(m)));
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
pub fn multiset_minus<'a>(a: &'a [Msg], b: &[Msg]) -> Vec<&'a Msg> {
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
            format!(
                "s{i}: current_term={} role={:?} voted_for={} log={} commit_index={}",
                x.current_term,
                x.role,
                opt(x.voted_for.map(|v| format!("s{v}"))),
                log_text(&x.log),
                x.commit_index
            )
        })
        .collect();
    out.extend(
        s.network
            .iter()
            .map(|m| format!("in flight: {}", msg_text(m))),
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

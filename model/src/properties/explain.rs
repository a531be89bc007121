//! Why a state violates a property, in the values that break it: the lines a
//! counterexample's reader needs next to the property's name.

use super::transitions::TRANSITIONS;
use crate::state::{Role, Server, State};
use crate::trace::table::log_text;

/// Lines naming the servers, indices and values that make `property` false
/// in `state` (empty if it holds or has no specific explanation).
pub fn explain(property: &str, state: &State) -> Vec<String> {
    let servers = &state.servers;
    let leaders = || (0..).zip(servers).filter(|(_, s)| s.role == Role::Leader);
    let log = |s: &Server| log_text(&s.logical_log());
    let mut out = Vec::new();
    match property {
        "Election Safety" => {
            for (t, bits) in state
                .history
                .leaders
                .iter()
                .enumerate()
                .filter(|(_, b)| b.count_ones() > 1)
            {
                out.push(format!("term {t} had more than one leader: {}", ids(*bits)));
            }
        }
        "Leader Completeness" => {
            for (l, s) in leaders() {
                for c in &state.history.commits {
                    if s.current_term > c.term && s.entry(c.index) != Some(c.entry) {
                        out.push(format!(
                            "entry ({},{}) at index {}, committed in term {}, is missing from s{l}, leader of term {} (log {})",
                            c.entry.term, c.entry.value, c.index, c.term, s.current_term, log(s)
                        ));
                    }
                }
            }
        }
        "Log Matching" => {
            for (i, a) in (0..).zip(servers) {
                for (j, b) in (0..).zip(servers).skip(i as usize + 1) {
                    let (la, lb) = (a.logical_log(), b.logical_log());
                    let common = la.len().min(lb.len());
                    if let Some(k) = (0..common).rev().find(|&k| la[k].term == lb[k].term) {
                        if la[..=k] != lb[..=k] {
                            out.push(format!(
                                "s{i} and s{j} both hold an entry of term {} at index {} but differ before it: {} vs {}",
                                la[k].term,
                                k + 1,
                                log(a),
                                log(b)
                            ));
                        }
                    }
                }
            }
        }
        "State Machine Safety" | "applied sequences agree" => {
            let commits = &state.history.commits;
            for w in commits.windows(2).filter(|w| w[0].index == w[1].index) {
                out.push(format!(
                    "index {} was committed as ({},{}) and as ({},{})",
                    w[0].index,
                    w[0].entry.term,
                    w[0].entry.value,
                    w[1].entry.term,
                    w[1].entry.value
                ));
            }
            for (i, s) in (0..).zip(servers) {
                out.push(format!("s{i} applied {}", log_text(&s.applied())));
            }
        }
        "commit_index within log" | "commit_index covers the snapshot" => {
            for (i, s) in (0..).zip(servers) {
                out.push(format!(
                    "s{i}: commit_index {}, snapshot up to {}, last index {}",
                    s.commit_index,
                    s.first_index(),
                    s.last_index()
                ));
            }
        }
        "one vote per term" => {
            for (i, (s, v)) in (0..).zip(servers.iter().zip(&state.history.votes_cast)) {
                if v.count_ones() > 1 {
                    out.push(format!(
                        "s{i} voted for {} in term {}",
                        ids(*v),
                        s.current_term
                    ));
                }
            }
        }
        "match_index is accurate" => {
            for (l, s) in leaders() {
                for (f, (follower, &m)) in (0..).zip(servers.iter().zip(&s.match_index)) {
                    let (ll, fl) = (s.logical_log(), follower.logical_log());
                    let m = m as usize;
                    let accurate = m <= ll.len() && m <= fl.len() && ll[..m] == fl[..m];
                    let counted = follower.current_term <= s.current_term && !follower.recovering();
                    if counted && !accurate {
                        out.push(format!(
                            "leader s{l} counts s{f} as holding its first {m} entries {}, but s{f} holds {}",
                            log(s),
                            log(follower)
                        ));
                    }
                }
            }
        }
        name => {
            if let Some(t) = TRANSITIONS.iter().find(|t| t.name == name) {
                out.push(format!("the last step breaks the rule \"{}\"", t.name));
            }
            for (i, s) in (0..).zip(servers) {
                let snap = &s.snapshot;
                if snap.last_included_index > 0 {
                    out.push(format!(
                        "s{i}: snapshot up to {} (term {}) holding {}; log after it {}; commit_index {}",
                        snap.last_included_index,
                        snap.last_included_term,
                        log_text(&snap.entries),
                        log_text(&s.log),
                        s.commit_index
                    ));
                }
            }
        }
    }
    out
}

fn ids(bits: u8) -> String {
    let names: Vec<String> = (0..8)
        .filter(|i| bits & 1 << i != 0)
        .map(|i| format!("s{i}"))
        .collect();
    names.join(" and ")
}

//! Conversions between the model's states and actions and the ITF JSON shapes.

use super::*;

fn bits_to_set(b: impl Into<u16>) -> Set<u8> {
    let b = b.into();
    Set {
        set: (0..16).filter(|i| b & (1 << i) != 0).collect(),
    }
}

fn set_to_bits(s: &Set<u8>, path: &str) -> Result<u8, TraceError> {
    set_to_mask(s, path, 8, "server id").map(|b| b as u8)
}

/// A set of numbers below `width` as a bit mask; `what` names them in the error.
fn set_to_mask(s: &Set<u8>, path: &str, width: u8, what: &str) -> Result<u16, TraceError> {
    s.set.iter().try_fold(0u16, |acc, &i| {
        if i < width {
            Ok(acc | (1 << i))
        } else {
            Err(TraceError::Schema(format!(
                "{path}: {what} {i} out of range"
            )))
        }
    })
}

impl From<&m::Envelope> for ItfMsg {
    fn from(env: &m::Envelope) -> Self {
        let msg = match &env.msg {
            m::Message::RequestVote(rv) => ItfMessage::RequestVote(*rv),
            m::Message::RequestVoteResponse(r) => ItfMessage::RequestVoteResponse(*r),
            m::Message::AppendEntries(ae) => ItfMessage::AppendEntries(ae.clone()),
            m::Message::AppendEntriesResponse(r) => ItfMessage::AppendEntriesResponse {
                term: r.term,
                success: r.success,
                match_index: r.match_index,
                conflict: r
                    .conflict
                    .map(|h| ItfHint {
                        term: h.term.into(),
                        first_index: h.first_index,
                        log_len: h.log_len,
                    })
                    .into(),
            },
            m::Message::InstallSnapshot(is) => ItfMessage::InstallSnapshot(is.clone()),
            m::Message::InstallSnapshotResponse(r) => ItfMessage::InstallSnapshotResponse(*r),
            m::Message::PreVote(pv) => ItfMessage::PreVote(*pv),
            m::Message::PreVoteResponse(r) => ItfMessage::PreVoteResponse(*r),
            m::Message::TimeoutNow(t) => ItfMessage::TimeoutNow(*t),
        };
        ItfMsg {
            from: env.from,
            to: env.to,
            msg,
        }
    }
}

impl From<ItfMsg> for m::Envelope {
    fn from(env: ItfMsg) -> Self {
        let msg = match env.msg {
            ItfMessage::RequestVote(rv) => m::Message::RequestVote(rv),
            ItfMessage::RequestVoteResponse(r) => m::Message::RequestVoteResponse(r),
            ItfMessage::AppendEntries(ae) => m::Message::AppendEntries(ae),
            ItfMessage::AppendEntriesResponse {
                term,
                success,
                match_index,
                conflict,
            } => m::Message::AppendEntriesResponse(m::AppendEntriesResponse {
                term,
                success,
                match_index,
                conflict: Option::from(conflict).map(|h: ItfHint| m::ConflictHint {
                    term: h.term.into(),
                    first_index: h.first_index,
                    log_len: h.log_len,
                }),
            }),
            ItfMessage::InstallSnapshot(is) => m::Message::InstallSnapshot(is),
            ItfMessage::InstallSnapshotResponse(r) => m::Message::InstallSnapshotResponse(r),
            ItfMessage::PreVote(pv) => m::Message::PreVote(pv),
            ItfMessage::PreVoteResponse(r) => m::Message::PreVoteResponse(r),
            ItfMessage::TimeoutNow(t) => m::Message::TimeoutNow(t),
        };
        m::Envelope {
            from: env.from,
            to: env.to,
            msg,
        }
    }
}

fn encode_action(a: Option<&Action>) -> (String, Picks) {
    let none = || Picks {
        server: None.into(),
        value: None.into(),
        msg: None.into(),
        target: None,
    };
    let server = |i: u8| Picks {
        server: Some(i).into(),
        ..none()
    };
    let msg = |m: &m::Envelope| Picks {
        msg: Some(ItfMsg::from(m)).into(),
        ..none()
    };
    match a {
        None => ("init".into(), none()),
        Some(Action::Deliver(m)) => ("deliver".into(), msg(m)),
        Some(Action::ElectionTimeout(i)) => ("election_timeout".into(), server(*i)),
        Some(Action::Heartbeat(i)) => ("heartbeat".into(), server(*i)),
        Some(Action::Propose(i, v)) => (
            "propose".into(),
            Picks {
                value: Some(*v).into(),
                ..server(*i)
            },
        ),
        Some(Action::Restart(i)) => ("restart".into(), server(*i)),
        Some(Action::RestartLosingTail(i)) => ("restart_losing_tail".into(), server(*i)),
        Some(Action::Drop(m)) => ("drop".into(), msg(m)),
        Some(Action::Duplicate(m)) => ("duplicate".into(), msg(m)),
        Some(Action::Snapshot(i)) => ("snapshot".into(), server(*i)),
        Some(Action::CheckQuorum(i)) => ("check_quorum".into(), server(*i)),
        Some(Action::TransferLeadership(i, t)) => (
            "transfer_leadership".into(),
            Picks {
                target: Some(*t),
                ..server(*i)
            },
        ),
        Some(Action::AbortTransfer(i)) => ("abort_transfer".into(), server(*i)),
    }
}

fn decode_action(name: &str, picks: Picks, at: usize) -> Result<Option<Action>, TraceError> {
    let path = |field: &str| format!("states[{at}].mbt::nondetPicks.{field}");
    let missing = |field: &str| {
        TraceError::Schema(format!(
            "{}: action `{name}` needs this parameter",
            path(field)
        ))
    };
    let server: Option<u8> = picks.server.into();
    let value: Option<u8> = picks.value.into();
    let target = picks.target;
    let msg: Option<m::Envelope> = Option::<ItfMsg>::from(picks.msg).map(Into::into);
    let server = || server.ok_or_else(|| missing("server"));
    let msg = || msg.clone().ok_or_else(|| missing("msg"));
    Ok(Some(match name {
        "init" => return Ok(None),
        "deliver" => Action::Deliver(msg()?),
        // Schema 1 called it `timeout`.
        "election_timeout" | "timeout" => Action::ElectionTimeout(server()?),
        "heartbeat" => Action::Heartbeat(server()?),
        "propose" => Action::Propose(server()?, value.ok_or_else(|| missing("value"))?),
        "restart" => Action::Restart(server()?),
        "restart_losing_tail" => Action::RestartLosingTail(server()?),
        "drop" => Action::Drop(msg()?),
        "duplicate" => Action::Duplicate(msg()?),
        "snapshot" => Action::Snapshot(server()?),
        "check_quorum" => Action::CheckQuorum(server()?),
        "transfer_leadership" => {
            Action::TransferLeadership(server()?, target.ok_or_else(|| missing("target"))?)
        }
        "abort_transfer" => Action::AbortTransfer(server()?),
        other => {
            return Err(TraceError::Schema(format!(
                "states[{at}].mbt::actionTaken: unknown action `{other}` (expected one of init, deliver, election_timeout, heartbeat, propose, restart, restart_losing_tail, drop, duplicate, snapshot, check_quorum, transfer_leadership, abort_transfer)"
            )))
        }
    }))
}

pub(super) fn encode_state(index: usize, s: &m::State, action: Option<&Action>) -> ItfState {
    let (action_taken, picks) = encode_action(action);
    ItfState {
        meta: StateMeta { index },
        action_taken,
        picks,
        servers: s
            .servers
            .iter()
            .enumerate()
            .map(|(i, x)| ItfServer {
                id: i as u8,
                current_term: x.current_term,
                voted_for: x.voted_for.into(),
                log: x.log.clone(),
                snapshot: x.snapshot.clone(),
                lost_up_to: x.lost_up_to,
                lost_term: x.lost_term,
                role: x.role,
                heard_from_leader: x.heard_from_leader,
                heard_from: bits_to_set(x.heard_from),
                lead_transferee: x.lead_transferee,
                commit_index: x.commit_index,
                votes_granted: bits_to_set(x.votes_granted),
                next_index: x.next_index.clone(),
                match_index: x.match_index.clone(),
                votes_cast: bits_to_set(s.history.votes_cast.get(i).copied().unwrap_or(0)),
            })
            .collect(),
        network: s.network.iter().map(ItfMsg::from).collect(),
        faults: s.faults,
        history: ItfHistory {
            leaders: s.history.leaders.iter().map(|&b| bits_to_set(b)).collect(),
            commits: Set {
                set: s.history.commits.clone(),
            },
            leader_log_rewritten: s.history.leader_log_rewritten,
            broken: Set {
                set: TRANSITIONS
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| s.history.broken & 1 << i != 0)
                    .map(|(_, t)| t.name.to_string())
                    .collect(),
            },
            transfer_terms: bits_to_set(s.history.transfer_terms),
        },
    }
}

pub(super) fn decode_state(
    at: usize,
    st: ItfState,
) -> Result<(m::State, Option<Action>), TraceError> {
    let action = decode_action(&st.action_taken, st.picks, at)?;
    let mut servers = Vec::new();
    let mut votes_cast = Vec::new();
    for (i, x) in st.servers.into_iter().enumerate() {
        if x.id as usize != i {
            return Err(TraceError::Schema(format!(
                "states[{at}].servers[{i}].id: expected {i}, found {}",
                x.id
            )));
        }
        let p = format!("states[{at}].servers[{i}]");
        servers.push(m::Server {
            current_term: x.current_term,
            voted_for: x.voted_for.into(),
            log: x.log,
            snapshot: x.snapshot,
            lost_up_to: x.lost_up_to,
            lost_term: x.lost_term,
            role: x.role,
            heard_from_leader: x.heard_from_leader,
            heard_from: set_to_bits(&x.heard_from, &format!("{p}.heard_from"))?,
            lead_transferee: x.lead_transferee,
            commit_index: x.commit_index,
            votes_granted: set_to_bits(&x.votes_granted, &format!("{p}.votes_granted"))?,
            next_index: x.next_index,
            match_index: x.match_index,
        });
        votes_cast.push(set_to_bits(&x.votes_cast, &format!("{p}.votes_cast"))?);
    }
    let mut network: Vec<m::Envelope> = st.network.into_iter().map(Into::into).collect();
    network.sort();
    let mut leaders = Vec::new();
    for (t, set) in st.history.leaders.iter().enumerate() {
        leaders.push(set_to_bits(
            set,
            &format!("states[{at}].history.leaders[{t}]"),
        )?);
    }
    let mut broken = 0u32;
    for name in &st.history.broken.set {
        let Some(i) = TRANSITIONS.iter().position(|t| t.name == name.as_str()) else {
            return Err(TraceError::Schema(format!(
                "states[{at}].history.broken: unknown transition property `{name}`"
            )));
        };
        broken |= 1 << i;
    }
    let transfer_terms = set_to_mask(
        &st.history.transfer_terms,
        &format!("states[{at}].history.transfer_terms"),
        16,
        "term",
    )?;
    let mut commits = st.history.commits.set;
    commits.sort();
    let state = m::State {
        servers,
        network,
        faults: st.faults,
        history: m::History {
            leaders,
            commits,
            leader_log_rewritten: st.history.leader_log_rewritten,
            votes_cast,
            broken,
            transfer_terms,
        },
    };
    Ok((state, action))
}

//! Trace files in the Informal Trace Format (ITF, Apalache ADR-015).
//!
//! Layout (see `docs/trace-format.md`):
//! - `#meta`: ITF's header, string fields only (the `itf` crate requires
//!   that), with `schema_version` and the violated property;
//! - `config`: the model configuration (bounds, faults, bugs, fixes);
//! - `vars`, `states`: one ITF state per step. Each state carries the action
//!   that led to it as ordinary fields, following Quint's model-based testing
//!   convention: `mbt::actionTaken` (its name) and `mbt::nondetPicks` (its
//!   parameters as `Some`/`None` variants).
//!
//! Decoding is typed: a wrong or missing field is an error naming its path
//! (e.g. `states[3].servers[1].log[0].term`) and the line and column.

use crate::config::Config;
use crate::properties::transitions::{self, TRANSITIONS};
use crate::state::{self as m, Action};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

pub const SCHEMA_VERSION: &str = "2";
/// Older schemas this version still reads (schema 1 used other message and
/// action names, accepted as aliases).
const READABLE_SCHEMAS: [&str; 2] = ["1", "2"];
pub const FORMAT_DESCRIPTION: &str = "https://apalache-mc.org/docs/adr/015adr-trace.html";

/// A trace as the rest of the crate sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceFile {
    pub config: Config,
    /// The property the trace violates, if it was saved as a counterexample.
    pub violation: Option<String>,
    pub description: String,
    /// `steps[k]` is the state after step k and the action that led to it
    /// (None for the initial state).
    pub steps: Vec<(m::State, Option<Action>)>,
}

#[derive(Debug)]
pub enum TraceError {
    Io(std::io::Error),
    /// JSON syntax or a field of the wrong shape.
    Field {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// Valid JSON of the wrong schema.
    Schema(String),
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Io(e) => write!(f, "cannot read trace: {e}"),
            TraceError::Field {
                path,
                line,
                column,
                message,
            } => write!(f, "line {line}, column {column}: field `{path}`: {message}"),
            TraceError::Schema(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for TraceError {}

// ---- The JSON shapes ------------------------------------------------------

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    #[serde(rename = "#meta")]
    meta: Meta,
    config: Config,
    vars: Vec<String>,
    states: Vec<ItfState>,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    format: String,
    #[serde(rename = "format-description")]
    format_description: String,
    source: String,
    description: String,
    schema_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    violation: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItfState {
    #[serde(rename = "#meta")]
    meta: StateMeta,
    #[serde(rename = "mbt::actionTaken")]
    action_taken: String,
    #[serde(rename = "mbt::nondetPicks")]
    picks: Picks,
    servers: Vec<ItfServer>,
    network: Vec<ItfMsg>,
    faults: m::Faults,
    history: ItfHistory,
}

#[derive(Serialize, Deserialize)]
struct StateMeta {
    index: usize,
}

/// An option as a Quint-style variant: `{"tag": "Some", "value": x}` or
/// `{"tag": "None", "value": {}}`. (Quint writes unit as `{"#tup": []}`,
/// which the `itf` crate 0.4 cannot read; both are accepted on input.)
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "tag", content = "value")]
enum QOption<T> {
    Some(T),
    None(Unit),
}

/// The unit value: written `{}`, read from `{}` or `{"#tup": []}`.
#[derive(Clone, Serialize, Deserialize)]
struct Unit {
    #[serde(rename = "#tup", default, skip_serializing_if = "Option::is_none")]
    tup: Option<[u8; 0]>,
}

impl<T> From<Option<T>> for QOption<T> {
    fn from(o: Option<T>) -> Self {
        match o {
            Some(x) => QOption::Some(x),
            None => QOption::None(Unit { tup: None }),
        }
    }
}

impl<T> From<QOption<T>> for Option<T> {
    fn from(o: QOption<T>) -> Self {
        match o {
            QOption::Some(x) => Some(x),
            QOption::None(_) => None,
        }
    }
}

#[derive(Serialize, Deserialize, Default)]
struct Set<T> {
    #[serde(rename = "#set")]
    set: Vec<T>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Picks {
    server: QOption<u8>,
    value: QOption<u8>,
    msg: QOption<ItfMsg>,
    /// The transfer's target (`transfer_leadership` only); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<u8>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItfServer {
    id: u8,
    current_term: u8,
    voted_for: QOption<u8>,
    log: Vec<m::Entry>,
    /// Schema 2; absent: no snapshot.
    #[serde(default, skip_serializing_if = "is_empty_snapshot")]
    snapshot: m::Snapshot,
    /// Absent: 0, not recovering (traces without the data-loss fault).
    #[serde(default, skip_serializing_if = "crate::state::is_zero")]
    lost_up_to: u8,
    /// Absent: 0 (the term of the loss; traces without the data-loss fault).
    #[serde(default, skip_serializing_if = "crate::state::is_zero")]
    lost_term: u8,
    role: m::Role,
    /// Absent: false (pre-vote only).
    #[serde(default, skip_serializing_if = "crate::state::is_false")]
    heard_from_leader: bool,
    /// Absent: empty (check-quorum only).
    #[serde(default, skip_serializing_if = "is_empty_set")]
    heard_from: Set<u8>,
    /// Absent: none (leadership transfer only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lead_transferee: Option<u8>,
    commit_index: u8,
    votes_granted: Set<u8>,
    next_index: Vec<u8>,
    match_index: Vec<u8>,
    votes_cast: Set<u8>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItfMsg {
    from: u8,
    to: u8,
    /// Schema 1 called this `body`.
    #[serde(alias = "body")]
    msg: ItfMessage,
}

/// Schema 1 named the responses `...Reply` and the conflict hint `hint`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "tag", content = "value")]
enum ItfMessage {
    RequestVote(m::RequestVote),
    #[serde(alias = "RequestVoteReply")]
    RequestVoteResponse(m::RequestVoteResponse),
    AppendEntries(m::AppendEntries),
    #[serde(alias = "AppendEntriesReply")]
    AppendEntriesResponse {
        term: u8,
        success: bool,
        match_index: u8,
        #[serde(alias = "hint")]
        conflict: QOption<ItfHint>,
    },
    InstallSnapshot(m::InstallSnapshot),
    InstallSnapshotResponse(m::InstallSnapshotResponse),
    PreVote(m::RequestVote),
    PreVoteResponse(m::RequestVoteResponse),
    TimeoutNow(m::TimeoutNow),
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItfHint {
    term: QOption<u8>,
    first_index: u8,
    log_len: u8,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItfHistory {
    /// Term -> set of servers elected leader in it.
    leaders: Vec<Set<u8>>,
    commits: Set<m::Commit>,
    leader_log_rewritten: bool,
    /// The transition properties some step broke, by name (schema 2).
    #[serde(default = "no_names")]
    broken: Set<String>,
    /// Terms in which a TimeoutNow started an election; absent: none.
    #[serde(default, skip_serializing_if = "is_empty_set")]
    transfer_terms: Set<u8>,
}

fn is_empty_set(s: &Set<u8>) -> bool {
    s.set.is_empty()
}

fn is_empty_snapshot(s: &m::Snapshot) -> bool {
    *s == m::Snapshot::default()
}

fn no_names() -> Set<String> {
    Set { set: Vec::new() }
}

mod convert;
use convert::{decode_state, encode_state};

// ---- Public API -----------------------------------------------------------

pub fn to_json(trace: &TraceFile) -> String {
    let doc = Doc {
        meta: Meta {
            format: "ITF".into(),
            format_description: FORMAT_DESCRIPTION.into(),
            source: "raft-model".into(),
            description: trace.description.clone(),
            schema_version: SCHEMA_VERSION.into(),
            violation: trace.violation.clone(),
        },
        config: trace.config.clone(),
        vars: [
            "mbt::actionTaken",
            "mbt::nondetPicks",
            "servers",
            "network",
            "faults",
            "history",
        ]
        .map(String::from)
        .to_vec(),
        // The action that led to state k is stored with state k - 1 in
        // `steps`; ITF states carry the action that produced them.
        states: trace
            .steps
            .iter()
            .enumerate()
            .map(|(k, (s, _))| {
                encode_state(
                    k,
                    s,
                    k.checked_sub(1).and_then(|p| trace.steps[p].1.as_ref()),
                )
            })
            .collect(),
    };
    serde_json::to_string_pretty(&doc).expect("trace values always serialize")
}

pub fn from_json(text: &str) -> Result<TraceFile, TraceError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let doc: Doc = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        TraceError::Field {
            path,
            line: inner.line(),
            column: inner.column(),
            message: inner
                .to_string()
                .split(" at line")
                .next()
                .unwrap_or_default()
                .to_string(),
        }
    })?;
    if !READABLE_SCHEMAS.contains(&doc.meta.schema_version.as_str()) {
        return Err(TraceError::Schema(format!(
            "#meta.schema_version: this raft-model reads schemas {}, the file has {}",
            READABLE_SCHEMAS.join(" and "),
            doc.meta.schema_version
        )));
    }
    if doc.states.is_empty() {
        return Err(TraceError::Schema(
            "states: a trace needs at least its initial state".into(),
        ));
    }
    let decoded: Vec<(m::State, Option<Action>)> = doc
        .states
        .into_iter()
        .enumerate()
        .map(|(k, st)| decode_state(k, st))
        .collect::<Result<_, _>>()?;
    if decoded[0].1.is_some() {
        return Err(TraceError::Schema(
            "states[0].mbt::actionTaken: the first state must be `init`".into(),
        ));
    }
    // Move each action back onto the state it was taken from.
    let mut steps = Vec::with_capacity(decoded.len());
    for k in 0..decoded.len() {
        let next_action = decoded.get(k + 1).and_then(|(_, a)| a.clone());
        if k > 0 && decoded[k].1.is_none() {
            return Err(TraceError::Schema(format!(
                "states[{k}].mbt::actionTaken: only the first state may be `init`"
            )));
        }
        steps.push((decoded[k].0.clone(), next_action));
    }
    if doc.meta.schema_version == "1" {
        upgrade_from_schema_1(&mut steps);
    }
    Ok(TraceFile {
        config: doc.config,
        violation: doc.meta.violation,
        description: doc.meta.description,
        steps,
    })
}

/// Schema 1 had no transition properties: each state's `history.broken` is
/// what the steps up to it break, as the model now records it.
fn upgrade_from_schema_1(steps: &mut [(m::State, Option<Action>)]) {
    for k in 1..steps.len() {
        let (earlier, later) = steps.split_at_mut(k);
        let (before, action) = &earlier[k - 1];
        let Some(action) = action else { return };
        let after = &mut later[0].0;
        after.history.broken = before.history.broken | transitions::broken(before, action, after);
    }
}

pub fn write_trace(path: &Path, trace: &TraceFile) -> std::io::Result<()> {
    std::fs::write(path, to_json(trace) + "\n")
}

pub fn read_trace(path: &Path) -> Result<TraceFile, TraceError> {
    let text = std::fs::read_to_string(path).map_err(TraceError::Io)?;
    from_json(&text)
}

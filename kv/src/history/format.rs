//! The exported form of a history: JSON, one record per operation.
//!
//! ```json
//! {"format": "raft-kv-history", "version": 1, "time_unit": "us", "operations": [
//!   {"client": 0, "kind": "put", "key": "k", "value": "v", "invoke": 10, "return": 25, "outcome": "ok"},
//!   {"client": 1, "kind": "get", "key": "k", "invoke": 12, "return": 30, "outcome": "value", "output": "v"},
//!   {"client": 2, "kind": "append", "key": "k", "value": "x", "invoke": 14, "return": null, "outcome": "unknown"}
//! ]}
//! ```
//!
//! `outcome` is `ok` (a Put or Append that returned), `value` (a Get that
//! returned `output`, `null` for a missing key) or `unknown` (no answer was
//! seen: the operation may or may not have taken effect). Reading is strict:
//! an unknown field, a missing one, or an inconsistent record is an error
//! naming the line and column or the record.

use serde::{Deserialize, Serialize};

use super::{History, Operation};
use crate::command::{Op, OpResult};

pub const FORMAT: &str = "raft-kv-history";
pub const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    format: String,
    version: u32,
    /// What the times count: "us" (real or simulated microseconds) or "events".
    time_unit: String,
    operations: Vec<Record>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    client: usize,
    kind: Kind,
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    invoke: u64,
    #[serde(rename = "return")]
    ret: Option<u64>,
    outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    output: Option<String>,
}

#[derive(Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Put,
    Append,
    Get,
}

#[derive(Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    Ok,
    Value,
    Unknown,
}

impl History {
    /// The history as JSON; `time_unit` names what the times count.
    pub fn to_json(&self, time_unit: &str) -> String {
        let operations = self.operations().iter().map(record).collect();
        let doc = Doc {
            format: FORMAT.into(),
            version: VERSION,
            time_unit: time_unit.into(),
            operations,
        };
        serde_json::to_string_pretty(&doc).expect("a history always serialises")
    }

    /// Reads a history written by [`History::to_json`].
    pub fn from_json(text: &str) -> Result<History, String> {
        let doc: Doc = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if doc.format != FORMAT || doc.version != VERSION {
            return Err(format!(
                "format {:?} version {}: this build reads {FORMAT:?} version {VERSION}",
                doc.format, doc.version
            ));
        }
        let ops = doc
            .operations
            .into_iter()
            .enumerate()
            .map(|(i, r)| operation(r).map_err(|e| format!("operations[{i}]: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        History::from_operations(ops)
    }
}

fn record(o: &Operation) -> Record {
    let (kind, key, value) = match &o.op {
        Op::Put { key, value } => (Kind::Put, key, Some(value.clone())),
        Op::Append { key, value } => (Kind::Append, key, Some(value.clone())),
        Op::Get { key } => (Kind::Get, key, None),
    };
    let (ret, outcome, output) = match &o.ret {
        None => (None, Outcome::Unknown, None),
        Some((t, OpResult::Done)) => (Some(*t), Outcome::Ok, None),
        Some((t, OpResult::Value(v))) => (Some(*t), Outcome::Value, v.clone()),
    };
    Record {
        client: o.client,
        kind,
        key: key.clone(),
        value,
        invoke: o.invoke,
        ret,
        outcome,
        output,
    }
}

fn operation(r: Record) -> Result<Operation, String> {
    let op = match (r.kind, r.value) {
        (Kind::Put, Some(value)) => Op::Put { key: r.key, value },
        (Kind::Append, Some(value)) => Op::Append { key: r.key, value },
        (Kind::Get, None) => Op::Get { key: r.key },
        (Kind::Get, Some(_)) => return Err("a get has no value".into()),
        (_, None) => return Err("a put or append needs a value".into()),
    };
    let is_get = matches!(op, Op::Get { .. });
    if r.output.is_some() && r.outcome != Outcome::Value {
        return Err("only a get's value outcome has an output".into());
    }
    let ret = match (r.outcome, r.ret) {
        (Outcome::Unknown, None) => None,
        (Outcome::Unknown, Some(_)) => return Err("an unknown outcome has no return time".into()),
        (_, None) => return Err("a known outcome needs a return time".into()),
        (Outcome::Ok, Some(t)) if !is_get => Some((t, OpResult::Done)),
        (Outcome::Value, Some(t)) if is_get => Some((t, OpResult::Value(r.output))),
        _ => return Err("outcome does not fit the kind (ok: put/append, value: get)".into()),
    };
    Ok(Operation {
        client: r.client,
        op,
        invoke: r.invoke,
        ret,
    })
}

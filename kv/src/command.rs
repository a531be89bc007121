//! The replicated vocabulary: client operations, the commands that go through the Raft log,
//! and the replies the state machine produces.
//!
//! Commands are stored in the log, so their encoding is a durable format: a JSON object with a
//! `"v"` version field. Version 1 is the only one; a log entry with another version (or one that
//! is not JSON) is refused with a typed error rather than guessed at.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Identifies a client session. Chosen by the client (randomly), so two clients never share one.
pub type ClientId = u64;
/// A client's per-operation sequence number: 1 for its first operation, then +1 per operation.
/// Retries of one operation reuse its number; that is what makes them idempotent.
pub type Seq = u64;

/// The encoding version written into every command.
pub const COMMAND_VERSION: u32 = 1;

/// A client operation on a string key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Put { key: String, value: String },
    Append { key: String, value: String },
    Get { key: String },
}

impl Op {
    pub fn key(&self) -> &str {
        match self {
            Op::Put { key, .. } | Op::Append { key, .. } | Op::Get { key } => key,
        }
    }
}

/// What a client asks a server: one operation of one session.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Command {
    pub client_id: ClientId,
    pub seq: Seq,
    pub op: Op,
}

/// The result of applying an operation. `Get` of a missing key is `Value(None)`;
/// Put and Append return `Done`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpResult {
    Done,
    Value(Option<String>),
}

/// The on-log form of a command (version field first, then the command).
#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u32,
    #[serde(flatten)]
    cmd: Command,
}

/// Why a log entry could not be decoded as a command.
#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("log entry is not a command: {0}")]
    Malformed(String),
    #[error(
        "command encoding version {found} is not supported (this build reads {COMMAND_VERSION})"
    )]
    UnsupportedVersion { found: u32 },
}

impl Command {
    /// The bytes proposed to Raft.
    pub fn encode(&self) -> Vec<u8> {
        let env = Envelope {
            v: COMMAND_VERSION,
            cmd: self.clone(),
        };
        serde_json::to_vec(&env).expect("a command always serialises")
    }

    pub fn decode(data: &[u8]) -> Result<Command, DecodeError> {
        // Read the version alone first, so a future format is reported as such, not as garbage.
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        let v: Version =
            serde_json::from_slice(data).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if v.v != COMMAND_VERSION {
            return Err(DecodeError::UnsupportedVersion { found: v.v });
        }
        let env: Envelope =
            serde_json::from_slice(data).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        Ok(env.cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_op() {
        for op in [
            Op::Put {
                key: "k".into(),
                value: "v".into(),
            },
            Op::Append {
                key: "k".into(),
                value: "".into(),
            },
            Op::Get {
                key: "ключ".into()
            },
        ] {
            let cmd = Command {
                client_id: 7,
                seq: 3,
                op,
            };
            assert_eq!(Command::decode(&cmd.encode()).unwrap(), cmd);
        }
    }

    #[test]
    fn refuses_other_versions_and_garbage() {
        let data = br#"{"v":2,"client_id":1,"seq":1,"op":"get","key":"a"}"#;
        assert!(matches!(
            Command::decode(data),
            Err(DecodeError::UnsupportedVersion { found: 2 })
        ));
        assert!(matches!(
            Command::decode(b"\x00\x01"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            Command::decode(br#"{"v":1}"#),
            Err(DecodeError::Malformed(_))
        ));
    }
}

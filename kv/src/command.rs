//! The replicated vocabulary: client operations, the commands that go through the Raft log,
//! and the replies the state machine produces.
//!
//! Commands are stored in the log, so their encoding is a durable format whose first byte is its
//! version. Version 2 (written now) is a compact binary layout decoded without copying
//! ([`CommandRef::decode`]): it runs on every node for every entry, so it must be cheap. Version 1
//! (a JSON object with a `"v": 1` field, first byte `{`) is what earlier builds wrote; it is
//! still read, so their logs replay. Any other version, and any malformed entry, is refused with
//! a typed [`DecodeError`] rather than guessed at; decoding never panics.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Identifies a client session. Chosen by the client (randomly), so two clients never share one.
pub type ClientId = u64;
/// A client's per-operation sequence number: 1 for its first operation, then +1 per operation.
/// Retries of one operation reuse its number; that is what makes them idempotent.
pub type Seq = u64;

/// The encoding version written into every command (its first byte). Version 1 was JSON and is
/// still read; version 2 is the compact binary layout below.
pub const COMMAND_VERSION: u32 = 2;

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

/// The legacy (version 1) on-log form of a command: JSON, version field first.
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
        "command encoding version {found} is not supported (this build reads 1 and {COMMAND_VERSION})"
    )]
    UnsupportedVersion { found: u32 },
}

/// A decoded command that borrows its key and value from the encoded bytes: what the apply
/// path uses, so applying an entry allocates only what the state machine keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandRef<'a> {
    pub client_id: ClientId,
    pub seq: Seq,
    pub op: OpRef<'a>,
}

/// [`Op`] borrowing its strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpRef<'a> {
    Put { key: &'a str, value: &'a str },
    Append { key: &'a str, value: &'a str },
    Get { key: &'a str },
}

impl OpRef<'_> {
    pub fn key(&self) -> &str {
        match self {
            OpRef::Put { key, .. } | OpRef::Append { key, .. } | OpRef::Get { key } => key,
        }
    }

    pub fn to_owned(&self) -> Op {
        match *self {
            OpRef::Put { key, value } => Op::Put {
                key: key.into(),
                value: value.into(),
            },
            OpRef::Append { key, value } => Op::Append {
                key: key.into(),
                value: value.into(),
            },
            OpRef::Get { key } => Op::Get { key: key.into() },
        }
    }
}

impl Op {
    pub fn as_ref(&self) -> OpRef<'_> {
        match self {
            Op::Put { key, value } => OpRef::Put { key, value },
            Op::Append { key, value } => OpRef::Append { key, value },
            Op::Get { key } => OpRef::Get { key },
        }
    }
}

impl CommandRef<'_> {
    pub fn to_owned(&self) -> Command {
        Command {
            client_id: self.client_id,
            seq: self.seq,
            op: self.op.to_owned(),
        }
    }
}

// Binary layout (version 2), all integers little-endian:
//
//   version: u8 = 2 | op: u8 (0 Put, 1 Append, 2 Get) | client_id: u64 | seq: u64
//   | key_len: u32 | key: UTF-8 | (Put/Append only) value_len: u32 | value: UTF-8
//
// and nothing after. A version-1 entry is JSON, so it starts with `{`.
const TAG_PUT: u8 = 0;
const TAG_APPEND: u8 = 1;
const TAG_GET: u8 = 2;
const HEADER_LEN: usize = 1 + 1 + 8 + 8;
/// First byte of a version-1 (JSON object) entry.
const LEGACY_JSON_START: u8 = b'{';

impl Command {
    /// The bytes proposed to Raft (version [`COMMAND_VERSION`]).
    pub fn encode(&self) -> Vec<u8> {
        self.as_ref().encode()
    }

    pub fn as_ref(&self) -> CommandRef<'_> {
        CommandRef {
            client_id: self.client_id,
            seq: self.seq,
            op: self.op.as_ref(),
        }
    }

    /// Decodes either version into an owned command.
    pub fn decode(data: &[u8]) -> Result<Command, DecodeError> {
        match data.first() {
            Some(&LEGACY_JSON_START) => decode_json_v1(data),
            _ => CommandRef::decode(data).map(|c| c.to_owned()),
        }
    }

    /// The version-1 (JSON) encoding, which logs written by earlier builds hold. Decoding still
    /// accepts it; nothing writes it any more except tests.
    pub fn encode_json_v1(&self) -> Vec<u8> {
        let env = Envelope {
            v: 1,
            cmd: self.clone(),
        };
        serde_json::to_vec(&env).expect("a command always serialises")
    }
}

impl<'a> CommandRef<'a> {
    /// The bytes proposed to Raft (version [`COMMAND_VERSION`]).
    pub fn encode(&self) -> Vec<u8> {
        let (tag, key, value) = match self.op {
            OpRef::Put { key, value } => (TAG_PUT, key, Some(value)),
            OpRef::Append { key, value } => (TAG_APPEND, key, Some(value)),
            OpRef::Get { key } => (TAG_GET, key, None),
        };
        let len = HEADER_LEN + 4 + key.len() + value.map_or(0, |v| 4 + v.len());
        let mut out = Vec::with_capacity(len);
        out.push(COMMAND_VERSION as u8);
        out.push(tag);
        out.extend_from_slice(&self.client_id.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        for s in std::iter::once(key).chain(value) {
            let n = u32::try_from(s.len()).expect("a key or value longer than 4 GiB");
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        out
    }

    /// Decodes a version-2 (binary) entry without copying its strings. Version-1 (JSON)
    /// entries need an owned decode: [`Command::decode`], which accepts both.
    pub fn decode(data: &'a [u8]) -> Result<CommandRef<'a>, DecodeError> {
        let malformed = |what: String| DecodeError::Malformed(what);
        let Some(&version) = data.first() else {
            return Err(malformed("empty entry".into()));
        };
        if version as u32 != COMMAND_VERSION {
            if version == LEGACY_JSON_START {
                return Err(malformed(
                    "a version-1 (JSON) command needs an owned decode".into(),
                ));
            }
            return Err(DecodeError::UnsupportedVersion {
                found: version as u32,
            });
        }
        if data.len() < HEADER_LEN {
            return Err(malformed(format!(
                "truncated header: {} of {HEADER_LEN} bytes",
                data.len()
            )));
        }
        let tag = data[1];
        let u64_at = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"));
        let (client_id, seq) = (u64_at(2), u64_at(10));
        let mut rest = &data[HEADER_LEN..];
        let mut string = |what: &str| -> Result<&'a str, DecodeError> {
            let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                return Err(malformed(format!("truncated {what} length")));
            };
            let len = u32::from_le_bytes(*len) as usize;
            if tail.len() < len {
                return Err(malformed(format!(
                    "truncated {what}: {len} bytes announced, {} present",
                    tail.len()
                )));
            }
            let (bytes, tail) = tail.split_at(len);
            rest = tail;
            std::str::from_utf8(bytes).map_err(|e| malformed(format!("{what} is not UTF-8: {e}")))
        };
        let op = match tag {
            TAG_PUT => {
                let key = string("key")?;
                OpRef::Put {
                    key,
                    value: string("value")?,
                }
            }
            TAG_APPEND => {
                let key = string("key")?;
                OpRef::Append {
                    key,
                    value: string("value")?,
                }
            }
            TAG_GET => OpRef::Get {
                key: string("key")?,
            },
            other => return Err(malformed(format!("unknown operation tag {other}"))),
        };
        if !rest.is_empty() {
            return Err(malformed(format!(
                "{} trailing bytes after the command",
                rest.len()
            )));
        }
        Ok(CommandRef { client_id, seq, op })
    }
}

/// Decodes `data` (either version) and hands the command to `f`: without copying its strings
/// for version 2, through an owned decode for version 1.
pub fn with_decoded<R>(data: &[u8], f: impl FnOnce(CommandRef<'_>) -> R) -> Result<R, DecodeError> {
    if data.first() == Some(&LEGACY_JSON_START) {
        let cmd = decode_json_v1(data)?;
        Ok(f(cmd.as_ref()))
    } else {
        CommandRef::decode(data).map(f)
    }
}

/// Version 1: JSON with a `"v"` field.
fn decode_json_v1(data: &[u8]) -> Result<Command, DecodeError> {
    // Read the version alone first, so another version is reported as such, not as garbage.
    #[derive(Deserialize)]
    struct Version {
        v: u32,
    }
    let v: Version =
        serde_json::from_slice(data).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if v.v != 1 {
        return Err(DecodeError::UnsupportedVersion { found: v.v });
    }
    let env: Envelope =
        serde_json::from_slice(data).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    Ok(env.cmd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
            assert_eq!(CommandRef::decode(&cmd.encode()).unwrap(), cmd.as_ref());
            // Logs written by earlier builds (version 1, JSON) still decode.
            assert_eq!(Command::decode(&cmd.encode_json_v1()).unwrap(), cmd);
        }
    }

    #[test]
    fn the_binary_layout_is_pinned() {
        let cmd = Command {
            client_id: 0x0102,
            seq: 3,
            op: Op::Put {
                key: "k".into(),
                value: "vv".into(),
            },
        };
        let mut want = vec![2u8, 0];
        want.extend_from_slice(&0x0102u64.to_le_bytes());
        want.extend_from_slice(&3u64.to_le_bytes());
        want.extend_from_slice(&[1, 0, 0, 0, b'k', 2, 0, 0, 0, b'v', b'v']);
        assert_eq!(cmd.encode(), want);
    }

    #[test]
    fn refuses_malformed_binary_entries_with_a_reason() {
        let good = Command {
            client_id: 1,
            seq: 1,
            op: Op::Append {
                key: "key".into(),
                value: "val".into(),
            },
        }
        .encode();
        let msg = |data: &[u8]| match Command::decode(data) {
            Err(DecodeError::Malformed(m)) => m,
            other => panic!("expected Malformed, got {other:?}"),
        };
        assert_eq!(msg(b""), "empty entry");
        assert!(msg(&good[..5]).contains("truncated header"));
        assert!(msg(&good[..good.len() - 1]).contains("truncated value"));
        let mut long = good.clone();
        long.push(0);
        assert!(msg(&long).contains("1 trailing bytes"));
        let mut tag = good.clone();
        tag[1] = 9;
        assert!(msg(&tag).contains("unknown operation tag 9"));
        let mut utf8 = good.clone();
        let at = good.len() - 1;
        utf8[at] = 0xff;
        assert!(msg(&utf8).contains("value is not UTF-8"));
        let mut v3 = good.clone();
        v3[0] = 3;
        assert!(matches!(
            Command::decode(&v3),
            Err(DecodeError::UnsupportedVersion { found: 3 })
        ));
        // The borrowed decoder refuses version 1 (it would have to allocate) with a reason.
        let json = Command::decode(&good).unwrap().encode_json_v1();
        assert!(matches!(
            CommandRef::decode(&json),
            Err(DecodeError::Malformed(_))
        ));
    }

    fn arb_command() -> impl Strategy<Value = Command> {
        let op = prop_oneof![
            (".*", ".*").prop_map(|(key, value)| Op::Put { key, value }),
            (".*", ".*").prop_map(|(key, value)| Op::Append { key, value }),
            ".*".prop_map(|key| Op::Get { key }),
        ];
        (any::<u64>(), any::<u64>(), op).prop_map(|(client_id, seq, op)| Command {
            client_id,
            seq,
            op,
        })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Command::decode(&data);
            let _ = CommandRef::decode(&data);
        }

        #[test]
        fn arbitrary_bytes_after_the_version_never_panic(
            data in proptest::collection::vec(any::<u8>(), 0..64)
        ) {
            let mut v2 = vec![2u8];
            v2.extend_from_slice(&data);
            let _ = CommandRef::decode(&v2);
            let mut v1 = vec![b'{'];
            v1.extend_from_slice(&data);
            let _ = Command::decode(&v1);
        }

        #[test]
        fn round_trip_and_every_strict_prefix_is_refused(cmd in arb_command()) {
            let data = cmd.encode();
            prop_assert_eq!(&Command::decode(&data).unwrap(), &cmd);
            for end in 0..data.len() {
                prop_assert!(Command::decode(&data[..end]).is_err());
            }
        }

        #[test]
        fn single_byte_corruption_never_panics(cmd in arb_command(), at in any::<usize>(), b in any::<u8>()) {
            let mut data = cmd.encode();
            let at = at % data.len();
            data[at] = b;
            let _ = Command::decode(&data);
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
            Err(DecodeError::UnsupportedVersion { found: 0 })
        ));
        assert!(matches!(
            Command::decode(b"\x02\x01"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            Command::decode(b"{not json"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            Command::decode(br#"{"v":1}"#),
            Err(DecodeError::Malformed(_))
        ));
    }
}

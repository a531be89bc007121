//! The wire format shared by Raft peers and KV clients.
//!
//! Every frame on a TCP connection is
//!
//! ```text
//! +----------------+---------+----------------------------+
//! | length: u32 BE | version | body (bincode 1, varint)   |
//! +----------------+---------+----------------------------+
//!                  |<------------- length ------------->|
//! ```
//!
//! `length` counts the version byte and the body and is at most [`MAX_FRAME_LEN`]; it is read
//! before anything is allocated, so a hostile or confused peer cannot make a node allocate more.
//! The version byte ([`WIRE_VERSION`]) lets a future format be refused by name instead of being
//! misparsed. The body is a [`Frame`]: one listener serves both Raft peers and clients, and the
//! frame's variant says which (`Raft` from peers; `Request` from clients, answered by `Response`
//! on the same connection). Client commands travel in their versioned log encoding
//! ([`Command::encode`]), the exact bytes the leader proposes. On a TLS connection the frames
//! travel inside the TLS records; the format is the same.

use raft_impl::core::Envelope;
use raft_impl::types::NodeId;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::status::StatusReport;
use super::transfer::TransferOutcome;
use crate::command::{Command, DecodeError};
use crate::server::Reply;

/// The only wire format version this build speaks. Version 2: the core's `RequestVote` gained
/// `transfer` and `Message` gained `TimeoutNow` (leadership transfer, thesis §3.10), which
/// changes the bincode encoding of Raft frames; version-1 peers are refused by name. The
/// `TransferLeader`/`TransferReply` frames were added after the others, which leaves every
/// earlier frame's encoding as it was, so the version stays 2.
pub const WIRE_VERSION: u8 = 2;

/// Largest accepted `length` (version byte + body). The core sends at most 1 MiB of entry
/// payload per AppendEntries (`Config::production`), so 16 MiB leaves ample room for framing
/// and one oversized entry, yet bounds what one frame can make a node buffer.
pub const MAX_FRAME_LEN: usize = 16 << 20;

/// Bytes of the length prefix.
pub const LEN_PREFIX: usize = 4;

/// One message on a connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// Raft traffic between peers.
    Raft(Envelope),
    /// A client request: `id` is chosen by the client and echoed in the response, so a client
    /// can discard late answers to attempts it already gave up on. `command` is
    /// [`Command::encode`] output.
    Request { id: u64, command: Vec<u8> },
    /// The server's answer to request `id`.
    Response { id: u64, reply: Reply },
    /// A client's token, its first frame when the node authenticates clients by token
    /// (`docs/kv-service.md`, "Security"). Not answered: a wrong token closes the connection.
    Auth { token: Vec<u8> },
    /// An operator's question to one node (`raftkv status`): who it is and how far it got.
    StatusRequest { id: u64 },
    /// The node's answer to status request `id`.
    Status { id: u64, report: StatusReport },
    /// An operator's request (`raftkv transfer-leader`) that the leader hand leadership to
    /// node `target` (thesis §3.10). Answered once the transfer has settled.
    TransferLeader { id: u64, target: NodeId },
    /// The node's answer to transfer request `id`.
    TransferReply { id: u64, outcome: TransferOutcome },
}

impl Frame {
    /// A client request for `cmd`.
    pub fn request(id: u64, cmd: &Command) -> Frame {
        Frame::Request {
            id,
            command: cmd.encode(),
        }
    }

    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Raft(_) => "Raft",
            Frame::Request { .. } => "Request",
            Frame::Response { .. } => "Response",
            Frame::Auth { .. } => "Auth",
            Frame::StatusRequest { .. } => "StatusRequest",
            Frame::Status { .. } => "Status",
            Frame::TransferLeader { .. } => "TransferLeader",
            Frame::TransferReply { .. } => "TransferReply",
        }
    }
}

/// Why bytes on a connection are not a valid frame. Every variant is fatal for the connection:
/// after a bad frame the byte stream cannot be trusted to be aligned on frame boundaries.
#[derive(Debug, Error)]
pub enum FrameError {
    #[error("frame length {len} exceeds the maximum of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("empty frame (no version byte)")]
    Empty,
    #[error("wire format version {found} is not supported (this build speaks {WIRE_VERSION})")]
    UnsupportedVersion { found: u8 },
    #[error("malformed frame body: {0}")]
    Malformed(String),
    #[error("malformed client command: {0}")]
    BadCommand(#[from] DecodeError),
}

fn codec() -> impl bincode::Options {
    use bincode::Options;
    // Varint integers keep heartbeats small; the limit stops a length field *inside* the body
    // (a Vec's element count) from asking for a huge allocation; trailing bytes mean the peer
    // and we disagree on the format, which must not pass silently.
    bincode::DefaultOptions::new()
        .with_limit(MAX_FRAME_LEN as u64)
        .reject_trailing_bytes()
}

/// Encodes `frame` with its length prefix, ready to write.
pub fn encode(frame: &Frame) -> Result<Vec<u8>, FrameError> {
    use bincode::Options;
    let body_len = codec()
        .serialized_size(frame)
        .map_err(|e| FrameError::Malformed(e.to_string()))? as usize;
    let len = body_len + 1;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    let mut out = Vec::with_capacity(LEN_PREFIX + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.push(WIRE_VERSION);
    codec()
        .serialize_into(&mut out, frame)
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    Ok(out)
}

/// Reads the length prefix at the start of `buf`: `Ok(None)` if fewer than 4 bytes are there.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    let Some(prefix) = buf.get(..LEN_PREFIX) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(prefix.try_into().expect("4 bytes")) as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    if len == 0 {
        return Err(FrameError::Empty);
    }
    Ok(Some(len))
}

/// Decodes one frame body (version byte + bincode), i.e. what follows the length prefix.
pub fn decode_body(body: &[u8]) -> Result<Frame, FrameError> {
    use bincode::Options;
    let (&version, rest) = body.split_first().ok_or(FrameError::Empty)?;
    if version != WIRE_VERSION {
        return Err(FrameError::UnsupportedVersion { found: version });
    }
    let frame: Frame = codec()
        .deserialize(rest)
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    // Check the command now, so garbage is refused at the connection that sent it rather
    // than deep in the node loop.
    if let Frame::Request { command, .. } = &frame {
        Command::decode(command)?;
    }
    Ok(frame)
}

/// Decodes the first frame in `buf`: `Ok(None)` if `buf` holds only part of it (read more),
/// `Ok(Some((frame, consumed)))` otherwise. Never panics, whatever the bytes.
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    let Some(len) = frame_len(buf)? else {
        return Ok(None);
    };
    let Some(body) = buf.get(LEN_PREFIX..LEN_PREFIX + len) else {
        return Ok(None);
    };
    Ok(Some((decode_body(body)?, LEN_PREFIX + len)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Op, OpResult};
    use crate::server::ServerError;
    use proptest::prelude::*;
    use raft_impl::core::{AppendEntries, Message};
    use raft_impl::types::Entry;

    fn samples() -> Vec<Frame> {
        let cmd = Command {
            client_id: 9,
            seq: 4,
            op: Op::Append {
                key: "k".into(),
                value: "v".into(),
            },
        };
        vec![
            Frame::Raft(Envelope {
                from: 1,
                to: 2,
                msg: Message::AppendEntries(AppendEntries {
                    term: 3,
                    prev_log_index: 1,
                    prev_log_term: 1,
                    entries: vec![Entry {
                        term: 3,
                        index: 2,
                        data: cmd.encode().into(),
                    }],
                    leader_commit: 1,
                    read_round: 0,
                }),
            }),
            Frame::request(7, &cmd),
            Frame::Response {
                id: 7,
                reply: Ok(OpResult::Value(Some("x".into()))),
            },
            Frame::Response {
                id: 8,
                reply: Err(ServerError::NotLeader {
                    leader_hint: Some(2),
                }),
            },
            Frame::Auth {
                token: b"secret".to_vec(),
            },
            Frame::TransferLeader { id: 3, target: 2 },
            Frame::TransferReply {
                id: 3,
                outcome: TransferOutcome::Handed {
                    term: 5,
                    leader_hint: Some(2),
                },
            },
            Frame::TransferReply {
                id: 4,
                outcome: TransferOutcome::NotLeader { leader_hint: None },
            },
        ]
    }

    #[test]
    fn round_trip() {
        for f in samples() {
            let bytes = encode(&f).unwrap();
            let (back, used) = decode(&bytes).unwrap().unwrap();
            assert_eq!(back, f);
            assert_eq!(used, bytes.len());
        }
    }

    #[test]
    fn frames_added_at_the_end_leave_earlier_encodings_unchanged() {
        // StatusRequest is still variant 4, so version 2 needs no bump (see WIRE_VERSION).
        let bytes = encode(&Frame::StatusRequest { id: 1 }).unwrap();
        assert_eq!(bytes, [0, 0, 0, 3, WIRE_VERSION, 4, 1]);
        let bytes = encode(&Frame::TransferLeader { id: 1, target: 3 }).unwrap();
        assert_eq!(bytes, [0, 0, 0, 4, WIRE_VERSION, 6, 1, 3]);
    }

    #[test]
    fn every_strict_prefix_needs_more() {
        for f in samples() {
            let bytes = encode(&f).unwrap();
            for cut in 0..bytes.len() {
                assert!(matches!(decode(&bytes[..cut]), Ok(None)), "cut at {cut}");
            }
        }
    }

    #[test]
    fn oversized_length_is_refused_before_reading_the_body() {
        let len = (MAX_FRAME_LEN as u32 + 1).to_be_bytes();
        assert!(matches!(
            decode(&len),
            Err(FrameError::TooLarge { len, .. }) if len == MAX_FRAME_LEN + 1
        ));
        assert!(matches!(
            decode(&u32::MAX.to_be_bytes()),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn bad_version_unknown_variant_trailing_bytes_and_bad_commands_are_errors() {
        // Version 1 (before leadership transfer changed RequestVote) and a future 3.
        for found in [1, 3] {
            let mut bytes = encode(&samples()[2]).unwrap();
            bytes[LEN_PREFIX] = found;
            assert!(matches!(
                decode(&bytes),
                Err(FrameError::UnsupportedVersion { found: f }) if f == found
            ));
        }
        // Variant index 200 does not exist.
        assert!(matches!(
            decode(&[0, 0, 0, 2, WIRE_VERSION, 200]),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(decode(&[0, 0, 0, 0]), Err(FrameError::Empty)));
        let mut bytes = encode(&samples()[2]).unwrap();
        bytes.push(0);
        let len = (bytes.len() - LEN_PREFIX) as u32;
        bytes[..LEN_PREFIX].copy_from_slice(&len.to_be_bytes());
        assert!(matches!(decode(&bytes), Err(FrameError::Malformed(_))));
        let junk = encode(&Frame::Request {
            id: 1,
            command: b"not json".to_vec(),
        })
        .unwrap();
        assert!(matches!(decode(&junk), Err(FrameError::BadCommand(_))));
    }

    #[test]
    fn an_element_count_beyond_the_limit_does_not_allocate_it() {
        // Raft(Envelope{from: 1, to: 2, AppendEntries{term 1, prev 0, prev_term 0,
        // entries: <count 2^62>...}}): bincode's limit must refuse this, not allocate.
        let mut body = vec![WIRE_VERSION, 0, 1, 2, 2, 1, 0, 0];
        body.push(0xfd); // varint u64 marker
        body.extend_from_slice(&(1u64 << 62).to_le_bytes());
        let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&body);
        assert!(decode(&bytes).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn arbitrary_bodies_behind_a_valid_prefix_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let mut bytes = (body.len() as u32 + 1).to_be_bytes().to_vec();
            bytes.push(WIRE_VERSION);
            bytes.extend_from_slice(&body);
            // Either a frame that consumes exactly the announced bytes, or an error.
            if let Ok(Some((_, used))) = decode(&bytes) {
                prop_assert_eq!(used, bytes.len());
            }
        }

        #[test]
        fn corrupting_one_byte_never_panics(idx in 0usize..64, val in any::<u8>()) {
            for f in samples() {
                let mut bytes = encode(&f).unwrap();
                let i = idx % bytes.len();
                bytes[i] = val;
                let _ = decode(&bytes);
            }
        }
    }
}

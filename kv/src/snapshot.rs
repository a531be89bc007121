//! The state machine's snapshot bytes (the `data` of a Raft snapshot, §7): the key/value map
//! *and* the session table, so that a replica restored from a snapshot still recognises a
//! retried operation (6.824 Lab 3B: a snapshot without the duplicate table re-applies a retried
//! Append).
//!
//! Format: `magic "RKVSNAP\0" | version u32 LE | body | crc32 u32 LE` of everything before it;
//! version 1's body is [`Body`] in bincode 1 (varint), the frames' encoding (`net/frame.rs`),
//! with keys and clients sorted so replicas with the same state write the same bytes. The
//! checksum is checked first, and bincode's limit (the body's own length) keeps a damaged
//! length field from asking for a huge allocation: a damaged snapshot is a [`SnapshotError`],
//! never a panic or a silently partial state.

use bincode::Options;
use raft_impl::types::Index;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::command::ClientId;
use crate::cow_map::CowMap;
use crate::state_machine::{Session, Text};

const MAGIC: &[u8; 8] = b"RKVSNAP\0";
const VERSION: u32 = 1;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("snapshot of {0} bytes is shorter than its header and checksum")]
    TooShort(usize),
    #[error("not a key/value snapshot (bad magic)")]
    BadMagic,
    #[error("snapshot format version {0} is not supported (this build reads version 1)")]
    UnsupportedVersion(u32),
    #[error("snapshot checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum { stored: u32, computed: u32 },
    #[error("snapshot body: {0}")]
    Body(String),
}

/// What a snapshot holds, sorted.
#[derive(Debug, Deserialize)]
pub(crate) struct Body {
    pub last_applied: Index,
    pub data: Vec<(String, String)>,
    pub sessions: Vec<(ClientId, Session)>,
}

fn codec(limit: usize) -> impl Options {
    bincode::DefaultOptions::new()
        .with_limit(limit as u64)
        .reject_trailing_bytes()
}

/// [`Body`] borrowed from the state machine: encodes the same bytes without copying the map.
#[derive(Serialize)]
struct BodyRef<'a> {
    last_applied: Index,
    data: Vec<(&'a str, &'a str)>,
    sessions: Vec<(ClientId, &'a Session)>,
}

pub(crate) fn encode(
    last_applied: Index,
    data: &CowMap<Text, Text>,
    sessions: &CowMap<ClientId, Session>,
) -> Vec<u8> {
    let mut data: Vec<_> = data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    data.sort_unstable();
    let mut sessions: Vec<_> = sessions.iter().map(|(c, s)| (*c, s)).collect();
    sessions.sort_unstable_by_key(|(c, _)| *c);
    let body = BodyRef {
        last_applied,
        data,
        sessions,
    };
    let mut out = Vec::from(&MAGIC[..]);
    out.extend_from_slice(&VERSION.to_le_bytes());
    bincode::DefaultOptions::new()
        .serialize_into(&mut out, &body)
        .expect("serialising to memory cannot fail");
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Body, SnapshotError> {
    let header = MAGIC.len() + 4;
    if bytes.len() < header + 4 {
        return Err(SnapshotError::TooShort(bytes.len()));
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return Err(SnapshotError::BadMagic);
    }
    let (signed, crc) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
    let computed = crc32fast::hash(signed);
    if stored != computed {
        return Err(SnapshotError::Checksum { stored, computed });
    }
    let version = u32::from_le_bytes(signed[MAGIC.len()..header].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(SnapshotError::UnsupportedVersion(version));
    }
    let body = &signed[header..];
    codec(body.len())
        .deserialize(body)
        .map_err(|e| SnapshotError::Body(e.to_string()))
}

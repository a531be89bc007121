//! The state machine's snapshot bytes (the `data` of a Raft snapshot, §7): the key/value map
//! *and* the session table, so that a replica restored from a snapshot still recognises a
//! retried operation (6.824 Lab 3B: a snapshot without the duplicate table re-applies a retried
//! Append).
//!
//! Format, little-endian, version 1:
//!
//! ```text
//! magic "RKVSNAP\0" | version u32 | last_applied u64
//! | keys u64 | (key_len u32, key, value_len u32, value)*         sorted by key
//! | sessions u64 | (client u64, last_seq u64, result)*          sorted by client
//! | crc32 u32 of everything before it
//! result: 0 = Done | 1 = Value(None) | 2, len u32, bytes = Value(Some)
//! ```
//!
//! Sorted, so replicas with the same state write the same bytes. Decoding checks every length
//! against what is left and the checksum first: a damaged snapshot is a [`SnapshotError`],
//! never a panic or a silently partial state.

use std::collections::HashMap;

use raft_impl::types::Index;
use thiserror::Error;

use crate::command::{ClientId, OpResult};
use crate::state_machine::Session;

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
    #[error("snapshot truncated in {0}")]
    Truncated(&'static str),
    #[error("snapshot {0} is not valid UTF-8")]
    NotUtf8(&'static str),
    #[error("snapshot result tag {0} is unknown")]
    BadResultTag(u8),
    #[error("snapshot has {0} trailing bytes before its checksum")]
    Trailing(usize),
}

/// The parts of a state machine a snapshot holds.
pub(crate) struct Parts {
    pub last_applied: Index,
    pub data: HashMap<String, String>,
    pub sessions: HashMap<ClientId, Session>,
}

pub(crate) fn encode(
    last_applied: Index,
    data: &HashMap<String, String>,
    sessions: &HashMap<ClientId, Session>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        64 + data
            .iter()
            .map(|(k, v)| k.len() + v.len() + 8)
            .sum::<usize>(),
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&last_applied.to_le_bytes());
    let mut keys: Vec<_> = data.iter().collect();
    keys.sort_unstable();
    out.extend_from_slice(&(keys.len() as u64).to_le_bytes());
    for (k, v) in keys {
        put_str(&mut out, k);
        put_str(&mut out, v);
    }
    let mut clients: Vec<_> = sessions.iter().collect();
    clients.sort_unstable_by_key(|(c, _)| **c);
    out.extend_from_slice(&(clients.len() as u64).to_le_bytes());
    for (client, s) in clients {
        out.extend_from_slice(&client.to_le_bytes());
        out.extend_from_slice(&s.last_seq.to_le_bytes());
        match &s.last_result {
            OpResult::Done => out.push(0),
            OpResult::Value(None) => out.push(1),
            OpResult::Value(Some(v)) => {
                out.push(2);
                put_str(&mut out, v);
            }
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Parts, SnapshotError> {
    let header = MAGIC.len() + 4 + 8;
    if bytes.len() < header + 4 {
        return Err(SnapshotError::TooShort(bytes.len()));
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return Err(SnapshotError::BadMagic);
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(SnapshotError::Checksum { stored, computed });
    }
    let mut r = Reader(&body[MAGIC.len()..]);
    let version = r.u32("version")?;
    if version != VERSION {
        return Err(SnapshotError::UnsupportedVersion(version));
    }
    let last_applied = r.u64("last_applied")?;
    let keys = r.u64("key count")?;
    let mut data = HashMap::new();
    for _ in 0..keys {
        let k = r.string("key")?;
        let v = r.string("value")?;
        data.insert(k, v);
    }
    let clients = r.u64("session count")?;
    let mut sessions = HashMap::new();
    for _ in 0..clients {
        let client = r.u64("session client")?;
        let last_seq = r.u64("session seq")?;
        let last_result = match r.u8("session result")? {
            0 => OpResult::Done,
            1 => OpResult::Value(None),
            2 => OpResult::Value(Some(r.string("session value")?)),
            t => return Err(SnapshotError::BadResultTag(t)),
        };
        sessions.insert(
            client,
            Session {
                last_seq,
                last_result,
            },
        );
    }
    if !r.0.is_empty() {
        return Err(SnapshotError::Trailing(r.0.len()));
    }
    Ok(Parts {
        last_applied,
        data,
        sessions,
    })
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], SnapshotError> {
        if self.0.len() < n {
            return Err(SnapshotError::Truncated(what));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, SnapshotError> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, SnapshotError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, SnapshotError> {
        let b = self.take(8, what)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    fn string(&mut self, what: &'static str) -> Result<String, SnapshotError> {
        let len = self.u32(what)? as usize;
        let b = self.take(len, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| SnapshotError::NotUtf8(what))
    }
}

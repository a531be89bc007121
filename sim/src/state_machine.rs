//! The simulated state machine's snapshot format and the compaction policy (§7).
//!
//! A simulated node's state machine is the sequence of commands it applied (index `k + 1` at
//! position `k`). Its snapshot bytes are that sequence with a digest, so a restored state
//! machine can be compared command by command with what every other node applied:
//!
//! ```text
//! "RSSM" | version u8 = 1 | count u64 LE | digest u64 LE | count x (len u32 LE | bytes)
//! ```
//!
//! `digest` is FNV-1a over the length-prefixed commands; decoding checks it, the count and
//! that nothing trails, and reports a [`SnapshotDecodeError`] (never panics).

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use raft_impl::types::{Index, SnapshotMeta, Term};

const MAGIC: &[u8; 4] = b"RSSM";
const VERSION: u8 = 1;
const HEADER: usize = 4 + 1 + 8 + 8;

/// When a node compacts its log into a snapshot of its state machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SnapshotPolicy {
    /// Never (the logs grow without bound, as before compaction existed).
    #[default]
    Off,
    /// As 6.824's tester: once `n` entries are applied past the latest snapshot, compact at
    /// the last applied index.
    EveryN(u64),
    /// Random points from the cluster's seeded RNG: after each compaction a gap of 1..=`max_gap`
    /// applied entries is drawn; once it is reached, compact at a random applied index above
    /// the current snapshot.
    Random { max_gap: u64 },
}

/// Who owns a node's state machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StateMachineOwner {
    /// The simulator: the list of applied commands ([`Cluster::applied`]), snapshotted per
    /// [`SnapshotPolicy`] in this module's format.
    ///
    /// [`Cluster::applied`]: crate::Cluster::applied
    #[default]
    Simulator,
    /// An application built on the cluster (a KV service on its Raft, as in 6.824 Lab 3): the
    /// runtime queues each node's committed entries and the snapshots its state machine must
    /// be reset from as [`ApplyMsg`]s (6.824's `applyCh`, [`Cluster::take_applies`]), and the
    /// application compacts by handing its own snapshot bytes to [`Cluster::snapshot`] (6.824
    /// `Snapshot(index, snapshot)`). Snapshot bytes are opaque to the simulator: the checker
    /// checks their metadata, not their content. Needs [`SnapshotPolicy::Off`].
    ///
    /// [`Cluster::take_applies`]: crate::Cluster::take_applies
    /// [`Cluster::snapshot`]: crate::Cluster::snapshot
    Application,
}

/// One change an application must make to its state machine, in the order the runtime made
/// them (6.824 `ApplyMsg`). Only with [`StateMachineOwner::Application`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyMsg {
    /// The committed entry at `index` (indices in order, each once per incarnation).
    Command {
        index: Index,
        term: Term,
        data: Bytes,
    },
    /// Reset the state machine from `data` (a leader's snapshot, Figure 13 step 8, or the
    /// durable snapshot at restart); entries resume at `meta.last_included_index + 1`.
    Snapshot { meta: SnapshotMeta, data: Bytes },
}

/// Why snapshot bytes are not a simulated state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotDecodeError {
    Truncated { needed: usize, len: usize },
    BadMagic,
    UnsupportedVersion(u8),
    DigestMismatch { stored: u64, computed: u64 },
    TrailingBytes(usize),
}

impl fmt::Display for SnapshotDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, len } => {
                write!(f, "snapshot truncated: needs {needed} bytes, has {len}")
            }
            Self::BadMagic => f.write_str("snapshot does not start with RSSM"),
            Self::UnsupportedVersion(v) => write!(f, "snapshot format version {v} unsupported"),
            Self::DigestMismatch { stored, computed } => {
                write!(
                    f,
                    "snapshot digest {stored:#x} but content hashes to {computed:#x}"
                )
            }
            Self::TrailingBytes(n) => write!(f, "{n} bytes after the last command"),
        }
    }
}

impl std::error::Error for SnapshotDecodeError {}

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn digest<'a>(commands: impl Iterator<Item = &'a [u8]>) -> u64 {
    commands.fold(FNV_OFFSET, |h, c| {
        let h = fnv1a(h, &(c.len() as u32).to_le_bytes());
        fnv1a(h, c)
    })
}

/// Snapshot bytes of a state machine that applied `commands` (indices `1..=commands.len()`).
pub fn encode(commands: &[Bytes]) -> Bytes {
    let body: usize = commands.iter().map(|c| 4 + c.len()).sum();
    let mut out = BytesMut::with_capacity(HEADER + body);
    out.put_slice(MAGIC);
    out.put_u8(VERSION);
    out.put_u64_le(commands.len() as u64);
    out.put_u64_le(digest(commands.iter().map(|c| &c[..])));
    for c in commands {
        out.put_u32_le(c.len() as u32);
        out.put_slice(c);
    }
    out.freeze()
}

/// The commands of a state machine encoded by [`encode`]; slices of `data`, not copies.
pub fn decode(data: &Bytes) -> Result<Vec<Bytes>, SnapshotDecodeError> {
    let need = |needed: usize| {
        if data.len() < needed {
            Err(SnapshotDecodeError::Truncated {
                needed,
                len: data.len(),
            })
        } else {
            Ok(())
        }
    };
    need(HEADER)?;
    if &data[..4] != MAGIC {
        return Err(SnapshotDecodeError::BadMagic);
    }
    if data[4] != VERSION {
        return Err(SnapshotDecodeError::UnsupportedVersion(data[4]));
    }
    let u64_at = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"));
    let count = u64_at(5);
    let stored = u64_at(13);
    let mut commands = Vec::new();
    let mut at = HEADER;
    for _ in 0..count {
        need(at + 4)?;
        let len = u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes")) as usize;
        at += 4;
        need(at + len)?;
        commands.push(data.slice(at..at + len));
        at += len;
    }
    if at != data.len() {
        return Err(SnapshotDecodeError::TrailingBytes(data.len() - at));
    }
    let computed = digest(commands.iter().map(|c| &c[..]));
    if computed != stored {
        return Err(SnapshotDecodeError::DigestMismatch { stored, computed });
    }
    Ok(commands)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Bytes> {
        vec![Bytes::from("1"), Bytes::new(), Bytes::from("three")]
    }

    #[test]
    fn round_trip() {
        assert_eq!(decode(&encode(&sample())).unwrap(), sample());
        assert_eq!(decode(&encode(&[])).unwrap(), Vec::<Bytes>::new());
    }

    #[test]
    fn every_truncation_is_a_typed_error() {
        let full = encode(&sample());
        for cut in 0..full.len() {
            let err = decode(&full.slice(..cut)).unwrap_err();
            assert!(
                matches!(err, SnapshotDecodeError::Truncated { .. }),
                "cut {cut}: {err}"
            );
        }
    }

    #[test]
    fn corruption_is_detected() {
        let full = encode(&sample()).to_vec();
        let mut bad = full.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(matches!(
            decode(&Bytes::from(bad)),
            Err(SnapshotDecodeError::DigestMismatch { .. })
        ));
        let mut bad = full.clone();
        bad[0] = b'X';
        assert_eq!(
            decode(&Bytes::from(bad)),
            Err(SnapshotDecodeError::BadMagic)
        );
        let mut bad = full.clone();
        bad[4] = 9;
        assert_eq!(
            decode(&Bytes::from(bad)),
            Err(SnapshotDecodeError::UnsupportedVersion(9))
        );
        let mut bad = full;
        bad.push(0);
        assert_eq!(
            decode(&Bytes::from(bad)),
            Err(SnapshotDecodeError::TrailingBytes(1))
        );
    }

    #[test]
    fn huge_count_does_not_allocate_or_panic() {
        let mut bad = encode(&[]).to_vec();
        bad[5..13].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            decode(&Bytes::from(bad)),
            Err(SnapshotDecodeError::Truncated { .. })
        ));
    }
}

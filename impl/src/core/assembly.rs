//! A follower's reassembly of a chunked snapshot (Figure 13, receiver steps
//! 2-5): chunks of one leader, term and snapshot, in offset order.

use bytes::{Bytes, BytesMut};

use super::message::InstallSnapshot;
use crate::types::{NodeId, Snapshot, SnapshotMeta, Term};

/// A snapshot being received.
#[derive(Clone, Debug, Default)]
pub(crate) struct Assembly {
    partial: Option<Partial>,
}

#[derive(Clone, Debug)]
struct Partial {
    leader: NodeId,
    term: Term,
    meta: SnapshotMeta,
    data: BytesMut,
}

/// What one accepted chunk made of the assembly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// More chunks to come; this many bytes are held.
    Partial { received: u64 },
    /// The last chunk: the whole snapshot.
    Done(Snapshot),
}

impl Assembly {
    /// Bytes held of the snapshot `m` continues, or 0 if it would start a new one.
    pub(crate) fn expected(&self, leader: NodeId, m: &InstallSnapshot) -> u64 {
        match &self.partial {
            Some(p) if p.continued_by(leader, m) => p.data.len() as u64,
            _ => 0,
        }
    }

    /// Whether `m` may be accepted (without changing anything): offset 0
    /// (step 2: "create new snapshot file if first chunk"), or exactly the
    /// bytes held of the same leader's, term's and snapshot's partial state.
    pub(crate) fn accepts(&self, leader: NodeId, m: &InstallSnapshot) -> bool {
        m.offset == 0 || m.offset == self.expected(leader, m)
    }

    /// Step 3: "write data into snapshot file at given offset"; step 4: "reply
    /// and wait for more data chunks if done is false"; step 5: "save snapshot
    /// file, discard any existing or partial snapshot". `m` passed [`accepts`](Self::accepts).
    pub(crate) fn accept(&mut self, leader: NodeId, m: &InstallSnapshot) -> Chunk {
        let meta = SnapshotMeta {
            last_included_index: m.last_included_index,
            last_included_term: m.last_included_term,
        };
        if m.offset == 0 {
            self.partial = None;
            if m.done {
                // A single chunk: no copy.
                return Chunk::Done(Snapshot {
                    meta,
                    data: m.data.clone(),
                });
            }
            self.partial = Some(Partial {
                leader,
                term: m.term,
                meta,
                data: BytesMut::new(),
            });
        }
        let Some(p) = &mut self.partial else {
            debug_assert!(
                false,
                "chunk at {} accepted without partial state",
                m.offset
            );
            return Chunk::Partial { received: 0 };
        };
        p.data.extend_from_slice(&m.data);
        if !m.done {
            return Chunk::Partial {
                received: p.data.len() as u64,
            };
        }
        let data: Bytes = std::mem::take(&mut p.data).freeze();
        self.partial = None;
        Chunk::Done(Snapshot { meta, data })
    }

    /// Partial state is dropped on a term or leader change.
    pub(crate) fn discard(&mut self) {
        self.partial = None;
    }

    /// `(last_included_index, bytes held)` of the snapshot being received, if any.
    pub(crate) fn progress(&self) -> Option<(u64, u64)> {
        self.partial
            .as_ref()
            .map(|p| (p.meta.last_included_index, p.data.len() as u64))
    }
}

impl Partial {
    fn continued_by(&self, leader: NodeId, m: &InstallSnapshot) -> bool {
        self.leader == leader
            && self.term == m.term
            && self.meta.last_included_index == m.last_included_index
            && self.meta.last_included_term == m.last_included_term
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(offset: u64, data: &'static [u8], done: bool) -> InstallSnapshot {
        InstallSnapshot {
            term: 2,
            last_included_index: 5,
            last_included_term: 1,
            offset,
            data: Bytes::from_static(data),
            done,
        }
    }

    #[test]
    fn chunks_in_order_reassemble_the_snapshot() {
        let mut a = Assembly::default();
        assert_eq!(
            a.accept(1, &chunk(0, b"ab", false)),
            Chunk::Partial { received: 2 }
        );
        assert!(a.accepts(1, &chunk(2, b"cd", false)));
        assert_eq!(
            a.accept(1, &chunk(2, b"cd", false)),
            Chunk::Partial { received: 4 }
        );
        let Chunk::Done(s) = a.accept(1, &chunk(4, b"e", true)) else {
            panic!("last chunk completes");
        };
        assert_eq!(&s.data[..], b"abcde");
        assert_eq!(s.meta.last_included_index, 5);
        assert_eq!(a.progress(), None);
    }

    #[test]
    fn out_of_order_chunk_is_not_accepted_and_changes_nothing() {
        let mut a = Assembly::default();
        let _ = a.accept(1, &chunk(0, b"ab", false));
        assert!(!a.accepts(1, &chunk(3, b"x", false)), "early");
        assert!(!a.accepts(1, &chunk(1, b"x", false)), "a duplicate too");
        assert_eq!(a.progress(), Some((5, 2)));
    }

    #[test]
    fn another_leader_or_term_does_not_continue_partial_state() {
        let mut a = Assembly::default();
        let _ = a.accept(1, &chunk(0, b"ab", false));
        assert!(!a.accepts(3, &chunk(2, b"cd", false)), "other leader");
        let mut later = chunk(2, b"cd", false);
        later.term = 3;
        assert!(!a.accepts(1, &later), "other term");
        // Offset 0 always starts over.
        assert_eq!(
            a.accept(3, &chunk(0, b"z", false)),
            Chunk::Partial { received: 1 }
        );
        a.discard();
        assert_eq!(a.progress(), None);
    }
}

//! The in-memory Raft log and what of it storage and the state machine have
//! been handed.
//!
//! The log after the latest snapshot is kept in memory; the snapshot (§7,
//! Figure 13) stands for every entry up to `last_included_index`, whose term
//! `last_included_term` is still known (`term_at` of the boundary). Two
//! cursors split the log for the [`Ready`](super::Ready) flow:
//! - `stable_last`: entries up to here were handed to storage in some Ready;
//!   later ones are *unstable* and go into the next Ready. If the log is cut
//!   at or below `stable_last`, `truncated_from` remembers where, so storage
//!   can drop the conflicting suffix.
//! - `applied_handed`: committed entries up to here were handed to the state
//!   machine; the rest (up to `commit_index`) go into the next Ready.

use super::message::AppendEntries;
use crate::types::{Entry, Index, Snapshot, SnapshotMeta, Term};

#[derive(Clone, Debug, Default)]
pub(crate) struct RaftLog {
    /// The latest snapshot (metadata and the state machine's bytes; empty
    /// metadata when nothing is compacted). The leader sends it to peers.
    snapshot: Snapshot,
    /// `entries[i].index == last_included_index + i + 1` (contiguous).
    entries: Vec<Entry>,
    /// Figure 2 `commitIndex` (volatile).
    pub(crate) commit_index: Index,
    stable_last: Index,
    truncated_from: Option<Index>,
    applied_handed: Index,
    /// Last index the runtime confirmed applied through `advance`.
    pub(crate) applied: Index,
}

/// Outcome of matching an AppendEntries' entries against the log (§5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Merge {
    /// Every entry is already present with the same term.
    AllPresent,
    /// Entries from `offset` on are beyond the last index: append them.
    Append { offset: usize },
    /// The entry at `offset` conflicts with the log at `index`: cut there, append the rest.
    Conflict { offset: usize, index: Index },
}

impl RaftLog {
    /// A log restored from storage: everything in it is already durable. With
    /// a snapshot, commit and apply start at its `last_included_index` (the
    /// state machine is restored from it); `entries` follow it.
    pub(crate) fn restored(snapshot: Option<Snapshot>, entries: Vec<Entry>) -> Self {
        let snapshot = snapshot.unwrap_or_default();
        let lii = snapshot.meta.last_included_index;
        let stable_last = lii + entries.len() as Index;
        RaftLog {
            snapshot,
            entries,
            stable_last,
            commit_index: lii,
            applied_handed: lii,
            applied: lii,
            ..Default::default()
        }
    }

    pub(crate) fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    pub(crate) fn snapshot_meta(&self) -> SnapshotMeta {
        self.snapshot.meta
    }

    /// `last_included_index` of the latest snapshot (0 when none).
    pub(crate) fn last_included_index(&self) -> Index {
        self.snapshot.meta.last_included_index
    }

    /// Index of the first entry held in memory: `last_included_index + 1`.
    pub(crate) fn first_index(&self) -> Index {
        self.last_included_index() + 1
    }

    /// Position in `entries` of the entry at `index`, if held.
    fn position(&self, index: Index) -> Option<usize> {
        let p = usize::try_from(index.checked_sub(self.first_index())?).ok()?;
        (p < self.entries.len()).then_some(p)
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub(crate) fn last_index(&self) -> Index {
        self.last_included_index() + self.entries.len() as Index
    }

    pub(crate) fn last_term(&self) -> Term {
        self.entries
            .last()
            .map_or(self.snapshot.meta.last_included_term, |e| e.term)
    }

    /// Term of the entry at `index`: 0 for index 0, `last_included_term` at
    /// the snapshot boundary, `None` if compacted below it or past the end.
    pub(crate) fn term_at(&self, index: Index) -> Option<Term> {
        let meta = self.snapshot.meta;
        if index == meta.last_included_index {
            return Some(meta.last_included_term);
        }
        self.entry(index).map(|e| e.term)
    }

    fn entry(&self, index: Index) -> Option<&Entry> {
        self.position(index).map(|p| &self.entries[p])
    }

    /// First index holding term `t` (terms never decrease along the log);
    /// entries below the snapshot count as the snapshot's boundary + 1.
    /// Only meaningful when some entry has term `t`.
    pub(crate) fn first_index_of_term(&self, t: Term) -> Index {
        self.entries.partition_point(|e| e.term < t) as Index + self.first_index()
    }

    /// Last index holding term `t`, if any entry held (or the boundary) has it.
    pub(crate) fn last_index_of_term(&self, t: Term) -> Option<Index> {
        let end = self.entries.partition_point(|e| e.term <= t);
        if end > 0 && self.entries[end - 1].term == t {
            return Some(self.last_included_index() + end as Index);
        }
        let meta = self.snapshot.meta;
        (end == 0 && meta.last_included_index > 0 && meta.last_included_term == t)
            .then_some(meta.last_included_index)
    }

    /// Entries `from..=last_index`, at most `max_entries` of them and, past the
    /// first, at most `max_bytes` of payload in total.
    pub(crate) fn slice(&self, from: Index, max_entries: usize, max_bytes: usize) -> Vec<Entry> {
        let Some(start) = self.position(from) else {
            return Vec::new();
        };
        let tail = &self.entries[start..];
        let mut bytes = 0usize;
        let mut n = 0usize;
        for e in tail.iter().take(max_entries) {
            bytes = bytes.saturating_add(e.data.len());
            if n > 0 && bytes > max_bytes {
                break;
            }
            n += 1;
        }
        tail[..n].to_vec()
    }

    /// §7: the part of `m` above the snapshot. Entries up to
    /// `last_included_index` are committed (here and at the leader), so they
    /// are skipped; the last skipped one (or the boundary) becomes
    /// `prev_log_index`. A message wholly below the snapshot becomes an empty
    /// one at the boundary.
    pub(crate) fn above_snapshot(&self, mut m: AppendEntries) -> AppendEntries {
        let meta = self.snapshot.meta;
        if m.prev_log_index >= meta.last_included_index {
            return m;
        }
        let skip = ((meta.last_included_index - m.prev_log_index) as usize).min(m.entries.len());
        let prev_log_index = m.prev_log_index + skip as Index;
        if prev_log_index < meta.last_included_index {
            m.entries.clear();
            m.prev_log_index = meta.last_included_index;
            m.prev_log_term = meta.last_included_term;
            return m;
        }
        m.prev_log_term = m.entries[skip - 1].term;
        m.prev_log_index = prev_log_index;
        m.entries.drain(..skip);
        m
    }

    /// §5.3 / Figure 2 receiver steps 3-4, read-only half: where do `entries`
    /// (which follow `prev_log_index`, already matched) diverge from the log?
    pub(crate) fn find_merge(&self, prev_log_index: Index, entries: &[Entry]) -> Merge {
        for (offset, e) in entries.iter().enumerate() {
            let index = prev_log_index + offset as Index + 1;
            match self.term_at(index) {
                None => return Merge::Append { offset },
                Some(t) if t != e.term => return Merge::Conflict { offset, index },
                Some(_) => {}
            }
        }
        Merge::AllPresent
    }

    /// Applies a [`Merge`] computed by [`find_merge`](Self::find_merge) for the same entries.
    pub(crate) fn merge(&mut self, entries: &[Entry], merge: Merge) {
        let offset = match merge {
            Merge::AllPresent => return,
            Merge::Append { offset } => offset,
            Merge::Conflict { offset, index } => {
                // §5.3: "delete the existing entry and all that follow it".
                self.truncate_from(index);
                offset
            }
        };
        self.entries.extend_from_slice(&entries[offset..]);
    }

    /// Whether applying `merge` would cut a committed entry (§5.4 forbids it;
    /// the node asserts it never does).
    pub(crate) fn cuts_committed(&self, merge: Merge) -> bool {
        matches!(merge, Merge::Conflict { index, .. } if index <= self.commit_index)
    }

    /// Drops every entry with index >= `index` (never one below the snapshot).
    fn truncate_from(&mut self, index: Index) {
        debug_assert!(index > self.last_included_index());
        self.entries.truncate((index - self.first_index()) as usize);
        if index <= self.stable_last {
            self.stable_last = index - 1;
            self.truncated_from = Some(self.truncated_from.map_or(index, |t| t.min(index)));
        }
    }

    /// Appends one new entry at `last_index + 1` (a leader's proposal).
    pub(crate) fn append(&mut self, entry: Entry) {
        debug_assert_eq!(entry.index, self.last_index() + 1);
        self.entries.push(entry);
    }

    pub(crate) fn has_unstable(&self) -> bool {
        self.truncated_from.is_some() || self.stable_last < self.last_index()
    }

    /// Hands the unstable suffix to storage: `(truncate_from, entries)`.
    pub(crate) fn take_unstable(&mut self) -> (Option<Index>, Vec<Entry>) {
        let from = (self.stable_last - self.last_included_index()) as usize;
        let entries = self.entries[from..].to_vec();
        self.stable_last = self.last_index();
        (self.truncated_from.take(), entries)
    }

    pub(crate) fn has_committed_to_hand(&self) -> bool {
        self.applied_handed < self.commit_index.min(self.stable_last)
    }

    /// Hands committed entries not yet handed to the state machine. Only
    /// entries already handed to storage qualify, so within one Ready they are
    /// persisted before they are applied.
    pub(crate) fn take_committed(&mut self) -> Vec<Entry> {
        let upto = self.commit_index.min(self.stable_last);
        if upto <= self.applied_handed {
            return Vec::new();
        }
        let lii = self.last_included_index();
        let out =
            self.entries[(self.applied_handed - lii) as usize..(upto - lii) as usize].to_vec();
        self.applied_handed = upto;
        out
    }

    /// Own compaction (§7): the snapshot `snapshot` replaces every entry up
    /// to its `last_included_index`, which the caller checked is applied
    /// (`RawNode::compact`, where the `snapshot-beyond-commit` mutant skips that check).
    pub(crate) fn compact(&mut self, snapshot: Snapshot) {
        let upto = snapshot.meta.last_included_index;
        debug_assert!(upto > self.last_included_index() && upto <= self.last_index());
        let drop = (upto - self.last_included_index()) as usize;
        self.entries.drain(..drop);
        self.snapshot = snapshot;
    }

    /// Figure 13, receiver steps 6-8 (the caller checked the snapshot is
    /// newer than `commit_index`): "If existing log entry has same index and
    /// term as snapshot's last included entry, retain log entries following
    /// it"; otherwise "discard the entire log". Commit and apply jump to
    /// `last_included_index` (the state machine is restored from the snapshot;
    /// it is applied once the runtime calls `advance`). Returns whether the
    /// suffix was kept.
    pub(crate) fn install(&mut self, snapshot: Snapshot, discard_all: bool) -> bool {
        let meta = snapshot.meta;
        let lii = meta.last_included_index;
        let keep = !discard_all && self.term_at(lii) == Some(meta.last_included_term);
        if keep {
            let drop = (lii - self.last_included_index()) as usize;
            self.entries.drain(..drop);
            self.stable_last = self.stable_last.max(lii);
            // Storage keeps its own suffix after the snapshot; a pending cut
            // below the boundary is covered by the snapshot itself.
            self.truncated_from = self.truncated_from.filter(|&t| t > lii);
        } else {
            self.entries.clear();
            self.stable_last = lii;
            self.truncated_from = None;
        }
        self.snapshot = snapshot;
        self.commit_index = self.commit_index.max(lii);
        self.applied_handed = self.applied_handed.max(lii);
        keep
    }

    /// [`Mutation::InstallOlderSnapshot`](super::Mutation::InstallOlderSnapshot)
    /// only: commit and apply indices go back to `lii`.
    pub(crate) fn reset_commit(&mut self, lii: Index) {
        self.commit_index = lii;
        self.applied_handed = lii;
        self.applied = lii;
    }

    /// The runtime restored its state machine from the snapshot ending at `lii`.
    pub(crate) fn restored_to(&mut self, lii: Index) {
        self.applied = self.applied.max(lii);
    }

    /// Checks the log's own invariants; used by the node's invariant check.
    pub(crate) fn check(&self) -> Result<(), String> {
        let meta = self.snapshot.meta;
        if (meta.last_included_index == 0) != (meta.last_included_term == 0) {
            return Err(format!("snapshot metadata {meta:?} inconsistent"));
        }
        let mut prev_term = meta.last_included_term;
        for (i, e) in self.entries.iter().enumerate() {
            if e.index != meta.last_included_index + i as Index + 1 {
                return Err(format!("entry at position {i} has index {}", e.index));
            }
            if e.term == 0 || e.term < prev_term {
                return Err(format!(
                    "entry {} has term {} after term {prev_term}",
                    e.index, e.term
                ));
            }
            prev_term = e.term;
        }
        let last = self.last_index();
        if self.commit_index < meta.last_included_index
            || self.applied_handed < meta.last_included_index
        {
            return Err(format!(
                "commit_index {} / handed {} below last_included_index {}",
                self.commit_index, self.applied_handed, meta.last_included_index
            ));
        }
        if self.commit_index > last {
            return Err(format!(
                "commit_index {} > last_index {last}",
                self.commit_index
            ));
        }
        if self.stable_last > last || self.stable_last < meta.last_included_index {
            return Err(format!(
                "stable_last {} > last_index {last}",
                self.stable_last
            ));
        }
        if self.applied > self.applied_handed || self.applied_handed > self.commit_index {
            return Err(format!(
                "applied {} <= handed {} <= commit {} violated",
                self.applied, self.applied_handed, self.commit_index
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn log(terms: &[Term]) -> RaftLog {
        RaftLog::restored(
            None,
            terms
                .iter()
                .enumerate()
                .map(|(i, &t)| Entry {
                    term: t,
                    index: i as Index + 1,
                    data: Bytes::new(),
                })
                .collect(),
        )
    }

    fn e(term: Term, index: Index) -> Entry {
        Entry {
            term,
            index,
            data: Bytes::from_static(b"xyz"),
        }
    }

    #[test]
    fn term_lookups() {
        let l = log(&[1, 1, 2, 2, 2, 4]);
        assert_eq!(l.term_at(0), Some(0));
        assert_eq!(l.term_at(3), Some(2));
        assert_eq!(l.term_at(7), None);
        assert_eq!(l.term_at(Index::MAX), None);
        assert_eq!(l.first_index_of_term(2), 3);
        assert_eq!(l.last_index_of_term(2), Some(5));
        assert_eq!(l.last_index_of_term(3), None);
        assert_eq!(l.last_index_of_term(4), Some(6));
        assert_eq!(l.last_index_of_term(9), None);
    }

    #[test]
    fn slice_respects_limits_but_sends_at_least_one() {
        let mut l = log(&[]);
        for i in 1..=5 {
            l.append(e(1, i));
        }
        assert_eq!(l.slice(2, usize::MAX, usize::MAX).len(), 4);
        assert_eq!(l.slice(2, 2, usize::MAX).len(), 2);
        assert_eq!(l.slice(1, usize::MAX, 7).len(), 2);
        assert_eq!(l.slice(1, usize::MAX, 1).len(), 1);
        assert!(l.slice(6, 10, 10).is_empty());
        assert!(l.slice(0, 10, 10).is_empty());
    }

    #[test]
    fn merge_cuts_only_at_first_conflict_and_reports_truncation() {
        let mut l = log(&[1, 1, 1, 1]);
        let entries = vec![e(1, 2), e(2, 3)];
        let m = l.find_merge(1, &entries);
        assert_eq!(
            m,
            Merge::Conflict {
                offset: 1,
                index: 3
            }
        );
        l.merge(&entries, m);
        assert_eq!(
            l.entries().iter().map(|e| e.term).collect::<Vec<_>>(),
            vec![1, 1, 2]
        );
        let (trunc, new) = l.take_unstable();
        assert_eq!(trunc, Some(3));
        assert_eq!(new, vec![e(2, 3)]);
        assert!(!l.has_unstable());
    }

    #[test]
    fn committed_entries_wait_for_storage_hand_off() {
        let mut l = log(&[]);
        l.append(e(1, 1));
        l.commit_index = 1;
        assert!(!l.has_committed_to_hand());
        assert!(l.take_committed().is_empty());
        let _ = l.take_unstable();
        assert_eq!(l.take_committed().len(), 1);
        assert!(l.take_committed().is_empty(), "handed exactly once");
    }
}

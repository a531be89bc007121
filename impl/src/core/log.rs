//! The in-memory Raft log and what of it storage and the state machine have
//! been handed.
//!
//! The whole log is kept in memory (no snapshots yet). Two cursors split it
//! for the [`Ready`](super::Ready) flow:
//! - `stable_last`: entries up to here were handed to storage in some Ready;
//!   later ones are *unstable* and go into the next Ready. If the log is cut
//!   at or below `stable_last`, `truncated_from` remembers where, so storage
//!   can drop the conflicting suffix.
//! - `applied_handed`: committed entries up to here were handed to the state
//!   machine; the rest (up to `commit_index`) go into the next Ready.

use crate::types::{Entry, Index, Term};

#[derive(Clone, Debug, Default)]
pub(crate) struct RaftLog {
    /// `entries[i].index == i + 1` (1-based, contiguous).
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
    /// A log restored from storage: everything in it is already durable.
    pub(crate) fn restored(entries: Vec<Entry>) -> Self {
        let stable_last = entries.len() as Index;
        RaftLog {
            entries,
            stable_last,
            ..Default::default()
        }
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub(crate) fn last_index(&self) -> Index {
        self.entries.len() as Index
    }

    pub(crate) fn last_term(&self) -> Term {
        self.entries.last().map_or(0, |e| e.term)
    }

    /// Term of the entry at `index`; 0 for index 0; `None` past the end.
    pub(crate) fn term_at(&self, index: Index) -> Option<Term> {
        if index == 0 {
            return Some(0);
        }
        self.entry(index).map(|e| e.term)
    }

    fn entry(&self, index: Index) -> Option<&Entry> {
        let i = usize::try_from(index.checked_sub(1)?).ok()?;
        self.entries.get(i)
    }

    /// First index holding term `t` (terms never decrease along the log).
    /// Only meaningful when some entry has term `t`.
    pub(crate) fn first_index_of_term(&self, t: Term) -> Index {
        self.entries.partition_point(|e| e.term < t) as Index + 1
    }

    /// Last index holding term `t`, if any entry has it.
    pub(crate) fn last_index_of_term(&self, t: Term) -> Option<Index> {
        let end = self.entries.partition_point(|e| e.term <= t);
        (end > 0 && self.entries[end - 1].term == t).then_some(end as Index)
    }

    /// Entries `from..=last_index`, at most `max_entries` of them and, past the
    /// first, at most `max_bytes` of payload in total.
    pub(crate) fn slice(&self, from: Index, max_entries: usize, max_bytes: usize) -> Vec<Entry> {
        let Some(start) = from.checked_sub(1).and_then(|s| usize::try_from(s).ok()) else {
            return Vec::new();
        };
        let Some(tail) = self.entries.get(start..) else {
            return Vec::new();
        };
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

    /// Drops every entry with index >= `index`.
    fn truncate_from(&mut self, index: Index) {
        self.entries.truncate((index - 1) as usize);
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
        let from = self.stable_last as usize;
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
        let out = self.entries[self.applied_handed as usize..upto as usize].to_vec();
        self.applied_handed = upto;
        out
    }

    /// Checks the log's own invariants; used by the node's invariant check.
    pub(crate) fn check(&self) -> Result<(), String> {
        let mut prev_term = 0;
        for (i, e) in self.entries.iter().enumerate() {
            if e.index != i as Index + 1 {
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
        if self.commit_index > last {
            return Err(format!(
                "commit_index {} > last_index {last}",
                self.commit_index
            ));
        }
        if self.stable_last > last {
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

//! The checks about snapshots (§7, Figure 13), and how they change the checker's logs.
//!
//! - A snapshot's content (the simulated state machine's commands, decoded by the runtime) is
//!   exactly the global applied record `1..=last_included_index`, and the entry applied at
//!   `last_included_index` has `last_included_term`: a snapshot covers only committed entries.
//! - A node compacting its own log holds `(last_included_index, last_included_term)` and the
//!   committed prefix up to it.
//! - A leader's snapshot keeps the follower's entries after it only if the follower holds the
//!   snapshot's last entry (step 6); otherwise the log is the snapshot alone (step 7).
//! - A restored state machine only moves forward, and `commit_index >= last_included_index`.
//! - Every log, whenever it changes, agrees with the applied record wherever it holds an
//!   entry of the same index and term (Log Matching against the committed prefix, which a
//!   snapshot stands for once every log that held it was compacted).

use bytes::Bytes;

use super::{first_difference, Checker, Invariant, ShadowLog};
use raft_impl::types::{Entry, Index, SnapshotMeta, Term};

impl ShadowLog {
    /// Term of the entry at `index` (1-based), if held.
    fn term(&self, index: Index) -> Option<Term> {
        let k = usize::try_from(index.checked_sub(1)?).ok()?;
        self.terms.get(k).copied()
    }
}

impl Checker {
    /// A log that is the applied record's first `lii` entries.
    fn record_prefix(&self, lii: Index) -> ShadowLog {
        let n = lii as usize;
        ShadowLog {
            terms: self.applied[..n].iter().map(|a| a.term).collect(),
            chain: self.applied_chain[..n].to_vec(),
        }
    }

    /// Whether `commands` is the applied record `1..=meta.last_included_index`, ending in
    /// `meta.last_included_term`; reports Snapshot Safety otherwise. `None`: the content is
    /// the application's (opaque), only the metadata is checked.
    fn snapshot_content_ok(
        &mut self,
        pos: usize,
        meta: SnapshotMeta,
        commands: Option<&[Bytes]>,
    ) -> bool {
        let id = self.ids[pos];
        let lii = meta.last_included_index;
        let problem = if lii == 0 {
            Some("a snapshot with last_included_index 0".to_string())
        } else if let Some(n) = commands.map(|c| c.len()).filter(|&n| n as Index != lii) {
            Some(format!("snapshot at {lii} holds {n} commands"))
        } else if lii > self.applied_len() {
            Some(format!(
                "snapshot covers index {lii} but only {} entries were ever applied (committed)",
                self.applied_len()
            ))
        } else if self.applied[(lii - 1) as usize].term != meta.last_included_term {
            Some(format!(
                "last_included_term {} but the entry applied at {lii} has term {}",
                meta.last_included_term,
                self.applied[(lii - 1) as usize].term
            ))
        } else {
            commands
                .unwrap_or_default()
                .iter()
                .zip(&self.applied)
                .position(|(c, a)| *c != a.data)
                .map(|k| {
                    format!(
                        "snapshot's command at index {} differs from the one applied there \
                         (first by node {})",
                        k + 1,
                        self.applied[k].by
                    )
                })
        };
        match problem {
            Some(detail) => {
                let nodes = vec![id];
                self.fail(Invariant::SnapshotSafety, nodes, Some(lii), detail);
                false
            }
            None => true,
        }
    }

    /// The node's runtime staged a snapshot from a Ready: its own compaction, or (`restore`)
    /// a leader's snapshot that replaces its state machine (Figure 13 steps 6-8). `commands`
    /// is the state machine decoded from the snapshot's bytes.
    pub fn log_snapshot(
        &mut self,
        pos: usize,
        meta: SnapshotMeta,
        commands: &[Bytes],
        restore: bool,
    ) {
        self.log_snapshot_of(pos, meta, Some(commands), restore);
    }

    /// [`Checker::log_snapshot`] of a snapshot whose bytes belong to the application: the
    /// same checks except the content's.
    pub fn log_opaque_snapshot(&mut self, pos: usize, meta: SnapshotMeta, restore: bool) {
        self.log_snapshot_of(pos, meta, None, restore);
    }

    fn log_snapshot_of(
        &mut self,
        pos: usize,
        meta: SnapshotMeta,
        commands: Option<&[Bytes]>,
        restore: bool,
    ) {
        if !self.snapshot_content_ok(pos, meta, commands) {
            return;
        }
        let lii = meta.last_included_index;
        let k = (lii - 1) as usize;
        let log = &self.logs[pos];
        let holds = log.term(lii) == Some(meta.last_included_term);
        if holds && log.chain[k] != self.applied_chain[k] {
            let bad = first_difference(&log.chain[..=k], &self.applied_chain[..=k]);
            let by = self.applied[(bad - 1) as usize].by;
            let detail = format!(
                "holds the snapshot's last entry ({lii}, term {}) but its log differs from the \
                 applied prefix at index {bad}",
                meta.last_included_term
            );
            let nodes = vec![self.ids[pos], by];
            return self.fail(Invariant::LogMatching, nodes, Some(bad), detail);
        }
        match (restore, holds) {
            // The shadow keeps the full prefix: it already is the committed one.
            (_, true) => {}
            (false, false) => {
                let detail = format!(
                    "compacted at {lii} (term {}) but its log holds term {:?} there",
                    meta.last_included_term,
                    log.term(lii)
                );
                self.fail(
                    Invariant::SnapshotSafety,
                    vec![self.ids[pos]],
                    Some(lii),
                    detail,
                );
            }
            // Step 7: discard the entire log; the snapshot is the log.
            (true, false) => {
                self.logs[pos] = self.record_prefix(lii);
                self.mark_dirty(pos, 1);
            }
        }
    }

    /// The node's runtime replaced its state machine with a snapshot ending at `lii` (a
    /// leader's snapshot, released after its sync). Applying resumes at `lii + 1`.
    pub fn restored(&mut self, pos: usize, lii: Index) {
        let count = self.applied_count[pos];
        if lii <= count {
            let detail = format!(
                "restored a snapshot at {lii} after applying {count}: the state machine went back"
            );
            return self.fail(
                Invariant::ApplyOrder,
                vec![self.ids[pos]],
                Some(lii),
                detail,
            );
        }
        self.applied_count[pos] = lii;
    }

    /// The node restarted with its durable snapshot (if any, with its decoded commands) and
    /// the entries after it; its state machine was loaded from the snapshot.
    pub fn node_up_from(
        &mut self,
        pos: usize,
        snapshot: Option<(SnapshotMeta, &[Bytes])>,
        entries: &[Entry],
    ) {
        self.node_up_from_opaque(pos, snapshot.map(|(m, c)| (m, Some(c))), entries);
    }

    /// [`Checker::node_up_from`] where the snapshot's commands may be the application's
    /// (`None`: opaque, only its metadata is checked).
    pub fn node_up_from_opaque(
        &mut self,
        pos: usize,
        snapshot: Option<(SnapshotMeta, Option<&[Bytes]>)>,
        entries: &[Entry],
    ) {
        self.up[pos] = true;
        let lii = match snapshot {
            Some((meta, commands)) if self.snapshot_content_ok(pos, meta, commands) => {
                meta.last_included_index
            }
            _ => 0,
        };
        self.logs[pos] = self.record_prefix(lii);
        self.applied_count[pos] = lii;
        self.mark_dirty(pos, 1);
        if let Some(first) = entries.first() {
            if first.index != lii + 1 {
                let detail = format!(
                    "restarted with entries from {} after a snapshot at {lii}",
                    first.index
                );
                return self.runtime_contract(pos, detail);
            }
        }
        for e in entries {
            self.logs[pos].append(e);
        }
    }

    /// Figure 13 and §7: a node's commit index never falls below its own snapshot.
    pub fn snapshot_bounds(&mut self, pos: usize, last_included_index: Index, commit: Index) {
        if commit < last_included_index {
            let detail = format!(
                "commit_index {commit} below its last_included_index {last_included_index}"
            );
            let nodes = vec![self.ids[pos]];
            self.fail(
                Invariant::SnapshotSafety,
                nodes,
                Some(last_included_index),
                detail,
            );
        }
    }

    /// Log Matching of node `a`'s log against the applied record, from index `from`.
    pub(super) fn check_against_record(&mut self, a: usize, from: Index) {
        let log = &self.logs[a];
        let hi = log.len().min(self.applied_len());
        for i in from.max(1)..=hi {
            let k = (i - 1) as usize;
            let rec = &self.applied[k];
            if log.terms[k] == rec.term && log.chain[k] != self.applied_chain[k] {
                let bad = first_difference(&log.chain[..=k], &self.applied_chain[..=k]);
                let detail = format!(
                    "holds the applied entry {i} (term {}) but differs from the applied prefix \
                     at index {bad} (terms {} vs {})",
                    rec.term,
                    log.terms[(bad - 1) as usize],
                    self.applied[(bad - 1) as usize].term,
                );
                let nodes = vec![self.ids[a], self.applied[(bad - 1) as usize].by];
                return self.fail(Invariant::LogMatching, nodes, Some(i), detail);
            }
        }
    }
}

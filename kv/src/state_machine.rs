//! The replicated state machine: the key/value map plus the session table.
//!
//! Duplicate detection happens here, at apply time, and the session table is part of the
//! replicated state. Every replica applies the same log, so every replica builds the same table
//! and a new leader already knows which operations were executed. Deduplicating when a request
//! *arrives* instead would be wrong: a retry can reach a new leader before (or after) the first
//! copy is committed, and both copies may end up in the log; only the apply loop sees them in
//! their final order.

use raft_impl::types::Index;

use crate::command::{ClientId, Command, CommandRef, OpRef, OpResult, Seq};
use crate::cow_map::CowMap;
use crate::snapshot::SnapshotError;

/// Keys and values: up to 24 bytes inline in the map's table (no pointer to chase on a lookup),
/// longer ones on the heap.
pub(crate) type Text = compact_str::CompactString;

/// The last operation executed for one client, and its result (to answer retries).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub last_seq: Seq,
    pub last_result: OpResult,
}

/// What applying one command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Executed now (first time this `(client, seq)` reached the state machine).
    Executed(OpResult),
    /// A retry of the client's last executed operation: not executed again; its recorded result.
    Duplicate(OpResult),
    /// Older than the client's last executed operation. The client has already had that reply
    /// (it sends one operation at a time), so nobody is waiting for this one.
    Stale,
}

impl Applied {
    /// The result to send to a waiting client, if any.
    pub fn result(&self) -> Option<&OpResult> {
        match self {
            Applied::Executed(r) | Applied::Duplicate(r) => Some(r),
            Applied::Stale => None,
        }
    }
}

/// The maps are [`CowMap`]s: a clone shares every entry with the original until one of them
/// changes it, so [`KvStateMachine::freeze`] copies no entry.
#[derive(Clone, Debug, Default)]
pub struct KvStateMachine {
    data: CowMap<Text, Text>,
    sessions: CowMap<ClientId, Session>,
    last_applied: Index,
}

impl KvStateMachine {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn last_applied(&self) -> Index {
        self.last_applied
    }

    /// Applies the command at log `index`. Indices must come in order, each once.
    pub fn apply(&mut self, index: Index, cmd: &Command) -> Applied {
        self.apply_ref(index, cmd.as_ref())
    }

    /// [`KvStateMachine::apply`] on a borrowed command (decoded in place from a log entry):
    /// copies only the strings the map keeps.
    pub fn apply_ref(&mut self, index: Index, cmd: CommandRef<'_>) -> Applied {
        self.note_index(index);
        if let Some(s) = self.sessions.get_mut(&cmd.client_id) {
            if cmd.seq == s.last_seq {
                return Applied::Duplicate(s.last_result.clone());
            }
            if cmd.seq < s.last_seq {
                return Applied::Stale;
            }
            let result = execute(&mut self.data, cmd.op);
            s.last_seq = cmd.seq;
            s.last_result = result.clone();
            return Applied::Executed(result);
        }
        let result = execute(&mut self.data, cmd.op);
        let session = Session {
            last_seq: cmd.seq,
            last_result: result.clone(),
        };
        self.sessions.insert(cmd.client_id, session);
        Applied::Executed(result)
    }

    /// Consumes log `index` without a command (an entry that is not a KV command). Keeps the
    /// applied index in step with the log so the service's index bookkeeping stays exact.
    pub fn skip(&mut self, index: Index) {
        self.note_index(index);
    }

    fn note_index(&mut self, index: Index) {
        debug_assert_eq!(
            index,
            self.last_applied + 1,
            "entries are applied in log order, each once"
        );
        self.last_applied = index;
    }

    /// The snapshot of everything applied so far: the map and the session table
    /// ([`crate::snapshot`]), for `RawNode::compact(self.last_applied(), ...)`.
    pub fn snapshot(&self) -> Vec<u8> {
        crate::snapshot::encode(self.last_applied, &self.data, &self.sessions)
    }

    /// [`KvStateMachine::snapshot`] with an empty session table: the simulator's
    /// `ServiceFault::SnapshotWithoutSessions`, to show the checks catch it.
    pub(crate) fn snapshot_without_sessions(&self) -> Vec<u8> {
        crate::snapshot::encode(self.last_applied, &self.data, &CowMap::new())
    }

    /// The state after `last_applied`, frozen without copying an entry (the maps share their
    /// shards), to be encoded on another thread while this state machine applies on: later
    /// applies copy the shards they change and never reach the frozen copy.
    pub fn freeze(&self) -> FrozenState {
        FrozenState(self.clone())
    }

    /// The state machine a snapshot holds (Figure 13, step 8: reset from the snapshot).
    pub fn restore(snapshot: &[u8]) -> Result<Self, SnapshotError> {
        let body = crate::snapshot::decode(snapshot)?;
        Ok(KvStateMachine {
            data: (body.data.into_iter())
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            sessions: body.sessions.into_iter().collect(),
            last_applied: body.last_applied,
        })
    }

    /// Number of keys and their total size in bytes (for status and the snapshot threshold).
    pub fn size(&self) -> (usize, usize) {
        let bytes = self.data.iter().map(|(k, v)| k.len() + v.len()).sum();
        (self.data.len(), bytes)
    }

    /// The recorded session of `client`, if it has executed anything.
    pub fn session(&self, client: ClientId) -> Option<&Session> {
        self.sessions.get(&client)
    }

    /// Current value of `key` (local, not linearizable: for tests and diagnostics).
    pub fn peek(&self, key: &str) -> Option<&str> {
        self.data.get(key).map(Text::as_str)
    }
}

/// A state machine's state at one index, immutable, sendable to another thread.
#[derive(Clone, Debug)]
pub struct FrozenState(KvStateMachine);

impl FrozenState {
    /// The index the state is the state after.
    pub fn last_applied(&self) -> Index {
        self.0.last_applied
    }

    /// [`KvStateMachine::snapshot`] of the frozen state: the same bytes the live state machine
    /// would have written at `last_applied`.
    pub fn snapshot(&self) -> Vec<u8> {
        self.0.snapshot()
    }
}

/// Executes `op` on the map. An existing key's value is overwritten in place (no new
/// allocation when it fits); only a new key is copied.
fn execute(data: &mut CowMap<Text, Text>, op: OpRef<'_>) -> OpResult {
    match op {
        OpRef::Put { key, value } => {
            match data.get_mut(key) {
                Some(v) => {
                    v.clear();
                    v.push_str(value);
                }
                None => {
                    data.insert(key.into(), value.into());
                }
            }
            OpResult::Done
        }
        OpRef::Append { key, value } => {
            match data.get_mut(key) {
                Some(v) => v.push_str(value),
                None => {
                    data.insert(key.into(), value.into());
                }
            }
            OpResult::Done
        }
        OpRef::Get { key } => OpResult::Value(data.get(key).map(Text::to_string)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Op;

    fn cmd(client: ClientId, seq: Seq, op: Op) -> Command {
        Command {
            client_id: client,
            seq,
            op,
        }
    }
    fn append(k: &str, v: &str) -> Op {
        Op::Append {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn put_append_get() {
        let mut sm = KvStateMachine::new();
        let get = || Op::Get { key: "a".into() };
        assert_eq!(
            sm.apply(1, &cmd(1, 1, get())),
            Applied::Executed(OpResult::Value(None))
        );
        sm.apply(
            2,
            &cmd(
                1,
                2,
                Op::Put {
                    key: "a".into(),
                    value: "x".into(),
                },
            ),
        );
        sm.apply(3, &cmd(1, 3, append("a", "y")));
        assert_eq!(
            sm.apply(4, &cmd(1, 4, get())),
            Applied::Executed(OpResult::Value(Some("xy".into())))
        );
    }

    #[test]
    fn a_retried_append_is_executed_once() {
        let mut sm = KvStateMachine::new();
        assert_eq!(
            sm.apply(1, &cmd(9, 1, append("k", "a"))),
            Applied::Executed(OpResult::Done)
        );
        // The same (client, seq) committed again, e.g. sent to two leaders in turn.
        assert_eq!(
            sm.apply(2, &cmd(9, 1, append("k", "a"))),
            Applied::Duplicate(OpResult::Done)
        );
        assert_eq!(sm.peek("k"), Some("a"));
        sm.apply(3, &cmd(9, 2, append("k", "b")));
        assert_eq!(sm.apply(4, &cmd(9, 1, append("k", "a"))), Applied::Stale);
        assert_eq!(sm.peek("k"), Some("ab"));
        // Another client's sequence numbers are independent.
        sm.apply(5, &cmd(10, 1, append("k", "c")));
        assert_eq!(sm.peek("k"), Some("abc"));
    }

    #[test]
    fn a_duplicate_get_returns_the_first_result() {
        let mut sm = KvStateMachine::new();
        let get = cmd(1, 1, Op::Get { key: "k".into() });
        sm.apply(1, &get);
        sm.apply(
            2,
            &cmd(
                2,
                1,
                Op::Put {
                    key: "k".into(),
                    value: "new".into(),
                },
            ),
        );
        // The retry must not observe the later Put: the operation took effect once, at index 1.
        assert_eq!(sm.apply(3, &get), Applied::Duplicate(OpResult::Value(None)));
    }

    #[test]
    fn a_restored_snapshot_keeps_the_session_table_so_a_retry_is_not_applied_twice() {
        let mut sm = KvStateMachine::new();
        sm.apply(1, &cmd(9, 1, append("k", "a")));
        sm.apply(2, &cmd(7, 4, Op::Get { key: "k".into() }));
        let bytes = sm.snapshot();
        let mut restored = KvStateMachine::restore(&bytes).unwrap();
        assert_eq!(restored.last_applied(), 2);
        assert_eq!(restored.peek("k"), Some("a"));
        assert_eq!(restored.session(7), sm.session(7));
        // The Clerk retries its append after the restart: recognised, not re-applied.
        assert_eq!(
            restored.apply(3, &cmd(9, 1, append("k", "a"))),
            Applied::Duplicate(OpResult::Done)
        );
        assert_eq!(restored.peek("k"), Some("a"));
        // Same state, same bytes, whatever the maps' iteration order.
        assert_eq!(KvStateMachine::restore(&bytes).unwrap().snapshot(), bytes);
    }

    #[test]
    fn a_damaged_snapshot_is_an_error_never_a_panic_or_a_partial_state() {
        let mut sm = KvStateMachine::new();
        for i in 1..=5u64 {
            let op = Op::Put {
                key: format!("key{i}"),
                value: "v".repeat(i as usize),
            };
            sm.apply(i, &cmd(i, 1, op));
        }
        let bytes = sm.snapshot();
        for cut in 0..bytes.len() {
            assert!(
                KvStateMachine::restore(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x10;
            assert!(KvStateMachine::restore(&flipped).is_err(), "flip at {at}");
        }
        assert_eq!(
            KvStateMachine::restore(b"not a key/value snapshot at all").err(),
            Some(SnapshotError::BadMagic)
        );
    }
}

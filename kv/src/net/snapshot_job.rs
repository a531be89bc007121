//! A snapshot encoded off the node loop (issue 12): the loop freezes the state machine at its
//! applied index (O(1), `KvStateMachine::freeze`), a thread of its own serialises and checksums
//! it, and the loop takes the bytes on a later pass for `RawNode::compact` (§7).
//!
//! Nothing here touches storage: a job dropped before it ends (the loop stopped, the node
//! restarts) loses only work. Its thread is not joined: it ends once its encoding is done and
//! finds nobody to hand it to.

use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};
use std::time::Instant;

use raft_impl::types::{Index, NodeId};

use crate::state_machine::FrozenState;

/// One snapshot being encoded.
pub(crate) struct SnapshotJob {
    /// The index the snapshot is the state after.
    index: Index,
    /// When the state was frozen (for the log line).
    pub started: Instant,
    done: Receiver<Vec<u8>>,
}

/// Where a [`SnapshotJob`] is.
#[derive(Debug)]
pub(crate) enum Progress {
    Running,
    /// The snapshot bytes of the state after `index`.
    Done {
        index: Index,
        data: Vec<u8>,
    },
    /// The thread ended without bytes (it panicked).
    Failed,
}

impl SnapshotJob {
    /// Starts encoding `state` on a new thread.
    pub fn spawn(id: NodeId, state: FrozenState) -> std::io::Result<Self> {
        let (tx, done) = sync_channel(1);
        let index = state.last_applied();
        std::thread::Builder::new()
            .name(format!("raftkv-snapshot-{id}"))
            .spawn(move || {
                // The loop may have dropped the job meanwhile: then nobody wants the bytes.
                let _ = tx.send(state.snapshot());
            })?;
        Ok(SnapshotJob {
            index,
            started: Instant::now(),
            done,
        })
    }

    /// Never blocks.
    pub fn progress(&self) -> Progress {
        match self.done.try_recv() {
            Ok(data) => Progress::Done {
                index: self.index,
                data,
            },
            Err(TryRecvError::Empty) => Progress::Running,
            Err(TryRecvError::Disconnected) => Progress::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::command::{Command, Op};
    use crate::state_machine::KvStateMachine;

    fn put(sm: &mut KvStateMachine, client: u64, seq: u64, key: String, value: String) {
        let index = sm.last_applied() + 1;
        let op = Op::Put { key, value };
        let cmd = Command {
            client_id: client,
            seq,
            op,
        };
        sm.apply(index, &cmd);
    }

    /// A state large enough that encoding it takes a while.
    fn large_state() -> KvStateMachine {
        let mut sm = KvStateMachine::new();
        for i in 0..20_000u64 {
            put(
                &mut sm,
                i % 64,
                i / 64 + 1,
                format!("key{i}"),
                "v".repeat(200),
            );
        }
        sm
    }

    fn wait(job: &SnapshotJob) -> (Index, Vec<u8>) {
        loop {
            match job.progress() {
                Progress::Running => std::thread::sleep(Duration::from_millis(1)),
                Progress::Done { index, data } => return (index, data),
                Progress::Failed => panic!("the snapshot thread failed"),
            }
        }
    }

    #[test]
    fn the_background_snapshot_is_the_inline_snapshot_of_the_same_state() {
        let sm = large_state();
        let inline = sm.snapshot();
        let job = SnapshotJob::spawn(1, sm.freeze()).unwrap();
        let (index, data) = wait(&job);
        assert_eq!(index, sm.last_applied());
        assert_eq!(index, 20_000);
        assert!(data == inline, "background and inline bytes differ");
        let restored = KvStateMachine::restore(&data).unwrap();
        assert_eq!(restored.size(), sm.size());
        assert_eq!(restored.session(5), sm.session(5));
    }

    #[test]
    fn writes_applied_while_a_snapshot_is_encoded_do_not_leak_into_it() {
        let mut sm = large_state();
        let before = sm.snapshot();
        let job = SnapshotJob::spawn(1, sm.freeze()).unwrap();
        // Overwrite every key (in place, as `execute` does), add keys and sessions, while the
        // thread encodes.
        for i in 0..20_000u64 {
            put(&mut sm, 1000 + i, 1, format!("key{i}"), "changed".into());
        }
        put(&mut sm, 5, 1_000, "new".into(), "key".into());
        let (index, data) = wait(&job);
        assert_eq!(index, 20_000);
        assert!(data == before, "the snapshot saw later writes");
        let restored = KvStateMachine::restore(&data).unwrap();
        assert_eq!(restored.last_applied(), 20_000);
        assert_eq!(restored.peek("key0"), Some("v".repeat(200).as_str()));
        assert_eq!(restored.peek("new"), None);
        assert_eq!(restored.session(1000), None);
        assert_eq!(sm.peek("key0"), Some("changed"));
    }

    #[test]
    fn a_dropped_job_is_harmless() {
        let sm = large_state();
        drop(SnapshotJob::spawn(1, sm.freeze()).unwrap());
        // The live state machine is untouched and still snapshots the same bytes.
        assert_eq!(
            KvStateMachine::restore(&sm.snapshot()).unwrap().size(),
            sm.size()
        );
    }
}

//! Where the node loop's Ready writes are made durable: inline, or on a persist thread that
//! group-commits every job queued meanwhile (see `node_loop.rs`, and `pipeline.rs` for
//! persist-before-send).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use raft_impl::storage::{Storage, StorageError};
use raft_impl::types::NodeId;

use super::node_loop::Event;
use super::pipeline::{Job, Pipeline};

/// Where a Ready's writes are made durable.
pub(crate) enum Persister<S> {
    /// Staged and synced by the loop itself, before it goes on.
    Inline(S),
    /// By a thread of its own (see `node_loop.rs`).
    Background {
        jobs: Option<std::sync::mpsc::Sender<Job>>,
        shared: Arc<PersistShared>,
        thread: Option<JoinHandle<()>>,
    },
}

/// What the persist thread reports to the loop.
#[derive(Default)]
pub(crate) struct PersistShared {
    /// Highest job made durable (every job up to it is).
    durable: AtomicU64,
    failed: AtomicBool,
    error: Mutex<Option<StorageError>>,
}

impl<S: Storage + Send + 'static> Persister<S> {
    pub(crate) fn spawn(
        id: NodeId,
        storage: S,
        wake: SyncSender<Event>,
    ) -> Result<Self, StorageError> {
        let (jobs, rx) = std::sync::mpsc::channel();
        let shared = Arc::new(PersistShared::default());
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("raftkv-persist-{id}"))
            .spawn(move || persist_thread(storage, rx, &sh, wake))
            .map_err(|source| StorageError::Io {
                path: "<persist thread>".into(),
                source,
            })?;
        Ok(Persister::Background {
            jobs: Some(jobs),
            shared,
            thread: Some(thread),
        })
    }

    /// Hands `job` over; inline, it is durable when this returns.
    pub(crate) fn submit(&mut self, job: Job, pipe: &mut Pipeline) -> Result<(), StorageError> {
        match self {
            Persister::Inline(storage) => {
                let id = job.id;
                job.stage(storage)?;
                storage.sync()?;
                pipe.durable(id);
                Ok(())
            }
            Persister::Background { jobs, shared, .. } => {
                let sent = jobs.as_ref().is_some_and(|tx| tx.send(job).is_ok());
                if sent {
                    Ok(())
                } else {
                    // The thread is gone: it failed (its error says why) or panicked.
                    Err(shared.take_error())
                }
            }
        }
    }

    /// Takes in the persist thread's progress; its error if it failed.
    pub(crate) fn poll(&mut self, pipe: &mut Pipeline) -> Result<(), StorageError> {
        if let Persister::Background { shared, .. } = self {
            if shared.failed.load(Ordering::Acquire) {
                return Err(shared.take_error());
            }
            let durable = shared.durable.load(Ordering::Acquire);
            if durable > 0 {
                pipe.durable(durable);
            }
        }
        Ok(())
    }

    /// Lets the persist thread finish what it was given and waits for it.
    pub(crate) fn stop(&mut self) -> Result<(), StorageError> {
        if let Persister::Background {
            jobs,
            shared,
            thread,
        } = self
        {
            jobs.take();
            if let Some(t) = thread.take() {
                if t.join().is_err() || shared.failed.load(Ordering::Acquire) {
                    return Err(shared.take_error());
                }
            }
        }
        Ok(())
    }
}

impl PersistShared {
    fn take_error(&self) -> StorageError {
        let mut e = self.error.lock().unwrap_or_else(|p| p.into_inner());
        // No recorded error: the thread panicked. Nothing it was given may be trusted.
        e.take().unwrap_or(StorageError::Poisoned)
    }
}

/// The persist thread: stages every job queued, syncs once, reports, repeats. Ends when the
/// loop drops its sender or storage fails (then the loop sees the error and stops the node).
fn persist_thread<S: Storage>(
    mut storage: S,
    jobs: Receiver<Job>,
    shared: &PersistShared,
    wake: SyncSender<Event>,
) {
    while let Ok(job) = jobs.recv() {
        let mut last = job.id;
        let mut r = job.stage(&mut storage);
        while r.is_ok() {
            match jobs.try_recv() {
                Ok(job) => {
                    last = job.id;
                    r = job.stage(&mut storage);
                }
                Err(_) => break,
            }
        }
        match r.and_then(|()| storage.sync()) {
            Ok(()) => shared.durable.store(last, Ordering::Release),
            Err(e) => {
                *shared.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                shared.failed.store(true, Ordering::Release);
                let _ = wake.try_send(Event::Persisted);
                return;
            }
        }
        // A full queue means the loop has events to take and will look at `shared` on its next
        // pass anyway; a closed one means it has stopped.
        let _ = wake.try_send(Event::Persisted);
    }
}

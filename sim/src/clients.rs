//! Simulated clients for churn tests and the soak run, after the client goroutines of
//! 6.824's `internalChurn`: each proposes a random command at every server that accepts it,
//! then polls for it at growing intervals and remembers it once it sees it applied.
//!
//! Clients are driven in simulated time by [`ClientPool::run_for`], interleaved with the
//! cluster's own events, so the run stays a function of the seed.

use bytes::Bytes;
use rand::Rng;

use crate::cluster::{Cluster, MS};
use crate::error::SimError;
use raft_impl::types::Index;

/// Poll delays after a successful Start (6.824: 10, 20, 50, 100, 200 ms).
const POLL_US: [u64; 5] = [10 * MS, 20 * MS, 50 * MS, 100 * MS, 200 * MS];

#[derive(Clone, Debug)]
enum State {
    /// Next attempt at `wake`.
    Idle { wake: u64 },
    /// Waiting for `x` at `index`; next check at `wake` is check number `step`.
    Polling {
        x: Bytes,
        index: Index,
        step: usize,
        wake: u64,
    },
}

impl State {
    fn wake(&self) -> u64 {
        match self {
            State::Idle { wake } | State::Polling { wake, .. } => *wake,
        }
    }
}

#[derive(Clone, Debug)]
struct Client {
    me: u64,
    state: State,
    /// Commands this client saw applied at the index it was given.
    committed: Vec<Bytes>,
}

/// A set of clients.
#[derive(Clone, Debug)]
pub struct ClientPool {
    clients: Vec<Client>,
    /// Proposals accepted by some server (a command may be accepted more than once).
    pub accepted: u64,
}

impl ClientPool {
    /// `n` clients, all starting now.
    pub fn new(n: usize, now: u64) -> Self {
        let clients = (0..n as u64)
            .map(|me| Client {
                me,
                state: State::Idle { wake: now },
                committed: Vec::new(),
            })
            .collect();
        ClientPool {
            clients,
            accepted: 0,
        }
    }

    /// Every command some client saw committed.
    pub fn committed(&self) -> Vec<Bytes> {
        self.clients
            .iter()
            .flat_map(|c| c.committed.iter().cloned())
            .collect()
    }

    /// Runs the cluster and the clients for `dur` microseconds of simulated time.
    pub fn run_for(&mut self, cluster: &mut Cluster, dur: u64) -> Result<(), SimError> {
        let end = cluster.now() + dur;
        loop {
            let next = self.clients.iter().map(|c| c.state.wake()).min();
            match next {
                Some(t) if t <= end => cluster.run_until(t)?,
                _ => return cluster.run_until(end),
            }
            let now = cluster.now();
            for k in 0..self.clients.len() {
                if self.clients[k].state.wake() <= now {
                    self.act(k, cluster)?;
                }
            }
        }
    }

    fn act(&mut self, k: usize, cluster: &mut Cluster) -> Result<(), SimError> {
        let now = cluster.now();
        let c = &mut self.clients[k];
        c.state = match std::mem::replace(&mut c.state, State::Idle { wake: now }) {
            State::Idle { .. } => {
                let x = Bytes::from(format!("c{}-{}", c.me, cluster.rng().random::<u32>()));
                let mut index = None;
                for i in 0..cluster.servers() {
                    if let Some((ix, _)) = cluster.start(i, x.clone()) {
                        index = Some(ix);
                    }
                }
                cluster.check()?;
                match index {
                    Some(index) => {
                        self.accepted += 1;
                        State::Polling {
                            x,
                            index,
                            step: 0,
                            wake: now,
                        }
                    }
                    None => State::Idle {
                        wake: now + (79 + c.me * 17) * MS,
                    },
                }
            }
            State::Polling { x, index, step, .. } => {
                let (nd, got) = cluster.n_committed(index)?;
                if nd > 0 {
                    if got.as_ref() == Some(&x) {
                        c.committed.push(x);
                    }
                    State::Idle { wake: now }
                } else if step + 1 == POLL_US.len() {
                    State::Idle {
                        wake: now + POLL_US[step],
                    }
                } else {
                    State::Polling {
                        x,
                        index,
                        step: step + 1,
                        wake: now + POLL_US[step],
                    }
                }
            }
        };
        Ok(())
    }
}

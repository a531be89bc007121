//! Simulated clients: a [`ClerkCore`] each, driven by the simulator's events, with an optional
//! random workload in the style of 6.824's `GenericTest` clients.

use rand::rngs::StdRng;
use rand::Rng;

use crate::clerk::ClerkCore;
use crate::command::{Op, OpResult};

/// A random stream of operations over some keys. Appended and put values are unique
/// (`x <client> <n> y`), so a Get pins down which writes it saw and in what order.
#[derive(Clone, Debug)]
pub struct Workload {
    pub keys: Vec<String>,
    pub next: u64,
}

impl Workload {
    pub fn new(keys: Vec<String>) -> Self {
        assert!(!keys.is_empty(), "a workload needs keys");
        Workload { keys, next: 0 }
    }

    pub fn next_op(&mut self, client: usize, rng: &mut StdRng) -> Op {
        let key = self.keys[rng.random_range(0..self.keys.len())].clone();
        self.next += 1;
        let value = format!("x {client} {} y", self.next);
        match rng.random_range(0..10) {
            0 => Op::Put { key, value },
            1..=5 => Op::Append { key, value },
            _ => Op::Get { key },
        }
    }
}

/// One simulated client.
#[derive(Clone, Debug)]
pub struct SimClient {
    pub(crate) clerk: ClerkCore,
    /// Number of the current attempt; timeouts and replies of earlier attempts are ignored.
    pub(crate) attempt: u64,
    pub(crate) op: Option<Op>,
    pub(crate) workload: Option<Workload>,
    /// Results of completed operations, in order.
    pub results: Vec<(Op, OpResult)>,
}

impl SimClient {
    pub(crate) fn new(clerk: ClerkCore) -> Self {
        SimClient {
            clerk,
            attempt: 0,
            op: None,
            workload: None,
            results: Vec::new(),
        }
    }

    pub fn is_idle(&self) -> bool {
        self.op.is_none()
    }

    pub fn clerk(&self) -> &ClerkCore {
        &self.clerk
    }
}

//! The client side of the simulated network: which client reaches which server, and the fate
//! of a request or reply (delay, loss, duplication). Server-to-server traffic is the Raft
//! simulator's own network; both switch to unreliable together.

use rand::rngs::StdRng;
use rand::Rng;

/// Fault knobs for client traffic (labrpc-like, as the Raft network's defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct ClientNetConfig {
    pub reliable_delay_us: (u64, u64),
    pub unreliable_delay_us: (u64, u64),
    /// Unreliable: probability a request or a reply is lost.
    pub drop_prob: f64,
    /// Unreliable: probability a request is delivered twice (a retrying RPC layer), which is
    /// what sends the same `(client, seq)` to a server twice without the Clerk knowing.
    pub dup_prob: f64,
}

impl Default for ClientNetConfig {
    fn default() -> Self {
        ClientNetConfig {
            reliable_delay_us: (100, 1_000),
            unreliable_delay_us: (0, 27_000),
            drop_prob: 0.1,
            dup_prob: 0.05,
        }
    }
}

/// Links between clients and servers, and the reliability mode.
#[derive(Clone, Debug)]
pub struct ClientNet {
    cfg: ClientNetConfig,
    /// `reach[client][server]`: both directions.
    reach: Vec<Vec<bool>>,
    pub unreliable: bool,
    pub lost: u64,
}

impl ClientNet {
    pub fn new(cfg: ClientNetConfig, clients: usize, servers: usize) -> Self {
        ClientNet {
            cfg,
            reach: vec![vec![true; servers]; clients],
            unreliable: false,
            lost: 0,
        }
    }

    pub fn reaches(&self, client: usize, server: usize) -> bool {
        self.reach[client][server]
    }

    pub fn set_reach(&mut self, client: usize, server: usize, up: bool) {
        self.reach[client][server] = up;
    }

    /// Delivery delays for one message: none if lost, two if duplicated (`dup` allowed).
    pub fn fate(&mut self, rng: &mut StdRng, dup: bool) -> Vec<u64> {
        if !self.unreliable {
            let (lo, hi) = self.cfg.reliable_delay_us;
            return vec![rng.random_range(lo..=hi)];
        }
        if rng.random_bool(self.cfg.drop_prob) {
            self.lost += 1;
            return Vec::new();
        }
        let (lo, hi) = self.cfg.unreliable_delay_us;
        let mut out = vec![rng.random_range(lo..=hi)];
        if dup && rng.random_bool(self.cfg.dup_prob) {
            out.push(rng.random_range(lo..=hi));
        }
        out
    }
}

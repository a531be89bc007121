//! The simulated network: which links are up, how reliable delivery is, and the RPC counters.
//!
//! The network only decides a message's fate (lost, or delivered once or twice after some
//! delay); the cluster owns the event queue. Every random choice comes from the cluster's one
//! seeded RNG, passed in, so a run is a function of its seed.

use rand::rngs::StdRng;
use rand::Rng;

use raft_impl::core::Message;

/// Fault knobs. Defaults follow MIT 6.824's `labrpc` where it has one.
#[derive(Clone, Debug, PartialEq)]
pub struct NetConfig {
    /// Delay of every message on a reliable network, microseconds (inclusive range).
    pub reliable_delay_us: (u64, u64),
    /// Delay on an unreliable network (labrpc: up to 27 ms).
    pub unreliable_delay_us: (u64, u64),
    /// Unreliable: probability a message is lost (labrpc: 10%).
    pub drop_prob: f64,
    /// Unreliable: probability a delivered message is delivered a second time, after an
    /// independent delay (labrpc has no duplication; real networks and retrying RPC layers do).
    pub dup_prob: f64,
    /// Long reordering: probability a *response* is held back (labrpc: 600/900).
    pub long_delay_prob: f64,
    /// Long reordering: the extra delay is `base + uniform(0..=uniform(0..=spread))`.
    pub long_delay_base_us: u64,
    pub long_delay_spread_us: u64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            reliable_delay_us: (100, 1_000),
            unreliable_delay_us: (0, 27_000),
            drop_prob: 0.1,
            dup_prob: 0.05,
            long_delay_prob: 600.0 / 900.0,
            long_delay_base_us: 200_000,
            long_delay_spread_us: 2_000_000,
        }
    }
}

/// Links, reliability mode and counters.
#[derive(Clone, Debug)]
pub struct Network {
    n: usize,
    /// `links[from * n + to]`: can a message from `from` reach `to` (by node position)?
    links: Vec<bool>,
    pub(crate) cfg: NetConfig,
    pub(crate) unreliable: bool,
    pub(crate) long_reordering: bool,
    /// Requests sent (RequestVote, AppendEntries, InstallSnapshot), counted at the sender like
    /// labrpc counts RPCs; responses are the second half of an RPC and are not counted.
    pub(crate) rpc_count: u64,
    /// Estimated wire bytes of those requests (see [`wire_size`]).
    pub(crate) rpc_bytes: u64,
    /// Per sender position: requests sent.
    pub(crate) rpc_count_by: Vec<u64>,
    /// InstallSnapshot requests sent (chunks, including resends).
    pub(crate) install_snapshot_sent: u64,
    pub(crate) messages_sent: u64,
    pub(crate) messages_lost: u64,
    pub(crate) messages_duplicated: u64,
}

/// What happens to one sent message: the delays after which copies arrive (empty: lost).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Fate {
    pub first: Option<u64>,
    pub duplicate: Option<u64>,
}

impl Network {
    pub(crate) fn new(n: usize, cfg: NetConfig) -> Self {
        Network {
            n,
            links: vec![true; n * n],
            cfg,
            unreliable: false,
            long_reordering: false,
            rpc_count: 0,
            rpc_bytes: 0,
            rpc_count_by: vec![0; n],
            install_snapshot_sent: 0,
            messages_sent: 0,
            messages_lost: 0,
            messages_duplicated: 0,
        }
    }

    pub(crate) fn link_up(&self, from: usize, to: usize) -> bool {
        self.links[from * self.n + to]
    }

    /// Sets the link in one direction.
    pub(crate) fn set_link(&mut self, from: usize, to: usize, up: bool) {
        self.links[from * self.n + to] = up;
    }

    /// Decides the fate of a message sent now from position `from` to `to`, and counts it.
    pub(crate) fn route(
        &mut self,
        rng: &mut StdRng,
        from: usize,
        to: usize,
        msg: &Message,
    ) -> Fate {
        self.messages_sent += 1;
        if matches!(msg, Message::InstallSnapshot(_)) {
            self.install_snapshot_sent += 1;
        }
        if matches!(
            msg,
            Message::RequestVote(_)
                | Message::AppendEntries(_)
                | Message::InstallSnapshot(_)
                | Message::PreVote(_)
        ) {
            self.rpc_count += 1;
            self.rpc_count_by[from] += 1;
            self.rpc_bytes += wire_size(msg);
        }
        // A message sent into a cut link is lost at once (labrpc: "disconnected").
        if !self.link_up(from, to) {
            self.messages_lost += 1;
            return Fate::default();
        }
        if !self.unreliable {
            let d = self.draw_delay(rng, self.cfg.reliable_delay_us, msg);
            return Fate {
                first: Some(d),
                duplicate: None,
            };
        }
        if rng.random_bool(self.cfg.drop_prob) {
            self.messages_lost += 1;
            return Fate::default();
        }
        let first = self.draw_delay(rng, self.cfg.unreliable_delay_us, msg);
        let duplicate = rng.random_bool(self.cfg.dup_prob).then(|| {
            self.messages_duplicated += 1;
            self.draw_delay(rng, self.cfg.unreliable_delay_us, msg)
        });
        Fate {
            first: Some(first),
            duplicate,
        }
    }

    fn draw_delay(&self, rng: &mut StdRng, (lo, hi): (u64, u64), msg: &Message) -> u64 {
        let mut d = rng.random_range(lo..=hi);
        let is_response = matches!(
            msg,
            Message::RequestVoteResponse(_)
                | Message::AppendEntriesResponse(_)
                | Message::InstallSnapshotResponse(_)
                | Message::PreVoteResponse(_)
        );
        // labrpc holds back replies, not requests: requests still flow, so a leader keeps its
        // followers, but what it learns from them arrives late and out of order.
        if self.long_reordering && is_response && rng.random_bool(self.cfg.long_delay_prob) {
            let spread = rng.random_range(0..=self.cfg.long_delay_spread_us);
            d += self.cfg.long_delay_base_us + rng.random_range(0..=spread);
        }
        d
    }
}

/// Estimated encoded size of a message: 8 bytes per integer field, plus per entry its term,
/// index, a 4-byte length and its payload. A compact binary encoding would be about this size;
/// what matters for the RPC-bytes test is that payloads are counted once per copy sent.
pub fn wire_size(msg: &Message) -> u64 {
    const HEADER: u64 = 8 * 3; // from, to, kind + term
    match msg {
        Message::RequestVote(_) => HEADER + 16 + 1,
        Message::PreVote(_) => HEADER + 16,
        Message::TimeoutNow(_) => HEADER,
        Message::RequestVoteResponse(_) | Message::PreVoteResponse(_) => HEADER + 1,
        Message::AppendEntries(m) => {
            HEADER
                + 24
                + m.entries
                    .iter()
                    .map(|e| 20 + e.data.len() as u64)
                    .sum::<u64>()
        }
        Message::AppendEntriesResponse(_) => HEADER + 1 + 8 + 25,
        Message::InstallSnapshot(m) => HEADER + 8 * 3 + 1 + 4 + m.data.len() as u64,
        Message::InstallSnapshotResponse(_) => HEADER + 8 * 3,
    }
}

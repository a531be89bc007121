//! The MIT 6.824 Raft test harness API (`config.go`), over simulated time: every "sleep" of
//! the original is [`Cluster::run_for`], so tests take milliseconds of real time.

use std::collections::BTreeMap;

use bytes::Bytes;
use rand::Rng;

use crate::cluster::{Cluster, MS, SEC};
use crate::error::SimError;
use raft_impl::types::{Index, Term};

/// 6.824's `RaftElectionTimeout`: how long tests wait for an election to settle.
pub const ELECTION_TIMEOUT: u64 = SEC;

impl Cluster {
    /// 6.824 `checkOneLeader`: polls up to 10 times, 450-550 ms apart, for a leader among
    /// connected servers; fails if some term has two, returns the leader of the newest term.
    pub fn check_one_leader(&mut self) -> Result<usize, SimError> {
        for _ in 0..10 {
            let ms = self.rng.random_range(450..550);
            self.run_for(ms * MS)?;
            let mut leaders: BTreeMap<Term, Vec<usize>> = BTreeMap::new();
            for i in 0..self.servers() {
                if let (true, Some((term, true))) = (self.connected[i], self.get_state(i)) {
                    leaders.entry(term).or_default().push(i);
                }
            }
            for (term, ls) in &leaders {
                if ls.len() > 1 {
                    return Err(self.failed(format!("term {term} has {} (>1) leaders", ls.len())));
                }
            }
            if let Some((_, ls)) = leaders.iter().next_back() {
                return Ok(ls[0]);
            }
        }
        Err(self.failed("expected one leader, got none"))
    }

    /// 6.824 `checkTerms`: every connected, running server is in the same term; returns it.
    pub fn check_terms(&mut self) -> Result<Term, SimError> {
        let mut term = None;
        for i in 0..self.servers() {
            if !self.connected[i] {
                continue;
            }
            if let Some((t, _)) = self.get_state(i) {
                match term {
                    None => term = Some(t),
                    Some(t0) if t0 != t => {
                        return Err(self.failed(format!("servers disagree on term: {t0} vs {t}")))
                    }
                    Some(_) => {}
                }
            }
        }
        term.ok_or_else(|| self.failed("no connected server is running"))
    }

    /// 6.824 `checkNoLeader`: no connected server thinks it is leader.
    pub fn check_no_leader(&mut self) -> Result<(), SimError> {
        self.check()?;
        for i in 0..self.servers() {
            if let (true, Some((term, true))) = (self.connected[i], self.get_state(i)) {
                let id = self.id(i);
                return Err(self.failed(format!(
                    "expected no leader among connected servers, but node {id} claims leadership in term {term}"
                )));
            }
        }
        Ok(())
    }

    /// 6.824 `nCommitted`: how many servers have applied `index`, and the command. Fails if
    /// two servers applied different commands there.
    pub fn n_committed(&self, index: Index) -> Result<(usize, Option<Bytes>), SimError> {
        self.check()?;
        let mut count = 0;
        let mut cmd: Option<Bytes> = None;
        for i in 0..self.servers() {
            let Some(c) = self.applied(i).get((index as usize).wrapping_sub(1)) else {
                continue;
            };
            if let Some(prev) = &cmd {
                if prev != c {
                    return Err(self.failed(format!(
                        "committed values do not match: index {index}, {prev:?} vs {c:?}"
                    )));
                }
            }
            count += 1;
            cmd = Some(c.clone());
        }
        Ok((count, cmd))
    }

    /// 6.824 `one`: submits `cmd` at a leader and waits for `expected` servers to apply it,
    /// retrying at other leaders (if `retry`) for up to 10 s. Returns its index.
    pub fn one(
        &mut self,
        cmd: impl Into<Bytes>,
        expected: usize,
        retry: bool,
    ) -> Result<Index, SimError> {
        let cmd: Bytes = cmd.into();
        let t0 = self.now();
        let mut starts = 0;
        while self.now() - t0 < 10 * SEC {
            let mut index = None;
            for _ in 0..self.servers() {
                starts = (starts + 1) % self.servers();
                if self.connected[starts] {
                    if let Some((i, _)) = self.start(starts, cmd.clone()) {
                        index = Some(i);
                        break;
                    }
                }
            }
            self.check()?;
            match index {
                Some(index) => {
                    let t1 = self.now();
                    while self.now() - t1 < 2 * SEC {
                        let (nd, got) = self.n_committed(index)?;
                        if nd > 0 && nd >= expected && got.as_ref() == Some(&cmd) {
                            return Ok(index);
                        }
                        self.run_for(20 * MS)?;
                    }
                    if !retry {
                        return Err(self.failed(format!("one({cmd:?}) failed to reach agreement")));
                    }
                }
                None => self.run_for(50 * MS)?,
            }
        }
        Err(self.failed(format!("one({cmd:?}) failed to reach agreement")))
    }

    /// 6.824 `wait`: waits for at least `n` servers to apply `index`. Returns `None` if some
    /// server moved past `start_term` first (the entry may never commit), else the command.
    pub fn wait(
        &mut self,
        index: Index,
        n: usize,
        start_term: Option<Term>,
    ) -> Result<Option<Bytes>, SimError> {
        let mut to = 10 * MS;
        for _ in 0..30 {
            let (nd, _) = self.n_committed(index)?;
            if nd >= n {
                break;
            }
            self.run_for(to)?;
            if to < SEC {
                to *= 2;
            }
            if let Some(t0) = start_term {
                let moved_on = (0..self.servers())
                    .filter_map(|i| self.get_state(i))
                    .any(|(t, _)| t > t0);
                if moved_on {
                    return Ok(None);
                }
            }
        }
        let (nd, cmd) = self.n_committed(index)?;
        if nd < n {
            return Err(self.failed(format!("only {nd} decided for index {index}; wanted {n}")));
        }
        Ok(cmd)
    }

    /// Heals everything: every server connected, reliable network, no reordering.
    pub fn heal(&mut self) {
        for i in 0..self.servers() {
            self.connected[i] = true;
            for j in 0..self.servers() {
                if i != j {
                    self.set_link(i, j, true);
                }
            }
        }
        self.note_links("heal");
        if self.net.unreliable {
            self.set_unreliable(false);
        }
        if self.net.long_reordering {
            self.set_long_reordering(false);
        }
    }
}

/// A command encoding an integer, as 6.824 tests use ints.
pub fn cmd(x: u64) -> Bytes {
    Bytes::from(x.to_string())
}

impl Cluster {
    /// 6.824 `start1` on a running server: crash it and restart it from durable state.
    pub fn crash_restart(&mut self, i: usize) {
        self.crash(i);
        self.restart(i);
    }

    /// Crashes node `i` at a random point of its storage's write/sync cycle: before the sync
    /// (unsynced writes lost) or inside it (hard state and a random prefix of the staged log
    /// writes landed).
    pub fn crash_random(&mut self, i: usize) {
        let staged = self.unsynced_log_ops(i);
        let mode = if self.rng.random_bool(0.5) {
            crate::node::CrashMode::BeforeSync
        } else {
            crate::node::CrashMode::DuringSync {
                landed_log_ops: self.rng.random_range(0..=staged),
            }
        };
        self.crash_with(i, mode);
    }
}

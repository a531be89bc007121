//! The blocking Clerk over a scripted in-memory [`Transport`]: leader finding through hints,
//! exactly-once across lost replies, backoff, and giving up.

use std::time::Duration;

use raft_impl::core::NotLeader;
use raft_impl::types::{Index, NodeId, Term};
use raft_kv::clerk::{Clerk, ClerkConfig, ClerkCore, ClerkError, Transport, TransportError};
use raft_kv::command::Command;
use raft_kv::server::{KvServer, Proposer, Reply, ServerError};

/// One shared log that commits at once; `leader` is the only server accepting proposals.
struct Log {
    entries: Vec<Vec<u8>>,
    leader_here: bool,
}
impl Proposer for Log {
    fn propose(&mut self, data: Vec<u8>) -> Result<(Index, Term), NotLeader> {
        if !self.leader_here {
            return Err(NotLeader { leader_hint: None });
        }
        self.entries.push(data);
        Ok((self.entries.len() as Index, 1))
    }
}

struct FakeCluster {
    ids: Vec<NodeId>,
    servers: Vec<KvServer<u64>>,
    applied: Vec<usize>,
    log: Vec<Vec<u8>>,
    leader: usize,
    /// Whether followers name the leader in NotLeader replies.
    hints: bool,
    /// A wrong leader followers name instead (a deposed leader they have not heard from).
    stale_hint: Option<NodeId>,
    /// Execute the next request but lose its reply.
    lose_next_reply: bool,
    /// Servers that cannot be reached at all.
    down: Vec<bool>,
    calls: Vec<usize>,
    slept: Vec<Duration>,
}

impl FakeCluster {
    fn new(n: usize, leader: usize) -> Self {
        FakeCluster {
            ids: (1..=n as NodeId).collect(),
            servers: (0..n).map(|_| KvServer::new()).collect(),
            applied: vec![0; n],
            log: Vec::new(),
            leader,
            hints: true,
            stale_hint: None,
            lose_next_reply: false,
            down: vec![false; n],
            calls: Vec::new(),
            slept: Vec::new(),
        }
    }

    /// Every server applies the whole log; returns the reply for `token` if one came out.
    fn apply_all(&mut self, token: u64) -> Option<Reply> {
        let mut mine = None;
        for (i, s) in self.servers.iter_mut().enumerate() {
            while self.applied[i] < self.log.len() {
                let k = self.applied[i];
                self.applied[i] += 1;
                if let Some((t, r)) = s.on_applied(k as Index + 1, &self.log[k]) {
                    if t == token {
                        mine = Some(r);
                    }
                }
            }
        }
        mine
    }
}

impl Transport for FakeCluster {
    fn call(
        &mut self,
        server: usize,
        cmd: &Command,
        timeout: Duration,
    ) -> Result<Reply, TransportError> {
        self.calls.push(server);
        if self.down[server] {
            return Err(TransportError::Unreachable(format!(
                "server {server} is down"
            )));
        }
        if server != self.leader {
            let leader_hint = self
                .stale_hint
                .or(self.hints.then(|| self.ids[self.leader]));
            return Ok(Err(ServerError::NotLeader { leader_hint }));
        }
        let token = self.calls.len() as u64;
        let mut log = Log {
            entries: std::mem::take(&mut self.log),
            leader_here: true,
        };
        let immediate = self.servers[server].on_request(token, cmd.clone(), &mut log);
        self.log = log.entries;
        let reply = match immediate {
            Some((_, r)) => r,
            None => self.apply_all(token).expect("the entry commits at once"),
        };
        if std::mem::take(&mut self.lose_next_reply) {
            return Err(TransportError::Timeout(timeout));
        }
        Ok(reply)
    }

    fn sleep(&mut self, d: Duration) {
        self.slept.push(d);
    }
}

fn clerk(cluster: FakeCluster, max_attempts: Option<u32>) -> Clerk<FakeCluster> {
    let ids = cluster.ids.clone();
    Clerk::new(
        ClerkCore::new(ClerkConfig::default(), ids, 77),
        cluster,
        max_attempts,
    )
}

#[test]
fn follows_the_leader_hint_and_caches_the_leader() {
    let mut ck = clerk(FakeCluster::new(5, 3), None);
    ck.put("a", "1").unwrap();
    // Tried server 0, was pointed at 3.
    assert_eq!(ck.transport_mut().calls, vec![0, 3]);
    assert_eq!(ck.get("a").unwrap().as_deref(), Some("1"));
    // The second operation went straight to the cached leader.
    assert_eq!(ck.transport_mut().calls, vec![0, 3, 3]);
    assert_eq!(ck.core().leader(), 3);
}

#[test]
fn without_hints_it_tries_servers_in_turn() {
    let mut c = FakeCluster::new(3, 2);
    c.hints = false;
    let mut ck = clerk(c, None);
    ck.append("k", "x").unwrap();
    assert_eq!(ck.transport_mut().calls, vec![0, 1, 2]);
}

#[test]
fn a_lost_reply_is_retried_and_executed_once() {
    let mut c = FakeCluster::new(3, 0);
    c.lose_next_reply = true;
    let mut ck = clerk(c, None);
    ck.append("k", "x").unwrap();
    ck.append("k", "y").unwrap();
    assert_eq!(ck.get("k").unwrap().as_deref(), Some("xy"));
    let t = ck.transport_mut();
    // The lost reply's append reached the log once; its retry was answered from the session.
    assert_eq!(t.log.len(), 3, "x once, y once, the get once");
}

#[test]
fn a_leader_change_mid_operation_keeps_exactly_once() {
    let mut c = FakeCluster::new(3, 0);
    c.lose_next_reply = true;
    let mut ck = clerk(c, None);
    ck.put("k", "v").unwrap();
    // The leader moved after executing: the new leader knows the session from the log.
    ck.transport_mut().leader = 1;
    ck.append("k", "w").unwrap();
    assert_eq!(ck.get("k").unwrap().as_deref(), Some("vw"));
}

#[test]
fn backs_off_exponentially_then_gives_up() {
    let mut c = FakeCluster::new(2, 0);
    c.down = vec![true, true];
    let mut ck = clerk(c, Some(9));
    let err = ck.put("a", "1").unwrap_err();
    assert!(
        matches!(err, ClerkError::NotApplied { attempts: 9, .. }),
        "nothing was ever delivered: {err}"
    );
    let cfg = ClerkConfig::default();
    let slept = &ck.transport_mut().slept;
    // One pause per full round of both servers, doubling, capped.
    assert_eq!(slept[0], cfg.initial_backoff);
    assert!(slept
        .windows(2)
        .all(|w| w[1] == (w[0] * 2).min(cfg.max_backoff)));
    assert_eq!(slept.len(), 4);
    // The session moves on: the next operation uses a fresh sequence number and succeeds.
    ck.transport_mut().down = vec![false, false];
    ck.put("a", "2").unwrap();
    assert_eq!(ck.get("a").unwrap().as_deref(), Some("2"));
}

#[test]
fn giving_up_after_only_refusals_is_not_applied() {
    // The leader is unreachable; the followers answer NotLeader: nothing reached a log.
    let mut c = FakeCluster::new(3, 0);
    c.down[0] = true;
    let mut ck = clerk(c, Some(6));
    let err = ck.put("a", "1").unwrap_err();
    assert!(matches!(err, ClerkError::NotApplied { .. }), "{err}");
    ck.transport_mut().down[0] = false;
    assert_eq!(ck.get("a").unwrap(), None, "indeed not applied");
}

#[test]
fn giving_up_after_a_lost_reply_is_outcome_unknown() {
    // The leader executes the put, the reply is lost, and the budget ends there: the Clerk
    // cannot know, and must not say "not applied".
    let mut c = FakeCluster::new(3, 0);
    c.lose_next_reply = true;
    let mut ck = clerk(c, Some(1));
    let err = ck.put("a", "1").unwrap_err();
    assert!(matches!(err, ClerkError::OutcomeUnknown { .. }), "{err}");
    assert_eq!(ck.transport_mut().log.len(), 1, "it was in fact applied");
}

#[test]
fn a_hint_to_an_unreachable_leader_does_not_trap_the_clerk() {
    // Server 0 keeps naming server 2, which is unreachable; server 1 is the real leader.
    let mut c = FakeCluster::new(3, 1);
    c.down[2] = true;
    c.stale_hint = Some(3);
    let mut ck = clerk(c, None);
    ck.put("a", "1").unwrap();
    // 0 names 2 (unreachable); the clerk then tries 1, which it has not tried yet.
    assert_eq!(ck.transport_mut().calls, vec![0, 2, 1]);
}

//! `raftkv transfer-leader ID --cluster ...` (thesis §3.10): find the leader, ask it to hand
//! leadership to node ID, wait until ID reports itself leader; one verdict line.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use raft_impl::core::Role;
use raft_impl::types::{NodeId, Term};
use raft_kv::net::status::{query_status, StatusReport};
use raft_kv::net::transfer::{request_transfer, TransferOutcome};
use raft_kv::net::ClientSecurity;

use crate::Target;

/// Longest wait for one node's status answer.
const PER_NODE: Duration = Duration::from_secs(1);
/// Pause between status rounds while waiting for a leader or for the target.
const POLL: Duration = Duration::from_millis(50);

struct Ctx {
    ids: Vec<NodeId>,
    addrs: Vec<SocketAddr>,
    security: ClientSecurity,
    deadline: Instant,
    limit: Duration,
}

impl Ctx {
    fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn addr(&self, id: NodeId) -> SocketAddr {
        self.addrs[self.ids.iter().position(|&i| i == id).expect("checked")]
    }

    fn status(&self, id: NodeId) -> Result<StatusReport, String> {
        let t = self.left().clamp(Duration::from_millis(1), PER_NODE);
        query_status(self.addr(id), &self.security, t)
    }
}

pub fn run(target: &Target, node: NodeId) -> Result<()> {
    let (ids, addrs) = target.servers();
    if !ids.contains(&node) {
        let list: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        bail!(
            "node {node} is not in --cluster (nodes {}); nothing was asked",
            list.join(", ")
        );
    }
    let limit = target.time_limit();
    let cx = Ctx {
        ids,
        addrs,
        security: target.tls.security()?,
        deadline: Instant::now() + limit,
        limit,
    };
    loop {
        let (leader, term) = find_leader(&cx, node)?;
        if leader == node {
            println!("transfer-leader: node {node} already leads (term {term})");
            return Ok(());
        }
        let asked = Instant::now();
        let wait = cx.left().max(Duration::from_millis(1));
        let outcome = request_transfer(cx.addr(leader), &cx.security, node, wait)
            .map_err(|e| anyhow::anyhow!("leader {leader} ({}): {e}", cx.addr(leader)))?;
        match outcome {
            TransferOutcome::Handed { .. } => return wait_for(&cx, node, asked),
            // Leadership moved meanwhile: find the leader again.
            TransferOutcome::NotLeader { .. } => std::thread::sleep(POLL),
            TransferOutcome::AlreadyLeader { term } => {
                println!("transfer-leader: node {node} already leads (term {term})");
                return Ok(());
            }
            TransferOutcome::UnknownTarget { target } => {
                bail!("leader {leader} refused: node {target} is not a voting member")
            }
            TransferOutcome::Aborted { term } => bail!(
                "transfer aborted: node {node} did not take over from leader {leader} (term \
                 {term}) within an election timeout; leader {leader} accepts writes again"
            ),
        }
        if cx.left().is_zero() {
            bail!("timed out after {:?}: leadership kept moving", cx.limit);
        }
    }
}

/// The leader of the highest term among the nodes' answers, and its term; polls until one
/// answers as leader. Fails early if `node` itself does not answer while a leader does.
fn find_leader(cx: &Ctx, node: NodeId) -> Result<(NodeId, Term)> {
    loop {
        let mut best: Option<(Term, NodeId)> = None;
        let mut target_err = None;
        for &id in &cx.ids {
            match cx.status(id) {
                Ok(r) if r.role == Role::Leader => {
                    best = best.max(Some((r.current_term, r.id)));
                }
                Ok(_) => {}
                Err(e) if id == node => target_err = Some(e),
                Err(_) => {}
            }
        }
        match (best, target_err) {
            (Some((_, leader)), Some(e)) if leader != node => bail!(
                "node {node} ({}) is unreachable: {e}; leader {leader} was not asked",
                cx.addr(node)
            ),
            (Some((term, leader)), _) => return Ok((leader, term)),
            (None, _) if cx.left().is_zero() => {
                bail!("no leader answered within {:?}", cx.limit)
            }
            (None, _) => std::thread::sleep(POLL),
        }
    }
}

/// After the old leader stepped down: polls `node` until it reports itself leader.
fn wait_for(cx: &Ctx, node: NodeId, asked: Instant) -> Result<()> {
    loop {
        let last = match cx.status(node) {
            Ok(r) if r.role == Role::Leader => {
                println!(
                    "transfer-leader: node {node} is leader (term {}) after {:.2} s",
                    r.current_term,
                    asked.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            Ok(r) => {
                let role = format!("{:?}", r.role).to_lowercase();
                let leader = r.leader_id.map_or("none known".into(), |l| l.to_string());
                format!("it is {role} in term {}, leader {leader}", r.current_term)
            }
            Err(e) => format!("unreachable: {e}"),
        };
        if cx.left().is_zero() {
            bail!(
                "timed out after {:?}: node {node} is not leader ({last})",
                cx.limit
            );
        }
        std::thread::sleep(POLL.min(cx.left()));
    }
}

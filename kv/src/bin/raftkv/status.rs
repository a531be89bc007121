//! `raftkv status --cluster ...`: one line per node (role, term, leader, commit and applied
//! index, snapshot index, last index, recovery, log and snapshot bytes on disk), then a verdict.

use std::time::Duration;

use anyhow::{bail, Result};
use raft_kv::net::status::{human_bytes, query_status, StatusReport};

use crate::Target;

/// Longest wait for one node's answer (the whole command takes at most this per node).
const PER_NODE: Duration = Duration::from_secs(3);

pub fn run(target: &Target) -> Result<()> {
    let (ids, addrs) = target.servers();
    let security = target.tls.security()?;
    let timeout = target.time_limit().min(PER_NODE);
    println!(
        "{:<5} {:<21} {:<10} {:>5} {:>6} {:>8} {:>8} {:>8} {:>8} {:>10} {:>10} {:>10}",
        "node",
        "address",
        "role",
        "term",
        "leader",
        "commit",
        "applied",
        "snapshot",
        "last",
        "lost_up_to",
        "log",
        "snapshots"
    );
    let mut answered = Vec::new();
    for (&id, &addr) in ids.iter().zip(&addrs) {
        match query_status(addr, &security, timeout) {
            Ok(r) => {
                println!("{}", row(&r, &addr.to_string()));
                if r.id != id {
                    println!("      (answered as node {}, expected node {id})", r.id);
                }
                answered.push(r);
            }
            Err(e) => println!("{id:<5} {addr:<21} unreachable: {e}"),
        }
    }
    let leaders: Vec<&StatusReport> = answered
        .iter()
        .filter(|r| r.role == raft_impl::core::Role::Leader)
        .collect();
    let leader = match leaders.iter().max_by_key(|r| r.current_term) {
        Some(l) => format!("leader {} (term {})", l.id, l.current_term),
        None => "no leader".into(),
    };
    let recovering = answered.iter().filter(|r| r.lost_up_to != 0).count();
    println!(
        "status: {}/{} nodes answered; {leader}; {recovering} recovering",
        answered.len(),
        addrs.len()
    );
    if answered.len() < addrs.len() {
        bail!(
            "{} of {} nodes did not answer",
            addrs.len() - answered.len(),
            addrs.len()
        );
    }
    Ok(())
}

fn row(r: &StatusReport, addr: &str) -> String {
    let role = format!("{:?}", r.role).to_lowercase();
    let leader = r.leader_id.map_or("-".into(), |l| l.to_string());
    let lost = match r.lost_up_to {
        0 => "-".into(),
        n => n.to_string(),
    };
    format!(
        "{:<5} {:<21} {:<10} {:>5} {:>6} {:>8} {:>8} {:>8} {:>8} {:>10} {:>10} {:>10}",
        r.id,
        addr,
        role,
        r.current_term,
        leader,
        r.commit_index,
        r.applied_index,
        r.last_included_index,
        r.last_index,
        lost,
        human_bytes(r.log_bytes),
        human_bytes(r.snapshot_bytes)
    )
}

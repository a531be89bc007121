//! 6.824 Lab 2C unreliable-network and churn tests.

mod common;

use common::{make_cluster, make_unreliable};
use raft_sim::clients::ClientPool;
use raft_sim::{cmd, Cluster, SimError, ELECTION_TIMEOUT};
use rand::Rng;

/// TestUnreliableAgree2B/2C: agreement on a lossy, duplicating, delaying network. The
/// original's four concurrent `one()` goroutines per round become a burst of four Starts at
/// the leader, each then awaited (and retried, as `one(.., retry=true)` would) at the end.
#[test]
fn unreliable_agree() -> Result<(), SimError> {
    let servers = 5;
    let mut c = make_unreliable(servers, 50);
    let mut burst = Vec::new();
    for iters in 1..50u64 {
        if let Ok(leader) = c.check_one_leader() {
            for j in 0..4 {
                let x = cmd(100 * iters + j);
                if let Some((index, _)) = c.start(leader, x.clone()) {
                    burst.push((index, x));
                }
            }
        }
        c.one(cmd(iters), 1, true)?;
    }
    c.set_unreliable(false);
    c.one(cmd(100), servers, true)?;
    // Every burst command got into the log somewhere; any that lost its slot to a new leader is
    // resubmitted like the original's retrying goroutine.
    for (index, x) in burst {
        let (n, got) = c.n_committed(index)?;
        if n == 0 || got.as_ref() != Some(&x) {
            c.one(x, 1, true)?;
        }
    }
    assert!(c.messages_lost() > 0, "the network lost nothing");
    Ok(())
}

/// 6.824 `internalChurn`: three clients propose while servers are disconnected, reconnected,
/// crashed and restarted at random; afterwards every value a client saw committed is in the
/// final, fully replicated log.
fn churn(mut c: Cluster) -> Result<(), SimError> {
    let servers = c.servers();
    let mut clients = ClientPool::new(3, c.now());
    for _ in 0..20 {
        if c.rng().random_range(0..1000) < 200 {
            let i = c.rng().random_range(0..servers);
            c.disconnect(i);
        }
        if c.rng().random_range(0..1000) < 500 {
            let i = c.rng().random_range(0..servers);
            if !c.is_up(i) {
                c.restart(i);
            }
            c.connect(i);
        }
        if c.rng().random_range(0..1000) < 200 {
            let i = c.rng().random_range(0..servers);
            if c.is_up(i) {
                c.crash_random(i);
            }
        }
        // 6.824 sleeps 0.7 election timeouts; the clients keep going meanwhile.
        clients.run_for(&mut c, ELECTION_TIMEOUT * 7 / 10)?;
    }

    clients.run_for(&mut c, ELECTION_TIMEOUT)?;
    c.set_unreliable(false);
    for i in 0..servers {
        c.restart(i);
        c.connect(i);
    }
    // Clients stop; let the cluster settle.
    c.run_for(ELECTION_TIMEOUT)?;

    let x = c.rng().random::<u32>() as u64;
    let last_index = c.one(cmd(x), servers, true)?;
    let mut really = Vec::new();
    for index in 1..=last_index {
        let v = c.wait(index, servers, None)?;
        really.push(v.expect("wait without a start term returns the command"));
    }
    let values = clients.committed();
    assert!(
        values.len() > 10,
        "clients committed only {} values",
        values.len()
    );
    for v in values {
        assert!(really.contains(&v), "didn't find a value {v:?}");
    }
    Ok(())
}

/// TestReliableChurn2C.
#[test]
fn reliable_churn() -> Result<(), SimError> {
    churn(make_cluster(5, 60))
}

/// TestUnreliableChurn2C.
#[test]
fn unreliable_churn() -> Result<(), SimError> {
    churn(make_unreliable(5, 61))
}

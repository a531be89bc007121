//! 6.824 Lab 2C Figure 8 tests: leaders crash right after proposing, over and over, so old
//! entries of earlier terms must never be committed by counting replicas (§5.4.2).

mod common;

use common::{make_cluster, make_unreliable};
use raft_sim::{cmd, Cluster, SimError, ELECTION_TIMEOUT, MS};
use rand::Rng;

/// Runs the cluster for the tests' random pause: usually under 13 ms, one time in ten up to
/// half an election timeout.
fn run_a_random_while(c: &mut Cluster) -> Result<(), SimError> {
    let ms = if c.rng().random_range(0..1000) < 100 {
        c.rng().random_range(0..ELECTION_TIMEOUT / MS / 2)
    } else {
        c.rng().random_range(0..13)
    };
    c.run_for(ms * MS)
}

/// TestFigure82C (5 servers, 1000 iterations). Crashes land before or inside a storage sync.
#[test]
fn figure8() -> Result<(), SimError> {
    let servers = 5;
    let mut c = make_cluster(servers, 40);
    let x = c.rng().random::<u32>() as u64;
    c.one(cmd(x), 1, true)?;

    let mut nup = servers;
    let mut crashes = 0;
    for _ in 0..1000 {
        let mut leader = None;
        for i in 0..servers {
            let x = c.rng().random::<u32>() as u64;
            if c.start(i, cmd(x)).is_some() {
                leader = Some(i);
            }
        }

        run_a_random_while(&mut c)?;

        if let Some(l) = leader {
            c.crash_random(l);
            crashes += 1;
            nup -= 1;
        }

        if nup < 3 {
            let s = c.rng().random_range(0..servers);
            if !c.is_up(s) {
                c.restart(s);
                c.connect(s);
                nup += 1;
            }
        }
    }

    for i in 0..servers {
        if !c.is_up(i) {
            c.restart(i);
            c.connect(i);
        }
    }
    let x = c.rng().random::<u32>() as u64;
    c.one(cmd(x), servers, true)?;
    assert!(
        crashes > 20,
        "only {crashes} leaders crashed: the scenario did not run"
    );
    Ok(())
}

/// TestFigure8Unreliable2C: the same churn by partition, on an unreliable network with long
/// reordering.
#[test]
fn figure8_unreliable() -> Result<(), SimError> {
    let servers = 5;
    let mut c = make_unreliable(servers, 41);
    let x = c.rng().random_range(0..10_000);
    c.one(cmd(x), 1, true)?;

    let mut nup = servers;
    for iters in 0..1000 {
        if iters == 200 {
            c.set_long_reordering(true);
        }
        let mut leader = None;
        for i in 0..servers {
            let x = c.rng().random_range(0..10_000);
            if c.start(i, cmd(x)).is_some() && c.is_connected(i) {
                leader = Some(i);
            }
        }

        run_a_random_while(&mut c)?;

        if let Some(l) = leader {
            if c.rng().random_range(0..1000) < ELECTION_TIMEOUT / MS / 2 {
                c.disconnect(l);
                nup -= 1;
            }
        }

        if nup < 3 {
            let s = c.rng().random_range(0..servers);
            if !c.is_connected(s) {
                c.connect(s);
                nup += 1;
            }
        }
    }

    for i in 0..servers {
        if !c.is_connected(i) {
            c.connect(i);
        }
    }
    let x = c.rng().random_range(0..10_000);
    c.one(cmd(x), servers, true)?;
    assert!(c.messages_lost() > 0 && c.messages_duplicated() > 0);
    Ok(())
}

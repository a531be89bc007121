//! 6.824 Lab 2C persistence tests: servers crash and restart from what storage made durable.

mod common;

use common::make_cluster;
use raft_sim::{cmd, SimError, ELECTION_TIMEOUT};

/// TestPersist12C: basic persistence across crashes of everyone, of the leader, of a follower.
#[test]
fn persist1() -> Result<(), SimError> {
    let servers = 3;
    let mut c = make_cluster(servers, 30);
    c.one(cmd(11), servers, true)?;

    // Crash and re-start all.
    for i in 0..servers {
        c.crash_restart(i);
    }
    for i in 0..servers {
        c.disconnect(i);
        c.connect(i);
    }
    c.one(cmd(12), servers, true)?;

    let leader1 = c.check_one_leader()?;
    c.disconnect(leader1);
    c.crash_restart(leader1);
    c.connect(leader1);
    c.one(cmd(13), servers, true)?;

    let leader2 = c.check_one_leader()?;
    c.disconnect(leader2);
    c.one(cmd(14), servers - 1, true)?;
    c.crash_restart(leader2);
    c.connect(leader2);

    // Wait for leader2 to join before killing i3.
    c.wait(4, servers, None)?;

    let i3 = (c.check_one_leader()? + 1) % servers;
    c.disconnect(i3);
    c.one(cmd(15), servers - 1, true)?;
    c.crash_restart(i3);
    c.connect(i3);

    c.one(cmd(16), servers, true)?;
    Ok(())
}

/// TestPersist22C: more persistence, with partitions and crashes of a majority.
#[test]
fn persist2() -> Result<(), SimError> {
    let servers = 5;
    let mut c = make_cluster(servers, 31);
    let mut index = 1;
    for _ in 0..5 {
        c.one(cmd(10 + index), servers, true)?;
        index += 1;

        let leader1 = c.check_one_leader()?;
        let at = |k: usize| (leader1 + k) % servers;

        c.disconnect(at(1));
        c.disconnect(at(2));

        c.one(cmd(10 + index), servers - 2, true)?;
        index += 1;

        c.disconnect(at(0));
        c.disconnect(at(3));
        c.disconnect(at(4));

        c.crash_restart(at(1));
        c.crash_restart(at(2));
        c.connect(at(1));
        c.connect(at(2));

        c.run_for(ELECTION_TIMEOUT)?;

        c.crash_restart(at(3));
        c.connect(at(3));

        c.one(cmd(10 + index), servers - 2, true)?;
        index += 1;

        c.connect(at(4));
        c.connect(at(0));
    }
    c.one(cmd(1000), servers, true)?;
    Ok(())
}

/// TestPersist32C: partitioned leader and one peer crash, leader restarts; checks that a
/// committed entry survives.
#[test]
fn persist3() -> Result<(), SimError> {
    let servers = 3;
    let mut c = make_cluster(servers, 32);
    c.one(cmd(101), 3, true)?;

    let leader = c.check_one_leader()?;
    c.disconnect((leader + 2) % servers);

    c.one(cmd(102), 2, true)?;

    // 6.824 crash1 also disconnects.
    c.disconnect(leader % servers);
    c.disconnect((leader + 1) % servers);
    c.crash(leader % servers);
    c.crash((leader + 1) % servers);
    c.connect((leader + 2) % servers);
    c.restart(leader % servers);
    c.connect(leader % servers);

    c.one(cmd(103), 2, true)?;

    c.restart((leader + 1) % servers);
    c.connect((leader + 1) % servers);

    c.one(cmd(104), servers, true)?;

    // 102 was committed by a majority before the crashes: it must still be at index 2.
    let (n, got) = c.n_committed(2)?;
    assert_eq!((n, got), (servers, Some(cmd(102))));
    Ok(())
}

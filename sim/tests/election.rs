//! 6.824 Lab 2A (leader election), on the simulated cluster.

mod common;

use common::make_cluster;
use raft_sim::{SimError, ELECTION_TIMEOUT, MS};
use rand::Rng;

/// TestInitialElection2A: a leader is elected, and with no failures the term stays put.
#[test]
fn initial_election() -> Result<(), SimError> {
    let mut c = make_cluster(3, 1);
    c.check_one_leader()?;
    // Let followers learn the term before checking everyone agrees on it.
    c.run_for(50 * MS)?;
    let term1 = c.check_terms()?;
    assert!(term1 >= 1, "term is {term1}, but should be at least 1");
    c.run_for(2 * ELECTION_TIMEOUT)?;
    let term2 = c.check_terms()?;
    assert_eq!(
        term1, term2,
        "term changed even though there were no failures"
    );
    c.check_one_leader()?;
    Ok(())
}

/// TestReElection2A: a new leader after the old one is cut off; none without a majority.
#[test]
fn re_election() -> Result<(), SimError> {
    let servers = 3;
    let mut c = make_cluster(servers, 2);
    let leader1 = c.check_one_leader()?;

    // If the leader disconnects, a new one should be elected.
    c.disconnect(leader1);
    c.check_one_leader()?;

    // If the old leader rejoins, that shouldn't disturb the new leader.
    c.connect(leader1);
    let leader2 = c.check_one_leader()?;

    // If there's no quorum, no leader should be elected.
    c.disconnect(leader2);
    c.disconnect((leader2 + 1) % servers);
    c.run_for(2 * ELECTION_TIMEOUT)?;
    c.check_no_leader()?;

    // If a quorum arises, it should elect a leader.
    c.connect((leader2 + 1) % servers);
    c.check_one_leader()?;

    // Re-join of last node shouldn't prevent leader from existing.
    c.connect(leader2);
    c.check_one_leader()?;
    Ok(())
}

/// TestManyElections2A: 7 servers, repeatedly cut three at random; a leader always emerges.
#[test]
fn many_elections() -> Result<(), SimError> {
    let servers = 7;
    let mut c = make_cluster(servers, 3);
    c.check_one_leader()?;
    for _ in 1..10 {
        // Disconnect three nodes (possibly the same one twice, as in the original).
        let picks: Vec<usize> = (0..3).map(|_| c.rng().random_range(0..servers)).collect();
        for &i in &picks {
            c.disconnect(i);
        }
        // Either the current leader should still be alive, or the remaining four should elect
        // a new one.
        c.check_one_leader()?;
        for &i in &picks {
            c.connect(i);
        }
    }
    c.check_one_leader()?;
    Ok(())
}

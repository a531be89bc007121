//! 6.824 TestCount2B: RPC budgets for an election, for 10 entries, and for idle time.

mod common;

use common::make_cluster;
use raft_sim::{cmd, SimError, ELECTION_TIMEOUT, SEC};
use rand::Rng;

#[test]
fn count() -> Result<(), SimError> {
    let servers = 3;
    let mut c = make_cluster(servers, 20);

    c.check_one_leader()?;
    let total1 = c.rpc_count();
    assert!(
        (1..=30).contains(&total1),
        "too many or few RPCs ({total1}) to elect initial leader"
    );

    let mut success = false;
    let mut total2 = 0;
    'tries: for attempt in 0..5 {
        if attempt > 0 {
            // Give the solution some time to settle.
            c.run_for(3 * SEC)?;
        }
        let leader = c.check_one_leader()?;
        let total1 = c.rpc_count();

        let iters = 10u64;
        let Some((starti, term)) = c.start(leader, cmd(1)) else {
            // Leader moved on really quickly.
            continue;
        };
        let mut cmds = Vec::new();
        for i in 1..iters + 2 {
            let x = cmd(c.rng().random::<u32>() as u64);
            cmds.push(x.clone());
            match c.start(leader, x) {
                Some((index1, term1)) if term1 == term => {
                    assert_eq!(index1, starti + i, "Start() failed");
                }
                _ => continue 'tries, // no longer the leader, so the term has changed
            }
        }

        for i in 1..iters + 1 {
            match c.wait(starti + i, servers, Some(term))? {
                Some(x) => assert_eq!(
                    x,
                    cmds[(i - 1) as usize],
                    "wrong value committed for index {}",
                    starti + i
                ),
                // The term changed -- try again.
                None => continue 'tries,
            }
        }

        for j in 0..servers {
            if c.get_state(j).map(|(t, _)| t) != Some(term) {
                // Term changed -- can't expect low RPC counts.
                continue 'tries;
            }
        }
        total2 = c.rpc_count();
        let used = total2 - total1;
        let budget = (iters + 1 + 3) * 3;
        assert!(
            used <= budget,
            "too many RPCs ({used}) for {iters} entries (budget {budget})"
        );
        success = true;
        break;
    }
    assert!(success, "term changed too often");

    c.run_for(ELECTION_TIMEOUT)?;
    let idle = c.rpc_count() - total2;
    assert!(
        idle <= 3 * 20,
        "too many RPCs ({idle}) for 1 second of idleness"
    );
    // And heartbeats do flow: followers must hear from the leader to keep it.
    assert!(idle >= 2, "only {idle} RPCs in 1 second: no heartbeats");
    Ok(())
}

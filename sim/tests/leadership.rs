//! Pre-vote (thesis §9.6), check-quorum (§6.2) and leadership transfer (§3.10) in the
//! simulated cluster: what each does to elections, counted with and without the feature.

use raft_sim::clients::ClientPool;
use raft_sim::{cmd, production_with, Cluster, SimConfig, SimError, MS, SEC};

fn cluster(servers: usize, seed: u64, pre_vote: bool, check_quorum: bool) -> Cluster {
    Cluster::new(SimConfig {
        core_config: production_with(pre_vote, check_quorum),
        ..SimConfig::new(servers, seed)
    })
}

/// What a partitioned follower did to the cluster once it rejoined.
#[derive(Debug)]
struct Rejoin {
    /// Elections started (term raised by a candidate) from the partition to the end.
    started: u64,
    /// Leaders elected after the rejoin.
    leaders_after: u64,
    /// The leader before the partition still leads at the end, in the same term.
    same_leader: bool,
}

/// A 3-node cluster elects a leader and commits; one follower is cut off for `away`
/// (several election timeouts) while the others commit more; it rejoins for 5 s.
fn partition_and_rejoin(seed: u64, pre_vote: bool, check_quorum: bool) -> Result<Rejoin, SimError> {
    let mut c = cluster(3, seed, pre_vote, check_quorum);
    let leader = c.check_one_leader()?;
    c.one(cmd(1), 3, true)?;
    let (term, _) = c.get_state(leader).expect("up");
    let follower = (leader + 1) % 3;
    let before = c.elections().clone();
    c.disconnect(follower);
    c.run_for(2 * SEC)?;
    c.one(cmd(2), 2, true)?;
    c.run_for(2 * SEC)?;
    let at_rejoin = c.elections().clone();
    c.connect(follower);
    c.run_for(5 * SEC)?;
    c.one(cmd(3), 3, true)?;
    let after = c.elections();
    Ok(Rejoin {
        started: after.started - before.started,
        leaders_after: after.leaders - at_rejoin.leaders,
        same_leader: c.get_state(leader) == Some((term, true)),
    })
}

/// With pre-vote and check-quorum (the production config), a partitioned follower never
/// raises its term, so its return disrupts nothing: no election at all, same leader and
/// term. Without either, the same schedule deposes the leader on every seed.
#[test]
fn rejoining_node_causes_no_election_with_pre_vote() -> Result<(), SimError> {
    for seed in 0..20 {
        let with = partition_and_rejoin(seed, true, true)?;
        assert_eq!(with.started, 0, "seed {seed}, pre-vote on: {with:?}");
        assert_eq!(with.leaders_after, 0, "seed {seed}, pre-vote on: {with:?}");
        assert!(with.same_leader, "seed {seed}, pre-vote on: {with:?}");

        let without = partition_and_rejoin(seed, false, false)?;
        // The isolated node times out again and again (4 s away, 0.5-1 s timeouts).
        assert!(
            without.started >= 3,
            "seed {seed}, pre-vote off: {without:?}"
        );
        // Its higher term reaches the leader, which steps down (§5.1): a new election.
        assert!(
            without.leaders_after >= 1,
            "seed {seed}, pre-vote off: {without:?}"
        );
        assert!(
            !without.same_leader,
            "seed {seed}, pre-vote off: {without:?}"
        );
    }
    Ok(())
}

/// Check-quorum alone: the isolated node still raises its term (no pre-vote), and its
/// higher-term RequestVote still deposes the leader on rejoin, while the two connected nodes
/// ignore the vote requests it sends while away (leader stickiness): no leader while away.
#[test]
fn check_quorum_alone_does_not_stop_term_inflation() -> Result<(), SimError> {
    let mut disrupted = 0;
    for seed in 0..10 {
        let r = partition_and_rejoin(seed, false, true)?;
        assert!(r.started >= 3, "seed {seed}: {r:?}");
        if !r.same_leader {
            disrupted += 1;
        }
    }
    assert!(
        disrupted > 0,
        "a higher term always reaches the leader somehow"
    );
    Ok(())
}

/// Thesis §3.10 under client load: a transfer to a random follower completes, the target
/// leads in the next term, and the cluster commits again. Reliable network: at least 99% of
/// seeds complete within two election timeouts (the abort bound is one). Unreliable (10%
/// loss): at least 95% (measured 98.3% of 1,000; the rest lost the target's votes).
#[test]
fn transfer_under_load_completes_within_two_election_timeouts() -> Result<(), SimError> {
    let seeds = 200;
    for (unreliable, percent) in [(false, 99), (true, 95)] {
        let (mut late, mut tried) = (Vec::new(), 0);
        for seed in 0..seeds {
            match transfer_under_load(seed, unreliable)? {
                Some(true) => tried += 1,
                Some(false) => {
                    tried += 1;
                    late.push(seed);
                }
                None => {}
            }
        }
        assert!(
            tried >= seeds * 9 / 10,
            "unreliable={unreliable}: {tried} transfers tried"
        );
        let on_time = tried - late.len() as u64;
        assert!(
            on_time * 100 >= tried * percent,
            "unreliable={unreliable}: transfers later than two election timeouts on seeds {late:?}"
        );
    }
    Ok(())
}

/// One transfer in a 5-node cluster with 4 churn clients: whether it completed within two
/// election timeouts (`None`: the leader was deposed before it was asked). Either way the
/// cluster must elect a leader and commit afterwards.
fn transfer_under_load(seed: u64, unreliable: bool) -> Result<Option<bool>, SimError> {
    let mut c = cluster(5, seed, true, true);
    let leader = c.check_one_leader()?;
    c.set_unreliable(unreliable);
    let mut clients = ClientPool::new(4, c.now());
    clients.run_for(&mut c, 300 * MS)?;
    let target = (leader + 1 + (seed as usize % 4)) % 5;
    let Some((term, true)) = c.get_state(leader) else {
        // Deposed meanwhile (lost heartbeats): nothing to transfer.
        return Ok(None);
    };
    let bound = 2 * c.election_timeout_us(leader);
    let t0 = c.now();
    c.transfer_leader(leader, target)
        .expect("the leader accepts");
    let done = c.run_until_pred(t0 + bound, |c| c.get_state(target).is_some_and(|(_, l)| l))?;
    if done {
        let (new_term, _) = c.get_state(target).expect("up");
        assert!(new_term > term, "seed {seed}: target leads in a later term");
    }
    c.set_unreliable(false);
    clients.run_for(&mut c, 500 * MS)?;
    c.one(cmd(seed + 1_000), 5, true)?;
    Ok(Some(done))
}

/// A transfer to an unreachable target is aborted after an election timeout: the leader
/// keeps its leadership and accepts proposals again.
#[test]
fn transfer_to_unreachable_target_aborts() -> Result<(), SimError> {
    for seed in 0..5 {
        let mut c = cluster(3, seed, true, true);
        let leader = c.check_one_leader()?;
        let target = (leader + 1) % 3;
        c.disconnect(target);
        c.transfer_leader(leader, target)
            .expect("the leader accepts");
        assert!(
            c.start(leader, cmd(7)).is_none(),
            "proposals refused while transferring"
        );
        assert_eq!(c.lead_transferee(leader), Some(c.id(target)));
        c.run_for(2 * c.election_timeout_us(leader))?;
        assert_eq!(c.lead_transferee(leader), None, "seed {seed}: aborted");
        assert!(c.get_state(leader).is_some_and(|(_, l)| l), "seed {seed}");
        let index = c.one(cmd(8), 2, false)?;
        assert!(index > 0);
        c.connect(target);
        c.one(cmd(9), 3, true)?;
    }
    Ok(())
}

/// A follower that missed entries is brought up to date before it is told to time out: it
/// wins and its log holds every entry committed before the transfer.
#[test]
fn transfer_to_lagging_follower_catches_it_up() -> Result<(), SimError> {
    for seed in 0..10 {
        let mut c = cluster(3, seed, true, true);
        let leader = c.check_one_leader()?;
        let target = (leader + 2) % 3;
        c.disconnect(target);
        let mut last = 0;
        for x in 0..5 {
            last = c.one(cmd(100 + x), 2, false)?;
        }
        c.connect(target);
        c.transfer_leader(leader, target)
            .expect("the leader accepts");
        let bound = c.now() + 2 * c.election_timeout_us(leader);
        let won = c.run_until_pred(bound, |c| c.get_state(target).is_some_and(|(_, l)| l))?;
        assert!(won, "seed {seed}: the lagging target was elected");
        let raw = c.raw(target).expect("up");
        assert!(
            raw.last_index() >= last,
            "seed {seed}: target has every entry"
        );
        c.one(cmd(200), 3, true)?;
    }
    Ok(())
}

/// Transfers appear in the soak schedule: with them, random fault schedules stay safe and
/// live (a smoke run; `raft-sim` runs thousands).
#[test]
fn soak_with_transfers_and_without_pre_vote() {
    use raft_sim::soak::{run_seed, Outcome, SoakOptions};
    for (pre_vote, check_quorum) in [(true, true), (false, false), (true, false)] {
        let opts = SoakOptions {
            core_config: production_with(pre_vote, check_quorum),
            fault_time_us: 10 * SEC,
            ..SoakOptions::default()
        };
        let mut transfers = 0;
        for seed in 0..8 {
            let r = run_seed(seed, &opts, false);
            assert_eq!(
                r.outcome,
                Outcome::Passed,
                "seed {seed} pre_vote={pre_vote} check_quorum={check_quorum}"
            );
            assert!(r.elections.leaders >= 1 && r.elections.started >= r.elections.leaders);
            transfers += r.elections.transfers;
        }
        assert!(transfers > 0, "the schedules asked leaders to hand over");
    }
}

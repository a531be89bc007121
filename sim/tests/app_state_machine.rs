//! `StateMachineOwner::Application`: the nodes queue committed entries and snapshots for an
//! application (6.824's `applyCh`), which compacts with its own snapshot bytes
//! (`Cluster::snapshot`, 6.824 `Snapshot(index, snapshot)`). The application here keeps the
//! commands it applied; its snapshot bytes are its own format, not the simulator's.

mod common;

use bytes::Bytes;

use common::lab_config;
use raft_impl::types::Index;
use raft_sim::{cmd, ApplyMsg, Cluster, SimConfig, SimError, StateMachineOwner, MS, SEC};

/// One node's application state: the commands applied, index `k + 1` at `k`.
#[derive(Clone, Debug, Default, PartialEq)]
struct App {
    commands: Vec<Bytes>,
    /// Snapshots it was reset from.
    restores: u64,
}

fn encode(commands: &[Bytes]) -> Bytes {
    let parts: Vec<String> = commands
        .iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    Bytes::from(format!("app:{}", parts.join(",")))
}

fn decode(data: &[u8]) -> Vec<Bytes> {
    let s = std::str::from_utf8(data).expect("utf-8");
    let body = s
        .strip_prefix("app:")
        .expect("the application's own format");
    if body.is_empty() {
        return Vec::new();
    }
    body.split(',')
        .map(|p| Bytes::from(p.to_string()))
        .collect()
}

fn app_cluster(seed: u64) -> Cluster {
    Cluster::new(SimConfig {
        core_config: lab_config,
        state_machine: StateMachineOwner::Application,
        ..SimConfig::new(3, seed)
    })
}

/// Takes every node's queued changes into its application, checking their order; a node
/// that applied `every` entries past its snapshot snapshots (a live node only).
fn pump(c: &mut Cluster, apps: &mut [App], every: Option<u64>) -> Result<(), SimError> {
    for (i, app) in apps.iter_mut().enumerate() {
        for msg in c.take_applies(i) {
            match msg {
                ApplyMsg::Command { index, data, .. } => {
                    assert_eq!(index, app.commands.len() as Index + 1, "node {i}");
                    app.commands.push(data);
                }
                ApplyMsg::Snapshot { meta, data } => {
                    app.commands = decode(&data);
                    app.restores += 1;
                    assert_eq!(app.commands.len() as Index, meta.last_included_index);
                }
            }
        }
        let applied = app.commands.len() as Index;
        if let Some(n) = every {
            if c.is_up(i) && applied >= c.first_index(i) - 1 + n {
                c.snapshot(i, applied, encode(&app.commands))
                    .map_err(|e| c_failed(c, e))?;
            }
        }
    }
    Ok(())
}

fn c_failed(c: &Cluster, what: String) -> SimError {
    SimError::Failed {
        seed: c.seed(),
        time_us: c.now(),
        what,
    }
}

/// Runs for `dur`, pumping every simulated millisecond.
fn run(c: &mut Cluster, apps: &mut [App], dur: u64, every: Option<u64>) -> Result<(), SimError> {
    let end = c.now() + dur;
    while c.now() < end {
        c.run_for(MS)?;
        pump(c, apps, every)?;
    }
    Ok(())
}

#[test]
fn entries_snapshots_install_and_restart_reach_the_application() -> Result<(), SimError> {
    let mut c = app_cluster(31);
    let mut apps = vec![App::default(); 3];
    let every = Some(5);
    let leader = c.check_one_leader()?;
    let lagging = (leader + 1) % 3;
    c.disconnect(lagging);
    for x in 0..40 {
        c.start(leader, cmd(x));
        run(&mut c, &mut apps, 20 * MS, every)?;
    }
    run(&mut c, &mut apps, SEC, every)?;
    // The simulator keeps no state machine of its own for the application.
    assert!(c.applied(leader).is_empty());
    assert_eq!(apps[leader].commands.len(), 40);
    assert!(c.compactions(leader) >= 7 && c.first_index(leader) > 30);
    assert_eq!(apps[lagging].commands.len(), 0);

    // The lagging node's log is compacted away at the leader: it gets the application's
    // snapshot bytes and resets from them.
    c.connect(lagging);
    run(&mut c, &mut apps, 2 * SEC, every)?;
    assert!(c.install_snapshot_sent() > 0);
    assert_eq!(c.snapshots_restored(lagging), 1);
    assert_eq!(apps[lagging].restores, 1);
    assert_eq!(apps[lagging].commands, apps[leader].commands);

    // A restart hands the durable snapshot first, then only the entries after it.
    let first = c.first_index(leader);
    c.crash(leader);
    apps[leader] = App::default();
    c.restart(leader);
    let msgs = c.take_applies(leader);
    assert_eq!(msgs.len(), 1, "nothing is committed again yet");
    match msgs.first() {
        Some(ApplyMsg::Snapshot { meta, data }) => {
            assert_eq!(meta.last_included_index, first - 1);
            apps[leader].commands = decode(data);
        }
        other => panic!("restart handed {other:?} first, not the snapshot"),
    }
    run(&mut c, &mut apps, 2 * SEC, every)?;
    let expected: Vec<Bytes> = (0..40).map(cmd).collect();
    for app in &apps {
        assert_eq!(app.commands, expected);
    }
    c.check()
}

#[test]
fn bad_snapshot_calls_are_errors() -> Result<(), SimError> {
    let mut c = app_cluster(32);
    let mut apps = vec![App::default(); 3];
    let leader = c.check_one_leader()?;
    c.start(leader, cmd(1));
    run(&mut c, &mut apps, SEC, None)?;
    let applied = apps[leader].commands.len() as Index;
    assert_eq!(applied, 1);
    let err = c.snapshot(leader, applied + 1, "x").unwrap_err();
    assert!(err.contains("beyond"), "{err}");
    c.crash(leader);
    assert!(c.snapshot(leader, applied, "x").is_err());
    assert_eq!(c.compactions(leader), 0);

    // The simulator's own state machine cannot be snapshotted by an application.
    let mut sim_owned = Cluster::new(SimConfig::new(3, 33));
    let l = sim_owned.check_one_leader()?;
    assert!(sim_owned.snapshot(l, 1, "x").is_err());
    assert!(sim_owned.take_applies(l).is_empty());
    c.check()
}

//! `hunt`: randomized bug hunting at bounds too large to exhaust.
//!
//! Swarm verification (Groce et al., ISSTA 2012): every walk draws its own
//! swarm configuration, a random subset of the fault and housekeeping action
//! kinds switched off, a random weight for each kind left on and (in half the
//! walks) for each directed link, then walks
//! from the initial state choosing each step among the enabled actions by
//! weight and checking every invariant on every state. Walks that never drop a
//! message, or that time out far more often than they deliver, reach corners a
//! uniform walk reaches with vanishing probability.
//!
//! Walk `k` of seed `s` is a function of `(s, k)` only, and a hunt reports the
//! lowest-numbered violating walk among those it ran (workers never skip a
//! walk below a violation found), so `--seed` reproduces a hunt whatever the
//! thread count. A hunt is never a proof: one that finds nothing is
//! incomplete.

use super::shrink::{path_of, shrink};
use super::{Path, Verdict};
use crate::properties::INVARIANTS;
use crate::raft::RaftModel;
use crate::state::{Action, Envelope, State};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct HuntOptions {
    pub seed: u64,
    /// Stop after this many walks (None: until the timeout).
    pub walks: Option<u64>,
    /// Run only this walk (to reproduce one).
    pub only_walk: Option<u64>,
    /// The longest walk, in steps.
    pub max_depth: usize,
    pub threads: usize,
    pub timeout: Option<Duration>,
    pub progress_every: Option<Duration>,
    /// Check only these invariants (bit i is `INVARIANTS[i]`).
    pub invariants: u64,
}

impl Default for HuntOptions {
    fn default() -> Self {
        HuntOptions {
            seed: 0,
            walks: None,
            only_walk: None,
            max_depth: 400,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            timeout: Some(Duration::from_secs(60)),
            progress_every: Some(Duration::from_secs(3)),
            invariants: super::ALL_INVARIANTS,
        }
    }
}

/// A violation a walk found, and its shrunk form.
pub struct Found {
    pub property: &'static str,
    pub walk: u64,
    /// Steps of the walk up to the violation, before shrinking.
    pub walk_steps: usize,
    pub steps: Path,
}

pub struct HuntOutcome {
    /// `Violation`, or `Incomplete` when nothing was found.
    pub verdict: Verdict,
    pub walks: u64,
    pub states: u64,
    pub max_depth: usize,
    pub secs: f64,
    pub found: Option<Found>,
}

impl HuntOutcome {
    /// The last line of `hunt`, shaped like `check`'s.
    pub fn verdict_line(&self) -> String {
        format!(
            "verdict: {} walks={} states={} max_depth={} secs={:.1} exhaustive=false",
            self.verdict.name(),
            self.walks,
            self.states,
            self.max_depth,
            self.secs
        )
    }
}

/// The kinds of action a swarm configuration weighs.
const KINDS: usize = 11;

fn kind(action: &Action) -> usize {
    match action {
        Action::Deliver(_) => 0,
        Action::ElectionTimeout(_) => 1,
        Action::Propose(..) => 2,
        Action::Heartbeat(_) => 3,
        Action::Restart(_) => 4,
        Action::RestartLosingTail(_) => 5,
        Action::Drop(_) => 6,
        Action::Duplicate(_) => 7,
        Action::Snapshot(_) => 8,
        Action::CheckQuorum(_) => 9,
        Action::TransferLeadership(..) | Action::AbortTransfer(_) => 10,
    }
}

/// One walk's swarm configuration: a weight per action kind (0: off) and
/// per directed link. Deliveries, timeouts and proposals stay on: without
/// them nothing happens. A link of low weight delivers rarely, so its
/// messages grow stale while the others race ahead: the reordering behind
/// bugs about old replies.
struct Swarm {
    kinds: [u32; KINDS],
    links: Vec<u32>,
    servers: usize,
}

impl Swarm {
    fn draw(rng: &mut StdRng, servers: usize) -> Swarm {
        let mut kinds = [0; KINDS];
        for (k, w) in kinds.iter_mut().enumerate() {
            let may_be_off = k >= 3;
            *w = if may_be_off && rng.random_bool(0.4) {
                0
            } else {
                1 << rng.random_range(0..5u32)
            };
        }
        let skewed = rng.random_bool(0.5);
        let links = (0..servers * servers)
            .map(|_| {
                if skewed {
                    1 << rng.random_range(0..7u32)
                } else {
                    1
                }
            })
            .collect();
        Swarm {
            kinds,
            links,
            servers,
        }
    }

    fn weight(&self, action: &Action) -> u32 {
        let link = |m: &Envelope| self.links[m.from as usize * self.servers + m.to as usize];
        let w = self.kinds[kind(action)];
        match action {
            Action::Deliver(m) | Action::Drop(m) | Action::Duplicate(m) => w * link(m),
            _ => w,
        }
    }
}

fn walk_rng(seed: u64, walk: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ walk.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// The first invariant in `mask` that `state` violates.
fn first_violation(state: &State, mask: u64) -> Option<usize> {
    (0..INVARIANTS.len()).find(|&i| mask & (1u64 << i) != 0 && !(INVARIANTS[i].holds)(state))
}

/// A walk's result: the actions up to a violation (and which), or the
/// number of states it visited.
enum Walk {
    Violation(usize, Vec<Action>),
    Clean(usize),
}

fn walk(model: &RaftModel, seed: u64, index: u64, opts: &HuntOptions) -> Walk {
    let mut rng = walk_rng(seed, index);
    let swarm = Swarm::draw(&mut rng, model.config.servers as usize);
    let mut state = model.init_state();
    let mut taken = Vec::new();
    let mut actions = Vec::new();
    let mut weighted: Vec<(Action, u32)> = Vec::new();
    while taken.len() < opts.max_depth {
        actions.clear();
        model.actions(&state, &mut actions);
        weighted.clear();
        weighted.extend(
            actions
                .drain(..)
                .map(|a| {
                    let w = swarm.weight(&a);
                    (a, w)
                })
                .filter(|(_, w)| *w > 0),
        );
        let mut total: u32 = weighted.iter().map(|(_, w)| w).sum();
        // Choose by weight; an action whose successor leaves the bounds is
        // struck out and the choice made again.
        let next = loop {
            if total == 0 {
                break None;
            }
            let mut pick = rng.random_range(0..total);
            let at = weighted
                .iter()
                .position(|(_, w)| {
                    pick < *w || {
                        pick -= w;
                        false
                    }
                })
                .expect("pick < total");
            let (action, w) = weighted.swap_remove(at);
            total -= w;
            match model.next_state(&state, &action) {
                Some(next) if model.within_bounds(&next) => break Some((action, next)),
                _ => continue,
            }
        };
        let Some((action, next)) = next else { break };
        taken.push(action);
        state = next;
        if let Some(i) = first_violation(&state, opts.invariants) {
            return Walk::Violation(i, taken);
        }
    }
    Walk::Clean(taken.len())
}

/// Hunts for a violation of `model`; progress goes to `progress`.
pub fn hunt(model: &RaftModel, opts: &HuntOptions, progress: &mut dyn Write) -> HuntOutcome {
    let start = Instant::now();
    let next_walk = AtomicU64::new(opts.only_walk.unwrap_or(0));
    let last_walk = match opts.only_walk {
        Some(k) => k + 1,
        None => opts.walks.unwrap_or(u64::MAX),
    };
    // The lowest violating walk so far (u64::MAX: none), and its actions.
    let best = AtomicU64::new(u64::MAX);
    let found: Mutex<Option<(u64, usize, Vec<Action>)>> = Mutex::new(None);
    let walks_done = AtomicU64::new(0);
    let states = AtomicU64::new(0);
    let max_depth = AtomicUsize::new(0);
    let timed_out = || opts.timeout.is_some_and(|t| start.elapsed() >= t);
    let workers = opts.threads.max(1);
    let running = AtomicUsize::new(workers);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let k = next_walk.fetch_add(1, Ordering::Relaxed);
                    if k >= last_walk || k >= best.load(Ordering::Relaxed) || timed_out() {
                        break;
                    }
                    let (depth, violation) = match walk(model, opts.seed, k, opts) {
                        Walk::Violation(i, actions) => (actions.len(), Some((i, actions))),
                        Walk::Clean(depth) => (depth, None),
                    };
                    walks_done.fetch_add(1, Ordering::Relaxed);
                    states.fetch_add(depth as u64 + 1, Ordering::Relaxed);
                    max_depth.fetch_max(depth, Ordering::Relaxed);
                    if let Some((i, actions)) = violation {
                        let mut slot = found.lock().expect("no worker panics");
                        if slot.as_ref().is_none_or(|(w, ..)| k < *w) {
                            *slot = Some((k, i, actions));
                            best.fetch_min(k, Ordering::Relaxed);
                        }
                    }
                }
                running.fetch_sub(1, Ordering::Relaxed);
            });
        }
        let mut last_print = Instant::now();
        let mut last_states = 0;
        while running.load(Ordering::Relaxed) > 0 {
            std::thread::sleep(Duration::from_millis(20));
            let Some(every) = opts.progress_every else {
                continue;
            };
            if last_print.elapsed() >= every {
                let now = states.load(Ordering::Relaxed);
                let rate = (now - last_states) as f64 / last_print.elapsed().as_secs_f64();
                let _ = writeln!(
                    progress,
                    "progress: walks={} states={} rate={:.0}/s depth={} elapsed={:.0}s",
                    walks_done.load(Ordering::Relaxed),
                    now,
                    rate,
                    max_depth.load(Ordering::Relaxed),
                    start.elapsed().as_secs_f64()
                );
                last_print = Instant::now();
                last_states = now;
            }
        }
    });
    let found = found.into_inner().expect("no worker panics");
    let found = found.map(|(walk, property, actions)| {
        let _ = writeln!(
            progress,
            "walk {walk} violates {} after {} steps; shrinking (delta debugging)",
            INVARIANTS[property].name,
            actions.len()
        );
        let shrunk = shrink(model, &actions, property);
        Found {
            property: INVARIANTS[property].name,
            walk,
            walk_steps: actions.len(),
            steps: path_of(model, &shrunk),
        }
    });
    HuntOutcome {
        verdict: if found.is_some() {
            Verdict::Violation
        } else {
            Verdict::Incomplete
        },
        walks: walks_done.into_inner(),
        states: states.into_inner(),
        max_depth: max_depth.into_inner(),
        secs: start.elapsed().as_secs_f64(),
        found,
    }
}

//! Helpers shared by the model's integration tests.
#![allow(dead_code)]

use raft_model::properties::transitions::{broken, TRANSITIONS};
use raft_model::state::{Envelope, Message};
use raft_model::{Action, Config, RaftModel, State};

/// Drives the model through hand-picked actions, asserting each is enabled.
pub struct Scenario {
    pub model: RaftModel,
    pub state: State,
    pub steps: Vec<(State, Option<Action>)>,
}

impl Scenario {
    pub fn new(config: Config) -> Self {
        let model = RaftModel::new(config);
        let state = model.init_state();
        Scenario {
            model,
            state,
            steps: Vec::new(),
        }
    }

    pub fn act(&mut self, action: Action) -> &mut Self {
        assert!(
            self.model.enabled(&self.state, &action),
            "not enabled: {action:?}\n{}",
            raft_model::trace::table::state_text(&self.state).join("\n")
        );
        let next = self
            .model
            .next_state(&self.state, &action)
            .expect("enabled action steps");
        assert!(
            self.model.within_bounds(&next),
            "left the bounds: {action:?}"
        );
        self.steps
            .push((std::mem::replace(&mut self.state, next), Some(action)));
        self
    }

    /// The one in-flight message from `from` to `to` whose kind is `kind`
    /// and that satisfies `pred`.
    pub fn find(&self, from: u8, to: u8, kind: &str, pred: impl Fn(&Message) -> bool) -> Envelope {
        let found: Vec<&Envelope> = self
            .state
            .network
            .iter()
            .filter(|m| m.from == from && m.to == to && m.msg.kind() == kind && pred(&m.msg))
            .collect();
        assert!(
            !found.is_empty(),
            "no {kind} from s{from} to s{to} in flight"
        );
        found[0].clone()
    }

    pub fn deliver(&mut self, from: u8, to: u8, kind: &str) -> &mut Self {
        self.deliver_if(from, to, kind, |_| true)
    }

    /// s0 times out and wins with s1's vote (a 3-server cluster's majority).
    pub fn elect_s0(&mut self) -> &mut Self {
        self.act(Action::ElectionTimeout(0));
        self.deliver(0, 1, "RequestVote")
            .deliver(1, 0, "RequestVoteResponse");
        assert_eq!(self.state.servers[0].role, raft_model::state::Role::Leader);
        self
    }

    /// Delivers the `kind` message of term `term` from `from` to `to`.
    pub fn deliver_term(&mut self, from: u8, to: u8, kind: &str, term: u8) -> &mut Self {
        self.deliver_if(from, to, kind, |b| b.term() == term)
    }

    pub fn deliver_if(
        &mut self,
        from: u8,
        to: u8,
        kind: &str,
        pred: impl Fn(&Message) -> bool,
    ) -> &mut Self {
        let m = self.find(from, to, kind, pred);
        self.act(Action::Deliver(m))
    }

    /// s0 wins term 1 with s1's vote, appends (1,1) and s1 stores it (its
    /// acknowledgement still in flight).
    pub fn s0_leads_and_s1_stores_one_entry(&mut self) -> &mut Self {
        self.act(Action::ElectionTimeout(0));
        self.deliver(0, 1, "RequestVote")
            .deliver(1, 0, "RequestVoteResponse");
        self.act(Action::Propose(0, 1)).act(Action::Heartbeat(0));
        self.deliver_if(
            0,
            1,
            "AppendEntries",
            |m| matches!(m, Message::AppendEntries(ae) if !ae.entries.is_empty()),
        )
    }

    /// The whole path, last state included.
    pub fn path(&self) -> Vec<(State, Option<Action>)> {
        let mut p = self.steps.clone();
        p.push((self.state.clone(), None));
        p
    }
}

/// A small configuration every test can check in a few seconds.
pub fn small() -> Config {
    Config {
        max_term: 2,
        max_log: 1,
        max_in_flight: 3,
        restarts: 1,
        drops: 0,
        duplicates: 0,
        snapshots: 0,
        ..Config::default()
    }
}

/// Saves `sc`'s path as a trace file and checks that it reads back unchanged and replays as
/// a behaviour of its model; returns the JSON and the rendered step table.
pub fn round_trip(sc: &Scenario, description: &str) -> (String, String) {
    use raft_model::replay::replay;
    use raft_model::trace::itf::{from_json, to_json};
    use raft_model::trace::TraceFile;
    let trace = TraceFile {
        config: sc.model.config.clone(),
        violation: None,
        description: description.into(),
        steps: sc.path(),
    };
    let json = to_json(&trace);
    assert_eq!(from_json(&json).expect("reads back"), trace);
    let report = replay(&RaftModel::new(trace.config.clone()), &trace);
    assert_eq!((report.divergence, report.violation), (None, None));
    (json, raft_model::trace::table::render(&trace.steps))
}

/// The JSON of a one-step trace of the [`small`] model, whose switches are all off.
pub fn plain_trace_json() -> String {
    let mut plain = Scenario::new(small());
    plain.act(Action::ElectionTimeout(0));
    round_trip(&plain, "plain").0
}

/// Checks `config` exhaustively (DFS, symmetry): the correct model holds, and every sanity
/// event named in `events` is reached. Without its switch (the plain `small` model), no
/// sanity event containing `switch_word` is listed.
pub fn holds_and_reaches(config: &Config, events: &[&str], switch_word: &str) {
    use raft_model::search::{check_quietly, Strategy, Verdict};
    let outcome = check_quietly(config, Strategy::Dfs, true);
    assert_eq!(outcome.verdict, Verdict::Ok, "{:?}", outcome.sanity);
    assert!(outcome.exhaustive);
    for name in events {
        assert!(
            outcome.sanity.iter().any(|(n, r)| n == name && *r),
            "{name}: {:?}",
            outcome.sanity
        );
    }
    let plain = check_quietly(&small(), Strategy::Dfs, true);
    assert!(plain.sanity.iter().all(|(n, _)| !n.contains(switch_word)));
}

/// The last step of `sc`: (before, action, after).
pub fn last_step(sc: &Scenario) -> (State, Action, State) {
    let (before, action) = sc.steps.last().expect("a step was taken").clone();
    (
        before,
        action.expect("every step has an action"),
        sc.state.clone(),
    )
}

/// Asserts the correct step breaks nothing and `wrong(after)` breaks `rule`.
pub fn fires(sc: &Scenario, rule: &str, wrong: impl FnOnce(&mut State)) {
    let bit = TRANSITIONS
        .iter()
        .position(|t| t.name == rule)
        .unwrap_or_else(|| panic!("no transition property {rule:?}"));
    let (before, action, after) = last_step(sc);
    assert_eq!(
        broken(&before, &action, &after),
        0,
        "the correct step breaks a rule"
    );
    let mut bad = after;
    wrong(&mut bad);
    bad.network.sort();
    let bits = broken(&before, &action, &bad);
    assert!(
        bits & 1 << bit != 0,
        "{rule:?} did not fire (bits {bits:b})"
    );
}

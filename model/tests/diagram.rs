//! The space-time diagram: its structure on hand-built and catalog traces.

mod common;

use common::Scenario;
use raft_model::state::{Action, Message};
use raft_model::trace::diagram::{escape, html, layout, svg, Fate};
use raft_model::trace::{itf, TraceFile};
use raft_model::Config;

fn config() -> Config {
    Config {
        max_in_flight: 10,
        drops: 1,
        duplicates: 1,
        ..common::small()
    }
}

fn trace(sc: &Scenario, violation: Option<&str>) -> TraceFile {
    TraceFile {
        config: sc.model.config.clone(),
        violation: violation.map(String::from),
        description: "test".into(),
        steps: sc.path(),
    }
}

/// s0 is elected by s1; its RequestVote to s2 is duplicated, one copy
/// dropped; the heartbeat to s2 stays in flight.
fn election() -> Scenario {
    let mut sc = Scenario::new(config());
    sc.act(Action::ElectionTimeout(0));
    let to_s2 = sc.find(0, 2, "RequestVote", |_| true);
    sc.act(Action::Duplicate(to_s2.clone()))
        .act(Action::Drop(to_s2));
    sc.deliver(0, 1, "RequestVote")
        .deliver(1, 0, "RequestVoteResponse");
    sc
}

#[test]
fn every_message_is_an_arrow_from_its_send_to_its_end() {
    let sc = election();
    let t = trace(&sc, None);
    let l = layout(&t);
    assert_eq!((l.servers, l.rows.len()), (3, 6));
    let fates: Vec<(u8, u8, usize, usize, Fate, bool)> = l
        .arrows
        .iter()
        .map(|a| (a.from, a.to, a.sent, a.end, a.fate, a.duplicate))
        .collect();
    assert_eq!(
        fates,
        vec![
            (0, 1, 1, 4, Fate::Delivered, false), // RequestVote to s1
            (0, 2, 1, 3, Fate::Dropped, false),   // to s2: the original is dropped
            (0, 2, 2, 5, Fate::InFlight, true),   // its duplicate is still in flight
            (1, 0, 4, 5, Fate::Delivered, false), // the vote
            (0, 1, 5, 5, Fate::InFlight, false),  // the new leader's AppendEntries
            (0, 2, 5, 5, Fate::InFlight, false),
        ]
    );
    assert!(matches!(
        l.arrows[3].msg.msg,
        Message::RequestVoteResponse(_)
    ));
}

#[test]
fn the_svg_has_a_lane_per_server_an_arrow_per_message_and_marks_the_violation() {
    let sc = election();
    let plain = svg(&trace(&sc, None));
    assert_eq!(plain.matches(r#"class="lane""#).count(), 3);
    assert_eq!(plain.matches(r#"<g class="msg "#).count(), 6);
    assert_eq!(plain.matches(r#"class="msg rv dropped""#).count(), 1);
    assert_eq!(
        plain
            .matches(r#"class="msg rv duplicate inflight""#)
            .count(),
        1
    );
    assert!(!plain.contains(r#"class="violation""#));
    let rule = "progress moves only on a response of the leader's term";
    let bad = svg(&trace(&sc, Some(rule)));
    assert_eq!(bad.matches(r#"class="violation""#).count(), 1);
    assert!(bad.contains("leader&#x27;s term") && !bad.contains("leader's term"));
}

#[test]
fn the_page_is_self_contained_and_explains_the_violation() {
    let mut sc = Scenario::new(Config {
        max_in_flight: 10,
        ..common::small()
    });
    sc.act(Action::ElectionTimeout(0))
        .act(Action::ElectionTimeout(1));
    let page = html(&trace(&sc, Some("Election Safety")));
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(
        !page.contains("http://") || page.matches("http://").count() == 1,
        "only the SVG namespace"
    );
    assert!(!page.contains("<script"));
    assert!(page.contains("VIOLATION of Election Safety after 2 steps"));
    assert!(page.contains("The step table"));
}

#[test]
fn escape_covers_markup() {
    assert_eq!(
        escape(r#"<a href="x">'&'</a>"#),
        "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
    );
}

#[test]
fn every_saved_catalog_counterexample_renders() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/traces");
    let mut rendered = 0;
    for entry in std::fs::read_dir(&dir).expect("the saved counterexamples") {
        let path = entry.unwrap().path();
        let t = itf::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let page = html(&t);
        let property = t.violation.as_deref().expect("a counterexample");
        assert!(
            page.contains(&format!("VIOLATION of {}", escape(property))),
            "{}",
            path.display()
        );
        assert_eq!(
            page.matches(r#"class="lane""#).count(),
            t.config.servers as usize,
            "{}",
            path.display()
        );
        rendered += 1;
    }
    assert!(rendered >= 9, "{rendered}");
}

#[test]
fn a_forty_step_five_server_trace_fits_a_wide_screen() {
    let config = Config {
        servers: 5,
        max_in_flight: 12,
        ..common::small()
    };
    let mut sc = Scenario::new(config.clone());
    let model = raft_model::RaftModel::new(config);
    // A deterministic walk: always the first enabled action that stays in bounds.
    for _ in 0..40 {
        let mut actions = Vec::new();
        model.actions(&sc.state, &mut actions);
        let Some(a) = actions.into_iter().find(|a| {
            model
                .next_state(&sc.state, a)
                .is_some_and(|n| model.within_bounds(&n))
        }) else {
            break;
        };
        sc.act(a);
    }
    assert_eq!(sc.steps.len(), 40);
    let picture = svg(&trace(&sc, None));
    let width: usize = picture
        .split("width=\"")
        .nth(1)
        .and_then(|w| w.split('"').next())
        .and_then(|w| w.parse().ok())
        .unwrap();
    assert!(width <= 1600, "{width}");
    assert_eq!(picture.matches(r#"class="lane""#).count(), 5);
}

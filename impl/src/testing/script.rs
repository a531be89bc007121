//! Golden interaction scripts (after etcd-io/raft's `testdata/*.txt`): a reviewer reads a
//! scenario, not code.
//!
//! A script is a list of steps. A step is a `> command` line, optionally preceded by `#`
//! comment lines; the lines after it, up to the next step, are what the step printed. The
//! runner executes each step on a [`Network`] and writes the file back in the same shape, so
//! comparing the result with the file checks every printed line. Commands:
//!
//! - `cluster N`: nodes `1..=N`, fresh (must come first);
//! - `restore ID term=T [vote=V] log=T1,T2,..`: restart node ID from that durable state;
//! - `campaign ID`, `tick ID [COUNT]`, `heartbeat ID`, `propose ID DATA`;
//! - `leader ID TERM`: make ID leader of TERM by real elections, then stabilize;
//! - `deliver FROM->TO [COUNT]`, `drop FROM->TO [COUNT]`: the oldest messages on that link;
//! - `stabilize`: deliver everything until quiet;
//! - `crash ID`, `restart ID`, `isolate ID`, `partition 1,2 3,4,5`, `heal`;
//! - `state`, `in-flight`: print every node, or every queued message.
//!
//! Each step prints the messages it delivered, lost, dropped or queued (`recv`, `lost`, `drop`,
//! `send`), then the state of each node whose state it changed; `stabilize` and `leader`
//! print no `send` lines (what they queue they also deliver).

use super::build::stored;
use super::format;
use super::network::{Delivery, Network};
use crate::storage::StoredState;
use crate::types::{NodeId, Term};

/// One parsed step: its comment lines and its command.
struct Step {
    comments: Vec<String>,
    command: String,
}

fn parse(text: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut comments = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            comments.push(line.to_string());
        } else if let Some(cmd) = line.strip_prefix("> ") {
            steps.push(Step {
                comments: std::mem::take(&mut comments),
                command: cmd.trim().to_string(),
            });
        }
    }
    steps
}

/// Runs `script` and returns it with every step's output regenerated. An error shows the
/// output up to the failing step, then names it.
pub fn run(script: &str) -> Result<String, String> {
    let mut net: Option<Network> = None;
    let mut out = String::new();
    for step in parse(script) {
        for c in &step.comments {
            out.push_str(c);
            out.push('\n');
        }
        out.push_str("> ");
        out.push_str(&step.command);
        out.push('\n');
        let lines = exec(&mut net, &step.command)
            .map_err(|e| format!("{out}error in `{}`: {e}", step.command))?;
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
        out.push('\n');
    }
    Ok(out)
}

fn states(net: &Network) -> Vec<String> {
    net.ids()
        .map(|id| match net.node(id) {
            Some(n) => format::node(n),
            None => format!("{id} down"),
        })
        .collect()
}

fn exec(net: &mut Option<Network>, command: &str) -> Result<Vec<String>, String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let (&verb, args) = words.split_first().ok_or("empty command")?;
    if verb == "cluster" {
        let n = num(args.first())?;
        let fresh = Network::new(n);
        let lines = states(&fresh);
        *net = Some(fresh);
        return Ok(lines);
    }
    let net = net
        .as_mut()
        .ok_or("the script must start with `cluster N`")?;
    let before = states(net);
    let mut out = Vec::new();
    let sent_before = net.sent().len();
    match verb {
        "state" => return Ok(before),
        "in-flight" => return Ok(net.in_flight().iter().map(format::envelope).collect()),
        "restore" => {
            let id = node_id(net, args.first())?;
            net.restore(id, stored_state(&args[1..])?);
        }
        "campaign" => {
            let id = up(net, args.first())?;
            net.campaign(id);
        }
        "tick" => {
            let id = up(net, args.first())?;
            for _ in 0..count(args.get(1))? {
                net.tick(id);
            }
        }
        "heartbeat" => {
            let id = up(net, args.first())?;
            net.node_mut(id)
                .heartbeat_now()
                .map_err(|e| format!("{e}"))?;
            net.flush(id);
        }
        "propose" => {
            let id = up(net, args.first())?;
            let data = args.get(1).ok_or("propose ID DATA")?.to_string();
            match net.propose(id, data) {
                Some((index, term)) => out.push(format!("proposed {index}@{term}")),
                None => out.push(format!("refused: {id} is not leader")),
            }
        }
        "leader" => {
            let id = up(net, args.first())?;
            let term: Term = num(args.get(1))?;
            net.make_leader(id, term)?;
            // The election's traffic is routine; only its outcome is printed.
            return Ok(changed(&before, &states(net)));
        }
        "deliver" | "drop" => {
            let (from, to) = link(args.first())?;
            for _ in 0..count(args.get(1))? {
                if verb == "deliver" {
                    let d = net
                        .deliver(from, to)
                        .ok_or(format!("no message {from}->{to} in flight"))?;
                    out.push(delivery(&d));
                } else {
                    let e = net
                        .drop_message(from, to)
                        .ok_or(format!("no message {from}->{to} in flight"))?;
                    out.push(format!("drop {}", format::envelope(&e)));
                }
            }
        }
        "stabilize" => {
            out.extend(net.stabilize().iter().map(delivery));
            let now = states(net);
            out.extend(changed(&before, &now));
            return Ok(out);
        }
        "crash" => net.crash(node_id(net, args.first())?),
        "restart" => net.restart(node_id(net, args.first())?),
        "isolate" => net.isolate(node_id(net, args.first())?),
        "heal" => net.heal(),
        "partition" => {
            let groups = args
                .iter()
                .map(|g| g.split(',').map(|x| num(Some(&x))).collect())
                .collect::<Result<Vec<Vec<NodeId>>, String>>()?;
            let refs: Vec<&[NodeId]> = groups.iter().map(Vec::as_slice).collect();
            net.partition(&refs);
        }
        _ => return Err(format!("unknown command {verb:?}")),
    }
    // Messages queued by this step (a delivery's replies included), oldest first.
    out.extend(
        net.sent()[sent_before..]
            .iter()
            .map(|e| format!("send {}", format::envelope(e))),
    );
    out.extend(changed(&before, &states(net)));
    Ok(out)
}

fn delivery(d: &Delivery) -> String {
    match d {
        Delivery::Delivered(e) => format!("recv {}", format::envelope(e)),
        Delivery::Lost(e, why) => format!("lost {} ({why})", format::envelope(e)),
    }
}

fn changed(before: &[String], after: &[String]) -> Vec<String> {
    before
        .iter()
        .zip(after)
        .filter(|(b, a)| b != a)
        .map(|(_, a)| a.clone())
        .collect()
}

fn num<T: std::str::FromStr>(w: Option<&&str>) -> Result<T, String> {
    let w = w.ok_or("missing number")?;
    w.parse().map_err(|_| format!("{w:?} is not a number"))
}

fn count(w: Option<&&str>) -> Result<usize, String> {
    w.map_or(Ok(1), |_| num(w))
}

fn node_id(net: &Network, w: Option<&&str>) -> Result<NodeId, String> {
    let id: NodeId = num(w)?;
    if net.ids().any(|i| i == id) {
        Ok(id)
    } else {
        Err(format!("no node {id}"))
    }
}

fn up(net: &Network, w: Option<&&str>) -> Result<NodeId, String> {
    let id = node_id(net, w)?;
    if net.is_up(id) {
        Ok(id)
    } else {
        Err(format!("node {id} is down"))
    }
}

fn link(w: Option<&&str>) -> Result<(NodeId, NodeId), String> {
    let w = w.ok_or("missing FROM->TO")?;
    let (a, b) = w.split_once("->").ok_or(format!("{w:?} is not FROM->TO"))?;
    Ok((num(Some(&a))?, num(Some(&b))?))
}

/// `term=T [vote=V] log=T1,T2,..` (an empty `log=` is an empty log).
fn stored_state(args: &[&str]) -> Result<StoredState, String> {
    let (mut term, mut vote) = (0, None);
    let mut terms = Vec::new();
    for a in args {
        let (k, v) = a.split_once('=').ok_or(format!("{a:?} is not key=value"))?;
        match k {
            "term" => term = num(Some(&v))?,
            "vote" => vote = Some(num(Some(&v))?),
            "log" if v.is_empty() => {}
            "log" => {
                terms = v
                    .split(',')
                    .map(|t| num(Some(&t)))
                    .collect::<Result<_, _>>()?
            }
            _ => return Err(format!("unknown key {k:?}")),
        }
    }
    Ok(stored(term, vote, &terms))
}

//! Transition coverage: the model's reachable graph in a small bound, and a
//! set of traces that together take every edge.
//!
//! An edge is a pair (reachable state, enabled action). Successors outside
//! the bound are kept as leaves, so the action that leaves the bound is
//! covered too (the core must still agree on it). The traces are built
//! greedily: for the first uncovered edge in BFS order, the shortest path to
//! its source, the edge, then any uncovered edge from wherever that leads,
//! until none is left there. Every trace covers at least one new edge, and
//! most cover many, so the set is small and duplicate-free.

use raft_model::{Action, RaftModel, State};
use std::collections::HashMap;

/// The reachable graph, states numbered in BFS order (0 is initial).
pub struct Graph {
    pub states: Vec<State>,
    /// Outgoing edges of each state inside the bound (empty for leaves).
    pub edges: Vec<Vec<(Action, u32)>>,
    /// BFS tree: the (parent state, edge number) that first reached a state.
    parent: Vec<Option<(u32, u32)>>,
}

impl Graph {
    pub fn edge_count(&self) -> usize {
        self.edges.iter().map(Vec::len).sum()
    }

    /// States inside the bound (those whose edges were explored).
    pub fn inner_states(&self) -> usize {
        self.edges.iter().filter(|e| !e.is_empty()).count()
    }
}

/// Explores every state reachable in `model`'s bounds; errors past `limit` states.
pub fn explore(model: &RaftModel, limit: usize) -> Result<Graph, String> {
    let init = model.init_state();
    let mut g = Graph {
        states: vec![init.clone()],
        edges: vec![Vec::new()],
        parent: vec![None],
    };
    let mut ids: HashMap<State, u32> = HashMap::from([(init, 0)]);
    let mut actions = Vec::new();
    let mut next = 0usize;
    while next < g.states.len() {
        let id = next as u32;
        next += 1;
        if !model.within_bounds(&g.states[id as usize]) {
            continue;
        }
        actions.clear();
        model.actions(&g.states[id as usize], &mut actions);
        let mut out = Vec::with_capacity(actions.len());
        for action in actions.drain(..) {
            let Some(succ) = model.next_state(&g.states[id as usize], &action) else {
                continue;
            };
            let target = match ids.get(&succ) {
                Some(&t) => t,
                None => {
                    let t = g.states.len() as u32;
                    if g.states.len() >= limit {
                        return Err(format!("the coverage bound has more than {limit} states"));
                    }
                    ids.insert(succ.clone(), t);
                    g.states.push(succ);
                    g.edges.push(Vec::new());
                    g.parent.push(Some((id, out.len() as u32)));
                    t
                }
            };
            out.push((action, target));
        }
        g.edges[id as usize] = out;
    }
    Ok(g)
}

/// A path through the graph from the initial state: the states visited and
/// the edge (state, edge number) taken from each.
#[derive(Clone, Debug, Default)]
pub struct Path {
    pub edges: Vec<(u32, u32)>,
}

impl Path {
    /// `(action, state reached)` for each step.
    pub fn steps<'g>(&'g self, g: &'g Graph) -> impl Iterator<Item = (&'g Action, &'g State)> + 'g {
        self.edges.iter().map(move |&(s, e)| {
            let (action, target) = &g.edges[s as usize][e as usize];
            (action, &g.states[*target as usize])
        })
    }
}

/// Traces that together take every edge of `g`.
pub fn cover(g: &Graph) -> Vec<Path> {
    let mut covered: Vec<Vec<bool>> = g.edges.iter().map(|e| vec![false; e.len()]).collect();
    // First possibly-uncovered edge of each state: edges before it are covered.
    let mut cursor = vec![0usize; g.states.len()];
    let first_uncovered = |covered: &Vec<Vec<bool>>, cursor: &mut Vec<usize>, s: usize| {
        while cursor[s] < covered[s].len() && covered[s][cursor[s]] {
            cursor[s] += 1;
        }
        (cursor[s] < covered[s].len()).then_some(cursor[s])
    };
    let mut paths = Vec::new();
    for s in 0..g.states.len() {
        while let Some(e) = first_uncovered(&covered, &mut cursor, s) {
            let mut path = Path {
                edges: shortest_path(g, s as u32),
            };
            for &(p, pe) in &path.edges {
                covered[p as usize][pe as usize] = true;
            }
            let (mut at, mut edge) = (s, e);
            loop {
                covered[at][edge] = true;
                path.edges.push((at as u32, edge as u32));
                at = g.edges[at][edge].1 as usize;
                match first_uncovered(&covered, &mut cursor, at) {
                    Some(next) => edge = next,
                    None => break,
                }
            }
            paths.push(path);
        }
    }
    paths
}

/// The BFS-tree path from the initial state to `s`.
fn shortest_path(g: &Graph, mut s: u32) -> Vec<(u32, u32)> {
    let mut rev = Vec::new();
    while let Some((p, e)) = g.parent[s as usize] {
        rev.push((p, e));
        s = p;
    }
    rev.reverse();
    rev
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft_model::Config;

    fn tiny() -> Config {
        Config {
            servers: 2,
            max_term: 1,
            max_log: 1,
            max_in_flight: 2,
            restarts: 0,
            drops: 0,
            duplicates: 0,
            ..Config::default()
        }
    }

    #[test]
    fn every_edge_is_on_some_path_and_paths_are_model_behaviours() {
        let model = RaftModel::new(tiny());
        let g = explore(&model, 100_000).unwrap();
        let paths = cover(&g);
        let mut seen = std::collections::HashSet::new();
        for p in &paths {
            let mut state = model.init_state();
            for (&(s, e), (action, next)) in p.edges.iter().zip(p.steps(&g)) {
                assert_eq!(g.states[s as usize], state);
                assert_eq!(model.next_state(&state, action).as_ref(), Some(next));
                state = next.clone();
                seen.insert((s, e));
            }
        }
        assert_eq!(seen.len(), g.edge_count());
        assert!(
            paths.len() < g.edge_count(),
            "paths cover several edges each"
        );
    }
}

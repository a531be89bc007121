//! Symmetry reduction over server identities.
//!
//! Servers are interchangeable: renaming them (in every field that holds a
//! server id) maps behaviours to behaviours and preserves every property.
//! The representative sorts servers by their id-free state; servers whose
//! id-free states tie are ordered every possible way, and the smallest
//! renamed state wins. So the representative is canonical: every state of an
//! orbit maps to the same one (any fixed choice would be sound; a canonical
//! one also counts each orbit exactly once, whatever order the search meets
//! its states in).

use crate::state::*;
use stateright::Representative;

impl Representative for State {
    fn representative(&self) -> Self {
        let n = self.servers.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| id_free_key(&self.servers[a]).cmp(&id_free_key(&self.servers[b])));
        // Runs of servers with equal keys: only they may be reordered.
        let mut ties = Vec::new();
        let mut start = 0;
        for i in 1..=n {
            let same = i < n
                && id_free_key(&self.servers[order[i]]) == id_free_key(&self.servers[order[start]]);
            if !same {
                if i - start > 1 {
                    ties.push(start..i);
                }
                start = i;
            }
        }
        let mut best: Option<State> = None;
        for_each_tie_order(&mut order, &ties, &mut |order| {
            let candidate = self.renamed_by(order);
            if best.as_ref().is_none_or(|b| candidate < *b) {
                best = Some(candidate);
            }
        });
        best.expect("at least the sorted order")
    }
}

/// Calls `f` with `order` permuted within each range of `ties` in every way
/// (the product of the ranges' permutations; `order` is restored after).
fn for_each_tie_order(
    order: &mut Vec<usize>,
    ties: &[std::ops::Range<usize>],
    f: &mut impl FnMut(&[usize]),
) {
    let Some((range, rest)) = ties.split_first() else {
        return f(order);
    };
    let original: Vec<usize> = order[range.clone()].to_vec();
    for p in permutations(range.len()) {
        for (k, &from) in p.iter().enumerate() {
            order[range.start + k] = original[from];
        }
        for_each_tie_order(order, rest, f);
    }
    order[range.clone()].copy_from_slice(&original);
}

fn id_free_key(s: &Server) -> impl Ord + '_ {
    (
        s.current_term,
        s.role,
        s.heard_from_leader,
        s.heard_from.count_ones(),
        s.lead_transferee.is_some(),
        &s.log,
        s.commit_index,
        s.voted_for.is_some(),
        s.votes_granted.count_ones(),
        s.lost_up_to,
        s.lost_term,
    )
}

impl State {
    /// The same state with server `order[new]` renamed to `new`.
    pub fn renamed_by(&self, order: &[usize]) -> State {
        let mut rename = vec![0u8; order.len()];
        for (new, &old) in order.iter().enumerate() {
            rename[old] = new as u8;
        }
        self.renamed(order, &rename)
    }

    /// The same state with server `old` renamed to `rename[old]`
    /// (`order` is the inverse permutation).
    pub fn renamed(&self, order: &[usize], rename: &[u8]) -> State {
        let id = |i: ServerId| rename[i as usize];
        let bits = |b: u8| {
            (0..rename.len())
                .filter(|&i| b & (1 << i) != 0)
                .fold(0u8, |acc, i| acc | (1 << rename[i]))
        };
        let permute = |v: &Vec<Index>| {
            if v.is_empty() {
                Vec::new()
            } else {
                order.iter().map(|&old| v[old]).collect()
            }
        };
        let servers = order
            .iter()
            .map(|&old| {
                let s = &self.servers[old];
                Server {
                    voted_for: s.voted_for.map(id),
                    votes_granted: bits(s.votes_granted),
                    heard_from: bits(s.heard_from),
                    lead_transferee: s.lead_transferee.map(id),
                    next_index: permute(&s.next_index),
                    match_index: permute(&s.match_index),
                    ..s.clone()
                }
            })
            .collect();
        let mut network: Vec<Envelope> = self
            .network
            .iter()
            .map(|m| Envelope {
                from: id(m.from),
                to: id(m.to),
                msg: m.msg.clone(),
            })
            .collect();
        network.sort();
        State {
            servers,
            network,
            faults: self.faults,
            history: History {
                leaders: self.history.leaders.iter().map(|&b| bits(b)).collect(),
                votes_cast: order
                    .iter()
                    .map(|&old| bits(self.history.votes_cast[old]))
                    .collect(),
                ..self.history.clone()
            },
        }
    }
}

/// Every permutation of `0..n` (as `order`, new position -> old id).
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for at in 0..=p.len() {
            let mut q = p.clone();
            q.insert(at, n - 1);
            out.push(q);
        }
    }
    out
}

/// True when `b` is `a` with its servers renamed.
pub fn symmetric(a: &State, b: &State) -> bool {
    let n = a.servers.len();
    n == b.servers.len()
        && permutations(n)
            .iter()
            .any(|order| a.renamed_by(order) == *b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, RaftModel};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// States of random walks in the default bounds, every one of them renamed in every way,
    /// share one representative.
    #[test]
    fn the_representative_is_canonical() {
        let model = RaftModel::new(Config::default());
        let mut rng = StdRng::seed_from_u64(7);
        let mut actions = Vec::new();
        let mut checked = 0;
        for _ in 0..200 {
            let mut state = model.init_state();
            for _ in 0..40 {
                let rep = state.representative();
                for order in permutations(state.servers.len()) {
                    assert_eq!(state.renamed_by(&order).representative(), rep);
                    checked += 1;
                }
                assert!(symmetric(&state, &rep));
                actions.clear();
                model.actions(&state, &mut actions);
                actions.retain(|a| {
                    model
                        .next_state(&state, a)
                        .is_some_and(|n| model.within_bounds(&n))
                });
                if actions.is_empty() {
                    break;
                }
                let a = actions[rng.random_range(0..actions.len())].clone();
                state = model.next_state(&state, &a).unwrap();
            }
        }
        assert!(checked > 10_000, "{checked}");
    }
}

//! Symmetry reduction over server identities.
//!
//! Servers are interchangeable: renaming them (in every field that holds a
//! server id) maps behaviours to behaviours and preserves every property.
//! The representative sorts servers by their id-free state and renames
//! everything accordingly. Any fixed choice inside the orbit is sound;
//! sorting finds the same representative for most symmetric states.

use crate::state::*;
use stateright::Representative;

impl Representative for State {
    fn representative(&self) -> Self {
        let n = self.servers.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| id_free_key(&self.servers[a]).cmp(&id_free_key(&self.servers[b])));
        // order[new] = old; rename[old] = new.
        let mut rename = vec![0u8; n];
        for (new, &old) in order.iter().enumerate() {
            rename[old] = new as u8;
        }
        self.renamed(&order, &rename)
    }
}

fn id_free_key(s: &Server) -> impl Ord + '_ {
    (
        s.current_term,
        s.role,
        &s.log,
        s.commit_index,
        s.voted_for.is_some(),
        s.votes_granted.count_ones(),
        s.lost_up_to,
    )
}

impl State {
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
        && permutations(n).iter().any(|order| {
            let mut rename = vec![0u8; n];
            for (new, &old) in order.iter().enumerate() {
                rename[old] = new as u8;
            }
            a.renamed(order, &rename) == *b
        })
}

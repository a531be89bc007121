//! An independent linearizability search that also reports how far it got:
//! Wing & Gong's algorithm with Lowe's memoization, as Porcupine runs it.
//!
//! Per key, it looks for an order of the operations that respects real time
//! (an operation that returned before another was invoked comes first) and
//! in which every completed operation returns what [`KvSpec`] returns;
//! operations without an answer may be placed anywhere or left out. When
//! there is none, the longest partial order found is the picture's
//! "linearizable prefix", and the completed operations outside it are the
//! ones that cannot be placed. The verdict of `History::check` (stateright's
//! tester) is cross-checked against this search in tests.

use std::collections::{BTreeMap, HashSet};

use stateright::semantics::SequentialSpec;

use super::{History, KvSpec, Operation};

/// What the search found for one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyReport {
    pub key: String,
    pub linearizable: bool,
    /// Indices into `History::operations`, in the order of the longest
    /// linearization found.
    pub order: Vec<usize>,
    /// Completed operations of the key not in `order`.
    pub unplaced: Vec<usize>,
    /// The search stopped at its state budget before deciding.
    pub exhausted: bool,
}

/// Searches every key of `history`, visiting at most `budget` states per key.
pub fn analyze(history: &History, budget: usize) -> Vec<KeyReport> {
    let ops = history.operations();
    let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, o) in ops.iter().enumerate() {
        by_key.entry(o.op.key()).or_default().push(i);
    }
    by_key
        .into_iter()
        .map(|(key, idx)| search(key, ops, &idx, budget))
        .collect()
}

fn search(key: &str, all: &[Operation], idx: &[usize], budget: usize) -> KeyReport {
    let ops: Vec<&Operation> = idx.iter().map(|&i| &all[i]).collect();
    let n = ops.len();
    let completed = ops.iter().filter(|o| o.ret.is_some()).count();
    let mut visited: HashSet<(Vec<bool>, KvSpec)> = HashSet::new();
    let mut best: Vec<usize> = Vec::new();
    let mut best_done = 0;
    // Depth-first over (placed, spec, order): explicit stack, no recursion.
    let mut stack = vec![(vec![false; n], KvSpec::default(), Vec::<usize>::new())];
    let mut found = false;
    while let Some((placed, spec, order)) = stack.pop() {
        let done = order.iter().filter(|&&k| ops[k].ret.is_some()).count();
        if done > best_done || (done == best_done && order.len() > best.len()) {
            (best_done, best) = (done, order.clone());
        }
        if done == completed {
            found = true;
            break;
        }
        if visited.len() >= budget {
            break;
        }
        if !visited.insert((placed.clone(), spec.clone())) {
            continue;
        }
        // The earliest return among completed operations not yet placed: whatever was
        // invoked after it cannot come next.
        let deadline = (0..n)
            .filter(|&k| !placed[k])
            .filter_map(|k| ops[k].ret.as_ref().map(|(t, _)| *t))
            .min()
            .unwrap_or(u64::MAX);
        for k in (0..n)
            .rev()
            .filter(|&k| !placed[k] && ops[k].invoke <= deadline)
        {
            let mut next = spec.clone();
            let got = next.invoke(&ops[k].op);
            if ops[k].ret.as_ref().is_some_and(|(_, want)| *want != got) {
                continue;
            }
            let mut placed = placed.clone();
            placed[k] = true;
            let mut order = order.clone();
            order.push(k);
            stack.push((placed, next, order));
        }
    }
    let in_order: HashSet<usize> = best.iter().copied().collect();
    KeyReport {
        key: key.to_string(),
        linearizable: found,
        order: best.iter().map(|&k| idx[k]).collect(),
        unplaced: (0..n)
            .filter(|k| ops[*k].ret.is_some() && !in_order.contains(k))
            .map(|k| idx[k])
            .collect(),
        exhausted: !found && visited.len() >= budget,
    }
}

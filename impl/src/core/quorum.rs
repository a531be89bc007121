//! Majority arithmetic: "is this index committed" and "did this vote win".
//! Pure functions, no protocol state.

use crate::types::Index;

/// Smallest number of servers that forms a majority of `n`.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// The largest index replicated on a majority, given every voter's match
/// index (the leader's own included). Reorders `matches`.
///
/// Returns 0 for an empty slice.
pub fn committed_index(matches: &mut [Index]) -> Index {
    if matches.is_empty() {
        return 0;
    }
    let q = majority(matches.len());
    // The q-th largest value is held by at least q voters.
    let pos = matches.len() - q;
    *matches.select_nth_unstable(pos).1
}

/// Votes collected by a candidate, one slot per peer; the candidate's own
/// vote is implicit (§5.2: "votes for itself").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VoteTally {
    granted: Vec<bool>,
}

impl VoteTally {
    /// A tally holding only the candidate's own vote.
    pub fn new(peers: usize) -> Self {
        VoteTally {
            granted: vec![false; peers],
        }
    }

    /// Number of peer slots (the cluster size minus the candidate).
    pub fn peers(&self) -> usize {
        self.granted.len()
    }

    /// Records a granted vote from peer number `slot`.
    pub fn grant(&mut self, slot: usize) {
        if let Some(g) = self.granted.get_mut(slot) {
            *g = true;
        }
    }

    /// Peer slots (positions in the config's `peers`) that granted their vote.
    pub fn granted_slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.granted
            .iter()
            .enumerate()
            .filter(|(_, &g)| g)
            .map(|(slot, _)| slot)
    }

    /// Votes so far, the candidate's own included.
    pub fn count(&self) -> usize {
        1 + self.granted.iter().filter(|&&g| g).count()
    }

    /// §5.2: "a candidate wins an election if it receives votes from a
    /// majority of the servers in the full cluster".
    pub fn won(&self) -> bool {
        self.count() >= majority(self.granted.len() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_sizes() {
        assert_eq!(majority(1), 1);
        assert_eq!(majority(2), 2);
        assert_eq!(majority(3), 2);
        assert_eq!(majority(4), 3);
        assert_eq!(majority(5), 3);
    }

    #[test]
    fn committed_index_is_the_majority_th_largest() {
        assert_eq!(committed_index(&mut []), 0);
        assert_eq!(committed_index(&mut [7]), 7);
        assert_eq!(committed_index(&mut [5, 1, 3]), 3);
        assert_eq!(committed_index(&mut [5, 5, 0]), 5);
        assert_eq!(committed_index(&mut [9, 1, 2, 8]), 2);
        assert_eq!(committed_index(&mut [9, 1, 2, 8, 7]), 7);
    }

    #[test]
    fn vote_tally_needs_a_majority_of_the_full_cluster() {
        let mut t = VoteTally::new(4);
        assert!(!t.won());
        t.grant(2);
        t.grant(2);
        assert_eq!(t.count(), 2);
        assert!(!t.won());
        t.grant(0);
        assert!(t.won());
        assert!(VoteTally::new(0).won(), "single node wins alone");
        t.grant(99); // out of range: ignored
        assert_eq!(t.count(), 3);
    }
}

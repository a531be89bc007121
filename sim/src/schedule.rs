//! The event queue entry of a discrete-event simulation.

use std::cmp::Ordering;

/// `item` happens at simulated `time`; `seq` (insertion order) breaks ties,
/// so runs are deterministic. Ordered for a min-heap in `BinaryHeap`.
#[derive(Debug)]
pub struct Scheduled<T> {
    pub time: u64,
    pub seq: u64,
    pub item: T,
}

impl<T> Ord for Scheduled<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

impl<T> PartialOrd for Scheduled<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> PartialEq for Scheduled<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}

impl<T> Eq for Scheduled<T> {}

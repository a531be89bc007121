//! How a simulated run fails: an invariant violation located in the run, or a harness
//! expectation the cluster did not meet.

use std::fmt;

use crate::cluster::SEC;
use crate::invariants::Finding;

/// An invariant violation, located in the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub seed: u64,
    /// Number of the event after which it was detected (as in the trace).
    pub event: u64,
    pub time_us: u64,
    pub finding: Finding,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} event {} (t={:.6}s): {}",
            self.seed,
            self.event,
            self.time_us as f64 / SEC as f64,
            self.finding
        )
    }
}

/// Why a harness call failed: a safety violation, or the cluster did not do what the test
/// expected (no leader, no agreement, too many RPCs...).
#[derive(Clone, PartialEq, Eq)]
pub enum SimError {
    Violation(Box<Violation>),
    Failed {
        seed: u64,
        time_us: u64,
        what: String,
    },
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Violation(v) => write!(f, "invariant violation: {v}"),
            SimError::Failed {
                seed,
                time_us,
                what,
            } => write!(
                f,
                "seed {seed} (t={:.6}s): {what}",
                *time_us as f64 / SEC as f64
            ),
        }
    }
}

// Tests return `Result<(), SimError>`; the test runner prints the Debug form, so make it the
// readable one.
impl fmt::Debug for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for SimError {}

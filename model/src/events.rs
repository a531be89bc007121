//! Sanity events: things that happen inside a transition (an entry is
//! overwritten, a stale leader steps down) and that no single state shows.
//!
//! They are recorded on the side, in the model, whenever an explored
//! transition performs them, so they cost no state space. They only feed the
//! "is the search vacuous?" report; no safety property depends on them.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    ConflictingEntryOverwritten,
    LeaderElectedAfterRestart,
    StaleLeaderSteppedDown,
}

impl Event {
    pub const ALL: [Event; 3] = [
        Event::ConflictingEntryOverwritten,
        Event::LeaderElectedAfterRestart,
        Event::StaleLeaderSteppedDown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Event::ConflictingEntryOverwritten => "a follower's conflicting entry is overwritten",
            Event::LeaderElectedAfterRestart => "a leader is elected after a restart",
            Event::StaleLeaderSteppedDown => "a stale leader steps down",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The set of events seen so far (shared by the checker's threads).
#[derive(Debug, Default)]
pub struct Events(AtomicU8);

impl Events {
    pub fn record(&self, events: &[Event]) {
        for e in events {
            self.0.fetch_or(e.bit(), Ordering::Relaxed);
        }
    }

    pub fn seen(&self, event: Event) -> bool {
        self.0.load(Ordering::Relaxed) & event.bit() != 0
    }
}

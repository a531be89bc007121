//! The deterministic, sans-IO Raft node (filled in by the core work).

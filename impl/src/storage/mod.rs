//! Storage for hard state and the log (filled in by the storage work).

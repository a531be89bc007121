//! Benchmarks live in `benches/benches/`; this crate has no library code.
//! Figures and the commands that produced them are in `docs/performance.md`.

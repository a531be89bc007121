//! Counterexample traces: a readable step table, and a JSON file in the
//! Informal Trace Format (ITF) that `replay` reads back.

pub mod diagram;
pub mod itf;
pub mod table;

pub use itf::{read_trace, write_trace, TraceError, TraceFile, SCHEMA_VERSION};

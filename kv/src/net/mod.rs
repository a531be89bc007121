//! The KV service on a real network. See `docs/kv-service.md` ("Running it").
//!
//! - [`frame`]: the length-prefixed, versioned wire format (peers and clients share it).
//! - [`io`]: reading/writing frames with timeouts, async and blocking.
//! - [`node`]: one node: listener, per-peer connection tasks, the node loop thread.
//! - `node_loop`: the thread owning `RawNode` + `KvServer` (step, propose, send, apply); a
//!   persist thread owns the `FileStorage`.
//! - `pipeline`: the Readies in flight between the two: messages and applies released once
//!   their writes are durable.
//! - [`client`]: the Clerk's TCP transport.
//! - [`async_clerk`]: the Clerk's retry logic on tokio, over TCP or in-process channels.
//! - [`mux`]: many Clerk sessions over one connection per server.
//! - [`local`]: an in-process cluster (node loops over `MemStorage`, channels as transport)
//!   for benchmarks.

pub mod async_clerk;
pub mod client;
pub mod frame;
pub mod io;
pub mod local;
pub mod mux;
pub mod node;
mod node_loop;
mod pipeline;

pub use async_clerk::{AsyncClerk, AsyncTcpTransport, AsyncTransport};
pub use client::{tcp_clerk, TcpTransport};
pub use frame::{Frame, FrameError, MAX_FRAME_LEN, WIRE_VERSION};
pub use local::{LocalCluster, LocalTransport};
pub use mux::MuxTcpTransport;
pub use node::{NetConfig, Node, NodeConfig, NodeError};

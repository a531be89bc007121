//! The KV service on a real network. See `docs/kv-service.md` ("Running it").
//!
//! - [`frame`]: the length-prefixed, versioned wire format (peers and clients share it).
//! - [`io`]: reading/writing frames with timeouts, async and blocking.
//! - [`node`]: one node: listener, per-peer connection tasks, the node loop thread.
//! - `inbound`: accepted connections: admission, authentication, what each may send.
//! - `peer`: the link to one peer (dial, batch, reconnect).
//! - [`tls`]: TLS configuration and identities; [`certs`]: a development CA;
//!   [`stream`]: plaintext-or-TLS connections.
//! - `node_loop`: the thread owning `RawNode` + `KvServer` (step, propose, send, apply); a
//!   persist thread (`persister`) owns the `FileStorage`.
//! - `pipeline`: the Readies in flight between the two: messages and applies released once
//!   their writes are durable.
//! - [`status`], [`transfer`]: operator requests (`raftkv status`, `raftkv transfer-leader`).
//! - [`client`]: the Clerk's TCP transport.
//! - [`async_clerk`]: the Clerk's retry logic on tokio, over TCP or in-process channels.
//! - [`mux`]: many Clerk sessions over one connection per server.
//! - [`local`]: an in-process cluster (node loops over `VolatileStorage`, channels as transport)
//!   for benchmarks.

pub mod async_clerk;
pub mod certs;
pub mod client;
pub mod frame;
mod inbound;
pub mod io;
pub mod local;
pub mod mux;
pub mod node;
mod node_loop;
mod peer;
mod persister;
mod pipeline;
mod snapshot_job;
pub mod status;
pub mod stream;
pub mod tls;
pub mod transfer;

pub use async_clerk::{AsyncClerk, AsyncTcpTransport, AsyncTransport};
pub use client::{tcp_clerk, TcpTransport};
pub use frame::{Frame, FrameError, MAX_FRAME_LEN, WIRE_VERSION};
pub use local::{LocalCluster, LocalTransport};
pub use mux::MuxTcpTransport;
pub use node::{NetConfig, Node, NodeConfig, NodeError, NodeStatus};
pub use tls::{ClientAuth, ClientSecurity, ClientTls, NodeTls, Security, TlsError};

//! Helpers shared by the real-network tests (loopback only).

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};

/// `n` distinct loopback addresses with ports that were free a moment ago. Another process
/// could take one in between; the tests run on loopback with ephemeral ports, where that is
/// rare, and a node that cannot bind fails loudly naming the address.
pub fn free_addrs(n: usize) -> Vec<SocketAddr> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port"))
        .collect();
    listeners.iter().map(|l| l.local_addr().unwrap()).collect()
}

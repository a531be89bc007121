//! Helpers shared by the integration tests: the real-network ones (loopback only) and, in
//! [`kvsim`], the simulated 6.824 `GenericTest`.

#![allow(dead_code)]

pub mod history;
pub mod kvsim;

use std::net::{SocketAddr, TcpListener};

pub mod procs;

/// `n` distinct loopback addresses with ports that were free a moment ago. Another process
/// could take one in between; the tests run on loopback with ephemeral ports, where that is
/// rare, and a node that cannot bind fails loudly naming the address.
pub fn free_addrs(n: usize) -> Vec<SocketAddr> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port"))
        .collect();
    listeners.iter().map(|l| l.local_addr().unwrap()).collect()
}

use std::path::{Path, PathBuf};
use std::sync::Arc;

use raft_kv::net::certs;
use raft_kv::net::{ClientAuth, ClientSecurity, ClientTls, NodeTls, Security};

/// A throw-away CA and certificates for nodes 1..=n and a client "client", in a temporary
/// directory that lives as long as this value (or in a directory of the caller's).
pub struct Pki {
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Pki {
    pub fn new(n: u64) -> Pki {
        let temp = tempfile::tempdir().unwrap();
        let mut pki = Pki::in_dir(temp.path(), n);
        pki._temp = Some(temp);
        pki
    }

    /// The certificates in `dir/pki`, made there if they are not yet.
    pub fn in_dir(dir: &Path, n: u64) -> Pki {
        let dir = dir.join("pki");
        if !certs::ca_file(&dir).exists() {
            let ids: Vec<u64> = (1..=n).collect();
            certs::generate(&dir, &ids, &["client"]).unwrap();
        }
        Pki { dir, _temp: None }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn ca(&self) -> PathBuf {
        certs::ca_file(self.dir())
    }

    /// Node `id`'s security with client certificate authentication.
    pub fn node(&self, id: u64) -> Security {
        self.node_with(id, ClientAuth::Certificate)
    }

    pub fn node_with(&self, id: u64, auth: ClientAuth) -> Security {
        let f = certs::node_files(self.dir(), id);
        Security::Tls(Arc::new(
            NodeTls::load(id, &self.ca(), &f.cert, &f.key, auth).unwrap(),
        ))
    }

    /// The client's security (its certificate).
    pub fn client(&self) -> ClientSecurity {
        let f = certs::named_files(self.dir(), "client");
        ClientSecurity::Tls(Arc::new(
            ClientTls::load(&self.ca(), Some((&f.cert, &f.key)), None).unwrap(),
        ))
    }

    /// `raftkv` flags for node `id` (`serve --cert --key --ca`).
    pub fn serve_flags(&self, id: u64) -> Vec<String> {
        let f = certs::node_files(self.dir(), id);
        vec![
            "--cert".into(),
            f.cert.display().to_string(),
            "--key".into(),
            f.key.display().to_string(),
            "--ca".into(),
            self.ca().display().to_string(),
        ]
    }

    /// `raftkv` client flags (`--tls-dir`).
    pub fn client_flags(&self) -> Vec<String> {
        vec!["--tls-dir".into(), self.dir().display().to_string()]
    }
}

/// Node `id` of a cluster on `addrs` (ids 1.. in order), its data in `dir/node-ID`, TLS from the
/// PKI in `dir/pki` (`Pki::in_dir(dir, 3)`), network settings `net`.
pub fn node_config(
    id: u64,
    addrs: &[SocketAddr],
    dir: &Path,
    net: raft_kv::net::NetConfig,
) -> raft_kv::net::NodeConfig {
    let peers = (1..=addrs.len() as u64)
        .filter(|&p| p != id)
        .map(|p| (p, addrs[p as usize - 1]))
        .collect();
    raft_kv::net::NodeConfig {
        id,
        peers,
        listen: addrs[id as usize - 1],
        data_dir: dir.join(format!("node-{id}")),
        net,
        security: Pki::in_dir(dir, 3).node(id),
    }
}

//! TLS configuration: who a connection is, from the certificates it presented.
//!
//! One CA signs every certificate of a cluster. Names (DNS subject alternative names):
//!
//! - node `N`: [`node_name`]`(N)` = `node-N.raftkv`, its identity, and [`SERVER_NAME`]
//!   (`server.raftkv`), which clients check so they need not know which node is at which
//!   address; usable for both TLS roles (it serves, and it dials its peers);
//! - a client: any name (`NAME.client.raftkv` from `raftkv certs`); only the CA's signature
//!   matters.
//!
//! Peer links are mutual TLS: the dialing node checks the listener is `node-P.raftkv` for the
//! peer `P` it meant to reach, and the listener checks the dialer's certificate. A Raft frame
//! claiming `from = N` is accepted only on a connection whose certificate names `node-N`
//! ([`identify`]). Clients authenticate with a certificate ([`ClientAuth::Certificate`]) or with
//! a shared token sent as the first frame ([`ClientAuth::Token`]); see `docs/kv-service.md`,
//! "Security".

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use raft_impl::types::NodeId;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use thiserror::Error;

/// The DNS name naming node `id` in its certificate.
pub fn node_name(id: NodeId) -> String {
    format!("node-{id}.raftkv")
}

/// The DNS name every node certificate carries besides its own, checked by clients.
pub const SERVER_NAME: &str = "server.raftkv";

/// Longest client token accepted.
pub const MAX_TOKEN_LEN: usize = 1024;

/// Why TLS material could not be loaded.
#[derive(Debug, Error)]
pub enum TlsError {
    #[error("{}: {error}", path.display())]
    File { path: PathBuf, error: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn file_err(path: &Path, error: impl fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        error: error.to_string(),
    }
}

/// The one provider this crate uses (ring: builds with a C compiler alone).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file (at least one).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(path, e))?;
    if certs.is_empty() {
        return Err(file_err(path, "no certificate in the file"));
    }
    Ok(certs)
}

/// The private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_err(path, format!("no private key: {e}")))
}

fn load_roots(path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in load_certs(path)? {
        roots
            .add(c)
            .map_err(|e| file_err(path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(Arc::new(roots))
}

/// A client token from a file: its content without surrounding whitespace.
pub fn read_token(path: &Path) -> Result<Vec<u8>, TlsError> {
    let raw = std::fs::read(path).map_err(|e| file_err(path, e))?;
    let token = raw.trim_ascii().to_vec();
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(file_err(
            path,
            format!("a token is 1 to {MAX_TOKEN_LEN} bytes"),
        ));
    }
    Ok(token)
}

/// Compares tokens without an early exit on the first differing byte.
pub fn tokens_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `cert` is valid for the DNS name `name` (the chain is checked by rustls).
pub fn cert_has_name(cert: &CertificateDer<'_>, name: &str) -> bool {
    let Ok(ee) = webpki::EndEntityCert::try_from(cert) else {
        return false;
    };
    let Ok(sn) = ServerName::try_from(name) else {
        return false;
    };
    ee.verify_is_valid_for_subject_name(&sn).is_ok()
}

/// Who is at the other end of an inbound connection, from its certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// A certificate naming this cluster member (`node-N.raftkv`).
    Node(NodeId),
    /// A certificate signed by the CA that names no member: a client.
    Client,
    /// No certificate (possible only in token mode): must present the token.
    Anonymous,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Node(id) => write!(f, "node {id}"),
            Identity::Client => f.write_str("client (certificate)"),
            Identity::Anonymous => f.write_str("unauthenticated"),
        }
    }
}

/// The identity proven by `certs` (verified by rustls against the CA) among `members`.
pub fn identify(certs: Option<&[CertificateDer<'_>]>, members: &[NodeId]) -> Identity {
    let Some(ee) = certs.and_then(|c| c.first()) else {
        return Identity::Anonymous;
    };
    members
        .iter()
        .find(|&&m| cert_has_name(ee, &node_name(m)))
        .map_or(Identity::Client, |&m| Identity::Node(m))
}

/// How clients authenticate to a node.
#[derive(Clone)]
pub enum ClientAuth {
    /// A certificate signed by the cluster CA (checked in the TLS handshake).
    Certificate,
    /// The token, sent in an `Auth` frame before any request; certificates identify nodes.
    Token(Vec<u8>),
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientAuth::Certificate => f.write_str("Certificate"),
            ClientAuth::Token(_) => f.write_str("Token(..)"),
        }
    }
}

/// A node's TLS: the listener's configuration and the one it dials peers with.
pub struct NodeTls {
    pub(crate) server: Arc<ServerConfig>,
    pub(crate) client: Arc<ClientConfig>,
    pub(crate) client_auth: ClientAuth,
}

impl fmt::Debug for NodeTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeTls")
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
}

impl NodeTls {
    /// Loads node `id`'s certificate chain and key and the CA; refuses a certificate that does
    /// not name `node-ID.raftkv` and `server.raftkv`.
    pub fn load(
        id: NodeId,
        ca: &Path,
        cert: &Path,
        key: &Path,
        client_auth: ClientAuth,
    ) -> Result<NodeTls, TlsError> {
        let roots = load_roots(ca)?;
        let chain = load_certs(cert)?;
        for name in [node_name(id), SERVER_NAME.to_string()] {
            if !cert_has_name(&chain[0], &name) {
                return Err(file_err(
                    cert,
                    format!("the certificate does not name {name} (node {id})"),
                ));
            }
        }
        let key = load_key(key)?;
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider());
        let verifier = match client_auth {
            ClientAuth::Certificate => verifier,
            // Clients may come without a certificate and present the token instead.
            ClientAuth::Token(_) => verifier.allow_unauthenticated(),
        }
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
        let mut server = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| file_err(cert, format!("certificate and key do not fit: {e}")))?;
        // No resumption: connections are long-lived, and tickets would be written to peer
        // links that never read.
        server.send_tls13_tickets = 0;
        let client = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| file_err(cert, format!("certificate and key do not fit: {e}")))?;
        Ok(NodeTls {
            server: Arc::new(server),
            client: Arc::new(client),
            client_auth,
        })
    }
}

/// A client's TLS: the CA to check servers against, and its credentials.
pub struct ClientTls {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) token: Option<Vec<u8>>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("token", &self.token.as_ref().map(|_| ".."))
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Servers are checked against `ca`; `cert_key` is the client certificate and key (for
    /// certificate authentication), `token` the token (for token authentication).
    pub fn load(
        ca: &Path,
        cert_key: Option<(&Path, &Path)>,
        token: Option<Vec<u8>>,
    ) -> Result<ClientTls, TlsError> {
        let roots = load_roots(ca)?;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(roots);
        let config = match cert_key {
            Some((cert, key)) => builder
                .with_client_auth_cert(load_certs(cert)?, load_key(key)?)
                .map_err(|e| file_err(cert, format!("certificate and key do not fit: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        Ok(ClientTls {
            config: Arc::new(config),
            token,
        })
    }
}

/// How a node secures its listener and its peer links.
#[derive(Clone, Debug)]
pub enum Security {
    /// Plaintext, anyone who reaches the port is trusted (`--insecure`).
    Insecure,
    Tls(Arc<NodeTls>),
}

/// How a client connects.
#[derive(Clone, Debug)]
pub enum ClientSecurity {
    Insecure,
    Tls(Arc<ClientTls>),
}

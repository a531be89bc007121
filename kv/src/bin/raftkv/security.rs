//! The TLS side of the command line: node and client flags, the development CA that `cluster`
//! makes, and `raftkv certs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use raft_impl::types::NodeId;
use raft_kv::net::certs::{self, ca_file, named_files, node_files};
use raft_kv::net::tls::read_token;
use raft_kv::net::{ClientAuth, ClientSecurity, ClientTls, NodeTls, Security};

/// A usage error found after parsing (exit code 2, like clap's).
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// How clients authenticate to the nodes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientAuthArg {
    /// A client certificate signed by the cluster CA.
    #[default]
    Cert,
    /// A shared token (--token-file), sent after the TLS handshake.
    Token,
}

/// Client authentication options of a node (`serve`, `cluster`).
#[derive(clap::Args, Clone, Debug)]
pub struct ClientAuthArgs {
    /// How clients authenticate.
    #[arg(long, value_enum, default_value_t = ClientAuthArg::Cert)]
    client_auth: ClientAuthArg,
    /// The token clients must present with --client-auth token (the file's content, trimmed).
    /// `cluster` writes a random one to DIR/tls/token if this is not given.
    #[arg(long)]
    token_file: Option<PathBuf>,
}

/// `serve`'s TLS files.
#[derive(clap::Args, Clone, Debug)]
pub struct ServeTls {
    /// This node's certificate chain (PEM). It must name node-ID.raftkv and server.raftkv.
    #[arg(
        long,
        required_unless_present = "insecure",
        conflicts_with = "insecure"
    )]
    cert: Option<PathBuf>,
    /// This node's private key (PEM).
    #[arg(
        long,
        required_unless_present = "insecure",
        conflicts_with = "insecure"
    )]
    key: Option<PathBuf>,
    /// The cluster CA's certificate (PEM): peers and clients must be signed by it.
    #[arg(
        long,
        required_unless_present = "insecure",
        conflicts_with = "insecure"
    )]
    ca: Option<PathBuf>,
    /// Plaintext and unauthenticated: anyone who reaches the port is a member. Development
    /// only; logs a warning.
    #[arg(long)]
    insecure: bool,
}

fn client_auth(args: &ClientAuthArgs, generated_token: Option<&Path>) -> Result<ClientAuth> {
    Ok(match args.client_auth {
        ClientAuthArg::Cert => {
            if args.token_file.is_some() {
                return Err(Usage("--token-file needs --client-auth token".into()).into());
            }
            ClientAuth::Certificate
        }
        ClientAuthArg::Token => {
            let path = args
                .token_file
                .as_deref()
                .or(generated_token)
                .ok_or_else(|| Usage("--client-auth token needs --token-file FILE".into()))?;
            ClientAuth::Token(read_token(path)?)
        }
    })
}

impl ServeTls {
    pub fn security(&self, id: NodeId, auth: &ClientAuthArgs) -> Result<Security> {
        if self.insecure {
            if auth.client_auth != ClientAuthArg::Cert || auth.token_file.is_some() {
                return Err(Usage("--insecure has no client authentication".into()).into());
            }
            return Ok(Security::Insecure);
        }
        let (Some(cert), Some(key), Some(ca)) = (&self.cert, &self.key, &self.ca) else {
            return Err(Usage("--cert, --key and --ca are required".into()).into());
        };
        let tls = NodeTls::load(id, ca, cert, key, client_auth(auth, None)?)?;
        Ok(Security::Tls(Arc::new(tls)))
    }
}

/// The development CA of `raftkv cluster`: DIR/tls, made on first start and reused after.
/// Returns each node's security.
pub fn cluster_security(
    data_dir: &Path,
    nodes: u64,
    insecure: bool,
    auth: &ClientAuthArgs,
) -> Result<(Option<PathBuf>, Vec<Security>)> {
    if insecure {
        if auth.client_auth != ClientAuthArg::Cert || auth.token_file.is_some() {
            return Err(Usage("--insecure has no client authentication".into()).into());
        }
        return Ok((None, (0..nodes).map(|_| Security::Insecure).collect()));
    }
    let dir = data_dir.join("tls");
    let ids: Vec<NodeId> = (1..=nodes).collect();
    let complete = ca_file(&dir).exists()
        && ids.iter().all(|&id| node_files(&dir, id).key.exists())
        && named_files(&dir, "client").key.exists();
    if !complete {
        if ca_file(&dir).exists() {
            bail!(
                "{} holds a CA without certificates for all {nodes} nodes; remove the \
                 directory to make a new CA",
                dir.display()
            );
        }
        certs::generate(&dir, &ids, &["client"])?;
        tracing::info!(dir = %dir.display(), "generated a throw-away CA and certificates");
    }
    let token_path = dir.join("token");
    if auth.client_auth == ClientAuthArg::Token && auth.token_file.is_none() && !token_path.exists()
    {
        let token: String = (0..32)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        std::fs::write(&token_path, token)
            .with_context(|| format!("cannot write {}", token_path.display()))?;
    }
    let auth = client_auth(auth, Some(&token_path))?;
    let securities = ids
        .iter()
        .map(|&id| {
            let f = node_files(&dir, id);
            let tls = NodeTls::load(id, &ca_file(&dir), &f.cert, &f.key, auth.clone())?;
            Ok(Security::Tls(Arc::new(tls)))
        })
        .collect::<Result<_>>()?;
    Ok((Some(dir), securities))
}

/// A client's TLS flags (`put`, `get`, `append`, `bench`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ClientTlsArgs {
    /// Directory with ca.pem, client.pem and client.key, as `raftkv cluster` (DIR/tls) and
    /// `raftkv certs` write them.
    #[arg(long, env = "RAFTKV_TLS_DIR", conflicts_with = "insecure")]
    tls_dir: Option<PathBuf>,
    /// The cluster CA's certificate (overrides DIR/ca.pem).
    #[arg(long, conflicts_with = "insecure")]
    ca: Option<PathBuf>,
    /// Client certificate (overrides DIR/client.pem).
    #[arg(long = "cert", requires = "client_key", conflicts_with = "insecure")]
    client_cert: Option<PathBuf>,
    /// Client private key (overrides DIR/client.key).
    #[arg(long = "key", requires = "client_cert", conflicts_with = "insecure")]
    client_key: Option<PathBuf>,
    /// Authenticate with this token (a node run with --client-auth token).
    #[arg(long, conflicts_with = "insecure")]
    token_file: Option<PathBuf>,
    /// Plaintext, for a cluster run with --insecure.
    #[arg(long)]
    insecure: bool,
}

impl ClientTlsArgs {
    pub fn security(&self) -> Result<ClientSecurity> {
        if self.insecure {
            return Ok(ClientSecurity::Insecure);
        }
        let in_dir = |name: &str| self.tls_dir.as_ref().map(|d| d.join(name));
        let ca = self
            .ca
            .clone()
            .or_else(|| in_dir("ca.pem"))
            .ok_or_else(|| {
                Usage(
                "no CA to check the servers against: give --tls-dir DIR (or RAFTKV_TLS_DIR) or \
                 --ca FILE, or --insecure for a plaintext cluster"
                    .into(),
            )
            })?;
        let token = self.token_file.as_deref().map(read_token).transpose()?;
        let cert_key = match (&self.client_cert, &self.client_key) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            _ => match (in_dir("client.pem"), in_dir("client.key")) {
                // A token client need not have a certificate.
                (Some(c), Some(k)) if token.is_none() || c.exists() => Some((c, k)),
                _ => None,
            },
        };
        if cert_key.is_none() && token.is_none() {
            return Err(Usage(
                "no client credentials: give --tls-dir DIR, --cert and --key, or --token-file"
                    .into(),
            )
            .into());
        }
        let tls = ClientTls::load(
            &ca,
            cert_key.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
            token,
        )?;
        Ok(ClientSecurity::Tls(Arc::new(tls)))
    }
}

/// `raftkv certs`: a development CA and certificates.
#[derive(clap::Args)]
pub struct CertsArgs {
    /// Where to write them (created).
    #[arg(long)]
    dir: PathBuf,
    /// Certificates for nodes 1..=N.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1000))]
    nodes: u64,
    /// Client certificates to make, by name (NAME.pem, NAME.key).
    #[arg(long, value_delimiter = ',', default_value = "client")]
    clients: Vec<String>,
}

pub fn certs(args: CertsArgs) -> Result<()> {
    if ca_file(&args.dir).exists() {
        bail!(
            "{} already holds a CA; choose another directory",
            args.dir.display()
        );
    }
    let ids: Vec<NodeId> = (1..=args.nodes).collect();
    let clients: Vec<&str> = args.clients.iter().map(String::as_str).collect();
    certs::generate(&args.dir, &ids, &clients)?;
    println!("CA: {}", ca_file(&args.dir).display());
    for id in ids {
        let f = node_files(&args.dir, id);
        println!(
            "node {id}: --cert {} --key {}",
            f.cert.display(),
            f.key.display()
        );
    }
    for c in clients {
        let f = named_files(&args.dir, c);
        println!(
            "client {c}: --cert {} --key {}",
            f.cert.display(),
            f.key.display()
        );
    }
    Ok(())
}

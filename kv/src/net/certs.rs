//! A throw-away development CA and the certificates of a cluster (`raftkv certs`, and what
//! `raftkv cluster` makes in its data directory). Production clusters use certificates from
//! their own CA with the names of [`tls`](super::tls); `docs/kv-service.md` gives the openssl
//! commands.
//!
//! Files written to the directory: `ca.pem` and `ca.key` (the CA), `node-N.pem` and
//! `node-N.key` for each node, `NAME.pem` and `NAME.key` for each client. Keys are ECDSA P-256,
//! PKCS#8, mode 0600.

use std::io::Write;
use std::path::{Path, PathBuf};

use raft_impl::types::NodeId;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use thiserror::Error;

use super::tls::{node_name, SERVER_NAME};

#[derive(Debug, Error)]
pub enum CertError {
    #[error("generating certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("bad client name {0:?}: use letters, digits and '-'")]
    BadName(String),
}

/// Where the files of one identity are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The CA file and a node's files in `dir` (as [`generate`] names them).
pub fn node_files(dir: &Path, id: NodeId) -> CertFiles {
    named_files(dir, &format!("node-{id}"))
}

/// A client's files in `dir`.
pub fn named_files(dir: &Path, name: &str) -> CertFiles {
    CertFiles {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
    }
}

/// The CA certificate in `dir`.
pub fn ca_file(dir: &Path) -> PathBuf {
    dir.join("ca.pem")
}

fn write(path: &Path, bytes: &[u8], private: bool) -> Result<(), CertError> {
    let err = |error| CertError::Write {
        path: path.to_path_buf(),
        error,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let _ = private;
    let mut f = opts.open(path).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

/// A new CA in `dir`, and a certificate for each of `nodes` and each of `clients` (names of
/// letters, digits and '-'). Creates `dir`; overwrites files of the same names.
pub fn generate(dir: &Path, nodes: &[NodeId], clients: &[&str]) -> Result<(), CertError> {
    for c in clients {
        if c.is_empty() || !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-') {
            return Err(CertError::BadName(c.to_string()));
        }
    }
    std::fs::create_dir_all(dir).map_err(|error| CertError::Write {
        path: dir.to_path_buf(),
        error,
    })?;
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name = name("raftkv development CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = CertifiedIssuer::self_signed(ca, ca_key)?;
    write(&ca_file(dir), issuer.pem().as_bytes(), false)?;
    write(&dir.join("ca.key"), ca_key_pem.as_bytes(), true)?;

    let leaf = |cn: String, sans: Vec<String>, ekus: Vec<ExtendedKeyUsagePurpose>| {
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::new(sans)?;
        p.distinguished_name = name(&cn);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = ekus;
        let cert = p.signed_by(&key, &issuer)?;
        Ok::<_, CertError>((cert.pem(), key.serialize_pem()))
    };
    let mut out = Vec::new();
    for &id in nodes {
        let (cert, key) = leaf(
            format!("node-{id}"),
            vec![node_name(id), SERVER_NAME.to_string()],
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        )?;
        out.push((node_files(dir, id), cert, key));
    }
    for &c in clients {
        let (cert, key) = leaf(
            c.to_string(),
            vec![format!("{c}.client.raftkv")],
            vec![ExtendedKeyUsagePurpose::ClientAuth],
        )?;
        out.push((named_files(dir, c), cert, key));
    }
    for (files, cert, key) in out {
        write(&files.cert, cert.as_bytes(), false)?;
        write(&files.key, key.as_bytes(), true)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::tls::{identify, load_certs, ClientAuth, ClientTls, Identity, NodeTls};

    #[test]
    fn generated_certificates_load_and_name_their_node() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), &[1, 2, 3], &["client"]).unwrap();
        let ca = ca_file(dir.path());
        for id in 1..=3 {
            let f = node_files(dir.path(), id);
            NodeTls::load(id, &ca, &f.cert, &f.key, ClientAuth::Certificate).unwrap();
            let certs = load_certs(&f.cert).unwrap();
            assert_eq!(identify(Some(&certs), &[1, 2, 3]), Identity::Node(id));
            // A certificate naming a node outside the membership is only a client.
            assert_eq!(identify(Some(&certs), &[7, 8]), Identity::Client);
        }
        // Node 2's certificate is refused as node 1's.
        let f2 = node_files(dir.path(), 2);
        let e = NodeTls::load(1, &ca, &f2.cert, &f2.key, ClientAuth::Certificate).unwrap_err();
        assert!(e.to_string().contains("does not name node-1.raftkv"), "{e}");
        let c = named_files(dir.path(), "client");
        ClientTls::load(&ca, Some((&c.cert, &c.key)), None).unwrap();
        let certs = load_certs(&c.cert).unwrap();
        assert_eq!(identify(Some(&certs), &[1, 2, 3]), Identity::Client);
        assert_eq!(identify(None, &[1, 2, 3]), Identity::Anonymous);
        assert!(matches!(
            generate(dir.path(), &[], &["../x"]),
            Err(CertError::BadName(_))
        ));
    }
}

//! How the nodes prove who they are to Redis and NATS, and check who they talk to.
//!
//! Credentials that fit in a URL stay there (`redis://user:password@host`, `nats://user:
//! password@host`); `rediss://` and `tls://` ask for TLS. What does not fit in a URL is
//! here: a NATS token or NKey seed, and the CA (and client certificate) of a TLS server
//! whose certificate the system's roots do not vouch for.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The NATS side: at most one of `token` and `nkey_seed`, and TLS settings.
#[derive(Clone, Default)]
pub struct NatsSecurity {
    /// A token the server requires (`authorization { token: ... }`).
    pub token: Option<String>,
    /// The seed (`SU...`) of an NKey user the server knows by its public key.
    pub nkey_seed: Option<String>,
    /// PEM file of the CA that signed the server's certificate; TLS is then required.
    pub tls_ca_file: Option<PathBuf>,
    /// PEM certificate and key of this client, for servers that verify clients.
    pub tls_client: Option<(PathBuf, PathBuf)>,
}

impl fmt::Debug for NatsSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsSecurity")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("nkey_seed", &self.nkey_seed.as_ref().map(|_| "***"))
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_client", &self.tls_client)
            .finish()
    }
}

/// A rustls client configuration trusting the CA certificates in the PEM file `ca_file`
/// (and only those).
pub fn client_tls_trusting(ca_file: &Path) -> Result<rustls::ClientConfig, TlsFileError> {
    let failed = |reason: String| TlsFileError {
        path: ca_file.to_owned(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    for certificate in
        CertificateDer::pem_file_iter(ca_file).map_err(|error| failed(error.to_string()))?
    {
        let certificate = certificate.map_err(|error| failed(error.to_string()))?;
        roots
            .add(certificate)
            .map_err(|error| failed(error.to_string()))?;
    }
    if roots.is_empty() {
        return Err(failed("no certificate in it".to_owned()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| failed(error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A certificate file that could not be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct TlsFileError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

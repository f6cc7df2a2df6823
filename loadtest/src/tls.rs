//! TLS for `https://` and `wss://` targets: the load generator trusts the CA (PEM) named by
//! `CONFAB_LOADTEST_CA_FILE`, typically the self-signed certificate the server was given.

use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The environment variable naming the CA file.
pub const CA_FILE: &str = "CONFAB_LOADTEST_CA_FILE";

/// The CA certificates to trust, read once.
fn roots() -> Result<&'static [CertificateDer<'static>]> {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    if let Some(roots) = ROOTS.get() {
        return Ok(roots);
    }
    let path = std::env::var(CA_FILE).with_context(|| format!("TLS targets need {CA_FILE}"))?;
    let roots = CertificateDer::pem_file_iter(&path)
        .with_context(|| format!("reading {path}"))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {path}"))?;
    anyhow::ensure!(!roots.is_empty(), "{path} holds no certificate");
    Ok(ROOTS.get_or_init(|| roots))
}

/// The client configuration for WebSockets over TLS.
pub fn client_config() -> Result<Arc<rustls::ClientConfig>> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if let Some(config) = CONFIG.get() {
        return Ok(config.clone());
    }
    let mut store = rustls::RootCertStore::empty();
    for root in roots()? {
        store.add(root.clone())?;
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(CONFIG.get_or_init(|| Arc::new(config)).clone())
}

/// The HTTP client: trusting the CA file too when it is set.
pub fn http_client() -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder();
    if std::env::var_os(CA_FILE).is_some() {
        for root in roots()? {
            builder = builder.add_root_certificate(reqwest::Certificate::from_der(root)?);
        }
    }
    builder.build().context("building the HTTP client")
}

//! TLS for the HTTPS listener: a given certificate, or a self-signed one kept in the data directory.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// Certificate and key files, PEM.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Makes rustls use aws-lc-rs; harmless when called twice.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The generated certificate's files in `data_dir`, created on first use. The
/// certificate names `localhost` and `127.0.0.1`, so clients can trust it by file.
pub fn self_signed(data_dir: &Path) -> anyhow::Result<TlsFiles> {
    let files = TlsFiles {
        cert: data_dir.join("tls-cert.pem"),
        key: data_dir.join("tls-key.pem"),
    };
    if files.cert.exists() && files.key.exists() {
        return Ok(files);
    }
    std::fs::create_dir_all(data_dir)?;
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .context("cannot generate a self-signed certificate")?;
    std::fs::write(&files.key, cert.key_pair.serialize_pem())?;
    std::fs::write(&files.cert, cert.cert.pem())?;
    Ok(files)
}

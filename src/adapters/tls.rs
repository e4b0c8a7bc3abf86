//! What the Postgres and Redis adapters share about TLS: one crypto
//! provider (ring) for the whole process, reading a CA file, and telling a
//! refused certificate apart from a server that cannot be reached.
//!
//! A certificate failure never heals by retrying, and an operator who reads
//! "could not reach" looks at the network instead of the CA file; so every
//! adapter asks [`is_tls_failure`] before it retries or words an error.

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use std::error::Error;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// Makes ring the process's rustls provider, once; later calls, and a
/// provider another crate installed first, are left alone.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Trusted roots read from a PEM file, for a server whose certificate a
/// private CA signed (most managed databases).
#[derive(Clone)]
pub struct CaBundle {
    pem: Arc<[u8]>,
}

impl std::fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaBundle").field("bytes", &self.pem.len()).finish()
    }
}

/// A CA file was refused.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    #[error("cannot read {path}: {source}")]
    Unreadable { path: String, source: io::Error },
    #[error("{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: String },
    #[error("{path} holds a PEM block that is not a valid certificate")]
    Malformed { path: String },
}

impl CaBundle {
    /// Reads the PEM certificates at `path`.
    ///
    /// # Errors
    /// [`CaFileError`] when the file cannot be read, holds no certificate,
    /// or a certificate block does not decode.
    pub fn read(path: &Path) -> Result<Self, CaFileError> {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| CaFileError::Unreadable { path: shown.clone(), source })?;
        Self::from_pem(pem).map_err(|error| match error {
            CaFileError::NoCertificate { .. } => CaFileError::NoCertificate { path: shown.clone() },
            _ => CaFileError::Malformed { path: shown.clone() },
        })
    }

    /// The certificates in `pem`.
    ///
    /// # Errors
    /// [`CaFileError`] when `pem` holds no certificate or a malformed one.
    pub fn from_pem(pem: Vec<u8>) -> Result<Self, CaFileError> {
        let mut count = 0;
        for certificate in CertificateDer::pem_slice_iter(&pem) {
            if certificate.is_err() {
                return Err(CaFileError::Malformed { path: "the PEM text".to_owned() });
            }
            count += 1;
        }
        if count == 0 {
            return Err(CaFileError::NoCertificate { path: "the PEM text".to_owned() });
        }
        Ok(Self { pem: pem.into() })
    }

    /// The PEM text, for the driver.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }
}

/// Whether `error`, or anything it was caused by, is a TLS failure: a
/// certificate the server presented and this side refused (unknown issuer,
/// wrong host name, expired), an alert the server sent, or a handshake
/// that went wrong.
pub fn is_tls_failure(error: &(dyn Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if error.is::<rustls::Error>() {
            return true;
        }
        // Drivers carry the handshake's error inside an `io::Error`, whose
        // `source` skips it; and the redis crate shares its causes in an `Arc`.
        if let Some(io) = error.downcast_ref::<io::Error>() {
            if io.get_ref().is_some_and(<dyn Error + Send + Sync>::is::<rustls::Error>) {
                return true;
            }
        }
        if let Some(shared) = error.downcast_ref::<Arc<dyn Error + Send + Sync>>() {
            if is_tls_failure(shared.as_ref()) {
                return true;
            }
        }
        next = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_error_is_found_inside_io_and_shared_errors() {
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = io::Error::new(io::ErrorKind::InvalidData, refused);
        assert!(is_tls_failure(&io));
        let shared: Arc<dyn Error + Send + Sync> = Arc::new(io);
        let wrapped = anyhow::Error::new(io::Error::other("outer")).context("context");
        assert!(!is_tls_failure(wrapped.as_ref()));
        assert!(is_tls_failure(&shared));
        assert!(!is_tls_failure(&io::Error::from(io::ErrorKind::ConnectionRefused)));
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let directory = tempfile::tempdir().unwrap();
        let missing = directory.path().join("missing.pem");
        assert!(matches!(CaBundle::read(&missing), Err(CaFileError::Unreadable { .. })));
        let empty = directory.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let error = CaBundle::read(&empty).unwrap_err();
        assert!(error.to_string().contains("empty.pem") && error.to_string().contains("no PEM certificate"));
        let garbled = directory.path().join("garbled.pem");
        std::fs::write(&garbled, "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").unwrap();
        assert!(CaBundle::read(&garbled).is_err());
        let authority = rcgen::generate_simple_self_signed(vec!["ca.test".to_owned()]).unwrap();
        let good = directory.path().join("ca.pem");
        std::fs::write(&good, authority.cert.pem()).unwrap();
        assert!(CaBundle::read(&good).unwrap().pem().starts_with(b"-----BEGIN CERTIFICATE-----"));
    }
}

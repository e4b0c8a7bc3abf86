//! Certificate authorities made up by a test: a CA, and server certificates
//! it signs for the names a test server answers on. Tests only.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use std::path::{Path, PathBuf};

/// A throwaway CA.
pub(crate) struct TestAuthority {
    certificate: rcgen::Certificate,
    key: KeyPair,
}

/// A server's certificate and key as PEM files.
pub(crate) struct ServerFiles {
    pub(crate) certificate: PathBuf,
    pub(crate) key: PathBuf,
}

impl TestAuthority {
    pub(crate) fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("a CA key");
        let certificate = params.self_signed(&key).expect("a CA certificate");
        Self { certificate, key }
    }

    pub(crate) fn pem(&self) -> String {
        self.certificate.pem()
    }

    /// Writes the CA's certificate to `path`.
    pub(crate) fn write_ca(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.pem()).expect("the CA file is written");
        path.to_owned()
    }

    /// A server certificate for `names` (host names or IP addresses),
    /// written with its key under `directory` as `<stem>.crt` and `<stem>.key`.
    pub(crate) fn issue(&self, names: &[&str], directory: &Path, stem: &str) -> ServerFiles {
        let mut params =
            CertificateParams::new(names.iter().map(|name| (*name).to_owned()).collect::<Vec<_>>()).expect("names");
        params.distinguished_name.push(DnType::CommonName, names[0]);
        let key = KeyPair::generate().expect("a server key");
        let certificate = params.signed_by(&key, &self.certificate, &self.key).expect("a server certificate");
        let files = ServerFiles {
            certificate: directory.join(format!("{stem}.crt")),
            key: directory.join(format!("{stem}.key")),
        };
        std::fs::write(&files.certificate, certificate.pem()).expect("the certificate is written");
        std::fs::write(&files.key, key.serialize_pem()).expect("the key is written");
        files
    }
}

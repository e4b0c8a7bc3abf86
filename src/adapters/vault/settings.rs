//! What the Vault source needs to know: where Vault is, how to sign in,
//! and which KV v2 secret holds the ring. Built by configuration; secrets
//! in it are wrapped so `Debug` never shows them.

use secrecy::SecretString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The Kubernetes service-account token's default path in a pod.
pub const DEFAULT_K8S_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// A credential given inline or as a file that is read again at every
/// sign-in (Vault Agent and Kubernetes rewrite such files in place).
#[derive(Clone)]
pub enum Credential {
    Value(SecretString),
    File(PathBuf),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(_) => f.write_str("Value([REDACTED])"),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// How the source signs in to Vault.
#[derive(Clone, Debug)]
pub enum VaultAuth {
    /// A token (`VAULT_TOKEN` or `VAULT_TOKEN_FILE`).
    Token(Credential),
    /// AppRole: `VAULT_ROLE_ID` and `VAULT_SECRET_ID` (or its file).
    AppRole { mount: String, role_id: String, secret_id: Credential },
    /// Kubernetes: `VAULT_K8S_ROLE` and the pod's service-account token.
    Kubernetes { mount: String, role: String, token_file: PathBuf },
}

impl VaultAuth {
    /// The method's name, for logs.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Token(_) => "token",
            Self::AppRole { .. } => "approle",
            Self::Kubernetes { .. } => "kubernetes",
        }
    }
}

/// Where the ring lives and how to reach it.
#[derive(Clone, Debug)]
pub struct VaultSettings {
    /// `VAULT_ADDR`, an `http://` or `https://` URL.
    pub address: String,
    /// `VAULT_CACERT`: a PEM file of CA certificates trusted for Vault's TLS.
    pub ca_cert: Option<PathBuf>,
    /// The KV v2 mount (`secret` in `secret/portcullis`).
    pub mount: String,
    /// The secret's path inside the mount (`portcullis`).
    pub path: String,
    pub auth: VaultAuth,
    /// The longest any one fetch (sign-in, renewal and read together) may
    /// take before it is `Unavailable`.
    pub deadline: Duration,
}

impl VaultSettings {
    /// The fetch deadline unless a caller sets another: a stalled Vault
    /// must never hold a refresh for long.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);
}

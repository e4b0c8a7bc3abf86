//! Signing keys from HashiCorp Vault (`PORTCULLIS_SECRETS=vault`, the
//! `vault` feature): the data of one KV version 2 secret IS the ring
//! document (`{"keys": [...]}`), so `vault kv put secret/portcullis
//! @ring.json` stores a ring. Talks to Vault through `vaultrs`. The same
//! secret may carry the key that seals TOTP secrets as a string field
//! `mfa_key` (base64 of 32 bytes) beside `keys`; it is read at start only.
//!
//! Sign-in is by token, AppRole or Kubernetes. Each fetch first makes sure
//! the session holds a live token: it signs in when there is none or it
//! has expired, and renews a renewable token once a third of its lifetime
//! is left. A `403` on the read means the token was revoked behind our
//! back: the source signs in again once, then gives up as `Unavailable`.
//! Every fetch (sign-in, renewal and read together) ends within the
//! deadline, so a stalled Vault never holds a refresh.
//!
//! Never logs or formats a token, a secret id, a service-account token or
//! a key; errors name the operation and Vault's status, nothing more.

#[cfg(any(test, feature = "test-support"))]
pub mod fake;
mod settings;
#[cfg(test)]
mod tests;

pub use self::settings::{Credential, VaultAuth, VaultSettings, DEFAULT_K8S_TOKEN_FILE};
use crate::adapters::file_secrets::read_secret_file;
use crate::ports::{RingDocument, SecretError, SecretSource};
use anyhow::anyhow;
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;
use vaultrs::client::{Client as _, VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;

/// The signed-in client and what is known of its token.
struct Session {
    client: VaultClient,
    /// `None` until a sign-in succeeds, and again after a `403`.
    lease: Option<Lease>,
}

#[derive(Clone, Copy)]
struct Lease {
    /// `None`: the token never expires (a root or periodic-less token).
    expires_at: Option<Instant>,
    ttl: Duration,
    renewable: bool,
}

impl Lease {
    fn new(ttl_seconds: u64, renewable: bool) -> Self {
        let ttl = Duration::from_secs(ttl_seconds);
        Self { expires_at: (ttl_seconds > 0).then(|| Instant::now() + ttl), ttl, renewable }
    }

    fn expired(&self) -> bool {
        self.expires_at.is_some_and(|at| Instant::now() >= at)
    }

    /// Renew once a third of the lifetime is left: early enough that a
    /// fetch interval shorter than a third of the TTL never sees it lapse.
    fn due_for_renewal(&self) -> bool {
        self.renewable && self.expires_at.is_some_and(|at| at.saturating_duration_since(Instant::now()) < self.ttl / 3)
    }
}

/// The ring in a Vault KV v2 secret.
pub struct VaultSecrets {
    settings: VaultSettings,
    session: Mutex<Session>,
    /// The secret's `mfa_key` as last read.
    mfa_key: std::sync::Mutex<Option<SecretString>>,
}

impl VaultSecrets {
    /// Builds the HTTP client; signs in on the first fetch.
    ///
    /// # Errors
    /// When the address is not a URL or the CA file cannot be used.
    pub fn new(settings: VaultSettings) -> anyhow::Result<Self> {
        url::Url::parse(&settings.address).map_err(|_| anyhow!("VAULT_ADDR is not a valid URL"))?;
        // Every setting explicitly: vaultrs would otherwise read VAULT_*
        // variables of its own (VAULT_SKIP_VERIFY, client certificates).
        let client_settings = VaultClientSettingsBuilder::default()
            .address(&settings.address)
            .token(String::new())
            .ca_certs(settings.ca_cert.iter().map(|path| path.display().to_string()).collect())
            .identity(None)
            .verify(true)
            .namespace(None)
            .timeout(Some(settings.deadline))
            .build()
            .map_err(|error| anyhow!("Vault client settings: {error}"))?;
        let client = VaultClient::new(client_settings).map_err(|error| anyhow!("Vault client: {error}"))?;
        Ok(Self {
            settings,
            session: Mutex::new(Session { client, lease: None }),
            mfa_key: std::sync::Mutex::default(),
        })
    }

    async fn fetch(&self) -> Result<RingDocument, SecretError> {
        let mut session = self.session.lock().await;
        self.ensure_signed_in(&mut session).await?;
        match self.read(&session.client).await {
            Err(Read::Forbidden) => {
                tracing::warn!(method = self.settings.auth.method(), "Vault refused the token; signing in again");
                session.lease = None;
                self.ensure_signed_in(&mut session).await?;
                self.read(&session.client).await.map_err(|error| error.into_secret_error(true))
            }
            result => result.map_err(|error| error.into_secret_error(false)),
        }
    }

    /// A live token in `session`: signs in when there is none or it has
    /// expired, renews it when due.
    async fn ensure_signed_in(&self, session: &mut Session) -> Result<(), SecretError> {
        match session.lease {
            Some(lease) if !lease.expired() => {
                if lease.due_for_renewal() {
                    self.renew(session).await?;
                }
                Ok(())
            }
            _ => self.sign_in(session).await,
        }
    }

    async fn renew(&self, session: &mut Session) -> Result<(), SecretError> {
        match session.client.renew(None).await {
            Ok(auth) => {
                tracing::debug!(ttl_seconds = auth.lease_duration, "Vault token renewed");
                session.lease = Some(Lease::new(auth.lease_duration, auth.renewable));
                Ok(())
            }
            Err(error) => {
                // The token may still work until it expires; a sign-in is
                // the way out for methods that can sign in again.
                tracing::warn!(error = %error, "Vault token renewal failed; signing in again");
                self.sign_in(session).await
            }
        }
    }

    async fn sign_in(&self, session: &mut Session) -> Result<(), SecretError> {
        let method = self.settings.auth.method();
        let unavailable = |what: &str, error: &ClientError| {
            SecretError::Unavailable(anyhow!("Vault {method} sign-in failed ({what}): {}", describe(error)))
        };
        let lease = match &self.settings.auth {
            VaultAuth::Token(credential) => {
                let token = read_credential(credential, "VAULT_TOKEN_FILE")?;
                session.client.set_token(token.expose_secret());
                let info = session.client.lookup().await.map_err(|error| unavailable("token lookup", &error))?;
                Lease::new(info.ttl, info.renewable)
            }
            VaultAuth::AppRole { mount, role_id, secret_id } => {
                let secret_id = read_credential(secret_id, "VAULT_SECRET_ID_FILE")?;
                let auth = vaultrs::auth::approle::login(&session.client, mount, role_id, secret_id.expose_secret())
                    .await
                    .map_err(|error| unavailable("AppRole login", &error))?;
                session.client.set_token(&auth.client_token);
                Lease::new(auth.lease_duration, auth.renewable)
            }
            VaultAuth::Kubernetes { mount, role, token_file } => {
                let jwt = read_credential(&Credential::File(token_file.clone()), "VAULT_K8S_TOKEN_FILE")?;
                let auth = vaultrs::auth::kubernetes::login(&session.client, mount, role, jwt.expose_secret())
                    .await
                    .map_err(|error| unavailable("Kubernetes login", &error))?;
                session.client.set_token(&auth.client_token);
                Lease::new(auth.lease_duration, auth.renewable)
            }
        };
        tracing::info!(method, ttl_seconds = lease.ttl.as_secs(), renewable = lease.renewable, "signed in to Vault");
        session.lease = Some(lease);
        Ok(())
    }

    async fn read(&self, client: &VaultClient) -> Result<RingDocument, Read> {
        let mut data: serde_json::Value = vaultrs::kv2::read(client, &self.settings.mount, &self.settings.path)
            .await
            .map_err(|error| match &error {
            ClientError::APIError { code: 403, .. } => Read::Forbidden,
            ClientError::APIError { code: 404, .. } | ClientError::ResponseDataEmptyError => Read::Missing,
            _ => Read::Failed(describe(&error)),
        })?;
        // The MFA key rides beside the ring: taken out before the ring is
        // parsed, and kept as read (absent: none).
        let mfa_key = match data.as_object_mut().and_then(|fields| fields.remove("mfa_key")) {
            None => None,
            Some(serde_json::Value::String(key)) => Some(SecretString::from(key)),
            Some(_) => {
                return Err(Read::Document(SecretError::Malformed("`mfa_key` must be a string (base64)".to_owned())))
            }
        };
        *self.mfa_key.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = mfa_key;
        let document = RingDocument::from_value(data).map_err(Read::Document)?;
        if document.keys.is_empty() {
            return Err(Read::Missing);
        }
        Ok(document)
    }
}

/// How a read went wrong.
enum Read {
    Forbidden,
    Missing,
    Failed(String),
    Document(SecretError),
}

impl Read {
    fn into_secret_error(self, after_sign_in: bool) -> SecretError {
        match self {
            Self::Forbidden if after_sign_in => {
                SecretError::Unavailable(anyhow!("Vault refused the read with a fresh token (403): check the policy"))
            }
            Self::Forbidden => SecretError::Unavailable(anyhow!("Vault refused the read (403)")),
            Self::Missing => SecretError::Missing,
            Self::Failed(reason) => SecretError::Unavailable(anyhow!("Vault read failed: {reason}")),
            Self::Document(error) => error,
        }
    }
}

/// Vault's status, or the transport failure: what an operator needs to
/// look for, and nothing Vault was sent or answered. Vault's own error
/// strings stay out: a server that echoes a request would put a credential
/// in our log.
fn describe(error: &ClientError) -> String {
    match error {
        ClientError::APIError { code, .. } => {
            let hint = match code {
                400 => " (the credentials were refused)",
                403 => " (permission denied)",
                404 => " (no such path or mount)",
                429 | 473 => " (Vault is a standby or rate limiting)",
                503 => " (Vault is sealed or unavailable)",
                _ => "",
            };
            format!("status {code}{hint}")
        }
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                // A parser's message may quote what it read; keep the
                // transport's reasons (refused, timed out), skip quotes.
                let cause_text = cause.to_string();
                if !cause_text.contains('"') {
                    text.push_str(": ");
                    text.push_str(&cause_text);
                }
                source = cause.source();
            }
            text
        }
    }
}

fn read_credential(credential: &Credential, file_variable: &str) -> Result<SecretString, SecretError> {
    match credential {
        Credential::Value(value) => Ok(value.clone()),
        Credential::File(path) => read_secret_file(path)
            .map(SecretString::from)
            .map_err(|problem| SecretError::Unavailable(anyhow!("{file_variable} {}: {problem}", path.display()))),
    }
}

#[async_trait]
impl SecretSource for VaultSecrets {
    /// `404` or an empty ring is [`SecretError::Missing`]; a secret that is
    /// not a ring is [`SecretError::Malformed`]; a failed sign-in, a `403`
    /// after signing in again, any transport error, and a fetch past the
    /// deadline are [`SecretError::Unavailable`].
    async fn key_ring(&self) -> Result<RingDocument, SecretError> {
        let deadline = self.settings.deadline;
        tokio::time::timeout(deadline, self.fetch()).await.unwrap_or_else(|_| {
            Err(SecretError::Unavailable(anyhow!("Vault did not answer within {} s", deadline.as_secs_f32())))
        })
    }

    fn name(&self) -> &'static str {
        "vault"
    }

    fn mfa_key(&self) -> Option<SecretString> {
        self.mfa_key.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

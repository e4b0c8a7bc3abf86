//! Configuration: built-in defaults, then an optional TOML file
//! (`--config PATH`), then `.env`, then the environment, each layer
//! overriding the one before. The variable names are part of the HTTP
//! contract ([`names::VARIABLES`]). Everything is validated once, at start,
//! section by section; a bad value or an unknown name stops the start with
//! a message naming the variable, the problem and the accepted range.
//!
//! Each rule lives once: where a type or an adapter enforces a rule (key
//! length, Redis key prefix), the section calls it and only adds the
//! variable's name. This module never opens a connection or picks an
//! adapter; [`crate::app::compose`] does that from these settings.

mod accounts;
mod connections;
mod limits;
mod mail;
mod mfa;
pub mod names;
mod raw;
mod redis;
mod secret_files;
mod secrets;
mod server;
mod storage;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;
mod values;
#[cfg(feature = "vault")]
mod vault;

pub use self::accounts::{AdminSeed, HashingSettings};
pub use self::connections::ConnectionSettings;
pub use self::mail::{MailCommon, MailSettings, MailerChoice};
pub use self::mfa::MfaKeySetting;
#[cfg(feature = "redis")]
pub use self::redis::{KeyPrefix, RedisSettings, RedisTarget};
pub use self::secrets::{RefreshSettings, SigningKeys};
pub use self::server::{SecurityHeaders, ServerSettings};
pub use self::storage::{DatabaseSettings, PoolSettings, StorageBackend, DEFAULT_DATABASE_URL};
use crate::core::limits::Limits;
use crate::core::token::TokenSettings;
pub use crate::redact::ConnectionUrl;
use raw::RawSettings;
use secret_files::value_or_file;
use std::collections::HashMap;
use std::path::Path;
use values::invalid;

/// A configuration value was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable}: {problem}")]
    Invalid { variable: &'static str, problem: String },
    /// Names that are not settings, each with what to set instead.
    #[error("{0}")]
    Unknown(String),
    #[error("configuration could not be read: {0}")]
    Source(String),
}

/// `development` relaxes a few rules for local work; `production` refuses
/// to start without real keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deployment {
    Development,
    Production,
}

impl Deployment {
    fn parse(value: Option<&str>) -> Result<Self, ConfigError> {
        match value.map(str::trim) {
            None | Some("development") => Ok(Self::Development),
            Some("production") => Ok(Self::Production),
            Some(other) => Err(invalid("PORTCULLIS_ENV", format!("{other:?} is not `development` or `production`"))),
        }
    }
}

/// The validated settings, one section per concern.
#[derive(Clone, Debug)]
pub struct Settings {
    pub deployment: Deployment,
    pub server: ServerSettings,
    pub connections: ConnectionSettings,
    pub security_headers: SecurityHeaders,
    pub database: DatabaseSettings,
    /// `None`: limits are kept in-process.
    #[cfg(feature = "redis")]
    pub redis: Option<RedisSettings>,
    pub keys: SigningKeys,
    /// How often the key ring is re-read from its source.
    pub secrets_refresh: std::time::Duration,
    pub tokens: TokenSettings,
    pub refresh: RefreshSettings,
    pub limits: Limits,
    pub hashing: HashingSettings,
    pub admin: Option<AdminSeed>,
    /// How many days audit events are kept before housekeeping purges them.
    pub audit_retention_days: u32,
    /// `PORTCULLIS_REGISTRATION`: whether anyone may register.
    pub registration: crate::core::auth::Registration,
    /// Seals TOTP secrets at rest; see [`MfaKeySetting`].
    pub mfa_key: Option<MfaKeySetting>,
    pub mail: MailSettings,
}

/// Variables read without the `PORTCULLIS_` prefix, and the key each sets.
const UNPREFIXED: &[(&str, &str)] = &[
    ("DATABASE_URL", "database_url"),
    ("DATABASE_URL_FILE", "database_url_file"),
    ("REDIS_URL", "redis_url"),
    ("REDIS_URL_FILE", "redis_url_file"),
    ("SECRET_KEY", "secret_key"),
    ("VAULT_ADDR", "vault_addr"),
    ("VAULT_TOKEN", "vault_token"),
    ("VAULT_TOKEN_FILE", "vault_token_file"),
    ("VAULT_ROLE_ID", "vault_role_id"),
    ("VAULT_SECRET_ID", "vault_secret_id"),
    ("VAULT_SECRET_ID_FILE", "vault_secret_id_file"),
    ("VAULT_K8S_ROLE", "vault_k8s_role"),
    ("VAULT_K8S_TOKEN_FILE", "vault_k8s_token_file"),
    ("VAULT_CACERT", "vault_cacert"),
];

impl Settings {
    /// Reads the layers: defaults, the TOML file at `file` if given, then
    /// `vars` (the process environment over the `.env` file).
    ///
    /// # Errors
    /// [`ConfigError`] naming every unknown variable or file key, else the
    /// first variable that is unreadable or out of range.
    pub fn load(file: Option<&Path>, vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        names::check_variables(vars.keys())?;
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Source(format!("config file {} does not exist", path.display())));
            }
            names::check_file_keys(&file_keys(path)?)?;
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        // Settings only: the test-tooling variables configure the tests.
        let prefixed: HashMap<String, String> = vars
            .iter()
            .filter(|(name, _)| name.starts_with("PORTCULLIS_") && names::VARIABLES.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("PORTCULLIS").prefix_separator("_").separator("__").source(Some(prefixed)),
        );
        for (variable, key) in UNPREFIXED {
            builder = builder
                .set_override_option(*key, vars.get(*variable).cloned())
                .map_err(|e| ConfigError::Source(e.to_string()))?;
        }
        let raw: RawSettings = builder
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|e| ConfigError::Source(e.to_string()))?;
        Self::validate(raw)
    }

    /// The variables of the process environment, over those of `.env` in
    /// the working directory if it exists.
    pub fn environment() -> HashMap<String, String> {
        let mut vars: HashMap<String, String> =
            dotenvy::dotenv_iter().map(|iter| iter.filter_map(Result::ok).collect()).unwrap_or_default();
        vars.extend(std::env::vars());
        vars
    }

    fn validate(mut raw: RawSettings) -> Result<Self, ConfigError> {
        raw.database_url =
            value_or_file("DATABASE_URL", raw.database_url, "DATABASE_URL_FILE", raw.database_url_file.take())?;
        raw.redis_url = value_or_file("REDIS_URL", raw.redis_url, "REDIS_URL_FILE", raw.redis_url_file.take())?;
        raw.admin_password = value_or_file(
            "PORTCULLIS_ADMIN_PASSWORD",
            raw.admin_password,
            "PORTCULLIS_ADMIN_PASSWORD_FILE",
            raw.admin_password_file.take(),
        )?;
        let mfa_key = MfaKeySetting::validate(value_or_file(
            "PORTCULLIS_MFA_KEY",
            raw.mfa_key.take(),
            "PORTCULLIS_MFA_KEY_FILE",
            raw.mfa_key_file.take(),
        )?)?;
        let deployment = Deployment::parse(raw.env.as_deref())?;
        // Before any field is moved out: the key source reads several.
        let keys = SigningKeys::validate(&raw, deployment)?;
        let server = ServerSettings::validate(
            raw.bind.as_deref(),
            raw.metrics_bind.as_deref(),
            raw.trusted_proxies.as_deref(),
            raw.client_ip_header.as_deref(),
            raw.metrics_public.as_deref(),
            raw.shutdown_drain_seconds.as_deref(),
            deployment,
        )?;
        let connections = ConnectionSettings::validate(&raw.connections)?;
        let database = DatabaseSettings {
            backend: StorageBackend::parse(raw.database_url, raw.sqlite_fallback)?,
            pool: PoolSettings::validate(&raw.database)?,
        };
        let raw_redis = redis::RawRedisSettings {
            url: raw.redis_url,
            key_prefix: raw.redis.key_prefix.as_deref(),
            cluster: raw.redis.cluster.as_deref(),
            ca_file: raw.redis.ca_file.as_deref(),
        };
        #[cfg(feature = "redis")]
        let redis = redis::validate(raw_redis)?;
        #[cfg(not(feature = "redis"))]
        redis::validate(raw_redis)?;
        let secrets_refresh = secrets::validate_refresh(raw.secrets_refresh_seconds.as_deref())?;
        let hashing = HashingSettings::validate(
            raw.bcrypt_cost.as_deref(),
            raw.hash_workers.as_deref(),
            raw.hash_queue.as_deref(),
            deployment,
        )?;
        let tokens =
            secrets::validate_tokens(raw.access_token_ttl_seconds.as_deref(), raw.jwt_issuer, raw.jwt_audience)?;
        let refresh = RefreshSettings::validate(
            raw.refresh_token_ttl_seconds.as_deref(),
            raw.refresh_reuse_grace_seconds.as_deref(),
        )?;
        let limits = limits::validate(&raw.limits)?;
        let mail = MailSettings::validate(
            mail::RawMail {
                mailer: raw.mailer.as_deref(),
                from: raw.mail_from.as_deref(),
                public_url: raw.public_url.as_deref(),
                templates_dir: raw.mail_templates_dir.as_deref(),
                queue: raw.mail_queue.as_deref(),
                require_verified_email: raw.require_verified_email.as_deref(),
                smtp: std::mem::take(&mut raw.smtp),
            },
            deployment,
        )?;
        let admin = AdminSeed::validate(raw.admin_email, raw.admin_password)?;
        let security_headers =
            SecurityHeaders::validate(raw.cors_allowed_origins.as_deref(), raw.hsts_max_age_seconds.as_deref())?;
        let audit_retention_days = values::parse_sized(
            "PORTCULLIS_AUDIT_RETENTION_DAYS",
            raw.audit_retention_days.as_deref(),
            365,
            1,
            36_500,
        )?;
        let registration = accounts::registration(raw.registration.as_deref())?;
        Ok(Self {
            deployment,
            server,
            connections,
            security_headers,
            database,
            #[cfg(feature = "redis")]
            redis,
            keys,
            secrets_refresh,
            tokens,
            refresh,
            limits,
            hashing,
            admin,
            audit_retention_days,
            registration,
            mfa_key,
            mail,
        })
    }
}

/// The keys of the TOML file at `path`, as dotted paths.
fn file_keys(path: &Path) -> Result<Vec<String>, ConfigError> {
    fn flatten(prefix: &str, table: config::Map<String, config::Value>, keys: &mut Vec<String>) {
        for (key, value) in table {
            let path = if prefix.is_empty() { key } else { format!("{prefix}.{key}") };
            match value.into_table() {
                Ok(inner) => flatten(&path, inner, keys),
                Err(_) => keys.push(path),
            }
        }
    }
    use config::Source as _;
    let table = config::File::from(path)
        .format(config::FileFormat::Toml)
        .collect()
        .map_err(|e| ConfigError::Source(e.to_string()))?;
    let mut keys = Vec::new();
    flatten("", table, &mut keys);
    Ok(keys)
}

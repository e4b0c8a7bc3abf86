//! Configuration: built-in defaults, then an optional TOML file
//! (`--config PATH`), then `.env`, then the environment, each layer
//! overriding the one before. The variable names are part of the HTTP
//! contract. Everything is validated once, at start; a bad value stops the
//! start with a message naming the variable, the problem and the accepted
//! range.

use crate::core::limits::Limits;
use crate::core::limits::{FailurePolicy, Quota};
use crate::core::token::{TokenSettings, MIN_KEY_BYTES};
pub use crate::redact::ConnectionUrl;
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The SQLite database used when `DATABASE_URL` is unset.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/portcullis.db";

/// A configuration value was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable}: {problem}")]
    Invalid { variable: &'static str, problem: String },
    #[error("configuration could not be read: {0}")]
    Source(String),
}

fn invalid(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { variable, problem: problem.into() }
}

/// `development` relaxes a few rules for local work; `production` refuses
/// to start without real keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deployment {
    Development,
    Production,
}

/// Where signing keys come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretsBackend {
    Env,
    Vault,
}

/// The validated settings.
#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: SocketAddr,
    pub database_url: ConnectionUrl,
    pub sqlite_fallback: Option<ConnectionUrl>,
    pub redis_url: Option<ConnectionUrl>,
    pub jwt_keys: Vec<SecretString>,
    pub secrets: SecretsBackend,
    pub admin_email: Option<String>,
    pub admin_password: Option<SecretString>,
    pub trusted_proxies: Vec<IpNet>,
    pub deployment: Deployment,
    pub metrics_bind: Option<SocketAddr>,
    pub bcrypt_cost: u32,
    pub tokens: TokenSettings,
    pub refresh_ttl_seconds: i64,
    pub refresh_grace_seconds: i64,
    pub limits: Limits,
    /// Origins allowed to call the API from a browser; empty: none.
    pub cors_allowed_origins: Vec<String>,
    /// `Strict-Transport-Security: max-age=…` when set.
    pub hsts_max_age_seconds: Option<u32>,
    /// bcrypt jobs that run at once.
    pub hash_workers: usize,
    /// bcrypt jobs that may wait for a worker before `503`.
    pub hash_queue: usize,
    pub database: DatabaseSettings,
    /// Namespace of every Redis key.
    pub redis_key_prefix: String,
}

/// Connection-pool settings of the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatabaseSettings {
    pub max_connections: u32,
    pub min_connections: u32,
    /// How long to keep retrying an unreachable Postgres at start.
    pub connect_deadline: Duration,
    /// How long a request waits for a pooled connection before `503`.
    pub acquire_timeout: Duration,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawQuota {
    per_minute: Option<String>,
    burst: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawApiQuota {
    per_minute: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawFailures {
    max: Option<String>,
    window_seconds: Option<String>,
    lockout_seconds: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawDatabase {
    max_connections: Option<String>,
    min_connections: Option<String>,
    connect_deadline_seconds: Option<String>,
    acquire_timeout_seconds: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawLimits {
    auth: RawQuota,
    api: RawApiQuota,
    login_failures: RawFailures,
    account_failures: RawFailures,
}

/// Every setting as text, before validation.
#[derive(Default, Deserialize)]
#[serde(default)]
struct RawSettings {
    bind: Option<String>,
    database_url: Option<String>,
    sqlite_fallback: Option<String>,
    redis_url: Option<String>,
    jwt_keys: Option<String>,
    secret_key: Option<String>,
    secrets: Option<String>,
    admin_email: Option<String>,
    admin_password: Option<String>,
    trusted_proxies: Option<String>,
    env: Option<String>,
    metrics_bind: Option<String>,
    bcrypt_cost: Option<String>,
    access_token_ttl_seconds: Option<String>,
    refresh_token_ttl_seconds: Option<String>,
    refresh_reuse_grace_seconds: Option<String>,
    jwt_issuer: Option<String>,
    jwt_audience: Option<String>,
    limits: RawLimits,
    cors_allowed_origins: Option<String>,
    hsts_max_age_seconds: Option<String>,
    hash_workers: Option<String>,
    hash_queue: Option<String>,
    database: RawDatabase,
    redis: RawRedis,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawRedis {
    key_prefix: Option<String>,
}

/// Variables read without the `PORTCULLIS_` prefix, and the key each sets.
const UNPREFIXED: &[(&str, &str)] =
    &[("DATABASE_URL", "database_url"), ("REDIS_URL", "redis_url"), ("SECRET_KEY", "secret_key")];

impl Settings {
    /// Reads the layers: defaults, the TOML file at `file` if given, then
    /// `vars` (the process environment over the `.env` file).
    ///
    /// # Errors
    /// [`ConfigError`] naming the first variable that is unreadable or out of range.
    pub fn load(file: Option<&Path>, vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Source(format!("config file {} does not exist", path.display())));
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        let prefixed: HashMap<String, String> =
            vars.iter().filter(|(k, _)| k.starts_with("PORTCULLIS_")).map(|(k, v)| (k.clone(), v.clone())).collect();
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

    fn validate(raw: RawSettings) -> Result<Self, ConfigError> {
        let deployment = match raw.env.as_deref().map(str::trim) {
            None | Some("development") => Deployment::Development,
            Some("production") => Deployment::Production,
            Some(other) => {
                return Err(invalid("PORTCULLIS_ENV", format!("{other:?} is not `development` or `production`")))
            }
        };
        let bind = parse_addr("PORTCULLIS_BIND", raw.bind.as_deref().unwrap_or("127.0.0.1:8080"))?;
        let metrics_bind = raw.metrics_bind.as_deref().map(|v| parse_addr("PORTCULLIS_METRICS_BIND", v)).transpose()?;

        let database_url = match raw.database_url {
            Some(url) => ConnectionUrl::new(url),
            None if cfg!(feature = "sqlite") => ConnectionUrl::new(DEFAULT_DATABASE_URL),
            None => return Err(invalid(
                "DATABASE_URL",
                "is unset, and its SQLite default needs the `sqlite` feature this build lacks: set a postgres:// URL",
            )),
        };
        check_database_url("DATABASE_URL", &database_url)?;
        let sqlite_fallback = raw.sqlite_fallback.map(ConnectionUrl::new);
        if let Some(fallback) = &sqlite_fallback {
            if !fallback.is_sqlite() {
                return Err(invalid("PORTCULLIS_SQLITE_FALLBACK", "must be a `sqlite:` URL"));
            }
            check_database_url("PORTCULLIS_SQLITE_FALLBACK", fallback)?;
        }
        let redis_url = raw.redis_url.filter(|v| !v.trim().is_empty()).map(ConnectionUrl::new);
        if let Some(url) = &redis_url {
            if !(url.expose().starts_with("redis://") || url.expose().starts_with("rediss://")) {
                return Err(invalid("REDIS_URL", "must be a `redis://` or `rediss://` URL"));
            }
        }

        let (jwt_keys, keys_variable) = match (raw.jwt_keys, raw.secret_key) {
            (Some(keys), _) => {
                (split_list(&keys).map(|k| SecretString::from(k.to_owned())).collect(), "PORTCULLIS_JWT_KEYS")
            }
            (None, Some(key)) => (vec![SecretString::from(key)], "SECRET_KEY"),
            (None, None) => (Vec::new(), "PORTCULLIS_JWT_KEYS"),
        };
        for (position, key) in jwt_keys.iter().enumerate() {
            let length = key.expose_secret().len();
            if length < MIN_KEY_BYTES {
                return Err(invalid(
                    keys_variable,
                    format!(
                        "key #{} is {length} bytes; HS256 keys must be at least {MIN_KEY_BYTES} bytes",
                        position + 1
                    ),
                ));
            }
        }
        let secrets = match raw.secrets.as_deref().map(str::trim) {
            None | Some("env") => SecretsBackend::Env,
            Some("vault") => SecretsBackend::Vault,
            Some(other) => return Err(invalid("PORTCULLIS_SECRETS", format!("{other:?} is not `env` or `vault`"))),
        };
        if secrets == SecretsBackend::Env && jwt_keys.is_empty() && deployment == Deployment::Production {
            return Err(invalid(
                "PORTCULLIS_JWT_KEYS",
                "no signing key is set; production refuses to start without one (set one or more comma-separated keys of 32+ bytes)",
            ));
        }

        let bcrypt_cost = parse_int("PORTCULLIS_BCRYPT_COST", raw.bcrypt_cost.as_deref(), 12, 4, 31)?;
        if bcrypt_cost < 10 && deployment == Deployment::Production {
            return Err(invalid(
                "PORTCULLIS_BCRYPT_COST",
                format!("{bcrypt_cost} is below 10, allowed only in development"),
            ));
        }
        let access_ttl =
            parse_int("PORTCULLIS_ACCESS_TOKEN_TTL_SECONDS", raw.access_token_ttl_seconds.as_deref(), 900, 30, 86_400)?;
        let refresh_ttl = parse_int(
            "PORTCULLIS_REFRESH_TOKEN_TTL_SECONDS",
            raw.refresh_token_ttl_seconds.as_deref(),
            2_592_000,
            60,
            31_536_000,
        )?;
        let refresh_grace = parse_int(
            "PORTCULLIS_REFRESH_REUSE_GRACE_SECONDS",
            raw.refresh_reuse_grace_seconds.as_deref(),
            10,
            0,
            300,
        )?;
        let issuer = non_empty("PORTCULLIS_JWT_ISSUER", raw.jwt_issuer, "portcullis")?;
        let audience = non_empty("PORTCULLIS_JWT_AUDIENCE", raw.jwt_audience, "portcullis-api")?;

        let trusted_proxies = split_list(raw.trusted_proxies.as_deref().unwrap_or(""))
            .map(|cidr| {
                cidr.parse::<IpNet>().or_else(|_| cidr.parse::<std::net::IpAddr>().map(IpNet::from)).map_err(|_| {
                    invalid("PORTCULLIS_TRUSTED_PROXIES", format!("{cidr:?} is not a CIDR such as 10.0.0.0/8"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let limits = parse_limits(&raw.limits)?;
        let admin_email = raw.admin_email.filter(|v| !v.trim().is_empty());
        let admin_password = raw.admin_password.filter(|v| !v.is_empty()).map(SecretString::from);
        if admin_email.is_some() != admin_password.is_some() {
            let missing = if admin_email.is_some() { "PORTCULLIS_ADMIN_PASSWORD" } else { "PORTCULLIS_ADMIN_EMAIL" };
            return Err(invalid(missing, "must be set together with its partner to seed the initial admin"));
        }

        let cors_allowed_origins = split_list(raw.cors_allowed_origins.as_deref().unwrap_or(""))
            .map(|origin| parse_origin(origin).map(ToOwned::to_owned))
            .collect::<Result<Vec<_>, _>>()?;
        let hsts_max_age_seconds = raw
            .hsts_max_age_seconds
            .as_deref()
            .map(|v| parse_int("PORTCULLIS_HSTS_MAX_AGE_SECONDS", Some(v), 0, 0, 63_072_000))
            .transpose()?
            .map(|v| u32::try_from(v).unwrap_or(0));
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let hash_workers = parse_int("PORTCULLIS_HASH_WORKERS", raw.hash_workers.as_deref(), cores as i64, 1, 256)?;
        let hash_queue = parse_int("PORTCULLIS_HASH_QUEUE", raw.hash_queue.as_deref(), hash_workers * 32, 0, 100_000)?;

        let database = parse_database(&raw.database)?;
        let redis_key_prefix = match raw.redis.key_prefix {
            None => "portcullis".to_owned(),
            Some(prefix) if !prefix.is_empty() && prefix.len() <= 64 && !prefix.contains(['{', '}', ' ']) => prefix,
            Some(prefix) => {
                return Err(invalid(
                    "PORTCULLIS_REDIS__KEY_PREFIX",
                    format!("{prefix:?} must be 1 to 64 characters without braces or spaces"),
                ))
            }
        };

        Ok(Self {
            bind,
            database_url,
            sqlite_fallback,
            redis_url,
            jwt_keys,
            secrets,
            admin_email,
            admin_password,
            trusted_proxies,
            deployment,
            metrics_bind,
            bcrypt_cost: u32::try_from(bcrypt_cost).unwrap_or(12),
            tokens: TokenSettings { issuer, audience, access_ttl_seconds: access_ttl, leeway_seconds: 30 },
            refresh_ttl_seconds: refresh_ttl,
            refresh_grace_seconds: refresh_grace,
            limits,
            cors_allowed_origins,
            hsts_max_age_seconds,
            hash_workers: usize::try_from(hash_workers).unwrap_or(1),
            hash_queue: usize::try_from(hash_queue).unwrap_or(0),
            database,
            redis_key_prefix,
        })
    }
}

/// An origin: `http(s)://host[:port]`, nothing after it.
fn parse_origin(origin: &str) -> Result<&str, ConfigError> {
    let refuse = || {
        invalid(
            "PORTCULLIS_CORS_ALLOWED_ORIGINS",
            format!("{origin:?} is not an origin such as https://app.example.com"),
        )
    };
    let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://")).ok_or_else(refuse)?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err(refuse());
    }
    Ok(origin)
}

fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|v| !v.is_empty())
}

fn parse_addr(variable: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.trim().parse().map_err(|_| invalid(variable, format!("{value:?} is not an address such as 127.0.0.1:8080")))
}

fn parse_int(
    variable: &'static str,
    value: Option<&str>,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    let Some(value) = value else { return Ok(default) };
    let parsed: i64 = value
        .trim()
        .parse()
        .map_err(|_| invalid(variable, format!("{value:?} is not a whole number; accepted range {min}..={max}")))?;
    if !(min..=max).contains(&parsed) {
        return Err(invalid(variable, format!("{parsed} is out of range; accepted range {min}..={max}")));
    }
    Ok(parsed)
}

fn parse_u32(variable: &'static str, value: Option<&str>, default: u32, max: u32) -> Result<u32, ConfigError> {
    parse_int(variable, value, i64::from(default), 1, i64::from(max)).map(|v| u32::try_from(v).unwrap_or(default))
}

fn non_empty(variable: &'static str, value: Option<String>, default: &str) -> Result<String, ConfigError> {
    match value {
        None => Ok(default.to_owned()),
        Some(v) if v.trim().is_empty() => Err(invalid(variable, "must not be empty")),
        Some(v) => Ok(v.trim().to_owned()),
    }
}

fn check_database_url(variable: &'static str, url: &ConnectionUrl) -> Result<(), ConfigError> {
    if url.is_sqlite() {
        if cfg!(feature = "sqlite") {
            return Ok(());
        }
        return Err(invalid(variable, "is a `sqlite:` URL but this build lacks the `sqlite` feature"));
    }
    if url.is_postgres() {
        if cfg!(feature = "postgres") {
            return Ok(());
        }
        return Err(invalid(variable, "is a `postgres://` URL but this build lacks the `postgres` feature"));
    }
    Err(invalid(variable, format!("{} is neither a `sqlite:` nor a `postgres://` URL", url.redacted())))
}

fn parse_database(raw: &RawDatabase) -> Result<DatabaseSettings, ConfigError> {
    let max = parse_u32("PORTCULLIS_DATABASE__MAX_CONNECTIONS", raw.max_connections.as_deref(), 10, 1000)?;
    let min = parse_int("PORTCULLIS_DATABASE__MIN_CONNECTIONS", raw.min_connections.as_deref(), 1, 0, i64::from(max))?;
    let deadline = parse_int(
        "PORTCULLIS_DATABASE__CONNECT_DEADLINE_SECONDS",
        raw.connect_deadline_seconds.as_deref(),
        30,
        0,
        600,
    )?;
    let acquire =
        parse_int("PORTCULLIS_DATABASE__ACQUIRE_TIMEOUT_SECONDS", raw.acquire_timeout_seconds.as_deref(), 3, 1, 60)?;
    Ok(DatabaseSettings {
        max_connections: max,
        min_connections: u32::try_from(min).unwrap_or(0),
        connect_deadline: Duration::from_secs(u64::try_from(deadline).unwrap_or(30)),
        acquire_timeout: Duration::from_secs(u64::try_from(acquire).unwrap_or(3)),
    })
}

fn parse_limits(raw: &RawLimits) -> Result<Limits, ConfigError> {
    const MINUTE: Duration = Duration::from_secs(60);
    let auth_per_minute =
        parse_u32("PORTCULLIS_LIMITS__AUTH__PER_MINUTE", raw.auth.per_minute.as_deref(), 20, 1_000_000)?;
    let auth_burst = parse_u32("PORTCULLIS_LIMITS__AUTH__BURST", raw.auth.burst.as_deref(), 10, 1_000_000)?;
    let api_per_minute =
        parse_u32("PORTCULLIS_LIMITS__API__PER_MINUTE", raw.api.per_minute.as_deref(), 600, 10_000_000)?;
    let max = parse_u32("PORTCULLIS_LIMITS__LOGIN_FAILURES__MAX", raw.login_failures.max.as_deref(), 5, 10_000)?;
    let window = parse_u32(
        "PORTCULLIS_LIMITS__LOGIN_FAILURES__WINDOW_SECONDS",
        raw.login_failures.window_seconds.as_deref(),
        900,
        604_800,
    )?;
    let lockout = parse_u32(
        "PORTCULLIS_LIMITS__LOGIN_FAILURES__LOCKOUT_SECONDS",
        raw.login_failures.lockout_seconds.as_deref(),
        900,
        604_800,
    )?;
    let account_max =
        parse_u32("PORTCULLIS_LIMITS__ACCOUNT_FAILURES__MAX", raw.account_failures.max.as_deref(), 50, 1_000_000)?;
    let window = Duration::from_secs(u64::from(window));
    let lockout = Duration::from_secs(u64::from(lockout));
    Ok(Limits {
        auth: Quota { per_period: auth_per_minute, period: MINUTE, burst: auth_burst },
        api: Quota { per_period: api_per_minute, period: MINUTE, burst: api_per_minute },
        login_failures: FailurePolicy { max, window, lockout },
        account_failures: FailurePolicy { max: account_max, window, lockout },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database URL this build can serve, for tests about other settings.
    fn usable_database_url() -> &'static str {
        if cfg!(feature = "sqlite") {
            DEFAULT_DATABASE_URL
        } else {
            "postgres://portcullis@localhost/portcullis"
        }
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut vars: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        vars.entry("DATABASE_URL".to_owned()).or_insert_with(|| usable_database_url().to_owned());
        Settings::load(None, &vars)
    }

    fn problem(pairs: &[(&str, &str)]) -> String {
        load(pairs).unwrap_err().to_string()
    }

    #[test]
    fn defaults_match_the_contract() {
        let settings = load(&[]).unwrap();
        assert_eq!(settings.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.bcrypt_cost, 12);
        assert_eq!(settings.tokens.access_ttl_seconds, 900);
        assert_eq!(settings.refresh_ttl_seconds, 2_592_000);
        assert_eq!(settings.refresh_grace_seconds, 10);
        assert_eq!(
            (settings.tokens.issuer.as_str(), settings.tokens.audience.as_str()),
            ("portcullis", "portcullis-api")
        );
        assert_eq!(settings.limits.auth, Quota { per_period: 20, period: Duration::from_secs(60), burst: 10 });
        assert_eq!(settings.limits.api.per_period, 600);
        assert_eq!(settings.limits.login_failures.max, 5);
        assert_eq!(settings.limits.account_failures.max, 50);
        assert_eq!(settings.deployment, Deployment::Development);
        assert!(settings.jwt_keys.is_empty() && settings.trusted_proxies.is_empty());
    }

    #[test]
    fn nested_and_unprefixed_variables_are_read() {
        let settings = load(&[
            ("PORTCULLIS_LIMITS__AUTH__PER_MINUTE", "7"),
            ("PORTCULLIS_LIMITS__LOGIN_FAILURES__LOCKOUT_SECONDS", "60"),
            ("PORTCULLIS_TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
            ("SECRET_KEY", &"k".repeat(32)),
        ])
        .unwrap();
        assert_eq!(settings.limits.auth.per_period, 7);
        assert_eq!(settings.limits.login_failures.lockout, Duration::from_secs(60));
        assert_eq!(settings.trusted_proxies.len(), 2);
        assert_eq!(settings.jwt_keys.len(), 1);
    }

    #[test]
    fn bad_values_name_the_variable_and_the_range() {
        let message = problem(&[("PORTCULLIS_LIMITS__AUTH__PER_MINUTE", "lots")]);
        assert!(
            message.contains("PORTCULLIS_LIMITS__AUTH__PER_MINUTE") && message.contains("1..=1000000"),
            "{message}"
        );
        let message = problem(&[("PORTCULLIS_BCRYPT_COST", "40")]);
        assert!(message.contains("PORTCULLIS_BCRYPT_COST") && message.contains("4..=31"), "{message}");
        assert!(problem(&[("PORTCULLIS_BIND", "nowhere")]).contains("PORTCULLIS_BIND"));
        assert!(problem(&[("PORTCULLIS_ENV", "staging")]).contains("PORTCULLIS_ENV"));
        assert!(problem(&[("PORTCULLIS_TRUSTED_PROXIES", "10.0.0.0/99")]).contains("PORTCULLIS_TRUSTED_PROXIES"));
        assert!(problem(&[("DATABASE_URL", "mysql://x")]).contains("DATABASE_URL"));
        assert!(problem(&[("PORTCULLIS_ADMIN_EMAIL", "a@example.com")]).contains("PORTCULLIS_ADMIN_PASSWORD"));
    }

    #[test]
    fn short_keys_are_refused_naming_their_position() {
        let keys = format!("{},short", "k".repeat(32));
        let message = problem(&[("PORTCULLIS_JWT_KEYS", &keys)]);
        assert!(
            message.contains("PORTCULLIS_JWT_KEYS") && message.contains("key #2") && !message.contains("short"),
            "{message}"
        );
    }

    #[test]
    fn defaults_to_sqlite_under_data_when_the_build_has_it() {
        let vars = HashMap::new();
        match Settings::load(None, &vars) {
            Ok(settings) => assert_eq!(settings.database_url.expose(), DEFAULT_DATABASE_URL),
            // Only a build without SQLite has no usable default.
            Err(error) => assert!(error.to_string().contains("`sqlite` feature"), "{error}"),
        }
    }

    #[test]
    fn production_refuses_missing_keys_and_low_bcrypt_cost() {
        assert!(problem(&[("PORTCULLIS_ENV", "production")]).contains("PORTCULLIS_JWT_KEYS"));
        let key = "k".repeat(32);
        let message = problem(&[
            ("PORTCULLIS_ENV", "production"),
            ("PORTCULLIS_JWT_KEYS", &key),
            ("PORTCULLIS_BCRYPT_COST", "8"),
        ]);
        assert!(message.contains("PORTCULLIS_BCRYPT_COST"), "{message}");
        assert!(load(&[("PORTCULLIS_BCRYPT_COST", "4")]).is_ok());
    }

    #[test]
    fn a_file_layer_sits_below_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portcullis.toml");
        std::fs::write(&path, "bind = \"127.0.0.1:9000\"\nbcrypt_cost = 11\n[limits.auth]\nburst = 3\n").unwrap();
        let vars = HashMap::from([
            ("PORTCULLIS_BCRYPT_COST".to_owned(), "10".to_owned()),
            ("DATABASE_URL".to_owned(), usable_database_url().to_owned()),
        ]);
        let settings = Settings::load(Some(&path), &vars).unwrap();
        assert_eq!(settings.bind.port(), 9000);
        assert_eq!(settings.bcrypt_cost, 10);
        assert_eq!(settings.limits.auth.burst, 3);
        assert!(Settings::load(Some(&dir.path().join("missing.toml")), &HashMap::new()).is_err());
    }

    #[test]
    fn cors_hsts_and_hashing_pool_are_validated() {
        let settings = load(&[
            ("PORTCULLIS_CORS_ALLOWED_ORIGINS", "https://app.example.com, http://localhost:3000"),
            ("PORTCULLIS_HSTS_MAX_AGE_SECONDS", "31536000"),
            ("PORTCULLIS_HASH_WORKERS", "3"),
            ("PORTCULLIS_HASH_QUEUE", "0"),
        ])
        .unwrap();
        assert_eq!(settings.cors_allowed_origins.len(), 2);
        assert_eq!(settings.hsts_max_age_seconds, Some(31_536_000));
        assert_eq!((settings.hash_workers, settings.hash_queue), (3, 0));
        assert!(load(&[]).unwrap().cors_allowed_origins.is_empty());
        assert!(problem(&[("PORTCULLIS_CORS_ALLOWED_ORIGINS", "https://x.com/path")])
            .contains("PORTCULLIS_CORS_ALLOWED_ORIGINS"));
        assert!(problem(&[("PORTCULLIS_CORS_ALLOWED_ORIGINS", "*")]).contains("PORTCULLIS_CORS_ALLOWED_ORIGINS"));
        assert!(problem(&[("PORTCULLIS_HASH_WORKERS", "0")]).contains("PORTCULLIS_HASH_WORKERS"));
    }

    #[test]
    fn pool_settings_have_defaults_and_ranges() {
        let defaults = load(&[]).unwrap().database;
        assert_eq!((defaults.max_connections, defaults.min_connections), (10, 1));
        assert_eq!(defaults.connect_deadline, Duration::from_secs(30));
        let tuned =
            load(&[("PORTCULLIS_DATABASE__MAX_CONNECTIONS", "4"), ("PORTCULLIS_DATABASE__MIN_CONNECTIONS", "2")])
                .unwrap()
                .database;
        assert_eq!((tuned.max_connections, tuned.min_connections), (4, 2));
        let message =
            problem(&[("PORTCULLIS_DATABASE__MAX_CONNECTIONS", "2"), ("PORTCULLIS_DATABASE__MIN_CONNECTIONS", "3")]);
        assert!(message.contains("PORTCULLIS_DATABASE__MIN_CONNECTIONS") && message.contains("0..=2"), "{message}");
        assert!(problem(&[("PORTCULLIS_SQLITE_FALLBACK", "postgres://x/y")]).contains("PORTCULLIS_SQLITE_FALLBACK"));
    }
}

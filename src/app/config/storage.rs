//! The database: which backend `DATABASE_URL` selects, the SQLite fallback,
//! and the connection pool. The URL → backend decision is made here, once;
//! the composition root matches on [`StorageBackend`] and never looks at a
//! URL's scheme again. Never connects.

use super::values::{invalid, parse_int, parse_u32};
use super::ConfigError;
use crate::redact::ConnectionUrl;
use std::time::Duration;

/// The SQLite database used when `DATABASE_URL` is unset.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/portcullis.db";

/// The store `DATABASE_URL` selects; only backends this build has parse.
#[derive(Clone, Debug)]
pub enum StorageBackend {
    Sqlite {
        url: ConnectionUrl,
    },
    Postgres {
        url: ConnectionUrl,
        /// SQLite to run on when Postgres is unreachable at start.
        sqlite_fallback: Option<ConnectionUrl>,
    },
}

impl StorageBackend {
    /// The URL of the primary store.
    pub fn url(&self) -> &ConnectionUrl {
        match self {
            Self::Sqlite { url } | Self::Postgres { url, .. } => url,
        }
    }

    /// # Errors
    /// [`ConfigError`] when a URL is neither SQLite nor Postgres, names a
    /// backend this build lacks, or the fallback is set where it cannot apply.
    pub fn parse(database_url: Option<String>, sqlite_fallback: Option<String>) -> Result<Self, ConfigError> {
        let url = match database_url {
            Some(url) => ConnectionUrl::new(url),
            None if cfg!(feature = "sqlite") => ConnectionUrl::new(DEFAULT_DATABASE_URL),
            None => return Err(invalid(
                "DATABASE_URL",
                "is unset, and its SQLite default needs the `sqlite` feature this build lacks: set a postgres:// URL",
            )),
        };
        if !cfg!(feature = "postgres") && sqlite_fallback.is_some() {
            return Err(invalid(
                "PORTCULLIS_SQLITE_FALLBACK",
                "is set but this build lacks the `postgres` feature; the fallback only applies when Postgres is unreachable",
            ));
        }
        let sqlite_fallback = sqlite_fallback.map(ConnectionUrl::new);
        if let Some(fallback) = &sqlite_fallback {
            if !fallback.is_sqlite() {
                return Err(invalid("PORTCULLIS_SQLITE_FALLBACK", "must be a `sqlite:` URL"));
            }
            require_feature("PORTCULLIS_SQLITE_FALLBACK", fallback)?;
        }
        require_feature("DATABASE_URL", &url)?;
        if url.is_sqlite() {
            if sqlite_fallback.is_some() {
                return Err(invalid(
                    "PORTCULLIS_SQLITE_FALLBACK",
                    "only applies when DATABASE_URL is a `postgres://` URL; unset it",
                ));
            }
            Ok(Self::Sqlite { url })
        } else {
            #[cfg(feature = "postgres")]
            check_root_certificate("DATABASE_URL", &url)?;
            Ok(Self::Postgres { url, sqlite_fallback })
        }
    }
}

/// The CA file that `sslrootcert` in a Postgres URL names, read now: a
/// missing or empty file would otherwise surface at connect time, among
/// retries, as a server that cannot be reached.
#[cfg(feature = "postgres")]
fn check_root_certificate(variable: &'static str, url: &ConnectionUrl) -> Result<(), ConfigError> {
    let Some(path) = query_value(url.expose(), &["sslrootcert", "ssl-root-cert", "ssl-ca"]) else { return Ok(()) };
    // A percent-encoded path is the driver's to decode; it reports its own error.
    if path.contains('%') {
        return Ok(());
    }
    crate::adapters::tls::CaBundle::read(std::path::Path::new(path))
        .map(drop)
        .map_err(|error| invalid(variable, format!("sslrootcert: {error}")))
}

/// The value of the first query parameter of `url` named one of `names`.
#[cfg(feature = "postgres")]
fn query_value<'a>(url: &'a str, names: &[&str]) -> Option<&'a str> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| names.contains(name))
        .map(|(_, value)| value)
}

fn require_feature(variable: &'static str, url: &ConnectionUrl) -> Result<(), ConfigError> {
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

/// Connection-pool settings of the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub min_connections: u32,
    /// How long to keep retrying an unreachable Postgres at start.
    pub connect_deadline: Duration,
    /// How long a request waits for a pooled connection before `503`.
    pub acquire_timeout: Duration,
}

impl PoolSettings {
    /// # Errors
    /// [`ConfigError`] naming a pool size or timeout out of range.
    pub fn validate(raw: &super::raw::RawDatabase) -> Result<Self, ConfigError> {
        let max = parse_u32("PORTCULLIS_DATABASE__MAX_CONNECTIONS", raw.max_connections.as_deref(), 10, 1000)?;
        let min =
            parse_int("PORTCULLIS_DATABASE__MIN_CONNECTIONS", raw.min_connections.as_deref(), 1, 0, i64::from(max))?;
        let deadline = parse_int(
            "PORTCULLIS_DATABASE__CONNECT_DEADLINE_SECONDS",
            raw.connect_deadline_seconds.as_deref(),
            30,
            0,
            600,
        )?;
        let acquire = parse_int(
            "PORTCULLIS_DATABASE__ACQUIRE_TIMEOUT_SECONDS",
            raw.acquire_timeout_seconds.as_deref(),
            3,
            1,
            60,
        )?;
        Ok(Self {
            max_connections: max,
            min_connections: u32::try_from(min).unwrap_or(0),
            connect_deadline: Duration::from_secs(u64::try_from(deadline).unwrap_or(30)),
            acquire_timeout: Duration::from_secs(u64::try_from(acquire).unwrap_or(3)),
        })
    }
}

/// The database: which store, and its pool.
#[derive(Clone, Debug)]
pub struct DatabaseSettings {
    pub backend: StorageBackend,
    pub pool: PoolSettings,
}

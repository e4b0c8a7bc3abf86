//! The shared Redis store for limits and lockouts: one server or a Redis
//! Cluster, over TLS or not. The key-prefix rule is the Redis adapter's
//! ([`KeyPrefix::parse`]), and so is the rule for the URL list
//! ([`RedisTarget::parse`]); this module only names the variable when one
//! refuses. A build without the `redis` feature has no Redis settings at
//! all, and refuses every Redis variable. Never connects.

use super::values::invalid;
use super::ConfigError;
#[cfg(feature = "redis")]
pub use crate::adapters::redis_limiter::{KeyPrefix, RedisTarget};

/// The Redis settings as text, before any check.
pub struct RawRedisSettings<'a> {
    /// `REDIS_URL`: one URL, or with `cluster` a comma-separated list of seed nodes.
    pub url: Option<String>,
    pub key_prefix: Option<&'a str>,
    /// `PORTCULLIS_REDIS__CLUSTER`: `true` or `false`.
    pub cluster: Option<&'a str>,
    /// `PORTCULLIS_REDIS__CA_FILE`: PEM roots for `rediss://`.
    pub ca_file: Option<&'a str>,
}

/// Where the shared limiter lives.
#[cfg(feature = "redis")]
#[derive(Clone, Debug)]
pub struct RedisSettings {
    /// The server or cluster, and the CA it is trusted through.
    pub target: RedisTarget,
    /// Namespace of every key.
    pub key_prefix: KeyPrefix,
}

/// With the `redis` feature: `Some` when `REDIS_URL` is set (an empty
/// value counts as unset).
///
/// # Errors
/// [`ConfigError`] naming `REDIS_URL` when it is not a Redis URL (or a list
/// without `PORTCULLIS_REDIS__CLUSTER=true`), `PORTCULLIS_REDIS__CA_FILE`
/// when the file does not hold a certificate or the URL is not
/// `rediss://`, or `PORTCULLIS_REDIS__KEY_PREFIX` when the adapter refuses
/// the prefix (checked even without `REDIS_URL`, so a bad value never
/// waits for the day Redis is switched on).
#[cfg(feature = "redis")]
pub fn validate(raw: RawRedisSettings<'_>) -> Result<Option<RedisSettings>, ConfigError> {
    use crate::adapters::redis_limiter::RedisTargetError;
    use crate::adapters::tls::CaBundle;
    let key_prefix = match raw.key_prefix {
        None => KeyPrefix::default(),
        Some(prefix) => {
            KeyPrefix::parse(prefix).map_err(|error| invalid("PORTCULLIS_REDIS__KEY_PREFIX", error.to_string()))?
        }
    };
    let cluster = match raw.cluster.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(invalid("PORTCULLIS_REDIS__CLUSTER", format!("{other:?} is not `true` or `false`"))),
    };
    let ca = raw
        .ca_file
        .map(|path| {
            CaBundle::read(std::path::Path::new(path.trim()))
                .map_err(|error| invalid("PORTCULLIS_REDIS__CA_FILE", error.to_string()))
        })
        .transpose()?;
    let Some(url) = raw.url.filter(|v| !v.trim().is_empty()) else {
        if cluster || ca.is_some() {
            let variable = if cluster { "PORTCULLIS_REDIS__CLUSTER" } else { "PORTCULLIS_REDIS__CA_FILE" };
            return Err(invalid(variable, "is set but REDIS_URL is not: set REDIS_URL too, or unset it"));
        }
        return Ok(None);
    };
    let target = RedisTarget::parse(&url, cluster, ca).map_err(|error| match error {
        RedisTargetError::CaWithoutTls => invalid("PORTCULLIS_REDIS__CA_FILE", error.to_string()),
        _ => invalid("REDIS_URL", error.to_string()),
    })?;
    Ok(Some(RedisSettings { target, key_prefix }))
}

/// Without the `redis` feature there is nothing to accept.
///
/// # Errors
/// [`ConfigError`] naming whichever Redis variable is set.
#[cfg(not(feature = "redis"))]
pub fn validate(raw: RawRedisSettings<'_>) -> Result<(), ConfigError> {
    if raw.url.is_some_and(|v| !v.trim().is_empty()) {
        return Err(invalid("REDIS_URL", "is set but this build lacks the `redis` feature"));
    }
    for (variable, value) in [
        ("PORTCULLIS_REDIS__KEY_PREFIX", raw.key_prefix),
        ("PORTCULLIS_REDIS__CLUSTER", raw.cluster),
        ("PORTCULLIS_REDIS__CA_FILE", raw.ca_file),
    ] {
        if value.is_some() {
            return Err(invalid(variable, "is set but this build lacks the `redis` feature"));
        }
    }
    Ok(())
}

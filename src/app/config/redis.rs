//! The shared Redis store for limits and lockouts. The key-prefix rule is
//! the Redis adapter's ([`KeyPrefix::parse`]); this module only names the
//! variable when it refuses. A build without the `redis` feature has no
//! Redis settings at all, and refuses both variables. Never connects.

use super::values::invalid;
use super::ConfigError;
#[cfg(feature = "redis")]
pub use crate::adapters::redis_limiter::KeyPrefix;
#[cfg(feature = "redis")]
use crate::redact::ConnectionUrl;

/// Where the shared limiter lives.
#[cfg(feature = "redis")]
#[derive(Clone, Debug)]
pub struct RedisSettings {
    pub url: ConnectionUrl,
    /// Namespace of every key.
    pub key_prefix: KeyPrefix,
}

/// With the `redis` feature: `Some` when `REDIS_URL` is set (an empty
/// value counts as unset).
///
/// # Errors
/// [`ConfigError`] naming `REDIS_URL` when it is not a Redis URL, or
/// `PORTCULLIS_REDIS__KEY_PREFIX` when the adapter refuses the prefix
/// (checked even without `REDIS_URL`, so a bad value never waits for the
/// day Redis is switched on).
#[cfg(feature = "redis")]
pub fn validate(url: Option<String>, key_prefix: Option<&str>) -> Result<Option<RedisSettings>, ConfigError> {
    let key_prefix = match key_prefix {
        None => KeyPrefix::default(),
        Some(prefix) => {
            KeyPrefix::parse(prefix).map_err(|error| invalid("PORTCULLIS_REDIS__KEY_PREFIX", error.to_string()))?
        }
    };
    let Some(url) = url.filter(|v| !v.trim().is_empty()).map(ConnectionUrl::new) else { return Ok(None) };
    if !(url.expose().starts_with("redis://") || url.expose().starts_with("rediss://")) {
        return Err(invalid("REDIS_URL", "must be a `redis://` or `rediss://` URL"));
    }
    Ok(Some(RedisSettings { url, key_prefix }))
}

/// Without the `redis` feature there is nothing to accept.
///
/// # Errors
/// [`ConfigError`] naming whichever Redis variable is set.
#[cfg(not(feature = "redis"))]
pub fn validate(url: Option<String>, key_prefix: Option<&str>) -> Result<(), ConfigError> {
    if url.is_some_and(|v| !v.trim().is_empty()) {
        return Err(invalid("REDIS_URL", "is set but this build lacks the `redis` feature"));
    }
    if key_prefix.is_some() {
        return Err(invalid("PORTCULLIS_REDIS__KEY_PREFIX", "is set but this build lacks the `redis` feature"));
    }
    Ok(())
}

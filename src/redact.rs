//! One redaction for connection URLs: the log scrubber, configuration
//! errors and every adapter that names its server use it, so a password in
//! a URL is masked the same way wherever it would appear.

use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// Replaces the password in `scheme://user:password@host/…` with `***`.
/// Text without a `scheme://` or without a password comes back unchanged.
///
/// The user information ends at the last `@`, not at the first `/`: a log
/// line may carry a malformed URL whose password holds a `/` or an `@`, and
/// masking too much is harmless where masking too little is a leak.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((userinfo, host)) = rest.rsplit_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// A connection URL whose password never reaches a log: `Debug` and
/// [`ConnectionUrl::redacted`] mask it; only the driver sees
/// [`ConnectionUrl::expose`].
#[derive(Clone)]
pub struct ConnectionUrl(SecretString);

impl ConnectionUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(SecretString::from(url.into()))
    }

    /// The URL itself, for the driver only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        redact_url(self.expose())
    }

    pub fn is_sqlite(&self) -> bool {
        self.expose().starts_with("sqlite:")
    }

    pub fn is_postgres(&self) -> bool {
        self.expose().starts_with("postgres://") || self.expose().starts_with("postgresql://")
    }
}

impl fmt::Debug for ConnectionUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionUrl({})", self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_masked() {
        let url = ConnectionUrl::new("postgres://app:s3cret@db:5432/auth?sslmode=require");
        assert_eq!(url.redacted(), "postgres://app:***@db:5432/auth?sslmode=require");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
        assert_eq!(redact_url("redis://:pw@h:6379"), "redis://:***@h:6379");
        assert_eq!(redact_url("redis://user@h:6379/0"), "redis://user@h:6379/0");
        assert_eq!(redact_url("no url here"), "no url here");
    }

    #[test]
    fn a_password_holding_an_at_sign_or_a_slash_is_masked_whole() {
        assert_eq!(redact_url("postgres://app:p@ss@db/auth"), "postgres://app:***@db/auth");
        assert_eq!(redact_url("postgres://app:pa/ss@db/auth"), "postgres://app:***@db/auth");
    }
}

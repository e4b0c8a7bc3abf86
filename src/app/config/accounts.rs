//! Password hashing and the initial admin: the bcrypt cost and pool, and
//! the account seeded at start. Never hashes or logs a password.

use super::values::{invalid, parse_sized};
use super::{ConfigError, Deployment};
use secrecy::SecretString;

/// The smallest default pool. A signed-in user may hold two hashing
/// operations at once; on a two-core machine a pool of one per core would
/// let one user fill it, so the default leaves workers for everyone else.
const MIN_DEFAULT_HASH_WORKERS: usize = 4;

/// The bcrypt work factor and the bounded pool that runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashingSettings {
    pub bcrypt_cost: u32,
    /// bcrypt jobs that run at once.
    pub workers: usize,
    /// bcrypt jobs that may wait for a worker before `503`.
    pub queue: usize,
}

impl HashingSettings {
    /// # Errors
    /// [`ConfigError`] naming a value out of range, or a cost below 10 in production.
    pub fn validate(
        bcrypt_cost: Option<&str>,
        workers: Option<&str>,
        queue: Option<&str>,
        deployment: Deployment,
    ) -> Result<Self, ConfigError> {
        let bcrypt_cost: u32 = parse_sized("PORTCULLIS_BCRYPT_COST", bcrypt_cost, 12, 4, 31)?;
        if bcrypt_cost < 10 && deployment == Deployment::Production {
            return Err(invalid(
                "PORTCULLIS_BCRYPT_COST",
                format!("{bcrypt_cost} is below 10, allowed only in development"),
            ));
        }
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let workers: usize =
            parse_sized("PORTCULLIS_HASH_WORKERS", workers, cores.max(MIN_DEFAULT_HASH_WORKERS), 1, 256)?;
        let queue: usize = parse_sized("PORTCULLIS_HASH_QUEUE", queue, workers * 32, 0, 100_000)?;
        Ok(Self { bcrypt_cost, workers, queue })
    }
}

/// The initial admin, created once when no active admin exists.
#[derive(Clone, Debug)]
pub struct AdminSeed {
    pub email: String,
    pub password: SecretString,
}

impl AdminSeed {
    /// `None` when neither variable is set.
    ///
    /// # Errors
    /// [`ConfigError`] naming the missing partner when only one is set.
    pub fn validate(email: Option<String>, password: Option<String>) -> Result<Option<Self>, ConfigError> {
        let email = email.filter(|v| !v.trim().is_empty());
        let password = password.filter(|v| !v.is_empty()).map(SecretString::from);
        match (email, password) {
            (Some(email), Some(password)) => Ok(Some(Self { email, password })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(invalid(
                "PORTCULLIS_ADMIN_PASSWORD",
                "must be set together with its partner to seed the initial admin",
            )),
            (None, Some(_)) => Err(invalid(
                "PORTCULLIS_ADMIN_EMAIL",
                "must be set together with its partner to seed the initial admin",
            )),
        }
    }
}

/// `PORTCULLIS_REGISTRATION`: `open` (the default) or `closed`.
///
/// # Errors
/// [`ConfigError`] naming the variable for any other value.
pub fn registration(value: Option<&str>) -> Result<crate::core::auth::Registration, ConfigError> {
    use crate::core::auth::Registration;
    match value.map(str::trim) {
        None | Some("open") => Ok(Registration::Open),
        Some("closed") => Ok(Registration::Closed),
        Some(other) => Err(invalid("PORTCULLIS_REGISTRATION", format!("{other:?} is not `open` or `closed`"))),
    }
}

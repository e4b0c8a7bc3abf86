//! Rate limits and failed-login lockouts, as [`Limits`] of the core. The
//! account-wide count has a maximum only: it shares the login-failure
//! window and lockout (see API.md), so no other window is accepted.

use super::raw::RawLimits;
use super::values::parse_u32;
use super::ConfigError;
use crate::core::limits::Limits;
use crate::core::limits::{FailurePolicy, Quota};
use std::time::Duration;

/// # Errors
/// [`ConfigError`] naming a limit out of range.
pub fn validate(raw: &RawLimits) -> Result<Limits, ConfigError> {
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

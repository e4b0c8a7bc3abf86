//! Rate limits and failed-login counters.
//!
//! A limiter may be in-process or shared between replicas; either way each
//! decision must be atomic, and idle state must expire so that an attacker
//! who varies keys cannot grow memory without bound.

use crate::core::limits::{Decision, FailurePolicy, Quota};
use async_trait::async_trait;
use std::net::IpAddr;
use std::time::Duration;

/// The rate-limit buckets of the HTTP contract. Failed logins are not a
/// bucket: they are counted per [`FailureKey`] under a [`FailurePolicy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Register, login, refresh: per client IP.
    Auth,
    /// Everything else: per user, or per client IP when anonymous.
    Api,
}

impl Bucket {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Api => "api",
        }
    }
}

/// Whose failures are counted: one account from one address, or one account
/// from anywhere. `account` is the normalised e-mail, registered or not.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FailureKey {
    pub account: String,
    pub ip: Option<IpAddr>,
}

/// The answer to a request to verify a password against a failure key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// One attempt is reserved and counted as a failure until refunded.
    Granted,
    /// The key is locked: nothing was counted.
    Refused { retry_after: Duration },
}

/// The limiter could not decide.
#[derive(Debug, thiserror::Error)]
pub enum LimiterError {
    #[error("rate limiter is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

/// Rate limits and lockouts. Implementations read time themselves (a
/// shared store uses its own clock, so replicas agree).
///
/// # Errors
/// [`LimiterError::Unavailable`] when the backing store cannot be reached;
/// callers decide whether to fail open or closed.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Takes one request from `key`'s bucket if the quota allows it.
    async fn acquire(&self, bucket: Bucket, key: &str, quota: &Quota) -> Result<Decision, LimiterError>;

    /// If `key` is locked out, for how much longer.
    async fn locked_for(&self, key: &FailureKey) -> Result<Option<Duration>, LimiterError>;

    /// Counts one failure; returns the lockout that this failure started, if any.
    async fn record_failure(&self, key: &FailureKey, policy: &FailurePolicy) -> Result<Option<Duration>, LimiterError>;

    /// Reserves one password verification for `key` before it runs: in one
    /// atomic step, refuses when the key is locked, and otherwise counts the
    /// attempt as a failure (the reservation that reaches the maximum starts
    /// the lockout). So however many attempts arrive at once, at most
    /// `policy.max` verifications run per window.
    async fn reserve_failure(&self, key: &FailureKey, policy: &FailurePolicy) -> Result<Reservation, LimiterError>;

    /// Gives back one reservation whose verification succeeded: the count
    /// goes down by one, never below zero. A lockout already running stays.
    async fn refund_failure(&self, key: &FailureKey) -> Result<(), LimiterError>;

    /// Forgets the failures of `key` alone.
    async fn clear_failures(&self, key: &FailureKey) -> Result<(), LimiterError>;

    /// Forgets every failure counter and lockout of `account`, from every IP.
    async fn clear_account(&self, account: &str) -> Result<(), LimiterError>;

    /// Whether the limiter can currently make decisions.
    async fn ping(&self) -> Result<(), LimiterError>;

    /// Whether decisions are coming from a stand-in because the real
    /// limiter is unavailable.
    fn degraded(&self) -> bool {
        false
    }
}

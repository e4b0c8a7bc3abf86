//! The shared rate limiter: rate limits and failed-login lockouts kept in
//! Redis, so that every replica behind a load balancer counts against the
//! same buckets.
//!
//! # What it stores
//!
//! - One string per rate-limit bucket in use: its GCRA theoretical arrival
//!   time (TAT), in milliseconds of the Redis server's clock.
//! - One hash `{count, start, until}` per failed-login counter, as
//!   [`FailureCounter`](crate::core::limits::FailureCounter) holds it.
//! - Per account, one sorted set naming the IPs that have a counter, so that
//!   [`RateLimiter::clear_account`] finds them without `SCAN` or `KEYS`
//!   (which see one node only on a cluster, and are slow everywhere).
//!
//! # Key layout
//!
//! The namespace (`portcullis` unless [`RedisLimiter::with_prefix`] says
//! otherwise) comes first; the part in braces is the Redis Cluster hash tag,
//! so every key that one script touches hashes to the same slot:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `portcullis:{rl:<bucket>:<key>}` | string | a bucket's TAT, e.g. `portcullis:{rl:auth:ip:192.0.2.7}` |
//! | `portcullis:{lf:<account>}:ip:<ip>` | hash | failures of one account from one IP |
//! | `portcullis:{lf:<account>}:any` | hash | failures of one account from any IP |
//! | `portcullis:{lf:<account>}:ips` | sorted set | the IPs with a counter, scored by its expiry |
//!
//! `<account>` is the hex SHA-256 of the account string: an e-mail address
//! may hold any character, braces and colons included, and a digest can
//! neither break the key structure nor collide with another account's keys
//! (it also keeps addresses out of plain sight in Redis, though a digest of
//! a guessable address is no secret). A rate-limit `<key>` is written as is
//! when it is short printable ASCII without braces, which keeps keys like
//! `ip:192.0.2.7` readable for operators; any other key is written as `#`
//! and its hex SHA-256, and no readable key starts with `#`.
//!
//! A sorted-set index rather than one hash per account holding every IP's
//! fields: each counter then keeps its own expiry (per-field expiry needs
//! Redis 7.4 or Valkey 9), and the index prunes the IPs whose counters have
//! expired each time it is written, so it holds only the IPs active within
//! one window and lockout.
//!
//! # Why atomic
//!
//! Each operation is one Lua script (in `src/adapters/redis/*.lua`, the files
//! that `scripts/redis-benchmark.sh` loads too) that reads, decides and writes
//! in one step on the server: concurrent requests from any number of replicas
//! cannot both take the last token of a bucket or both miss the failure that
//! reaches the maximum. The scripts are sent by SHA-1 (`EVALSHA`) and loaded
//! again whenever the server answers `NOSCRIPT`, e.g. after a restart. They
//! read the time with `TIME`, so replicas with skewed clocks still agree, and
//! they carry the same arithmetic as [`crate::core::limits`], which a test
//! checks decision by decision.
//!
//! # Expiry
//!
//! Every key expires once it carries no information: a bucket when it is
//! full again (at its TAT), a counter when its window has closed and its
//! lockout ended, an index when its last counter expires. Idle state
//! vanishes on its own; an attacker who varies keys holds memory only for
//! the keys active within one refill period, window or lockout.
//!
//! # Failure
//!
//! Connections go through the `redis` crate's reconnecting
//! `ConnectionManager`, or on a Redis Cluster its cluster client (see
//! [`link`]); `rediss://` URLs speak TLS. Each call is bounded by a short timeout
//! ([`DEFAULT_TIMEOUT`], see [`RedisLimiter::with_timeout`]), and every
//! error, the timeout included, becomes [`LimiterError::Unavailable`]: a hung
//! Redis fails fast, and the caller decides what to do without it. A TLS
//! failure (a refused certificate) says so, rather than that Redis is
//! unreachable. No error message carries the password of the Redis URL.
//!
//! # Cluster
//!
//! Every script touches the keys of one hash tag only: the bucket, or one
//! account's counters and index (`clear_account` derives the per-IP counter
//! names from its index, inside the same tag), so each runs on the one node
//! that owns the slot. The cluster client follows `MOVED` and `ASK` while a
//! slot migrates and finds the new primary after a failover.

#[cfg(test)]
mod cluster_tests;
mod keys;
mod link;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;

use crate::core::limits::{Decision, FailurePolicy, Quota};
use crate::ports::{Bucket, FailureKey, LimiterError, RateLimiter, Reservation};
use anyhow::anyhow;
use async_trait::async_trait;
use keys::Keys;
pub use keys::{KeyPrefix, KeyPrefixError, DEFAULT_PREFIX, MAX_PREFIX_BYTES};
use link::Link;
pub use link::{RedisTarget, RedisTargetError};
use redis::{FromRedisValue, RedisError, RedisResult, Script, ScriptInvocation};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How long one limiter call may take before it counts as unavailable.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);

/// How long [`RedisLimiter::connect`] and each reconnection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Lua numbers are doubles, exact up to 2^53; arguments are clamped to 2^50
/// ms (35 000 years) so that no sum in a script loses a millisecond.
const MAX_SCRIPT_MILLIS: i64 = 1 << 50;

const GCRA_LUA: &str = include_str!("../redis/gcra.lua");
const RECORD_FAILURE_LUA: &str = include_str!("../redis/record_failure.lua");
const LOCKED_FOR_LUA: &str = include_str!("../redis/locked_for.lua");
const CLEAR_FAILURES_LUA: &str = include_str!("../redis/clear_failures.lua");
const CLEAR_ACCOUNT_LUA: &str = include_str!("../redis/clear_account.lua");
const REFUND_FAILURE_LUA: &str = include_str!("../redis/refund_failure.lua");

struct Scripts {
    gcra: Script,
    record_failure: Script,
    locked_for: Script,
    clear_failures: Script,
    clear_account: Script,
    refund_failure: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            gcra: Script::new(GCRA_LUA),
            record_failure: Script::new(RECORD_FAILURE_LUA),
            locked_for: Script::new(LOCKED_FOR_LUA),
            clear_failures: Script::new(CLEAR_FAILURES_LUA),
            clear_account: Script::new(CLEAR_ACCOUNT_LUA),
            refund_failure: Script::new(REFUND_FAILURE_LUA),
        }
    }
}

fn script_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX).min(MAX_SCRIPT_MILLIS)
}

fn from_millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// The emission interval and capacity of `quota`, in ms, computed as
/// `core::limits::gcra` computes them.
fn gcra_arguments(quota: &Quota) -> (i64, i64) {
    let per_period = i64::from(quota.per_period.max(1));
    let burst = i64::from(quota.burst.max(1));
    let interval = (script_millis(quota.period) / per_period).max(1);
    let capacity = interval.saturating_mul(burst).min(MAX_SCRIPT_MILLIS);
    (interval, capacity)
}

/// The server time a decision was made at, in ms; the tests hold the scripts
/// to the core's arithmetic at that instant.
type ServerMillis = i64;

/// Rate limits and lockouts kept in Redis and shared by every replica.
///
/// Cloning is cheap and shares the connection.
#[derive(Clone)]
pub struct RedisLimiter {
    connection: Link,
    scripts: Arc<Scripts>,
    keys: Keys,
    timeout: Duration,
    /// The server's URL without its password, for error messages.
    server: Arc<str>,
}

impl fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("server", &self.server)
            .field("prefix", &self.keys.prefix())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// Connects to the Redis server at `url` and checks that it answers.
    ///
    /// # Errors
    /// When `url` is not a Redis URL, or the server cannot be reached or
    /// does not answer `PING` within two seconds. The message names the
    /// server without the URL's password.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_to(&RedisTarget::server(url)).await
    }

    /// Connects to `target`, one server or a cluster, and checks that it
    /// answers.
    ///
    /// # Errors
    /// As [`RedisLimiter::connect`]; a refused certificate says it is a TLS
    /// failure.
    pub async fn connect_to(target: &RedisTarget) -> anyhow::Result<Self> {
        let limiter = Self::connect_lazily_to(target)?;
        let server = &limiter.server;
        match tokio::time::timeout(CONNECT_TIMEOUT, Link::probe(target, CONNECT_TIMEOUT)).await {
            Ok(Ok(())) => Ok(limiter),
            Ok(Err(error)) => Err(describe(error, server, "a PING")),
            Err(_) => anyhow::bail!("Redis at {server} did not answer within {CONNECT_TIMEOUT:?}"),
        }
    }

    /// A limiter for the Redis server at `url` that connects on its first
    /// call, so that a service can start while Redis is down; until Redis
    /// answers, every call fails with [`LimiterError::Unavailable`].
    ///
    /// # Errors
    /// When `url` is not a Redis URL.
    pub fn connect_lazily(url: &str) -> anyhow::Result<Self> {
        Self::connect_lazily_to(&RedisTarget::server(url))
    }

    /// As [`RedisLimiter::connect_lazily`], for one server or a cluster.
    ///
    /// # Errors
    /// When a URL of `target` is not a Redis URL or its CA does not load.
    pub fn connect_lazily_to(target: &RedisTarget) -> anyhow::Result<Self> {
        Ok(Self {
            connection: Link::lazy(target, CONNECT_TIMEOUT)?,
            scripts: Arc::new(Scripts::new()),
            keys: Keys::new(KeyPrefix::default()),
            timeout: DEFAULT_TIMEOUT,
            server: target.redacted().into(),
        })
    }

    /// Puts every key under `prefix` instead of [`DEFAULT_PREFIX`], e.g. to
    /// share one Redis between deployments, or tests.
    pub fn with_prefix(mut self, prefix: KeyPrefix) -> Self {
        self.keys = Keys::new(prefix);
        self
    }

    /// Bounds each call by `timeout` instead of [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs `call` within the timeout; every failure is `Unavailable`.
    async fn bounded<T>(
        &self,
        operation: &str,
        call: impl Future<Output = RedisResult<T>> + Send,
    ) -> Result<T, LimiterError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(LimiterError::Unavailable(describe(error, &self.server, operation))),
            Err(_) => Err(LimiterError::Unavailable(anyhow!(
                "Redis at {} did not answer {operation} within {:?}",
                self.server,
                self.timeout
            ))),
        }
    }

    async fn run<T: FromRedisValue + Send>(
        &self,
        operation: &str,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, LimiterError> {
        let mut connection = self.connection.clone();
        self.bounded(operation, invocation.invoke_async(&mut connection)).await
    }

    async fn acquire_at(
        &self,
        bucket: Bucket,
        key: &str,
        quota: &Quota,
    ) -> Result<(Decision, ServerMillis), LimiterError> {
        let (interval, capacity) = gcra_arguments(quota);
        let mut invocation = self.scripts.gcra.key(self.keys.bucket(bucket, key));
        invocation.arg(interval).arg(capacity);
        let (allowed, remaining, reset_after, retry_after, now): (i64, i64, i64, i64, i64) =
            self.run("a rate-limit decision", &invocation).await?;
        let decision = Decision {
            allowed: allowed == 1,
            limit: quota.burst.max(1),
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset_after: from_millis(reset_after),
            retry_after: from_millis(retry_after),
        };
        Ok((decision, now))
    }

    async fn locked_for_at(&self, key: &FailureKey) -> Result<(Option<Duration>, ServerMillis), LimiterError> {
        let invocation = self.scripts.locked_for.key(self.keys.counter(key).counter);
        let (left, now): (i64, i64) = self.run("a lockout check", &invocation).await?;
        Ok(((left >= 0).then(|| from_millis(left)), now))
    }

    async fn record_failure_at(
        &self,
        key: &FailureKey,
        policy: &FailurePolicy,
    ) -> Result<(Option<Duration>, ServerMillis), LimiterError> {
        let (outcome, ms, now) = self.count_failure(key, policy).await?;
        let lockout = match outcome {
            // Started now: exactly the policy's lockout, as the core reports it.
            1 => Some(policy.lockout),
            2 => Some(from_millis(ms)),
            _ => None,
        };
        Ok((lockout, now))
    }

    /// Runs the counting script: `(outcome, ms, now)` as it documents.
    async fn count_failure(&self, key: &FailureKey, policy: &FailurePolicy) -> Result<(i64, i64, i64), LimiterError> {
        let keys = self.keys.counter(key);
        let mut invocation = self.scripts.record_failure.key(&keys.counter);
        let member = match &keys.indexed_as {
            Some((index, member)) => {
                invocation.key(index);
                member.as_str()
            }
            None => "",
        };
        invocation.arg(policy.max).arg(script_millis(policy.window)).arg(script_millis(policy.lockout)).arg(member);
        self.run("counting a failed login", &invocation).await
    }
}

/// `error` with what failed, and for a refused certificate that it is TLS
/// and where to look; the driver's messages name no part of the URL.
fn describe(error: RedisError, server: &str, operation: &str) -> anyhow::Error {
    if crate::adapters::tls::is_tls_failure(&error) {
        return anyhow::Error::new(error).context(format!(
            "TLS to Redis at {server} failed {operation}: the server's certificate was refused or the handshake \
             broke off. Check PORTCULLIS_REDIS__CA_FILE (the CA that signed the server's certificate) and that \
             the host in REDIS_URL is a name the certificate was issued to"
        ));
    }
    anyhow::Error::new(error).context(format!("cannot reach Redis at {server}: {operation} failed"))
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn acquire(&self, bucket: Bucket, key: &str, quota: &Quota) -> Result<Decision, LimiterError> {
        Ok(self.acquire_at(bucket, key, quota).await?.0)
    }

    async fn locked_for(&self, key: &FailureKey) -> Result<Option<Duration>, LimiterError> {
        Ok(self.locked_for_at(key).await?.0)
    }

    async fn record_failure(&self, key: &FailureKey, policy: &FailurePolicy) -> Result<Option<Duration>, LimiterError> {
        Ok(self.record_failure_at(key, policy).await?.0)
    }

    /// The counting script refuses a locked key without counting, in the
    /// same step: a reservation is one script run.
    async fn reserve_failure(&self, key: &FailureKey, policy: &FailurePolicy) -> Result<Reservation, LimiterError> {
        let (outcome, ms, _) = self.count_failure(key, policy).await?;
        Ok(if outcome == 2 { Reservation::Refused { retry_after: from_millis(ms) } } else { Reservation::Granted })
    }

    async fn refund_failure(&self, key: &FailureKey) -> Result<(), LimiterError> {
        let invocation = self.scripts.refund_failure.key(self.keys.counter(key).counter);
        self.run::<i64>("refunding a failed login", &invocation).await.map(drop)
    }

    async fn clear_failures(&self, key: &FailureKey) -> Result<(), LimiterError> {
        let keys = self.keys.counter(key);
        let mut invocation = self.scripts.clear_failures.key(&keys.counter);
        if let Some((index, member)) = &keys.indexed_as {
            invocation.key(index).arg(member);
        }
        self.run::<i64>("clearing failed logins", &invocation).await.map(drop)
    }

    async fn clear_account(&self, account: &str) -> Result<(), LimiterError> {
        let mut invocation = self.scripts.clear_account.key(self.keys.index(account));
        invocation.key(self.keys.account_wide(account)).arg(self.keys.per_ip_stem(account));
        self.run::<i64>("clearing an account's failed logins", &invocation).await.map(drop)
    }

    async fn ping(&self) -> Result<(), LimiterError> {
        let mut connection = self.connection.clone();
        self.bounded("PING", redis::cmd("PING").query_async::<String>(&mut connection)).await.map(drop)
    }
}

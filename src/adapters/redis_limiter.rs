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
//! [`ConnectionManager`]. Each call is bounded by a short timeout
//! ([`DEFAULT_TIMEOUT`], see [`RedisLimiter::with_timeout`]), and every
//! error, the timeout included, becomes [`LimiterError::Unavailable`]: a hung
//! Redis fails fast, and the caller decides what to do without it. No error
//! message carries the password of the Redis URL.

use crate::core::limits::{Decision, FailurePolicy, Quota};
use crate::ports::{Bucket, FailureKey, LimiterError, RateLimiter};
use crate::redact::redact_url;
use anyhow::{anyhow, Context as _};
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncConnectionConfig, Client, FromRedisValue, RedisResult, Script, ScriptInvocation};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The namespace of every key unless [`RedisLimiter::with_prefix`] changes it.
pub const DEFAULT_PREFIX: &str = "portcullis";

/// How long one limiter call may take before it counts as unavailable.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);

/// How long [`RedisLimiter::connect`] and each reconnection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Lua numbers are doubles, exact up to 2^53; arguments are clamped to 2^50
/// ms (35 000 years) so that no sum in a script loses a millisecond.
const MAX_SCRIPT_MILLIS: i64 = 1 << 50;

/// Rate-limit keys longer than this are stored by their digest.
const MAX_READABLE_KEY: usize = 128;

const GCRA_LUA: &str = include_str!("redis/gcra.lua");
const RECORD_FAILURE_LUA: &str = include_str!("redis/record_failure.lua");
const LOCKED_FOR_LUA: &str = include_str!("redis/locked_for.lua");
const CLEAR_FAILURES_LUA: &str = include_str!("redis/clear_failures.lua");
const CLEAR_ACCOUNT_LUA: &str = include_str!("redis/clear_account.lua");

struct Scripts {
    gcra: Script,
    record_failure: Script,
    locked_for: Script,
    clear_failures: Script,
    clear_account: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            gcra: Script::new(GCRA_LUA),
            record_failure: Script::new(RECORD_FAILURE_LUA),
            locked_for: Script::new(LOCKED_FOR_LUA),
            clear_failures: Script::new(CLEAR_FAILURES_LUA),
            clear_account: Script::new(CLEAR_ACCOUNT_LUA),
        }
    }
}

/// The names of the keys; see the module docs for the layout.
#[derive(Clone, Debug)]
struct Keys {
    prefix: Arc<str>,
}

/// The keys of one failed-login counter.
#[derive(Debug, PartialEq, Eq)]
struct CounterKeys {
    counter: String,
    /// The account's index and the counter's member in it, for a per-IP counter.
    indexed_as: Option<(String, String)>,
}

impl Keys {
    fn bucket(&self, bucket: Bucket, key: &str) -> String {
        format!("{}:{{rl:{}:{}}}", self.prefix, bucket.as_str(), readable_or_digest(key))
    }

    /// Everything of one account shares this stem, hash tag included.
    fn account(&self, account: &str) -> String {
        format!("{}:{{lf:{}}}", self.prefix, hex_sha256(account))
    }

    fn index(&self, account: &str) -> String {
        format!("{}:ips", self.account(account))
    }

    fn account_wide(&self, account: &str) -> String {
        format!("{}:any", self.account(account))
    }

    /// A per-IP counter's name is this followed by the IP.
    fn per_ip_stem(&self, account: &str) -> String {
        format!("{}:ip:", self.account(account))
    }

    fn counter(&self, key: &FailureKey) -> CounterKeys {
        match key.ip {
            Some(ip) => {
                let member = ip.to_string();
                CounterKeys {
                    counter: format!("{}{member}", self.per_ip_stem(&key.account)),
                    indexed_as: Some((self.index(&key.account), member)),
                }
            }
            None => CounterKeys { counter: self.account_wide(&key.account), indexed_as: None },
        }
    }
}

fn hex_sha256(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// `key` itself when it cannot disturb the hash tag or be mistaken for a
/// digest; else `#` and its digest.
fn readable_or_digest(key: &str) -> Cow<'_, str> {
    let readable = key.len() <= MAX_READABLE_KEY
        && !key.starts_with('#')
        && key.bytes().all(|byte| byte.is_ascii_graphic() && byte != b'{' && byte != b'}');
    if readable {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(format!("#{}", hex_sha256(key)))
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
    connection: ConnectionManager,
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
            .field("prefix", &self.keys.prefix)
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
        let server = redact_url(url);
        let client = client(url)?;
        // A connection of its own, without the manager's retries, so that an
        // unreachable server fails at once with the reason.
        let probe = async {
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(CONNECT_TIMEOUT));
            let mut connection = client.get_multiplexed_async_connection_with_config(&config).await?;
            redis::cmd("PING").query_async::<String>(&mut connection).await
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, probe).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return Err(error).with_context(|| format!("cannot reach Redis at {server}")),
            Err(_) => anyhow::bail!("Redis at {server} did not answer within {CONNECT_TIMEOUT:?}"),
        }
        Self::from_client(client, server)
    }

    /// A limiter for the Redis server at `url` that connects on its first
    /// call, so that a service can start while Redis is down; until Redis
    /// answers, every call fails with [`LimiterError::Unavailable`].
    ///
    /// # Errors
    /// When `url` is not a Redis URL.
    pub fn connect_lazily(url: &str) -> anyhow::Result<Self> {
        Self::from_client(client(url)?, redact_url(url))
    }

    fn from_client(client: Client, server: String) -> anyhow::Result<Self> {
        // Reconnection attempts back off, but never for more than a second,
        // so the limiter is back within about a second of Redis.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_max_delay(Duration::from_secs(1));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .with_context(|| format!("cannot set up a connection to Redis at {server}"))?;
        Ok(Self {
            connection,
            scripts: Arc::new(Scripts::new()),
            keys: Keys { prefix: DEFAULT_PREFIX.into() },
            timeout: DEFAULT_TIMEOUT,
            server: server.into(),
        })
    }

    /// Puts every key under `prefix` instead of [`DEFAULT_PREFIX`], e.g. to
    /// share one Redis between deployments, or tests.
    ///
    /// # Panics
    /// When `prefix` is empty or holds anything but printable ASCII without
    /// braces: a brace would change the keys' hash tags.
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        assert!(
            !prefix.is_empty() && prefix.bytes().all(|byte| byte.is_ascii_graphic() && byte != b'{' && byte != b'}'),
            "a Redis key prefix must be printable ASCII without braces, not {prefix:?}"
        );
        self.keys = Keys { prefix: prefix.into() };
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
            Ok(Err(error)) => Err(LimiterError::Unavailable(
                anyhow::Error::new(error).context(format!("Redis at {} failed {operation}", self.server)),
            )),
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
        let (outcome, ms, now): (i64, i64, i64) = self.run("counting a failed login", &invocation).await?;
        let lockout = match outcome {
            // Started now: exactly the policy's lockout, as the core reports it.
            1 => Some(policy.lockout),
            2 => Some(from_millis(ms)),
            _ => None,
        };
        Ok((lockout, now))
    }
}

fn client(url: &str) -> anyhow::Result<Client> {
    // The driver's message names no part of the URL; the redacted URL does.
    Client::open(url).with_context(|| format!("invalid Redis URL {}", redact_url(url)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::limiter_contract::limiter_contract;
    use crate::core::limits::{gcra, FailureCounter};
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use std::time::Instant;
    use uuid::Uuid;

    /// A limiter whose keys no other test shares, and the prefix to clean up.
    async fn fresh_limiter(url: &str) -> (RedisLimiter, String) {
        let prefix = format!("portcullis-test-{}", Uuid::new_v4().simple());
        let limiter = RedisLimiter::connect(url)
            .await
            .unwrap_or_else(|error| panic!("TEST_REDIS_URL cannot be reached: {error:#}"))
            .with_prefix(&prefix)
            // Generous: the tests share two cores with the build.
            .with_timeout(Duration::from_secs(5));
        (limiter, prefix)
    }

    async fn raw_connection(url: &str) -> redis::aio::MultiplexedConnection {
        Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap()
    }

    /// Every key under `prefix` (SCAN is fine for tests on one node).
    async fn keys_under(url: &str, prefix: &str) -> Vec<String> {
        let mut connection = raw_connection(url).await;
        let (mut cursor, mut keys) = (0u64, Vec::new());
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}:*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut connection)
                .await
                .unwrap();
            keys.extend(batch);
            if next == 0 {
                return keys;
            }
            cursor = next;
        }
    }

    async fn pttl(url: &str, key: &str) -> i64 {
        redis::cmd("PTTL").arg(key).query_async(&mut raw_connection(url).await).await.unwrap()
    }

    async fn delete_keys(url: &str, prefix: &str) {
        let keys = keys_under(url, prefix).await;
        if !keys.is_empty() {
            let _: i64 = redis::cmd("DEL").arg(&keys).query_async(&mut raw_connection(url).await).await.unwrap();
        }
    }

    fn failure_key(account: &str, ip: Option<&str>) -> FailureKey {
        FailureKey { account: account.into(), ip: ip.map(|ip| ip.parse().unwrap()) }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redis_limiter_keeps_the_limiter_contract() {
        let Some((url, _server)) = crate::testing::redis_server().await else { return };
        let (limiter, prefix) = fresh_limiter(&url).await;
        limiter_contract(&limiter).await;
        let keys = keys_under(&url, &prefix).await;
        assert!(!keys.is_empty(), "the contract leaves state behind to check");
        for key in &keys {
            assert!(pttl(&url, key).await > 0, "{key} would never expire");
        }
        delete_keys(&url, &prefix).await;
    }

    #[tokio::test]
    async fn every_key_expires_once_it_carries_no_information() {
        let Some((url, _server)) = crate::testing::redis_server().await else { return };
        let (limiter, prefix) = fresh_limiter(&url).await;
        // 500 ms per request, three at once: full again 1.5 s after three.
        let quota = Quota { per_period: 2, period: Duration::from_secs(1), burst: 3 };
        let bucket = limiter.keys.bucket(Bucket::Auth, "ip:192.0.2.7");
        assert_eq!(bucket, format!("{prefix}:{{rl:auth:ip:192.0.2.7}}"));
        limiter.acquire(Bucket::Auth, "ip:192.0.2.7", &quota).await.unwrap();
        let ttl = pttl(&url, &bucket).await;
        assert!(ttl > 0 && ttl <= 500, "one request is refilled in 500 ms, not {ttl} ms");
        limiter.acquire(Bucket::Auth, "ip:192.0.2.7", &quota).await.unwrap();
        limiter.acquire(Bucket::Auth, "ip:192.0.2.7", &quota).await.unwrap();
        let ttl = pttl(&url, &bucket).await;
        assert!(ttl > 500 && ttl <= 1_500, "three requests are refilled in 1.5 s, not {ttl} ms");

        let policy = FailurePolicy { max: 2, window: Duration::from_secs(10), lockout: Duration::from_secs(30) };
        let pair = failure_key("ttl@example.com", Some("192.0.2.7"));
        let (counter, index) = (limiter.keys.counter(&pair).counter, limiter.keys.index("ttl@example.com"));
        limiter.record_failure(&pair, &policy).await.unwrap();
        let (counter_ttl, index_ttl) = (pttl(&url, &counter).await, pttl(&url, &index).await);
        assert!(counter_ttl > 0 && counter_ttl <= 10_000, "a counting key lives for its window, not {counter_ttl} ms");
        assert!(index_ttl >= counter_ttl - 50 && index_ttl <= 10_000, "the index lives as long as its counters");
        limiter.record_failure(&pair, &policy).await.unwrap();
        let (counter_ttl, index_ttl) = (pttl(&url, &counter).await, pttl(&url, &index).await);
        assert!(counter_ttl > 10_000 && counter_ttl <= 30_000, "a locked key lives for its lockout");
        assert!(index_ttl > 10_000 && index_ttl <= 30_000, "the index follows its longest-lived counter");

        // And a key really goes: 20 ms per request.
        let fast = Quota { per_period: 50, period: Duration::from_secs(1), burst: 1 };
        limiter.acquire(Bucket::Api, "user:quick", &fast).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(!keys_under(&url, &prefix).await.contains(&limiter.keys.bucket(Bucket::Api, "user:quick")));
        delete_keys(&url, &prefix).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn twenty_concurrent_requests_through_two_replicas_get_exactly_the_burst() {
        let Some((url, _server)) = crate::testing::redis_server().await else { return };
        let (first, prefix) = fresh_limiter(&url).await;
        // A second connection with the same namespace: another replica.
        let second = RedisLimiter::connect(&url).await.unwrap().with_prefix(&prefix).with_timeout(first.timeout);
        let quota = Quota { per_period: 1, period: Duration::from_secs(60), burst: 5 };
        let tasks: Vec<_> = (0..20)
            .map(|n| {
                let limiter = if n % 2 == 0 { first.clone() } else { second.clone() };
                tokio::spawn(async move { limiter.acquire(Bucket::Auth, "ip:203.0.113.9", &quota).await.unwrap() })
            })
            .collect();
        let mut allowed = 0;
        for task in tasks {
            allowed += usize::from(task.await.unwrap().allowed);
        }
        assert_eq!(allowed, 5);
        delete_keys(&url, &prefix).await;
    }

    /// Runs `cases` of `property` against a fresh limiter, on a runtime of
    /// its own: each case drives the scripts and replays what they did on
    /// the core's arithmetic, at the instants the server reports.
    fn check_against_the_core<S: Strategy>(
        cases: u32,
        strategy: S,
        property: impl Fn(&tokio::runtime::Runtime, &RedisLimiter, S::Value) -> Result<(), TestCaseError>,
    ) where
        S::Value: fmt::Debug,
    {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let Some((url, _server)) = runtime.block_on(crate::testing::redis_server()) else { return };
        let (limiter, prefix) = runtime.block_on(fresh_limiter(&url));
        let mut runner = TestRunner::new(Config { cases, ..Config::default() });
        let outcome = runner.run(&strategy, |input| property(&runtime, &limiter, input));
        runtime.block_on(delete_keys(&url, &prefix));
        outcome.unwrap();
    }

    /// Pauses of a few milliseconds, mostly none, so that both full buckets
    /// and refills, open and closed windows come up.
    fn pauses() -> impl Strategy<Value = u64> {
        prop_oneof![3 => Just(0u64), 1 => 1u64..8]
    }

    #[test]
    fn the_gcra_script_decides_as_the_core_does() {
        let strategy = (1u32..10, 1u64..100, 1u32..10, proptest::collection::vec(pauses(), 1..25));
        check_against_the_core(24, strategy, |runtime, limiter, (per_period, period_ms, burst, pauses)| {
            let quota = Quota { per_period, period: Duration::from_millis(period_ms), burst };
            let key = format!("user:{}", Uuid::new_v4().simple());
            let mut tat = None;
            for pause in pauses {
                std::thread::sleep(Duration::from_millis(pause));
                let (decision, now) = runtime.block_on(limiter.acquire_at(Bucket::Api, &key, &quota)).unwrap();
                let (expected, next) = gcra(tat, now, &quota);
                prop_assert_eq!(decision, expected);
                tat = next.or(tat);
            }
            Ok(())
        });
    }

    #[test]
    fn the_failure_scripts_count_as_the_core_does() {
        let strategy = (1u32..5, 0u64..30, 0u64..30, proptest::collection::vec((any::<bool>(), pauses()), 1..25));
        check_against_the_core(24, strategy, |runtime, limiter, (max, window_ms, lockout_ms, steps)| {
            let policy = FailurePolicy {
                max,
                window: Duration::from_millis(window_ms),
                lockout: Duration::from_millis(lockout_ms),
            };
            let key = failure_key(&format!("{}@example.com", Uuid::new_v4().simple()), Some("2001:db8::"));
            let mut counter = FailureCounter::default();
            for (record, pause) in steps {
                std::thread::sleep(Duration::from_millis(pause));
                if record {
                    let (lockout, now) = runtime.block_on(limiter.record_failure_at(&key, &policy)).unwrap();
                    prop_assert_eq!(lockout, counter.record(&policy, now));
                } else {
                    let (left, now) = runtime.block_on(limiter.locked_for_at(&key)).unwrap();
                    prop_assert_eq!(left, counter.locked_for(now));
                }
            }
            Ok(())
        });
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_fast_without_revealing_the_password() {
        let url = "redis://portcullis:s3cret-password@127.0.0.1:1";
        let started = Instant::now();
        let error = RedisLimiter::connect(url).await.expect_err("nothing listens on port 1");
        let message = format!("{error:#} {error:?}");
        assert!(started.elapsed() < Duration::from_secs(1), "connect took {:?}", started.elapsed());
        assert!(message.contains("127.0.0.1:1"), "the message names the server: {message}");
        assert!(!message.contains("s3cret"), "the message leaks the password: {message}");

        let limiter = RedisLimiter::connect_lazily(url).unwrap().with_timeout(Duration::from_millis(100));
        let quota = Quota { per_period: 1, period: Duration::from_secs(1), burst: 1 };
        let key = failure_key("down@example.com", Some("192.0.2.1"));
        let policy = FailurePolicy { max: 1, window: Duration::from_secs(1), lockout: Duration::from_secs(1) };
        let started = Instant::now();
        let outcomes = [
            limiter.acquire(Bucket::Auth, "ip:192.0.2.1", &quota).await.map(drop),
            limiter.locked_for(&key).await.map(drop),
            limiter.record_failure(&key, &policy).await.map(drop),
            limiter.clear_failures(&key).await,
            limiter.clear_account("down@example.com").await,
            limiter.ping().await,
        ];
        assert!(started.elapsed() < Duration::from_secs(2), "six calls took {:?}", started.elapsed());
        for outcome in outcomes {
            let LimiterError::Unavailable(cause) = outcome.expect_err("Redis is unreachable");
            assert!(!format!("{cause:#}").contains("s3cret"), "the cause leaks the password: {cause:#}");
        }

        let error = RedisLimiter::connect_lazily("redis://:s3cret@127.0.0.1:port").expect_err("not a URL");
        assert!(!format!("{error:#}").contains("s3cret"), "{error:#}");
    }

    #[test]
    fn account_strings_cannot_break_the_key_layout() {
        let keys = Keys { prefix: "portcullis".into() };
        let plain = keys.counter(&failure_key("a@example.com", Some("192.0.2.7")));
        let sneaky = keys.counter(&failure_key("a@example.com}:ip:192.0.2.7", None));
        assert_ne!(plain.counter, sneaky.counter);
        let digest = hex_sha256("a@example.com");
        assert_eq!(plain.counter, format!("portcullis:{{lf:{digest}}}:ip:192.0.2.7"));
        assert_eq!(plain.indexed_as, Some((format!("portcullis:{{lf:{digest}}}:ips"), "192.0.2.7".to_owned())));
        for name in [&sneaky.counter, &keys.account_wide("{x}"), &keys.index("x}{")] {
            let tag = name.split_once('{').unwrap().1.split_once('}').unwrap().0;
            assert!(tag.starts_with("lf:") && tag.len() == 3 + 64, "{name}");
        }
    }

    #[test]
    fn rate_limit_keys_stay_readable_unless_they_could_break_the_tag() {
        let keys = Keys { prefix: "p".into() };
        assert_eq!(keys.bucket(Bucket::Auth, "ip:2001:db8::"), "p:{rl:auth:ip:2001:db8::}");
        assert_eq!(keys.bucket(Bucket::Api, "user:7"), "p:{rl:api:user:7}");
        for awkward in ["a}b", "{x}", "with space", "#looks-hashed", &"x".repeat(200), "é"] {
            let name = keys.bucket(Bucket::Api, awkward);
            assert_eq!(name, format!("p:{{rl:api:#{}}}", hex_sha256(awkward)), "{awkward:?}");
        }
    }

    #[test]
    fn gcra_arguments_match_the_core_and_stay_exact_in_lua() {
        let quota = Quota { per_period: 20, period: Duration::from_secs(60), burst: 10 };
        assert_eq!(gcra_arguments(&quota), (3_000, 30_000));
        let zero = Quota { per_period: 0, period: Duration::ZERO, burst: 0 };
        assert_eq!(gcra_arguments(&zero), (1, 1));
        let huge = Quota { per_period: 1, period: Duration::MAX, burst: u32::MAX };
        assert_eq!(gcra_arguments(&huge), (MAX_SCRIPT_MILLIS, MAX_SCRIPT_MILLIS));
    }

    #[test]
    #[should_panic(expected = "without braces")]
    fn a_prefix_with_a_brace_is_refused() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _guard = runtime.enter();
        let _ = RedisLimiter::connect_lazily("redis://127.0.0.1:1").unwrap().with_prefix("a{b}");
    }
}

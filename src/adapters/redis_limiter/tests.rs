use super::*;
use crate::adapters::limiter_contract::limiter_contract;
use crate::core::limits::{gcra, FailureCounter};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use redis::Client;
use std::time::Instant;
use uuid::Uuid;

/// A limiter whose keys no other test shares, and the prefix to clean up.
async fn fresh_limiter(url: &str) -> (RedisLimiter, String) {
    let prefix = format!("portcullis-test-{}", Uuid::new_v4().simple());
    let limiter = RedisLimiter::connect(url)
        .await
        .unwrap_or_else(|error| panic!("TEST_REDIS_URL cannot be reached: {error:#}"))
        .with_prefix(KeyPrefix::parse(&prefix).unwrap())
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
    let second = RedisLimiter::connect(&url)
        .await
        .unwrap()
        .with_prefix(KeyPrefix::parse(&prefix).unwrap())
        .with_timeout(first.timeout);
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
        let policy =
            FailurePolicy { max, window: Duration::from_millis(window_ms), lockout: Duration::from_millis(lockout_ms) };
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
fn gcra_arguments_match_the_core_and_stay_exact_in_lua() {
    let quota = Quota { per_period: 20, period: Duration::from_secs(60), burst: 10 };
    assert_eq!(gcra_arguments(&quota), (3_000, 30_000));
    let zero = Quota { per_period: 0, period: Duration::ZERO, burst: 0 };
    assert_eq!(gcra_arguments(&zero), (1, 1));
    let huge = Quota { per_period: 1, period: Duration::MAX, burst: u32::MAX };
    assert_eq!(gcra_arguments(&huge), (MAX_SCRIPT_MILLIS, MAX_SCRIPT_MILLIS));
}

//! The limiter contract: what every [`RateLimiter`] must do, written once
//! against the port so that the in-process and the Redis adapters are held
//! to the same promises.
//!
//! A shared store cannot be told what time it is, so the contract runs on
//! the adapter's own clock: quotas and windows are short, and the few checks
//! that need time to pass sleep for real, a few hundred milliseconds at
//! most. The checks use keys and accounts of their own and run at once, so
//! the whole contract takes well under a second. It expects a limiter with
//! no state under those names, and panics on the first broken promise.

use crate::core::limits::{FailurePolicy, Quota};
use crate::ports::{Bucket, FailureKey, RateLimiter, Reservation};
use std::time::Duration;

/// 500 ms per request, three at once.
const TWO_PER_SECOND_BURST_THREE: Quota = Quota { per_period: 2, period: Duration::from_secs(1), burst: 3 };

/// One request a minute: the second is refused for the rest of any test.
const ONE_PER_MINUTE: Quota = Quota { per_period: 1, period: Duration::from_secs(60), burst: 1 };

/// Three failures within a minute lock for two.
const POLICY: FailurePolicy =
    FailurePolicy { max: 3, window: Duration::from_secs(60), lockout: Duration::from_secs(120) };

fn key(account: &str, ip: Option<&str>) -> FailureKey {
    FailureKey { account: account.into(), ip: ip.map(|ip| ip.parse().expect("a test address")) }
}

/// Runs every check of the contract against `limiter`, at once.
pub(crate) async fn limiter_contract(limiter: &dyn RateLimiter) {
    tokio::join!(
        a_burst_is_allowed_then_refused_until_a_token_returns(limiter),
        the_bucket_refills_at_the_quota_rate(limiter),
        keys_and_buckets_are_limited_independently(limiter),
        concurrent_requests_never_take_more_than_the_burst(limiter),
        a_lockout_engages_at_exactly_the_maximum_for_that_pair_only(limiter),
        account_wide_failures_are_counted_apart_from_each_pair(limiter),
        clearing_one_pair_keeps_every_other_count(limiter),
        clearing_an_account_lifts_every_lockout_it_has(limiter),
        failures_outside_the_window_start_a_new_count_and_lockouts_end(limiter),
        the_limiter_answers_a_ping(limiter),
        racing_reservations_take_exactly_the_budget(limiter),
        a_refund_gives_back_one_reservation(limiter),
    );
}

/// Twenty reservations at once: exactly the policy's maximum are granted,
/// however they interleave.
pub(crate) async fn racing_reservations_take_exactly_the_budget(limiter: &dyn RateLimiter) {
    let pair = key("racer@example.com", Some("192.0.2.60"));
    let racers = (0..20).map(|_| limiter.reserve_failure(&pair, &POLICY));
    let answers = futures_util::future::join_all(racers).await;
    let granted = answers.iter().filter(|answer| matches!(answer, Ok(Reservation::Granted))).count();
    assert_eq!(granted, POLICY.max as usize, "{answers:?}");
    assert!(limiter.locked_for(&pair).await.expect("the limiter answers").is_some(), "the last grant locks");
}

/// A refunded reservation makes room for one more, never more than that.
pub(crate) async fn a_refund_gives_back_one_reservation(limiter: &dyn RateLimiter) {
    let pair = key("refunded@example.com", Some("192.0.2.61"));
    limiter.refund_failure(&pair).await.expect("refunding nothing is fine");
    for _ in 0..POLICY.max - 1 {
        assert_eq!(limiter.reserve_failure(&pair, &POLICY).await.expect("answers"), Reservation::Granted);
    }
    // Two of the reservations verified a right password.
    limiter.refund_failure(&pair).await.expect("answers");
    limiter.refund_failure(&pair).await.expect("answers");
    for _ in 0..2 {
        assert_eq!(limiter.reserve_failure(&pair, &POLICY).await.expect("answers"), Reservation::Granted);
    }
    // The budget's last reservation is granted and starts the lockout.
    assert_eq!(limiter.reserve_failure(&pair, &POLICY).await.expect("answers"), Reservation::Granted);
    assert!(matches!(limiter.reserve_failure(&pair, &POLICY).await.expect("answers"), Reservation::Refused { .. }));
}

pub(crate) async fn a_burst_is_allowed_then_refused_until_a_token_returns(limiter: &dyn RateLimiter) {
    let quota = TWO_PER_SECOND_BURST_THREE;
    for expected_remaining in [2, 1, 0] {
        let decision = limiter.acquire(Bucket::Auth, "burst:ip:192.0.2.1", &quota).await.expect("a decision");
        assert!(decision.allowed, "request {} of a burst of 3 is allowed", 3 - expected_remaining);
        assert_eq!(decision.limit, 3);
        assert_eq!(decision.remaining, expected_remaining, "remaining counts down");
        assert_eq!(decision.retry_after, Duration::ZERO, "an allowed request has nothing to retry");
        assert!(decision.reset_after > Duration::ZERO && decision.reset_after <= Duration::from_millis(1_500));
    }
    for _ in 0..2 {
        let refused = limiter.acquire(Bucket::Auth, "burst:ip:192.0.2.1", &quota).await.expect("a decision");
        assert!(!refused.allowed, "the fourth request is refused, and a refusal takes no token");
        assert_eq!(refused.remaining, 0);
        assert!(
            refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_millis(500),
            "one token returns within 500 ms, not {:?}",
            refused.retry_after
        );
        assert!(refused.reset_after >= refused.retry_after && refused.reset_after <= Duration::from_millis(1_500));
    }
}

pub(crate) async fn the_bucket_refills_at_the_quota_rate(limiter: &dyn RateLimiter) {
    // 100 ms per request, one at a time.
    let quota = Quota { per_period: 10, period: Duration::from_secs(1), burst: 1 };
    assert!(limiter.acquire(Bucket::Api, "refill:user:1", &quota).await.expect("a decision").allowed);
    let refused = limiter.acquire(Bucket::Api, "refill:user:1", &quota).await.expect("a decision");
    assert!(!refused.allowed);
    assert!(refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_millis(100));
    tokio::time::sleep(refused.retry_after + Duration::from_millis(20)).await;
    let later = limiter.acquire(Bucket::Api, "refill:user:1", &quota).await.expect("a decision");
    assert!(later.allowed, "a request is allowed once retry_after has passed");
}

pub(crate) async fn keys_and_buckets_are_limited_independently(limiter: &dyn RateLimiter) {
    let acquire = |bucket, key| async move { limiter.acquire(bucket, key, &ONE_PER_MINUTE).await.expect("a decision") };
    assert!(acquire(Bucket::Auth, "independent:a").await.allowed);
    assert!(!acquire(Bucket::Auth, "independent:a").await.allowed);
    assert!(acquire(Bucket::Auth, "independent:b").await.allowed, "another key has its own bucket");
    assert!(acquire(Bucket::Api, "independent:a").await.allowed, "another bucket has its own keys");
    assert!(!acquire(Bucket::Api, "independent:a").await.allowed);
}

pub(crate) async fn concurrent_requests_never_take_more_than_the_burst(limiter: &dyn RateLimiter) {
    let quota = Quota { per_period: 1, period: Duration::from_secs(60), burst: 5 };
    let requests = (0..20).map(|_| limiter.acquire(Bucket::Auth, "concurrent:ip:192.0.2.2", &quota));
    let decisions = futures_util::future::join_all(requests).await;
    let allowed = decisions.into_iter().map(|decision| decision.expect("a decision")).filter(|d| d.allowed).count();
    assert_eq!(allowed, 5, "20 requests in flight at once on a burst of 5");
}

pub(crate) async fn a_lockout_engages_at_exactly_the_maximum_for_that_pair_only(limiter: &dyn RateLimiter) {
    let pair = key("pair@example.com", Some("198.51.100.1"));
    for failure in 1..POLICY.max {
        assert_eq!(limiter.record_failure(&pair, &POLICY).await.expect("counted"), None, "failure {failure}");
        assert_eq!(limiter.locked_for(&pair).await.expect("checked"), None, "not locked after failure {failure}");
    }
    let started = limiter.record_failure(&pair, &POLICY).await.expect("counted");
    assert_eq!(started, Some(POLICY.lockout), "failure {} starts the lockout", POLICY.max);
    let left = limiter.locked_for(&pair).await.expect("checked").expect("the pair is locked");
    assert!(
        left > POLICY.lockout.checked_sub(Duration::from_secs(1)).unwrap() && left <= POLICY.lockout,
        "{left:?} left"
    );
    let again = limiter.record_failure(&pair, &POLICY).await.expect("counted").expect("still locked");
    assert!(again <= POLICY.lockout, "a failure while locked reports what is left, not a new lockout");

    for other in [
        key("pair@example.com", Some("198.51.100.2")),
        key("pair@example.com", None),
        key("someone-else@example.com", Some("198.51.100.1")),
    ] {
        assert_eq!(limiter.locked_for(&other).await.expect("checked"), None, "{other:?} is not locked");
    }
}

pub(crate) async fn account_wide_failures_are_counted_apart_from_each_pair(limiter: &dyn RateLimiter) {
    let (pair, account) = (key("wide@example.com", Some("198.51.100.3")), key("wide@example.com", None));
    for _ in 1..POLICY.max {
        assert_eq!(limiter.record_failure(&pair, &POLICY).await.expect("counted"), None);
        assert_eq!(limiter.record_failure(&account, &POLICY).await.expect("counted"), None);
    }
    assert_eq!(limiter.record_failure(&account, &POLICY).await.expect("counted"), Some(POLICY.lockout));
    assert!(limiter.locked_for(&account).await.expect("checked").is_some(), "the account-wide key is locked");
    assert_eq!(limiter.locked_for(&pair).await.expect("checked"), None, "the pair is not");
    assert_eq!(limiter.record_failure(&pair, &POLICY).await.expect("counted"), Some(POLICY.lockout));
}

pub(crate) async fn clearing_one_pair_keeps_every_other_count(limiter: &dyn RateLimiter) {
    let account = "clear-pair@example.com";
    let (first, second, anywhere) =
        (key(account, Some("198.51.100.4")), key(account, Some("198.51.100.5")), key(account, None));
    for _ in 0..POLICY.max {
        limiter.record_failure(&first, &POLICY).await.expect("counted");
        limiter.record_failure(&second, &POLICY).await.expect("counted");
    }
    for _ in 1..POLICY.max {
        limiter.record_failure(&anywhere, &POLICY).await.expect("counted");
    }
    limiter.clear_failures(&first).await.expect("cleared");
    assert_eq!(limiter.locked_for(&first).await.expect("checked"), None, "the cleared pair is unlocked");
    assert!(limiter.locked_for(&second).await.expect("checked").is_some(), "the other pair stays locked");
    for _ in 1..POLICY.max {
        assert_eq!(limiter.record_failure(&first, &POLICY).await.expect("counted"), None, "its count restarted");
    }
    let kept = limiter.record_failure(&anywhere, &POLICY).await.expect("counted");
    assert_eq!(kept, Some(POLICY.lockout), "the account-wide count was kept");
    limiter.clear_failures(&key("never-failed@example.com", None)).await.expect("clearing nothing is fine");
}

pub(crate) async fn clearing_an_account_lifts_every_lockout_it_has(limiter: &dyn RateLimiter) {
    let account = "clear-all@example.com";
    let everything = [key(account, Some("198.51.100.6")), key(account, Some("2001:db8:6::")), key(account, None)];
    let bystander = key("bystander@example.com", Some("198.51.100.6"));
    for locked in everything.iter().chain([&bystander]) {
        for _ in 0..POLICY.max {
            limiter.record_failure(locked, &POLICY).await.expect("counted");
        }
        assert!(limiter.locked_for(locked).await.expect("checked").is_some());
    }
    limiter.clear_account(account).await.expect("cleared");
    for cleared in &everything {
        assert_eq!(limiter.locked_for(cleared).await.expect("checked"), None, "{cleared:?} is unlocked");
        assert_eq!(limiter.record_failure(cleared, &POLICY).await.expect("counted"), None, "and counts afresh");
    }
    assert!(limiter.locked_for(&bystander).await.expect("checked").is_some(), "another account stays locked");
    limiter.clear_account("never-failed@example.com").await.expect("clearing nothing is fine");
}

pub(crate) async fn failures_outside_the_window_start_a_new_count_and_lockouts_end(limiter: &dyn RateLimiter) {
    let policy = FailurePolicy { max: 2, window: Duration::from_millis(200), lockout: Duration::from_millis(300) };
    let pair = key("window@example.com", Some("198.51.100.7"));
    assert_eq!(limiter.record_failure(&pair, &policy).await.expect("counted"), None);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(limiter.record_failure(&pair, &policy).await.expect("counted"), None, "the window had closed");
    assert_eq!(limiter.record_failure(&pair, &policy).await.expect("counted"), Some(policy.lockout));
    assert!(limiter.locked_for(&pair).await.expect("checked").is_some());
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(limiter.locked_for(&pair).await.expect("checked"), None, "the lockout has ended");
    assert_eq!(limiter.record_failure(&pair, &policy).await.expect("counted"), None, "and the count restarted");
}

pub(crate) async fn the_limiter_answers_a_ping(limiter: &dyn RateLimiter) {
    limiter.ping().await.expect("the limiter can decide");
}

mod tests {
    use super::*;
    use crate::adapters::memory_limiter::MemoryLimiter;
    use crate::adapters::system::SystemClock;
    use std::sync::Arc;

    #[tokio::test]
    async fn memory_limiter_keeps_the_limiter_contract() {
        let limiter = MemoryLimiter::new(Arc::new(SystemClock));
        limiter_contract(&limiter).await;
    }
}

//! A shared limiter with an in-process stand-in.
//!
//! When the shared limiter (Redis) cannot answer, decisions fall back to
//! the in-process limiter instead of failing requests or letting everyone
//! through: one warning when that starts, `rate_limiter_degraded 1`, and
//! `/readyz` shows the limiter as degraded. While degraded the shared
//! limiter is retried once a second; the first answer ends the fallback.
//! Counts made during the fallback stay in this process.

use crate::core::limits::{Decision, FailurePolicy, Quota};
use crate::ports::{Bucket, Clock, FailureKey, LimiterError, MetricsSink, RateLimiter, Reservation};
use async_trait::async_trait;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long the shared limiter is left alone after it failed.
const RETRY_AFTER_MS: i64 = 1_000;

pub struct FallbackLimiter {
    shared: Arc<dyn RateLimiter>,
    local: Arc<dyn RateLimiter>,
    metrics: Arc<dyn MetricsSink>,
    clock: Arc<dyn Clock>,
    degraded: AtomicBool,
    retry_at_ms: AtomicI64,
}

impl FallbackLimiter {
    pub fn new(
        shared: Arc<dyn RateLimiter>,
        local: Arc<dyn RateLimiter>,
        metrics: Arc<dyn MetricsSink>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        metrics.rate_limiter_degraded(false);
        Self { shared, local, metrics, clock, degraded: AtomicBool::new(false), retry_at_ms: AtomicI64::new(0) }
    }

    /// Runs `call` on the shared limiter unless it is resting after a
    /// failure; on failure, or while resting, runs it on the local one.
    async fn decide<T, F, Fut>(&self, call: F) -> Result<T, LimiterError>
    where
        F: Fn(Arc<dyn RateLimiter>) -> Fut,
        Fut: Future<Output = Result<T, LimiterError>>,
    {
        let now = self.clock.now_millis();
        if !self.degraded.load(Ordering::SeqCst) || now >= self.retry_at_ms.load(Ordering::SeqCst) {
            match call(self.shared.clone()).await {
                Ok(answer) => {
                    if self.degraded.swap(false, Ordering::SeqCst) {
                        tracing::info!("shared rate limiter answers again; leaving the in-process fallback");
                        self.metrics.rate_limiter_degraded(false);
                    }
                    return Ok(answer);
                }
                Err(error) => {
                    self.retry_at_ms.store(now + RETRY_AFTER_MS, Ordering::SeqCst);
                    if !self.degraded.swap(true, Ordering::SeqCst) {
                        tracing::warn!(error = %error, "shared rate limiter unavailable; limiting in process until it returns");
                        self.metrics.rate_limiter_degraded(true);
                    }
                }
            }
        }
        call(self.local.clone()).await
    }
}

#[async_trait]
impl RateLimiter for FallbackLimiter {
    async fn acquire(&self, bucket: Bucket, key: &str, quota: &Quota) -> Result<Decision, LimiterError> {
        self.decide(|limiter| async move { limiter.acquire(bucket, key, quota).await }).await
    }

    async fn locked_for(&self, key: &FailureKey) -> Result<Option<Duration>, LimiterError> {
        self.decide(|limiter| async move { limiter.locked_for(key).await }).await
    }

    async fn record_failure(&self, key: &FailureKey, policy: &FailurePolicy) -> Result<Option<Duration>, LimiterError> {
        self.decide(|limiter| async move { limiter.record_failure(key, policy).await }).await
    }

    async fn reserve_failure(&self, key: &FailureKey, policy: &FailurePolicy) -> Result<Reservation, LimiterError> {
        self.decide(|limiter| async move { limiter.reserve_failure(key, policy).await }).await
    }

    async fn refund_failure(&self, key: &FailureKey) -> Result<(), LimiterError> {
        self.decide(|limiter| async move { limiter.refund_failure(key).await }).await
    }

    async fn clear_failures(&self, key: &FailureKey) -> Result<(), LimiterError> {
        // Clear both: the lockout may live in either.
        let _ = self.local.clear_failures(key).await;
        self.decide(|limiter| async move { limiter.clear_failures(key).await }).await
    }

    async fn clear_account(&self, account: &str) -> Result<(), LimiterError> {
        let _ = self.local.clear_account(account).await;
        self.decide(|limiter| async move { limiter.clear_account(account).await }).await
    }

    /// Always answers: the fallback can decide. Whether it is in use is
    /// [`RateLimiter::degraded`].
    async fn ping(&self) -> Result<(), LimiterError> {
        if self.degraded.load(Ordering::SeqCst) {
            // Readiness probes double as the retry of an idle replica.
            let _ = self.decide(|limiter| async move { limiter.ping().await }).await;
        }
        Ok(())
    }

    fn degraded(&self) -> bool {
        self.degraded.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory_limiter::MemoryLimiter;
    use crate::core::limits::Quota;
    use crate::core::testkit::FixedClock;
    use crate::ports::metrics::MockMetricsSink;

    /// A shared limiter that can be switched off.
    struct Switchable {
        up: AtomicBool,
        inner: MemoryLimiter,
    }

    impl Switchable {
        fn check(&self) -> Result<(), LimiterError> {
            if self.up.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err(LimiterError::Unavailable(anyhow::anyhow!("down")))
            }
        }
    }

    #[async_trait]
    impl RateLimiter for Switchable {
        async fn acquire(&self, bucket: Bucket, key: &str, quota: &Quota) -> Result<Decision, LimiterError> {
            self.check()?;
            self.inner.acquire(bucket, key, quota).await
        }
        async fn locked_for(&self, key: &FailureKey) -> Result<Option<Duration>, LimiterError> {
            self.check()?;
            self.inner.locked_for(key).await
        }
        async fn record_failure(
            &self,
            key: &FailureKey,
            policy: &FailurePolicy,
        ) -> Result<Option<Duration>, LimiterError> {
            self.check()?;
            self.inner.record_failure(key, policy).await
        }
        async fn reserve_failure(&self, key: &FailureKey, policy: &FailurePolicy) -> Result<Reservation, LimiterError> {
            self.check()?;
            self.inner.reserve_failure(key, policy).await
        }
        async fn refund_failure(&self, key: &FailureKey) -> Result<(), LimiterError> {
            self.check()?;
            self.inner.refund_failure(key).await
        }
        async fn clear_failures(&self, key: &FailureKey) -> Result<(), LimiterError> {
            self.check()?;
            self.inner.clear_failures(key).await
        }
        async fn clear_account(&self, account: &str) -> Result<(), LimiterError> {
            self.check()?;
            self.inner.clear_account(account).await
        }
        async fn ping(&self) -> Result<(), LimiterError> {
            self.check()
        }
    }

    const QUOTA: Quota = Quota { per_period: 60, period: Duration::from_secs(60), burst: 1 };

    #[tokio::test]
    async fn an_outage_falls_back_once_and_recovers_by_itself() {
        let clock = Arc::new(FixedClock::at(1_000));
        let shared = Arc::new(Switchable { up: AtomicBool::new(true), inner: MemoryLimiter::new(clock.clone()) });
        let mut metrics = MockMetricsSink::new();
        metrics.expect_rate_limiter_degraded().withf(|d| !*d).times(2).returning(|_| ());
        metrics.expect_rate_limiter_degraded().withf(|d| *d).times(1).returning(|_| ());
        let limiter = FallbackLimiter::new(
            shared.clone(),
            Arc::new(MemoryLimiter::new(clock.clone())),
            Arc::new(metrics),
            clock.clone(),
        );

        assert!(limiter.acquire(Bucket::Api, "k", &QUOTA).await.unwrap().allowed);
        assert!(!limiter.degraded());
        shared.up.store(false, Ordering::SeqCst);
        assert!(limiter.acquire(Bucket::Api, "k", &QUOTA).await.unwrap().allowed, "the fallback starts afresh");
        assert!(limiter.degraded());
        assert!(!limiter.acquire(Bucket::Api, "k", &QUOTA).await.unwrap().allowed, "and then limits");
        assert!(limiter.ping().await.is_ok());
        shared.up.store(true, Ordering::SeqCst);
        assert!(limiter.degraded(), "the shared limiter rests for a second");
        clock.advance(2);
        limiter.ping().await.unwrap();
        assert!(!limiter.degraded());
        limiter.clear_account("a@example.com").await.unwrap();
    }
}

//! Hot reload of the key ring: re-reads the secret source every interval
//! and on SIGHUP, checks the ring it gets, and swaps it in whole. A source
//! that fails, or a ring that fails its checks, leaves the last good ring
//! in use; the failure is logged (never a key) and counted, and once it has
//! lasted past one interval the ring is reported stale. Readiness and the
//! metrics read the state kept here; they never fetch secrets themselves.

use crate::core::keyring::{KeyRing, LiveKeyRing};
use crate::ports::{MetricsSink, SecretError, SecretSource};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Longest a fetch from the source may take: a stalled source is a failed
/// refresh, not a refresher stuck for good.
const FETCH_DEADLINE: Duration = Duration::from_secs(10);

/// Why a refresh left the ring as it was.
#[derive(Debug, thiserror::Error)]
pub enum RefreshFailure {
    #[error("the secret source failed: {0}")]
    Source(#[from] SecretError),
    #[error("the secret source did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the key ring from the source is invalid: {0}")]
    Invalid(#[from] crate::core::keyring::RingError),
}

/// The ring's freshness, as `/readyz` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingFreshness {
    Fresh,
    /// Refreshes have failed for over an interval; the last good ring,
    /// read `age_seconds` ago, is still in use.
    Stale {
        age_seconds: u64,
    },
}

struct RefreshState {
    last_success: Instant,
    last_failed: bool,
}

/// Keeps the live ring in step with its source.
pub struct KeyRefresher {
    source: Arc<dyn SecretSource>,
    keys: LiveKeyRing,
    metrics: Arc<dyn MetricsSink>,
    interval: Duration,
    state: Mutex<RefreshState>,
    /// One refresh at a time, so an older read never replaces a newer one.
    running: tokio::sync::Mutex<()>,
    /// Where a change of ring is recorded in the audit trail.
    audit: Option<Arc<crate::core::auth::AuthService>>,
}

impl KeyRefresher {
    /// `keys` was just read from `source`.
    pub fn new(
        source: Arc<dyn SecretSource>,
        keys: LiveKeyRing,
        metrics: Arc<dyn MetricsSink>,
        interval: Duration,
    ) -> Self {
        let state = Mutex::new(RefreshState { last_success: Instant::now(), last_failed: false });
        Self { source, keys, metrics, interval, state, running: tokio::sync::Mutex::new(()), audit: None }
    }

    /// Records each change of ring (kids, algorithms, states) in the audit
    /// trail through `auth`.
    #[must_use]
    pub fn with_audit(mut self, auth: Arc<crate::core::auth::AuthService>) -> Self {
        self.audit = Some(auth);
        self
    }

    /// How often the ring is re-read.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The name of the source, for logs.
    pub fn source_name(&self) -> &'static str {
        self.source.name()
    }

    /// Re-reads the source now and swaps in the ring it holds. Called by the
    /// interval loop, on SIGHUP, and by tests that need a refresh at a
    /// known moment.
    ///
    /// # Errors
    /// [`RefreshFailure`] when the ring stayed as it was; already logged
    /// and counted.
    pub async fn refresh_now(&self) -> Result<(), RefreshFailure> {
        let _one_at_a_time = self.running.lock().await;
        let outcome = match tokio::time::timeout(FETCH_DEADLINE, self.source.key_ring()).await {
            Err(_) => Err(RefreshFailure::Timeout(FETCH_DEADLINE)),
            Ok(fetched) => fetched
                .map_err(RefreshFailure::from)
                .and_then(|document| KeyRing::from_document(&document).map_err(RefreshFailure::from)),
        };
        let adopted = self.settle(outcome)?;
        if let (Some(ring), Some(auth)) = (adopted, &self.audit) {
            if let Err(error) = auth.record_key_ring_change(self.source.name(), &ring).await {
                tracing::warn!(error = %error, "the key-ring change could not be stored in the audit trail");
            }
        }
        Ok(())
    }

    /// Puts a good ring in use, or keeps the last one; logs and counts
    /// either way. Returns the new ring when it differs from the last.
    fn settle(&self, outcome: Result<KeyRing, RefreshFailure>) -> Result<Option<Arc<KeyRing>>, RefreshFailure> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok(ring) => {
                let changed = self.keys.current().describe() != ring.describe();
                if changed {
                    tracing::info!(
                        source = self.source.name(),
                        active = ring.signing_kid(),
                        kids = ?ring.describe().iter().map(|(kid, _, _)| *kid).collect::<Vec<_>>(),
                        "key ring reloaded"
                    );
                } else if state.last_failed {
                    tracing::info!(source = self.source.name(), "key ring refresh recovered");
                }
                let current = self.keys.current();
                // The same keys again: the ring in use stays, and so do the
                // tokens it has verified (see `core::verified_tokens`).
                let ring = if current.same_keys(&ring) {
                    current
                } else {
                    let ring = Arc::new(ring);
                    self.keys.replace_shared(ring.clone());
                    ring
                };
                state.last_success = Instant::now();
                state.last_failed = false;
                drop(state);
                self.publish_metrics();
                Ok(changed.then_some(ring))
            }
            Err(failure) => {
                state.last_failed = true;
                drop(state);
                // The messages name the source and the key by kid or
                // position; they never quote key material.
                tracing::warn!(
                    source = self.source.name(),
                    error = %failure,
                    "key ring refresh failed; keeping the last good ring"
                );
                self.metrics.secrets_refresh_failed();
                self.publish_metrics();
                Err(failure)
            }
        }
    }

    /// Whether the ring in use is stale, and how old.
    pub fn freshness(&self) -> RingFreshness {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let age = state.last_success.elapsed();
        if state.last_failed && age > self.interval {
            RingFreshness::Stale { age_seconds: age.as_secs() }
        } else {
            RingFreshness::Fresh
        }
    }

    /// Sets the ring-age and staleness gauges to what holds now; called on
    /// every refresh and before each scrape, so the age keeps counting.
    pub fn publish_metrics(&self) {
        let age = self.state.lock().unwrap_or_else(PoisonError::into_inner).last_success.elapsed().as_secs();
        let stale = matches!(self.freshness(), RingFreshness::Stale { .. });
        self.metrics.secrets_ring_state(age, stale);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::metrics::MockMetricsSink;
    use crate::ports::RingDocument;
    use async_trait::async_trait;
    use secrecy::SecretString;

    /// A source whose answer the test sets.
    struct Scripted(Mutex<Result<RingDocument, ()>>);

    #[async_trait]
    impl SecretSource for Scripted {
        async fn key_ring(&self) -> Result<RingDocument, SecretError> {
            match &*self.0.lock().unwrap() {
                Ok(document) => Ok(document.clone()),
                Err(()) => Err(SecretError::Unavailable(anyhow::anyhow!("down"))),
            }
        }
        fn name(&self) -> &'static str {
            "scripted"
        }
    }

    fn list(keys: &[&str]) -> RingDocument {
        RingDocument::from_hs256_list(keys.iter().map(|k| SecretString::from((*k).to_owned())).collect())
    }

    #[tokio::test]
    async fn a_failed_or_invalid_refresh_keeps_the_last_good_ring_and_is_counted() {
        let (a, b) = ("a".repeat(32), "b".repeat(32));
        let source = Arc::new(Scripted(Mutex::new(Ok(list(&[&a])))));
        let live = LiveKeyRing::new(KeyRing::new(&[SecretString::from(a.clone())]).unwrap());
        let mut metrics = MockMetricsSink::new();
        metrics.expect_secrets_refresh_failed().times(2).return_const(());
        metrics.expect_secrets_ring_state().return_const(());
        let refresher = KeyRefresher::new(source.clone(), live.clone(), Arc::new(metrics), Duration::ZERO);
        let first_kid = live.current().signing_kid().to_owned();

        *source.0.lock().unwrap() = Err(());
        assert!(matches!(refresher.refresh_now().await, Err(RefreshFailure::Source(_))));
        *source.0.lock().unwrap() = Ok(list(&["short"]));
        assert!(matches!(refresher.refresh_now().await, Err(RefreshFailure::Invalid(_))));
        assert_eq!(live.current().signing_kid(), first_kid);
        assert!(matches!(refresher.freshness(), RingFreshness::Stale { .. }));

        *source.0.lock().unwrap() = Ok(list(&[&b, &a]));
        refresher.refresh_now().await.unwrap();
        assert_ne!(live.current().signing_kid(), first_kid);
        assert_eq!(refresher.freshness(), RingFreshness::Fresh);
    }

    #[tokio::test]
    async fn a_refresh_that_reads_the_same_keys_keeps_the_ring_and_new_material_replaces_it() {
        let named = |secret: &str| RingDocument {
            keys: vec![crate::ports::KeyEntry {
                kid: Some("main".into()),
                alg: "HS256".into(),
                state: "active".into(),
                key: SecretString::from(secret.to_owned()),
            }],
        };
        let (a, b) = ("a".repeat(32), "b".repeat(32));
        let source = Arc::new(Scripted(Mutex::new(Ok(named(&a)))));
        let live = LiveKeyRing::new(KeyRing::from_document(&named(&a)).unwrap());
        let mut metrics = MockMetricsSink::new();
        metrics.expect_secrets_ring_state().return_const(());
        let refresher = KeyRefresher::new(source.clone(), live.clone(), Arc::new(metrics), Duration::ZERO);
        let first = live.current().generation();
        refresher.refresh_now().await.unwrap();
        assert_eq!(live.current().generation(), first, "the same keys: the ring in use stays");
        // The same kid, alg and state over another secret is another ring.
        *source.0.lock().unwrap() = Ok(named(&b));
        refresher.refresh_now().await.unwrap();
        assert_ne!(live.current().generation(), first);
        assert!(live.current().same_keys(&KeyRing::from_document(&named(&b)).unwrap()));
    }

    #[tokio::test]
    async fn a_single_failure_within_the_interval_is_not_stale() {
        let a = "a".repeat(32);
        let source = Arc::new(Scripted(Mutex::new(Err(()))));
        let live = LiveKeyRing::new(KeyRing::new(&[SecretString::from(a)]).unwrap());
        let mut metrics = MockMetricsSink::new();
        metrics.expect_secrets_refresh_failed().times(1).return_const(());
        metrics.expect_secrets_ring_state().withf(|_, stale| !stale).return_const(());
        let refresher = KeyRefresher::new(source, live, Arc::new(metrics), Duration::from_secs(60));
        assert!(refresher.refresh_now().await.is_err());
        assert_eq!(refresher.freshness(), RingFreshness::Fresh);
    }
}

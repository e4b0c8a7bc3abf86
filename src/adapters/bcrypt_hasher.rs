//! bcrypt on a bounded pool of blocking threads.
//!
//! Hashing never runs on the async workers: each job runs under
//! `spawn_blocking`, and a semaphore caps how many run or wait. When the
//! queue is full the caller gets `HashError::Busy` at once, which the HTTP
//! layer turns into `503` with `Retry-After`, instead of an unbounded queue.
//! With a [`MetricsSink`], the jobs waiting for a worker are reported as a
//! gauge after every change, and each refusal is counted.

use crate::core::password::{Password, PasswordHash, MAX_PASSWORD_BYTES};
use crate::ports::{HashError, MetricsSink, PasswordHasher};
use async_trait::async_trait;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long a refused caller is told to wait.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// bcrypt with a fixed cost and a bounded queue.
pub struct BcryptHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    workers: Arc<Semaphore>,
    /// Jobs holding a queue place but no worker yet.
    waiting: Arc<AtomicUsize>,
    metrics: Option<Arc<dyn MetricsSink>>,
}

/// One job's place in the queue: leaves it when the job gets a worker, or
/// when the caller gives up waiting (its future is dropped).
struct Waiting<'a> {
    hasher: &'a BcryptHasher,
}

impl<'a> Waiting<'a> {
    fn enter(hasher: &'a BcryptHasher) -> Self {
        let depth = hasher.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        hasher.report_depth(depth);
        Self { hasher }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let depth = self.hasher.waiting.fetch_sub(1, Ordering::SeqCst) - 1;
        self.hasher.report_depth(depth);
    }
}

impl BcryptHasher {
    /// `workers` jobs run at once; up to `queue` more wait for a worker.
    pub fn new(cost: u32, workers: usize, queue: usize) -> Self {
        Self {
            cost,
            permits: Arc::new(Semaphore::new(workers.max(1) + queue)),
            workers: Arc::new(Semaphore::new(workers.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            metrics: None,
        }
    }

    /// Reports the queue depth and refusals to `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<dyn MetricsSink>) -> Self {
        metrics.password_hash_queue_depth(0);
        self.metrics = Some(metrics);
        self
    }

    fn report_depth(&self, depth: usize) {
        if let Some(metrics) = &self.metrics {
            metrics.password_hash_queue_depth(depth);
        }
    }

    pub fn cost(&self) -> u32 {
        self.cost
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> Result<T, bcrypt::BcryptError> + Send + 'static,
    ) -> Result<T, HashError> {
        let Ok(_queued) = self.permits.clone().try_acquire_owned() else {
            if let Some(metrics) = &self.metrics {
                metrics.password_hash_refused();
            }
            return Err(HashError::Busy { retry_after: RETRY_AFTER });
        };
        let waiting = Waiting::enter(self);
        let running = self.workers.clone().acquire_owned().await;
        drop(waiting);
        let _running = running.map_err(|e| HashError::Unexpected(anyhow::Error::new(e)))?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(job))
            .await
            .map_err(|e| HashError::Unexpected(anyhow::Error::new(e)))?
            .map_err(|e| HashError::Unexpected(anyhow::Error::new(e)))
    }
}

/// The cost a bcrypt hash was made with.
fn stored_cost(hash: &PasswordHash) -> Option<u32> {
    let mut parts = hash.as_str().split('$');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(""), Some("2a" | "2b" | "2x" | "2y"), Some(cost)) if cost.len() == 2 => cost.parse().ok(),
        _ => None,
    }
}

#[async_trait]
impl PasswordHasher for BcryptHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        // Refuse rather than truncate: bcrypt reads at most 72 bytes. (Its
        // `non_truncating_hash` counts the NUL terminator too and so
        // refuses a 72-byte password the policy allows.)
        if password.expose().len() > MAX_PASSWORD_BYTES {
            return Err(HashError::Unexpected(anyhow::anyhow!("password exceeds bcrypt's 72-byte input")));
        }
        let password = password.clone();
        let cost = self.cost;
        self.run(move || bcrypt::hash(password.expose(), cost)).await.map(PasswordHash::new)
    }

    /// A hash reads `$2b$<cost>$…`; one whose cost is not this hasher's (or
    /// cannot be read) is re-hashed.
    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        stored_cost(hash) != Some(self.cost)
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError> {
        let password = password.clone();
        let hash = hash.clone();
        // Each form costs one bcrypt, whether or not the account exists: the
        // dummy hash of an unknown e-mail is checked against the same forms.
        self.run(move || {
            for form in password.verification_forms() {
                if bcrypt::verify(form, hash.as_str())? {
                    return Ok(true);
                }
            }
            Ok(false)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let hasher = BcryptHasher::new(4, 2, 2);
        let password = Password::unchecked("correct-Horse-battery-staple");
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.as_str().starts_with("$2b$04$"));
        assert!(hasher.verify(&password, &hash).await.unwrap());
        assert!(!hasher.verify(&Password::unchecked("wrong-Horse-battery-staple"), &hash).await.unwrap());
    }

    #[tokio::test]
    async fn a_corrupt_hash_is_an_error_not_a_panic() {
        let hasher = BcryptHasher::new(4, 1, 0);
        let corrupt = PasswordHash::new(format!("$2b$04${}é", "a".repeat(51)));
        assert!(matches!(hasher.verify(&Password::unchecked("x"), &corrupt).await, Err(HashError::Unexpected(_))));
    }

    #[tokio::test]
    async fn over_72_bytes_is_refused_by_hash_and_exactly_72_is_used_whole() {
        let hasher = BcryptHasher::new(4, 1, 0);
        assert!(hasher.hash(&Password::unchecked("a".repeat(73))).await.is_err());
        let full = Password::unchecked(format!("{}b", "a".repeat(71)));
        let hash = hasher.hash(&full).await.unwrap();
        assert!(!hasher.verify(&Password::unchecked(format!("{}c", "a".repeat(71))), &hash).await.unwrap());
        assert!(hasher.verify(&full, &hash).await.unwrap());
    }

    #[tokio::test]
    async fn a_71_byte_password_followed_by_nul_does_not_sign_in() {
        let hasher = BcryptHasher::new(4, 1, 0);
        let typed = "b".repeat(71);
        let hash = hasher.hash(&Password::unchecked(typed.clone())).await.unwrap();
        // bcrypt itself cannot tell them apart: its input ends with a NUL.
        assert!(bcrypt::verify(format!("{typed}\0"), hash.as_str()).unwrap());
        assert!(!hasher.verify(&Password::unchecked(format!("{typed}\0")), &hash).await.unwrap());
        assert!(hasher.verify(&Password::unchecked(typed), &hash).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_made_before_normalisation_still_verify() {
        let hasher = BcryptHasher::new(4, 1, 0);
        let typed = "cafe\u{301}-Horse-battery-staple";
        let legacy = PasswordHash::new(bcrypt::hash(typed, 4).unwrap());
        assert!(hasher.verify(&Password::unchecked(typed), &legacy).await.unwrap());
        // A new hash is of the NFKC form, so either spelling verifies.
        let fresh = hasher.hash(&Password::unchecked(typed)).await.unwrap();
        assert!(hasher.verify(&Password::unchecked("café-Horse-battery-staple"), &fresh).await.unwrap());
        assert!(hasher.verify(&Password::unchecked(typed), &fresh).await.unwrap());
    }

    #[tokio::test]
    async fn only_a_hash_of_another_cost_needs_a_rehash() {
        let hasher = BcryptHasher::new(5, 1, 0);
        let same = hasher.hash(&Password::unchecked("rehash-Horse-battery-staple")).await.unwrap();
        assert!(!hasher.needs_rehash(&same));
        assert!(hasher.needs_rehash(&PasswordHash::new(bcrypt::hash("x", 4).unwrap())));
        assert!(hasher.needs_rehash(&PasswordHash::new("$2b$4$short")));
        assert_eq!(stored_cost(&PasswordHash::new("$2y$13$abc")), Some(13));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_answers_busy_at_once() {
        let hasher = Arc::new(BcryptHasher::new(12, 1, 0));
        let slow = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.hash(&Password::unchecked("occupying-the-only-worker")).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let refused = hasher.hash(&Password::unchecked("refused-while-busy")).await;
        assert!(matches!(refused, Err(HashError::Busy { .. })));
        assert!(slow.await.unwrap().is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_queue_depth_and_refusals_reach_the_metrics() {
        let metrics = Arc::new(crate::adapters::prometheus_metrics::PrometheusMetrics::new().unwrap());
        let hasher = Arc::new(BcryptHasher::new(12, 1, 1).with_metrics(metrics.clone()));
        let spawn = |name: &'static str| {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.hash(&Password::unchecked(name)).await })
        };
        let running = spawn("occupying-the-only-worker");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let queued = spawn("waiting-for-the-worker");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(metrics.render().contains("password_hash_queue_depth 1\n"), "{}", metrics.render());
        // A client that gives up while queued leaves the queue.
        queued.abort();
        let _ = queued.await;
        assert!(metrics.render().contains("password_hash_queue_depth 0\n"));
        let waits = spawn("one-waits");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let refused = hasher.hash(&Password::unchecked("refused")).await;
        assert!(matches!(refused, Err(HashError::Busy { .. })));
        assert!(waits.await.unwrap().is_ok());
        assert!(metrics.render().contains("password_hash_refusals_total 1\n"));
        assert!(running.await.unwrap().is_ok());
        assert!(metrics.render().contains("password_hash_queue_depth 0\n"));
    }
}

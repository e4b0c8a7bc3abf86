//! The in-process rate limiter: exact, fast, and private to one process.
//!
//! State is one number per rate-limit key and one small counter per
//! failed-login key. Idle entries (a full bucket, an expired window) carry
//! no information, so a sweep drops them; an attacker who varies keys grows
//! memory only with the keys active within one window.
//!
//! Keys are never stored as strings: each (bucket, key) and each account is
//! reduced to a 64-bit digest under a key drawn at random per process
//! (SipHash), so an entry is 16 bytes whatever the key's length and nobody
//! outside the process can pick keys that collide. Two of a million keys
//! share a digest with a probability near 3 in 100 million, and then they
//! share a bucket: a tighter limit, never a looser one for anyone else.

use crate::core::limits::{gcra, FailureCounter};
use crate::core::limits::{Decision, FailurePolicy, Quota};
use crate::ports::{Bucket, Clock, FailureKey, LimiterError, RateLimiter, Reservation};
use async_trait::async_trait;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Sweep idle entries after this many writes.
const SWEEP_EVERY: u32 = 4096;

/// A key's digest is already a keyed hash: the maps use it as it is rather
/// than hashing it a second time.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in rather than panic.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, digest: u64) {
        self.0 = digest;
    }
}

type DigestMap<V> = HashMap<u64, V, BuildHasherDefault<DigestHasher>>;

#[derive(Default)]
struct AccountFailures {
    any_ip: Option<(FailureCounter, Duration)>,
    per_ip: HashMap<IpAddr, (FailureCounter, Duration)>,
}

fn shrink_if_sparse<V>(map: &mut DigestMap<V>) {
    if map.len() < map.capacity() / 4 {
        map.shrink_to_fit();
    }
}

#[derive(Default)]
struct State {
    /// Theoretical arrival time (GCRA) per digest of (bucket, key).
    buckets: DigestMap<i64>,
    /// Failure counters per digest of the account.
    failures: DigestMap<AccountFailures>,
    writes: u32,
}

impl State {
    fn sweep(&mut self, now_ms: i64) {
        self.buckets.retain(|_, tat| *tat > now_ms);
        self.failures.retain(|_, account| {
            account.per_ip.retain(|_, (counter, window)| !counter.is_idle(*window, now_ms));
            if account.any_ip.is_some_and(|(counter, window)| counter.is_idle(window, now_ms)) {
                account.any_ip = None;
            }
            account.any_ip.is_some() || !account.per_ip.is_empty()
        });
        // A burst of keys that has passed gives its table back.
        shrink_if_sparse(&mut self.buckets);
        shrink_if_sparse(&mut self.failures);
        self.writes = 0;
    }

    fn counter(&mut self, account: u64, key: &FailureKey) -> Option<&mut (FailureCounter, Duration)> {
        let account = self.failures.get_mut(&account)?;
        match key.ip {
            Some(ip) => account.per_ip.get_mut(&ip),
            None => account.any_ip.as_mut(),
        }
    }

    fn written(&mut self, now_ms: i64) {
        self.writes += 1;
        if self.writes >= SWEEP_EVERY {
            self.sweep(now_ms);
        }
    }
}

/// Rate limits and lockouts kept in this process's memory.
pub struct MemoryLimiter {
    clock: Arc<dyn Clock>,
    /// The process's secret key for key digests.
    digests: RandomState,
    state: Mutex<State>,
}

impl MemoryLimiter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, digests: RandomState::new(), state: Mutex::new(State::default()) }
    }

    fn bucket_digest(&self, bucket: Bucket, key: &str) -> u64 {
        let mut hasher = self.digests.build_hasher();
        hasher.write_u8(match bucket {
            Bucket::Auth => 0,
            Bucket::Api => 1,
        });
        hasher.write(key.as_bytes());
        hasher.finish()
    }

    /// Accounts are digested apart from buckets (a distinct tag), so an
    /// account never shares a digest with a rate-limit key by construction.
    fn account_digest(&self, account: &str) -> u64 {
        let mut hasher = self.digests.build_hasher();
        hasher.write_u8(u8::MAX);
        hasher.write(account.as_bytes());
        hasher.finish()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Entries currently held: rate-limit keys plus failure counters.
    pub fn len(&self) -> usize {
        let state = self.state();
        state.buckets.len()
            + state.failures.values().map(|a| a.per_ip.len() + usize::from(a.any_ip.is_some())).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every idle entry now.
    pub fn sweep(&self) {
        let now = self.clock.now_millis();
        self.state().sweep(now);
    }
}

#[async_trait]
impl RateLimiter for MemoryLimiter {
    async fn acquire(&self, bucket: Bucket, key: &str, quota: &Quota) -> Result<Decision, LimiterError> {
        let now = self.clock.now_millis();
        let slot = self.bucket_digest(bucket, key);
        let mut state = self.state();
        let (decision, new_tat) = gcra(state.buckets.get(&slot).copied(), now, quota);
        if let Some(tat) = new_tat {
            state.buckets.insert(slot, tat);
            state.written(now);
        }
        Ok(decision)
    }

    async fn locked_for(&self, key: &FailureKey) -> Result<Option<Duration>, LimiterError> {
        let now = self.clock.now_millis();
        let account = self.account_digest(&key.account);
        Ok(self.state().counter(account, key).and_then(|(counter, _)| counter.locked_for(now)))
    }

    async fn record_failure(&self, key: &FailureKey, policy: &FailurePolicy) -> Result<Option<Duration>, LimiterError> {
        let now = self.clock.now_millis();
        let account = self.account_digest(&key.account);
        let mut state = self.state();
        let account = state.failures.entry(account).or_default();
        let slot = match key.ip {
            Some(ip) => account.per_ip.entry(ip).or_insert((FailureCounter::default(), policy.window)),
            None => account.any_ip.get_or_insert((FailureCounter::default(), policy.window)),
        };
        slot.1 = policy.window.max(policy.lockout);
        let locked = slot.0.record(policy, now);
        state.written(now);
        Ok(locked)
    }

    async fn reserve_failure(&self, key: &FailureKey, policy: &FailurePolicy) -> Result<Reservation, LimiterError> {
        let now = self.clock.now_millis();
        let account = self.account_digest(&key.account);
        let mut state = self.state();
        let account = state.failures.entry(account).or_default();
        let slot = match key.ip {
            Some(ip) => account.per_ip.entry(ip).or_insert((FailureCounter::default(), policy.window)),
            None => account.any_ip.get_or_insert((FailureCounter::default(), policy.window)),
        };
        slot.1 = policy.window.max(policy.lockout);
        let reserved = slot.0.reserve(policy, now);
        state.written(now);
        Ok(match reserved {
            Ok(()) => Reservation::Granted,
            Err(retry_after) => Reservation::Refused { retry_after },
        })
    }

    async fn refund_failure(&self, key: &FailureKey) -> Result<(), LimiterError> {
        let account = self.account_digest(&key.account);
        if let Some(slot) = self.state().counter(account, key) {
            slot.0.refund();
        }
        Ok(())
    }

    async fn clear_failures(&self, key: &FailureKey) -> Result<(), LimiterError> {
        let account = self.account_digest(&key.account);
        if let Some(slot) = self.state().counter(account, key) {
            slot.0 = FailureCounter::default();
        }
        Ok(())
    }

    async fn clear_account(&self, account: &str) -> Result<(), LimiterError> {
        let account = self.account_digest(account);
        self.state().failures.remove(&account);
        Ok(())
    }

    async fn ping(&self) -> Result<(), LimiterError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testkit::FixedClock;

    fn limiter() -> (Arc<FixedClock>, MemoryLimiter) {
        let clock = Arc::new(FixedClock::at(1_000));
        (clock.clone(), MemoryLimiter::new(clock))
    }

    const POLICY: FailurePolicy =
        FailurePolicy { max: 3, window: Duration::from_secs(60), lockout: Duration::from_secs(120) };

    fn key(ip: Option<&str>) -> FailureKey {
        FailureKey { account: "alice@example.com".into(), ip: ip.map(|ip| ip.parse().unwrap()) }
    }

    #[tokio::test]
    async fn keys_are_limited_independently() {
        let (_, limiter) = limiter();
        let quota = Quota { per_period: 60, period: Duration::from_secs(60), burst: 1 };
        assert!(limiter.acquire(Bucket::Auth, "a", &quota).await.unwrap().allowed);
        assert!(!limiter.acquire(Bucket::Auth, "a", &quota).await.unwrap().allowed);
        assert!(limiter.acquire(Bucket::Auth, "b", &quota).await.unwrap().allowed);
        assert!(limiter.acquire(Bucket::Api, "a", &quota).await.unwrap().allowed);
    }

    #[tokio::test]
    async fn a_lockout_binds_the_pair_only_and_clearing_the_account_lifts_it() {
        let (clock, limiter) = limiter();
        for _ in 0..2 {
            assert_eq!(limiter.record_failure(&key(Some("10.0.0.1")), &POLICY).await.unwrap(), None);
        }
        assert!(limiter.record_failure(&key(Some("10.0.0.1")), &POLICY).await.unwrap().is_some());
        assert!(limiter.locked_for(&key(Some("10.0.0.1"))).await.unwrap().is_some());
        assert!(limiter.locked_for(&key(Some("10.0.0.2"))).await.unwrap().is_none());
        assert!(limiter.locked_for(&key(None)).await.unwrap().is_none());
        limiter.clear_account("alice@example.com").await.unwrap();
        assert!(limiter.locked_for(&key(Some("10.0.0.1"))).await.unwrap().is_none());
        clock.advance(1);
        assert!(limiter.ping().await.is_ok());
    }

    #[tokio::test]
    async fn idle_entries_are_swept() {
        let (clock, limiter) = limiter();
        let quota = Quota { per_period: 60, period: Duration::from_secs(60), burst: 5 };
        for n in 0..100 {
            limiter.acquire(Bucket::Api, &format!("k{n}"), &quota).await.unwrap();
            limiter.record_failure(&key(Some(&format!("10.0.0.{n}"))), &POLICY).await.unwrap();
        }
        assert_eq!(limiter.len(), 200);
        clock.advance(61);
        limiter.sweep();
        assert_eq!(limiter.len(), 100, "rate-limit keys are idle once full again");
        clock.advance(60);
        limiter.sweep();
        assert!(limiter.is_empty());
    }

    #[tokio::test]
    async fn clearing_one_pair_keeps_the_account_count() {
        let (_, limiter) = limiter();
        limiter.record_failure(&key(None), &POLICY).await.unwrap();
        limiter.record_failure(&key(Some("10.0.0.1")), &POLICY).await.unwrap();
        limiter.clear_failures(&key(Some("10.0.0.1"))).await.unwrap();
        limiter.record_failure(&key(None), &POLICY).await.unwrap();
        assert!(limiter.record_failure(&key(None), &POLICY).await.unwrap().is_some());
    }
}

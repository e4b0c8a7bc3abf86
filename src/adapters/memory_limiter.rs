//! The in-process rate limiter: exact, fast, and private to one process.
//!
//! State is one number per rate-limit key and one fixed-size slot per
//! failed-login counter. Idle entries (a full bucket, an expired window)
//! carry no information, so a sweep drops them; an attacker who varies keys
//! grows memory only with the keys active within one window.
//!
//! Keys are never stored as strings: each (bucket, key), each account and
//! each (account, address) pair is reduced to a 64-bit digest under a key
//! drawn at random per process (SipHash), so an entry's size does not depend
//! on the key's length and nobody outside the process can pick keys that
//! collide. Each kind of key is digested under a tag byte of its own, so two
//! kinds never hash the same input. Two of a million keys share a digest
//! with a probability near 3 in 100 million, and then they share a bucket
//! or a counter: a tighter limit, never a looser one for anyone else (as
//! before, unlocking one of two accounts that share a digest unlocks both).
//!
//! # Failed-login counters: one flat table
//!
//! Every failure counter, account-wide or per (account, address), is one
//! 16-byte `Slot` in one table keyed by digest: the account-wide counter
//! under the account's digest, a pair's under the digest of the account,
//! the address and the account's *generation*. A slot packs
//! [`FailureCounter`] exactly: a counter is either counting (a count above
//! zero and the start of its window) or not (a count of zero and the end of
//! its lockout, maybe past), never both, because the failure that locks a
//! counter zeroes its count; so one instant serves for either. (All it
//! drops is when a lockout that is over ended, which only a clock set back
//! before that end would read again.) The slot also keeps how long its
//! counter carries information (the larger of the last policy's window and
//! lockout, in whole seconds, rounded up: exact for any configured policy,
//! which is given in seconds), which the sweep needs.
//!
//! # Unlocking an account
//!
//! [`RateLimiter::clear_account`] must forget the account's counters from
//! every address, which a flat table cannot list. Instead the account moves
//! to a new generation: pair digests include it, so the pairs of the old
//! generation are unreachable at once, count against nobody, and are swept
//! when idle like any other counter. Generations live in a small side table,
//! only for accounts unlocked recently: an account without an entry is at
//! generation 0. An entry must outlive every pair counter of its account (or
//! the account would fall back to generation 0 and find old counters again),
//! so it is kept until the longest hold of any pair counter written before
//! the unlock has passed, and every later pair write moves that end out to
//! its own hold. The side table therefore holds at most one entry per
//! account unlocked within one hold, which only an administrator can do.
//! The counters an unlock leaves behind hold memory (and count in
//! [`MemoryLimiter::len`]) until they are idle and swept, as long as they
//! would have counted: never longer than one hold.
//!
//! What this module must never do: let a digest, a generation or a packed
//! slot make a limit looser than [`FailureCounter`] computes it.
//!
//! Memory: one slot is 24 bytes of table (digest and slot) plus hashbrown's
//! control byte, at a load between 7/16 and 7/8, whatever the account's
//! length or the number of addresses it fails from.

use crate::core::limits::{gcra, FailureCounter};
use crate::core::limits::{Decision, FailurePolicy, Quota};
use crate::ports::{Bucket, Clock, FailureKey, LimiterError, RateLimiter, Reservation};
use async_trait::async_trait;
use std::collections::hash_map::{DefaultHasher, RandomState};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Sweep idle entries after this many writes.
const SWEEP_EVERY: u32 = 4096;

/// The tag bytes that keep the kinds of key apart in the digests.
const TAG_AUTH: u8 = 0;
const TAG_API: u8 = 1;
const TAG_PAIR: u8 = u8::MAX - 1;
const TAG_ACCOUNT: u8 = u8::MAX;

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

fn shrink_if_sparse<V>(map: &mut DigestMap<V>) {
    if map.len() < map.capacity() / 4 {
        map.shrink_to_fit();
    }
}

/// One failure counter in the table: a [`FailureCounter`] and how long it
/// is worth keeping, in 16 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Slot {
    /// Failures in the current window; zero while locked.
    count: u32,
    /// The larger of the last policy's window and lockout, in seconds.
    hold_seconds: u32,
    /// While counting, when the window started; otherwise when the lockout
    /// ends (or ended), in milliseconds.
    instant_ms: i64,
}

impl Slot {
    fn counter(self) -> FailureCounter {
        if self.count > 0 {
            // A counter that counts is not locked: its lockout ended before
            // its window started (the slot does not keep when).
            FailureCounter { count: self.count, window_start_ms: self.instant_ms, locked_until_ms: i64::MIN }
        } else {
            // Without a count the window's start is never read.
            FailureCounter { count: 0, window_start_ms: 0, locked_until_ms: self.instant_ms }
        }
    }

    fn store(&mut self, counter: FailureCounter) {
        debug_assert!(counter.count == 0 || counter.locked_for(counter.window_start_ms).is_none());
        self.count = counter.count;
        self.instant_ms = if counter.count > 0 { counter.window_start_ms } else { counter.locked_until_ms };
    }

    fn hold(self) -> Duration {
        Duration::from_secs(u64::from(self.hold_seconds))
    }

    fn is_idle(self, now_ms: i64) -> bool {
        self.counter().is_idle(self.hold(), now_ms)
    }
}

/// How long a counter written under `policy` carries information, in whole
/// seconds (rounded up, so never shorter).
fn hold_seconds(policy: &FailurePolicy) -> u32 {
    let hold = policy.window.max(policy.lockout);
    let seconds = hold.as_secs().saturating_add(u64::from(hold.subsec_nanos() > 0));
    u32::try_from(seconds).unwrap_or(u32::MAX)
}

/// An account's generation after an unlock, and until when it must be kept.
#[derive(Clone, Copy, Debug)]
struct Generation {
    number: u64,
    /// No pair counter of the account carries information past this.
    keep_until_ms: i64,
}

/// A pair's digest, all but the account's generation, which is read under
/// the lock.
struct PairDigest(DefaultHasher);

impl PairDigest {
    fn finish(mut self, generation: u64) -> u64 {
        self.0.write_u64(generation);
        self.0.finish()
    }
}

/// Where a failure key's counter lives, digested outside the lock.
enum CounterKey {
    Account(u64),
    Pair { account: u64, pair: PairDigest },
}

#[derive(Default)]
struct State {
    /// Theoretical arrival time (GCRA) per digest of (bucket, key).
    buckets: DigestMap<i64>,
    /// Every failure counter, account-wide and per pair, by digest.
    failures: DigestMap<Slot>,
    /// The generation of each account unlocked within the last hold.
    generations: DigestMap<Generation>,
    /// The longest hold of any pair counter written so far, in milliseconds.
    longest_pair_hold_ms: i64,
    writes: u32,
}

impl State {
    fn sweep(&mut self, now_ms: i64) {
        self.buckets.retain(|_, tat| *tat > now_ms);
        self.failures.retain(|_, slot| !slot.is_idle(now_ms));
        self.generations.retain(|_, generation| generation.keep_until_ms > now_ms);
        // A burst of keys that has passed gives its table back.
        shrink_if_sparse(&mut self.buckets);
        shrink_if_sparse(&mut self.failures);
        shrink_if_sparse(&mut self.generations);
        self.writes = 0;
    }

    fn generation(&self, account: u64) -> u64 {
        self.generations.get(&account).map_or(0, |generation| generation.number)
    }

    fn digest(&self, key: CounterKey) -> u64 {
        match key {
            CounterKey::Account(account) => account,
            CounterKey::Pair { account, pair } => pair.finish(self.generation(account)),
        }
    }

    fn slot(&mut self, key: CounterKey) -> Option<&mut Slot> {
        let digest = self.digest(key);
        self.failures.get_mut(&digest)
    }

    /// The slot of `key`, made when missing, to be written at `now_ms` under
    /// a policy that holds for `hold_seconds`.
    fn slot_to_write(&mut self, key: CounterKey, hold_seconds: u32, now_ms: i64) -> &mut Slot {
        if let CounterKey::Pair { account, .. } = key {
            let hold_ms = i64::from(hold_seconds) * 1000;
            self.longest_pair_hold_ms = self.longest_pair_hold_ms.max(hold_ms);
            if let Some(generation) = self.generations.get_mut(&account) {
                generation.keep_until_ms = generation.keep_until_ms.max(now_ms.saturating_add(hold_ms));
            }
        }
        let digest = self.digest(key);
        let slot = self.failures.entry(digest).or_default();
        slot.hold_seconds = hold_seconds;
        slot
    }

    /// Forgets the account-wide counter and moves the account to a new
    /// generation, which leaves every pair counter it had behind.
    fn clear_account(&mut self, account: u64, now_ms: i64) {
        self.failures.remove(&account);
        // Every pair counter written so far is idle by then.
        let keep_until_ms = now_ms.saturating_add(self.longest_pair_hold_ms);
        let generation = self.generations.entry(account).or_insert(Generation { number: 0, keep_until_ms: i64::MIN });
        generation.number = generation.number.wrapping_add(1);
        generation.keep_until_ms = generation.keep_until_ms.max(keep_until_ms);
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
            Bucket::Auth => TAG_AUTH,
            Bucket::Api => TAG_API,
        });
        hasher.write(key.as_bytes());
        hasher.finish()
    }

    fn account_digest(&self, account: &str) -> u64 {
        let mut hasher = self.digests.build_hasher();
        hasher.write_u8(TAG_ACCOUNT);
        hasher.write(account.as_bytes());
        hasher.finish()
    }

    fn counter_key(&self, key: &FailureKey) -> CounterKey {
        let account = self.account_digest(&key.account);
        let Some(ip) = key.ip else {
            return CounterKey::Account(account);
        };
        let mut hasher = self.digests.build_hasher();
        hasher.write_u8(TAG_PAIR);
        // The account's length and the address's family make the input
        // unambiguous: no other (account, address) writes the same bytes.
        hasher.write_usize(key.account.len());
        hasher.write(key.account.as_bytes());
        match ip {
            IpAddr::V4(v4) => {
                hasher.write_u8(4);
                hasher.write(&v4.octets());
            }
            IpAddr::V6(v6) => {
                hasher.write_u8(6);
                hasher.write(&v6.octets());
            }
        }
        CounterKey::Pair { account, pair: PairDigest(hasher) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Entries currently held: rate-limit keys, failure counters (those an
    /// unlock left behind included, until they are swept) and the
    /// generations of recently unlocked accounts.
    pub fn len(&self) -> usize {
        let state = self.state();
        state.buckets.len() + state.failures.len() + state.generations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every idle entry now.
    pub fn sweep(&self) {
        let now = self.clock.now_millis();
        self.state().sweep(now);
    }

    /// Counts one attempt for `key` with `count`, in one step under the lock.
    fn count<T>(
        &self,
        key: &FailureKey,
        policy: &FailurePolicy,
        count: impl FnOnce(&mut FailureCounter, i64) -> T,
    ) -> T {
        let now = self.clock.now_millis();
        let key = self.counter_key(key);
        let mut state = self.state();
        let slot = state.slot_to_write(key, hold_seconds(policy), now);
        let mut counter = slot.counter();
        let answer = count(&mut counter, now);
        slot.store(counter);
        state.written(now);
        answer
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
        let key = self.counter_key(key);
        Ok(self.state().slot(key).and_then(|slot| slot.counter().locked_for(now)))
    }

    async fn record_failure(&self, key: &FailureKey, policy: &FailurePolicy) -> Result<Option<Duration>, LimiterError> {
        Ok(self.count(key, policy, |counter, now| counter.record(policy, now)))
    }

    async fn reserve_failure(&self, key: &FailureKey, policy: &FailurePolicy) -> Result<Reservation, LimiterError> {
        Ok(match self.count(key, policy, |counter, now| counter.reserve(policy, now)) {
            Ok(()) => Reservation::Granted,
            Err(retry_after) => Reservation::Refused { retry_after },
        })
    }

    async fn refund_failure(&self, key: &FailureKey) -> Result<(), LimiterError> {
        let key = self.counter_key(key);
        if let Some(slot) = self.state().slot(key) {
            let mut counter = slot.counter();
            counter.refund();
            slot.store(counter);
        }
        Ok(())
    }

    async fn clear_failures(&self, key: &FailureKey) -> Result<(), LimiterError> {
        let key = self.counter_key(key);
        if let Some(slot) = self.state().slot(key) {
            slot.store(FailureCounter::default());
        }
        Ok(())
    }

    async fn clear_account(&self, account: &str) -> Result<(), LimiterError> {
        let now = self.clock.now_millis();
        let account = self.account_digest(account);
        let mut state = self.state();
        state.clear_account(account, now);
        state.written(now);
        Ok(())
    }

    async fn ping(&self) -> Result<(), LimiterError> {
        Ok(())
    }
}

#[cfg(test)]
#[path = "memory_limiter_tests.rs"]
mod tests;

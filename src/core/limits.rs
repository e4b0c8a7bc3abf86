//! Rate limits and lockouts as values and arithmetic: quotas, decisions,
//! failure policies, and the computations shared by every limiter adapter
//! that keeps its own state. No I/O; the limiter port only stores state.
//!
//! Rate limits use GCRA (the generic cell rate algorithm): one number per
//! key, the theoretical arrival time, gives an exact token bucket.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

/// A token-bucket quota: `per_period` requests each `period`, at most
/// `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub per_period: u32,
    pub period: Duration,
    pub burst: u32,
}

/// The outcome of one rate-limit decision, with what the `RateLimit-*`
/// headers report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Until the bucket is full again.
    pub reset_after: Duration,
    /// When refused: until one more request would be allowed.
    pub retry_after: Duration,
}

/// Failed-login counting: `max` failures within `window` lock the key for
/// `lockout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailurePolicy {
    pub max: u32,
    pub window: Duration,
    pub lockout: Duration,
}

/// The configured limits of every bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub auth: Quota,
    pub api: Quota,
    pub login_failures: FailurePolicy,
    pub account_failures: FailurePolicy,
}

/// The address a limit counts against: IPv4 addresses as they are, IPv6
/// addresses by their /64, since one subscriber usually holds a whole /64
/// and could otherwise rotate through it to dodge every per-IP limit.
pub fn limited_network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let segments = v6.segments();
                IpAddr::V6(Ipv6Addr::new(segments[0], segments[1], segments[2], segments[3], 0, 0, 0, 0))
            }
        },
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn duration(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms.max(0)).unwrap_or(0))
}

/// Decides one request at `now_ms` for a key whose theoretical arrival time
/// is `tat_ms` (`None` when the key is idle); returns the decision and the
/// new arrival time to store when the request was allowed.
pub fn gcra(tat_ms: Option<i64>, now_ms: i64, quota: &Quota) -> (Decision, Option<i64>) {
    let per_period = i64::from(quota.per_period.max(1));
    let burst = i64::from(quota.burst.max(1));
    let interval = (millis(quota.period) / per_period).max(1);
    let capacity = interval.saturating_mul(burst);
    let tat = tat_ms.unwrap_or(now_ms).max(now_ms);
    let new_tat = tat.saturating_add(interval);
    let allow_at = new_tat - capacity;
    if now_ms < allow_at {
        let decision = Decision {
            allowed: false,
            limit: quota.burst.max(1),
            remaining: 0,
            reset_after: duration(tat - now_ms),
            retry_after: duration(allow_at - now_ms),
        };
        return (decision, None);
    }
    let remaining = (capacity - (new_tat - now_ms)) / interval;
    let decision = Decision {
        allowed: true,
        limit: quota.burst.max(1),
        remaining: u32::try_from(remaining.max(0)).unwrap_or(0),
        reset_after: duration(new_tat - now_ms),
        retry_after: Duration::ZERO,
    };
    (decision, Some(new_tat))
}

/// Failed-login state of one key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FailureCounter {
    pub count: u32,
    pub window_start_ms: i64,
    pub locked_until_ms: i64,
}

impl FailureCounter {
    /// How long the key stays locked, if it is.
    pub fn locked_for(&self, now_ms: i64) -> Option<Duration> {
        (self.locked_until_ms > now_ms).then(|| duration(self.locked_until_ms - now_ms))
    }

    /// Counts a failure; returns the lockout it started, if any.
    pub fn record(&mut self, policy: &FailurePolicy, now_ms: i64) -> Option<Duration> {
        if let Some(left) = self.locked_for(now_ms) {
            return Some(left);
        }
        if self.count == 0 || now_ms - self.window_start_ms >= millis(policy.window) {
            self.count = 0;
            self.window_start_ms = now_ms;
        }
        self.count += 1;
        if self.count >= policy.max.max(1) {
            self.count = 0;
            self.locked_until_ms = now_ms.saturating_add(millis(policy.lockout));
            return Some(policy.lockout);
        }
        None
    }

    /// Reserves one attempt: `Err(left)` while locked (nothing counted),
    /// otherwise counts it as [`Self::record`] does.
    pub fn reserve(&mut self, policy: &FailurePolicy, now_ms: i64) -> Result<(), Duration> {
        match self.locked_for(now_ms) {
            Some(left) => Err(left),
            None => {
                self.record(policy, now_ms);
                Ok(())
            }
        }
    }

    /// Gives back one reserved attempt; a running lockout stays.
    pub fn refund(&mut self) {
        self.count = self.count.saturating_sub(1);
    }

    /// Whether the counter holds nothing worth keeping at `now_ms`.
    pub fn is_idle(&self, policy_window: Duration, now_ms: i64) -> bool {
        self.locked_for(now_ms).is_none() && (self.count == 0 || now_ms - self.window_start_ms >= millis(policy_window))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn quota(per_minute: u32, burst: u32) -> Quota {
        Quota { per_period: per_minute, period: Duration::from_secs(60), burst }
    }

    #[test]
    fn a_burst_is_allowed_then_refused_then_refilled_at_the_rate() {
        let q = quota(20, 10);
        let mut tat = None;
        for expected_remaining in (0..10).rev() {
            let (decision, next) = gcra(tat, 0, &q);
            assert!(decision.allowed);
            assert_eq!(decision.remaining, expected_remaining);
            tat = next;
        }
        let (refused, next) = gcra(tat, 0, &q);
        assert!(!refused.allowed);
        assert_eq!(next, None);
        assert_eq!(refused.retry_after, Duration::from_secs(3));
        let (later, _) = gcra(tat, 3_000, &q);
        assert!(later.allowed);
    }

    #[test]
    fn ipv6_addresses_count_by_their_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(limited_network(a), limited_network(b));
        assert_eq!(limited_network(a).to_string(), "2001:db8:1:2::");
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(limited_network(v4), v4);
        assert_eq!(limited_network("::ffff:192.0.2.7".parse().unwrap()), v4);
    }

    #[test]
    fn lockout_engages_at_exactly_the_maximum() {
        let policy = FailurePolicy { max: 5, window: Duration::from_secs(900), lockout: Duration::from_secs(900) };
        let mut counter = FailureCounter::default();
        for _ in 0..4 {
            assert_eq!(counter.record(&policy, 1_000), None);
        }
        assert_eq!(counter.record(&policy, 1_000), Some(Duration::from_secs(900)));
        assert!(counter.locked_for(1_000).is_some());
        assert!(counter.locked_for(901_000).is_none());
    }

    #[test]
    fn failures_outside_the_window_start_a_new_count() {
        let policy = FailurePolicy { max: 2, window: Duration::from_secs(10), lockout: Duration::from_secs(60) };
        let mut counter = FailureCounter::default();
        assert_eq!(counter.record(&policy, 0), None);
        assert_eq!(counter.record(&policy, 10_000), None);
        assert!(counter.record(&policy, 11_000).is_some());
    }

    #[test]
    fn reservations_stop_at_the_maximum_and_refunds_give_one_back() {
        let policy = FailurePolicy { max: 5, window: Duration::from_secs(900), lockout: Duration::from_secs(900) };
        let mut counter = FailureCounter::default();
        counter.reserve(&policy, 0).expect("first");
        counter.refund();
        counter.refund();
        assert_eq!(counter.count, 0, "never below zero");
        let granted = (0..20).filter(|_| counter.reserve(&policy, 0).is_ok()).count();
        assert_eq!(granted, 5);
        assert_eq!(counter.reserve(&policy, 1), Err(Duration::from_millis(899_999)));
    }

    proptest! {
        #[test]
        fn never_more_than_burst_plus_elapsed_refill(
            per_minute in 1u32..1000, burst in 1u32..50, steps in proptest::collection::vec(0i64..5_000, 1..200)
        ) {
            let q = quota(per_minute, burst);
            let interval = (60_000 / i64::from(per_minute)).max(1);
            let (mut now, mut tat, mut allowed) = (0i64, None, 0i64);
            for step in steps {
                now += step;
                let (decision, next) = gcra(tat, now, &q);
                prop_assert!(decision.remaining < burst);
                if decision.allowed { allowed += 1; tat = next; } else { prop_assert!(decision.retry_after > Duration::ZERO); }
            }
            prop_assert!(allowed <= i64::from(burst) + now / interval);
        }
    }
}

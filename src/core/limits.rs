//! Rate limits and lockouts as values and arithmetic: quotas, decisions,
//! failure policies, and the computations shared by every limiter adapter
//! that keeps its own state. No I/O; the limiter port only stores state.
//!
//! Rate limits use GCRA (the generic cell rate algorithm): one number per
//! key, the theoretical arrival time, gives an exact token bucket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
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

/// NAT64's well-known prefix, `64:ff9b::/96` (RFC 6052): a translator puts
/// the IPv4 client in the last 32 bits.
const NAT64_PREFIX: [u16; 6] = [0x64, 0xff9b, 0, 0, 0, 0];

/// How many /64s' budgets one IPv6 /48 gets between them on the auth bucket.
/// A /48 is one site, often one subscriber (RFC 6177), who could otherwise
/// rotate through 65,536 /64s; a few are allowed, for sites with several
/// busy subnets.
pub const NETWORKS_PER_SITE: u32 = 4;

/// The IPv4 address an IPv6 one carries for a client that is really IPv4:
/// IPv4-mapped (`::ffff:a.b.c.d`), or behind NAT64 (`64:ff9b::a.b.c.d`).
fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    v6.to_ipv4_mapped().or_else(|| {
        let segments = v6.segments();
        (segments[..6] == NAT64_PREFIX).then(|| {
            let [.., high, low] = segments;
            Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))
        })
    })
}

/// The address a limit counts against: IPv4 addresses as they are, IPv6
/// addresses by their /64, since one subscriber usually holds a whole /64
/// and could otherwise rotate through it to dodge every per-IP limit.
/// IPv4 clients seen through IPv6 (mapped, or NAT64) count by their IPv4
/// address: every NAT64 client would otherwise share one /64.
pub fn limited_network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                IpAddr::V4(v4)
            } else {
                let segments = v6.segments();
                IpAddr::V6(Ipv6Addr::new(segments[0], segments[1], segments[2], segments[3], 0, 0, 0, 0))
            }
        }
    }
}

/// The IPv6 site (/48) of an address, which the auth bucket also limits as
/// a whole (with [`NETWORKS_PER_SITE`] times the quota); `None` for IPv4
/// clients, however they arrive.
pub fn limited_site(ip: IpAddr) -> Option<IpAddr> {
    match ip {
        IpAddr::V6(v6) if embedded_ipv4(v6).is_none() => {
            let segments = v6.segments();
            Some(IpAddr::V6(Ipv6Addr::new(segments[0], segments[1], segments[2], 0, 0, 0, 0, 0)))
        }
        _ => None,
    }
}

impl Quota {
    /// This quota `factor` times over: rate and burst.
    pub fn times(&self, factor: u32) -> Self {
        Self {
            per_period: self.per_period.saturating_mul(factor),
            period: self.period,
            burst: self.burst.saturating_mul(factor),
        }
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
        if let Some(left) = self.locked_for(now_ms) {
            return Err(left);
        }
        self.record(policy, now_ms);
        Ok(())
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
    fn nat64_clients_count_by_their_embedded_ipv4_address() {
        let a: IpAddr = "64:ff9b::c000:207".parse().unwrap();
        let b: IpAddr = "64:ff9b::198.51.100.9".parse().unwrap();
        assert_eq!(limited_network(a), "192.0.2.7".parse::<IpAddr>().unwrap());
        assert_eq!(limited_network(b), "198.51.100.9".parse::<IpAddr>().unwrap());
        assert_ne!(limited_network(a), limited_network(b));
        assert_eq!(limited_site(a), None);
        // Only the well-known /96 embeds an address at its end.
        let local_use: IpAddr = "64:ff9b:1::c000:207".parse().unwrap();
        assert_eq!(limited_network(local_use).to_string(), "64:ff9b:1::");
    }

    #[test]
    fn ipv6_addresses_also_count_by_their_slash_48() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:ffff::1".parse().unwrap();
        assert_ne!(limited_network(a), limited_network(b));
        assert_eq!(limited_site(a), limited_site(b));
        assert_eq!(limited_site(a).unwrap().to_string(), "2001:db8:1::");
        assert_eq!(limited_site("192.0.2.7".parse().unwrap()), None);
        assert_eq!(limited_site("::ffff:192.0.2.7".parse().unwrap()), None);
    }

    #[test]
    fn a_site_quota_is_several_network_quotas() {
        let site = quota(20, 10).times(NETWORKS_PER_SITE);
        assert_eq!((site.per_period, site.burst, site.period), (80, 40, Duration::from_secs(60)));
        assert_eq!(quota(u32::MAX, 1).times(2).per_period, u32::MAX);
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

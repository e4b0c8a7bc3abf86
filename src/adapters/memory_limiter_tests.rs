//! The in-process limiter: its keys, its flat table of failure counters,
//! unlocking and sweeping.

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

fn address(n: u32) -> IpAddr {
    IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 | n))
}

fn pair(account: &str, n: u32) -> FailureKey {
    FailureKey { account: account.into(), ip: Some(address(n)) }
}

#[tokio::test]
async fn an_unlock_leaves_none_of_the_counters_an_attacker_built_from_many_addresses() {
    let (clock, limiter) = limiter();
    let (owner, bystander) = ("owner@example.com", "bystander@example.com");
    // The attacker locks half the addresses and brings the rest to one
    // failure short of a lockout; the account-wide count is locked too.
    for n in 0..500 {
        let failures = if n % 2 == 0 { POLICY.max } else { POLICY.max - 1 };
        for _ in 0..failures {
            limiter.record_failure(&pair(owner, n), &POLICY).await.unwrap();
        }
    }
    for _ in 0..POLICY.max {
        limiter.record_failure(&FailureKey { account: owner.into(), ip: None }, &POLICY).await.unwrap();
        limiter.record_failure(&pair(bystander, 0), &POLICY).await.unwrap();
    }
    limiter.clear_account(owner).await.unwrap();

    let anywhere = FailureKey { account: owner.into(), ip: None };
    assert_eq!(limiter.locked_for(&anywhere).await.unwrap(), None);
    for n in 0..500 {
        assert_eq!(limiter.locked_for(&pair(owner, n)).await.unwrap(), None, "address {n} is unlocked");
        for _ in 1..POLICY.max {
            assert_eq!(limiter.record_failure(&pair(owner, n), &POLICY).await.unwrap(), None, "address {n}");
        }
    }
    assert!(limiter.locked_for(&pair(bystander, 0)).await.unwrap().is_some(), "another account stays locked");

    // The counters the unlock left behind are swept once idle, and the
    // owner's counts since the unlock are not lost with them.
    assert_eq!(limiter.reserve_failure(&pair(owner, 0), &POLICY).await.unwrap(), Reservation::Granted);
    assert!(limiter.locked_for(&pair(owner, 0)).await.unwrap().is_some());
    clock.advance(100);
    for _ in 1..POLICY.max {
        assert_eq!(limiter.record_failure(&pair(owner, 1), &POLICY).await.unwrap(), None);
    }
    assert_eq!(limiter.record_failure(&pair(owner, 1), &POLICY).await.unwrap(), Some(POLICY.lockout));
    // Past the hold of every counter from before the unlock, within the
    // lockout that started since.
    clock.advance(60);
    limiter.sweep();
    assert_eq!(limiter.len(), 2, "the pair locked after the unlock and the account's generation");
    for n in [0, 2, 3] {
        assert_eq!(limiter.locked_for(&pair(owner, n)).await.unwrap(), None, "address {n}");
    }
    assert!(limiter.locked_for(&pair(owner, 1)).await.unwrap().is_some(), "the lockout since the unlock holds");
    clock.advance(60);
    limiter.sweep();
    assert!(limiter.is_empty());
}

#[tokio::test]
async fn many_accounts_from_many_addresses_are_swept_back_to_nothing() {
    let (clock, limiter) = limiter();
    for account in 0..100 {
        let account = format!("user{account}@example.com");
        for n in 0..50 {
            limiter.record_failure(&pair(&account, n), &POLICY).await.unwrap();
        }
        limiter.record_failure(&FailureKey { account: account.clone(), ip: None }, &POLICY).await.unwrap();
    }
    for account in (0..100).step_by(10) {
        limiter.clear_account(&format!("user{account}@example.com")).await.unwrap();
    }
    let burst = limiter.state().failures.capacity();
    assert_eq!(
        limiter.len(),
        100 * 50 + 90 + 10,
        "every counter but the cleared account-wide ones, and 10 generations"
    );
    clock.advance(120);
    limiter.sweep();
    assert!(limiter.is_empty());
    let state = limiter.state();
    assert!(state.failures.capacity() < burst / 4, "the table is given back after the burst");
    assert_eq!(state.generations.capacity(), 0);
}

proptest::proptest! {
    #[test]
    fn a_slot_behaves_as_the_counter_it_packs(
        max in 1u32..5, steps in proptest::collection::vec((0u8..4, 0i64..3_000), 1..200)
    ) {
        let policy = FailurePolicy { max, window: Duration::from_secs(1), lockout: Duration::from_secs(2) };
        let mut counter = FailureCounter::default();
        let mut slot = Slot { hold_seconds: hold_seconds(&policy), ..Slot::default() };
        let mut now = 0;
        for (operation, step) in steps {
            now += step;
            let mut unpacked = slot.counter();
            match operation {
                0 => proptest::prop_assert_eq!(counter.record(&policy, now), unpacked.record(&policy, now)),
                1 => proptest::prop_assert_eq!(counter.reserve(&policy, now), unpacked.reserve(&policy, now)),
                2 => {
                    counter.refund();
                    unpacked.refund();
                }
                _ => (counter, unpacked) = (FailureCounter::default(), FailureCounter::default()),
            }
            slot.store(unpacked);
            proptest::prop_assert_eq!(counter.count, slot.count);
            for later in [now, now + 999, now + 1_000, now + 1_999, now + 2_000] {
                proptest::prop_assert_eq!(counter.locked_for(later), slot.counter().locked_for(later));
                proptest::prop_assert_eq!(counter.is_idle(slot.hold(), later), slot.is_idle(later));
            }
        }
    }
}

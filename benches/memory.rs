//! What the in-process state costs in memory at a million entries: the
//! limiter's keys and the revocation view. Bytes are counted by a counting
//! global allocator (the `cap` crate), so the figures are exact and do not
//! move with the machine's load; time is measured by the criterion benches.
//!
//! Each measure runs in a child process of its own, so the peak it prints
//! is its own: `cargo bench --bench memory` runs them all, and
//! `cargo bench --bench memory -- limiter:keys` one of them (any part of
//! a name chooses the measures that contain it).

// Byte counts become MiB for a printed figure; precision loss is harmless.
#![allow(clippy::cast_precision_loss)]

use cap::Cap;
use portcullis::adapters::memory_limiter::MemoryLimiter;
use portcullis::core::limits::{FailurePolicy, Quota};
use portcullis::core::revocation::{Revocation, RevocationView};
use portcullis::core::session::SessionId;
use portcullis::core::user::{CredentialEpoch, UnixSeconds, UserId};
use portcullis::ports::{Bucket, Clock, FailureKey, RateLimiter};
use std::alloc::System;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

const MILLION: u32 = 1_000_000;
const NOW: UnixSeconds = UnixSeconds::new(1_800_000_000);

struct ManualClock(AtomicI64);

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / 1_048_576.0
}

/// Prints what building the state in `fill` holds, and the peak while it
/// was built, against `target_mib`.
fn report<T>(what: &str, entries: usize, target_mib: f64, fill: impl FnOnce() -> T) -> T {
    let before = ALLOCATOR.allocated();
    let state = fill();
    let held = ALLOCATOR.allocated() - before;
    let peak = ALLOCATOR.max_allocated() - before;
    let verdict = if mib(held) <= target_mib { "within" } else { "OVER" };
    println!(
        "{what}: {entries} entries hold {:.1} MiB ({:.0} bytes each), peak {:.1} MiB; {verdict} the {target_mib} MiB target",
        mib(held),
        held as f64 / entries as f64,
        mib(peak),
    );
    state
}

fn ipv4(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | n))
}

fn limiter_keys() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let clock = Arc::new(ManualClock(AtomicI64::new(NOW.seconds() * 1000)));
    let quota = Quota { per_period: 20, period: Duration::from_secs(60), burst: 10 };
    // 64 MB, the target, is 61.0 MiB.
    let limiter = report("limiter rate-limit keys", MILLION as usize, 61.0, || {
        let limiter = MemoryLimiter::new(clock.clone());
        runtime.block_on(async {
            for n in 0..MILLION {
                let key = format!("ip:{}", ipv4(n));
                limiter.acquire(Bucket::Auth, &key, &quota).await.unwrap();
            }
        });
        limiter
    });
    assert_eq!(limiter.len(), MILLION as usize);
    // Every bucket is full again a refill period later: all idle.
    let before_sweep = ALLOCATOR.allocated();
    clock.0.fetch_add(60_000, Ordering::Relaxed);
    limiter.sweep();
    let freed = before_sweep.saturating_sub(ALLOCATOR.allocated());
    println!(
        "  a refill period later, a sweep leaves {} entries ({:.1} MiB of table freed)",
        limiter.len(),
        mib(freed)
    );
}

fn limiter_failures() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let clock = Arc::new(ManualClock(AtomicI64::new(NOW.seconds() * 1000)));

    let policy = FailurePolicy { max: 5, window: Duration::from_secs(900), lockout: Duration::from_secs(900) };
    // Two million keys: one million accounts failing from one address each,
    // held to the same 64 MB a million as rate-limit keys.
    let limiter = report("limiter failed-login keys (account and pair)", 2 * MILLION as usize, 122.0, || {
        let limiter = MemoryLimiter::new(clock.clone());
        runtime.block_on(async {
            for n in 0..MILLION {
                let account = format!("user{n}@example.com");
                let pair = FailureKey { account: account.clone(), ip: Some(ipv4(n)) };
                limiter.record_failure(&pair, &policy).await.unwrap();
                limiter.record_failure(&FailureKey { account, ip: None }, &policy).await.unwrap();
            }
        });
        limiter
    });
    assert_eq!(limiter.len(), 2 * MILLION as usize);
    // Every counter is idle once its window and lockout have passed.
    let before_sweep = ALLOCATOR.allocated();
    clock.0.fetch_add(900_000, Ordering::Relaxed);
    limiter.sweep();
    let freed = before_sweep.saturating_sub(ALLOCATOR.allocated());
    println!("  a window later, a sweep leaves {} entries ({:.1} MiB of table freed)", limiter.len(), mib(freed));
}

fn revocations(kind: &str) {
    let until = NOW + 930;
    let revocation = |n: u32| {
        let id = Uuid::from_u128(u128::from(n) << 64 | 0x7000_8000_0000_0000);
        match kind {
            "tokens" => Revocation::Token { jti: id, until },
            "sessions" => Revocation::Session { sid: SessionId::from_uuid(id), until },
            _ => Revocation::UserCutoff { user: UserId::from_uuid(id), epoch: CredentialEpoch::new(1), until },
        }
    };
    // 100 MB, the target, is 95.4 MiB.
    let view = report(&format!("revocation view, {kind}"), MILLION as usize, 95.4, || {
        let view = RevocationView::new();
        for n in 0..MILLION {
            view.apply(&revocation(n), NOW);
        }
        view
    });
    assert_eq!(view.len(), MILLION as usize);
}

fn main() {
    let measures =
        ["limiter:keys", "limiter:failures", "revocations:tokens", "revocations:sessions", "revocations:cutoffs"];
    let chosen: Vec<String> = std::env::args().skip(1).filter(|arg| !arg.starts_with("--")).collect();
    match chosen.as_slice() {
        [one] if one == "limiter:keys" => limiter_keys(),
        [one] if one == "limiter:failures" => limiter_failures(),
        [one] if one.starts_with("revocations:") => revocations(&one["revocations:".len()..]),
        _ => {
            let me = std::env::current_exe().expect("the bench's own path");
            for measure in
                measures.iter().filter(|m| chosen.is_empty() || chosen.iter().any(|c| m.contains(c.as_str())))
            {
                let status = Command::new(&me).arg(measure).status().expect("the measure runs");
                assert!(status.success(), "{measure} failed");
            }
        }
    }
}

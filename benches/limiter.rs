//! The in-process limiter: decisions per second, and the memory that one
//! million distinct keys cost before and after idle entries are swept.
//!
//! The memory figures are printed (criterion measures time only); they come
//! from the process's resident set, read from `/proc/self/statm`.

// Byte counts become MiB for a printed figure; precision loss is harmless.
#![allow(clippy::cast_precision_loss)]

use criterion::{criterion_group, criterion_main, Criterion};
use portcullis::adapters::memory_limiter::MemoryLimiter;
use portcullis::core::limits::Quota;
use portcullis::ports::{Bucket, Clock, RateLimiter};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct ManualClock(AtomicI64);

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

const QUOTA: Quota = Quota { per_period: 20, period: Duration::from_secs(60), burst: 10 };

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn memory_for_a_million_keys(runtime: &tokio::runtime::Runtime) {
    let clock = Arc::new(ManualClock(AtomicI64::new(1_800_000_000_000)));
    let limiter = MemoryLimiter::new(clock.clone());
    let before = resident_bytes();
    runtime.block_on(async {
        for n in 0..1_000_000u32 {
            let key = format!("ip:10.{}.{}.{}", n >> 16, (n >> 8) & 0xff, n & 0xff);
            limiter.acquire(Bucket::Auth, &key, &QUOTA).await.unwrap();
        }
    });
    let filled = resident_bytes();
    let held = limiter.len();
    // Every bucket is full again a refill period later: all idle.
    clock.0.fetch_add(60_000, Ordering::Relaxed);
    limiter.sweep();
    println!(
        "limiter memory: {held} keys held, resident +{:.1} MiB ({:.0} bytes/key); after sweep {} keys",
        (filled.saturating_sub(before)) as f64 / 1_048_576.0,
        (filled.saturating_sub(before)) as f64 / held.max(1) as f64,
        limiter.len(),
    );
}

fn decisions(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    memory_for_a_million_keys(&runtime);

    let clock = Arc::new(ManualClock(AtomicI64::new(1_800_000_000_000)));
    let limiter = MemoryLimiter::new(clock.clone());
    let keys: Vec<String> = (0..10_000).map(|n| format!("user:{n}")).collect();
    let mut next = 0usize;
    c.bench_function("memory_limiter_decision", |b| {
        b.iter(|| {
            next = (next + 1) % keys.len();
            clock.0.fetch_add(1, Ordering::Relaxed);
            runtime.block_on(limiter.acquire(Bucket::Api, &keys[next], &QUOTA)).unwrap()
        });
    });
}

criterion_group!(benches, decisions);
criterion_main!(benches);

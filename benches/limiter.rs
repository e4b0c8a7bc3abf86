//! The in-process limiter: the time of one decision. The memory its keys
//! take is counted by `benches/memory.rs`.

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

fn decisions(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
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

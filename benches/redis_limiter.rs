//! The Redis limiter: rate-limit decisions per second from one process,
//! awaited one at a time and with 32 in flight.
//!
//! Each decision is one `EVALSHA` of `src/adapters/redis/gcra.lua` on one of
//! 10 000 keys, with the API's default quota (600 a minute, as many at
//! once), so nearly every decision is allowed and writes. The server-side
//! ceiling for the very same script call comes from
//! `scripts/redis-benchmark.sh`, which uses the same script file, key shape
//! and arguments and prints the ratio of the two.
//!
//! Redis comes from `TEST_REDIS_URL`; without it the benchmark says so and
//! measures nothing. Its keys live under `portcullis-bench` and expire
//! within a minute.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use portcullis::adapters::redis_limiter::{KeyPrefix, RedisLimiter};
use portcullis::core::limits::Quota;
use portcullis::ports::{Bucket, RateLimiter};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The API's default quota; `scripts/redis-benchmark.sh` passes its GCRA
/// arguments (interval 100 ms, capacity 60 000 ms).
const QUOTA: Quota = Quota { per_period: 600, period: Duration::from_secs(60), burst: 600 };
const KEYS: u64 = 10_000;
const IN_FLIGHT: usize = 32;

fn key(n: u64) -> String {
    // The shape of redis-benchmark's `__rand_int__`: twelve digits.
    format!("user:{:012}", n % KEYS)
}

fn decisions(c: &mut Criterion) {
    let Some(url) = std::env::var("TEST_REDIS_URL").ok().filter(|url| !url.trim().is_empty()) else {
        println!("SKIPPED: the Redis limiter benchmark needs TEST_REDIS_URL=redis://HOST:PORT");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let limiter = runtime
        .block_on(RedisLimiter::connect(&url))
        .unwrap_or_else(|error| panic!("TEST_REDIS_URL cannot be reached: {error:#}"))
        .with_prefix(KeyPrefix::parse("portcullis-bench").expect("a valid prefix"))
        .with_timeout(Duration::from_secs(5));

    let mut group = c.benchmark_group("redis_limiter");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decision_sequential", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let started = Instant::now();
                for n in 0..iterations {
                    limiter.acquire(Bucket::Api, &key(n), &QUOTA).await.expect("a decision");
                }
                started.elapsed()
            })
        });
    });
    group.bench_function("decision_32_in_flight", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let next = Arc::new(AtomicU64::new(0));
                let started = Instant::now();
                let workers: Vec<_> = (0..IN_FLIGHT)
                    .map(|_| {
                        let (limiter, next) = (limiter.clone(), next.clone());
                        tokio::spawn(async move {
                            loop {
                                let n = next.fetch_add(1, Ordering::Relaxed);
                                if n >= iterations {
                                    break;
                                }
                                limiter.acquire(Bucket::Api, &key(n), &QUOTA).await.expect("a decision");
                            }
                        })
                    })
                    .collect();
                for worker in workers {
                    worker.await.expect("a worker");
                }
                started.elapsed()
            })
        });
    });
    group.finish();
}

criterion_group!(benches, decisions);
criterion_main!(benches);

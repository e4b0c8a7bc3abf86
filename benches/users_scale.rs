//! What a login's store calls and an admin list page cost at 1 000 users
//! and at 1 000 000, on Postgres: the two must stay within 1.5x of each
//! other. bcrypt is left out; it does not depend on the number of users.
//!
//! Needs `TEST_DATABASE_URL` (a server where a new database may be
//! created): one database per size, dropped at the end, each seeded with
//! one `generate_series` insert (ids shaped as UUIDv7 in creation order, as
//! the service mints them), and each measure is taken at both sizes back
//! to back. `scripts/users-scale.sh` prints the query plans.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use portcullis::adapters::postgres::{connect, PostgresOptions, PostgresStore};
use portcullis::adapters::system::OsEntropy;
use portcullis::core::audit::{AuditEvent, AuditType, Origin};
use portcullis::core::email::Email;
use portcullis::core::refresh::RefreshToken;
use portcullis::core::session::{SessionId, SessionUse};
use portcullis::core::user::{UnixSeconds, UserId};
use portcullis::ports::{Entropy, RefreshRecord, SessionRecord, SessionRepo, UserRepo};
use portcullis::testing::DropGuard;
use sqlx::postgres::PgPoolOptions;
use std::sync::atomic::{AtomicU64, Ordering};

const SIZES: [u64; 2] = [1_000, 1_000_000];
const PAGE: u32 = 51;

/// `$1..=$2` users; the id's first 48 bits are a millisecond per user, as
/// in a UUIDv7, so the primary key's order is the creation order.
const SEED: &str = "INSERT INTO users (id, email, password_hash, role, status, created_at, updated_at) \
    SELECT (lpad(to_hex(1700000000000 + n), 12, '0') || '7000' || '8' || lpad(to_hex(n), 15, '0'))::uuid, \
           'user' || n || '@example.com', \
           '$2b$10$C6UzMDM.H6dfI/f/IKxGhuJYHnlNW5Yh7bv9R0N0p9Qb0RXDzuQyC', 'user', 'active', \
           1700000000 + n / 1000, 1700000000 + n / 1000 \
    FROM generate_series($1::bigint, $2::bigint) AS n";

fn id_of(n: u64) -> UserId {
    let text = format!("{:012x}70008{:015x}", 1_700_000_000_000 + n, n);
    UserId::from_uuid(text.parse().expect("a seeded id"))
}

/// A cheap spread of users over the whole table, the same every run.
fn pick(counter: &AtomicU64, users: u64) -> u64 {
    let step = counter.fetch_add(1, Ordering::Relaxed);
    step.wrapping_mul(0x9E37_79B9_7F4A_7C15) % users + 1
}

async fn login_store_calls(store: &PostgresStore, n: u64) {
    let email = Email::parse(&format!("user{n}@example.com")).expect("a seeded address");
    let user = store.by_email(&email).await.expect("the store answers").expect("a seeded user");
    let now = UnixSeconds::new(1_800_000_000);
    let entropy = OsEntropy;
    let session = SessionRecord {
        id: SessionId::from_uuid(entropy.uuid_v4()),
        user_id: user.id,
        created_at: now,
        revoked_at: None,
        credential_epoch: user.credential_epoch,
        last_use: SessionUse { at: now, ip: Some(std::net::Ipv4Addr::LOCALHOST.into()), user_agent: None },
    };
    let record = RefreshRecord {
        token_hash: RefreshToken::generate(&entropy).hash(),
        session_id: session.id,
        user_id: user.id,
        issued_at: now,
        expires_at: now + 3600,
        rotated_at: None,
    };
    let origin = Origin::system();
    let event = AuditEvent::new(&entropy, now.seconds() * 1000, &origin, AuditType::LoginSucceeded, Some(user.id));
    assert!(store.create(&session, &record, &[event]).await.expect("the store answers"));
}

/// A database of its own holding `users` users, seeded, vacuumed and
/// checkpointed, so that no background write of the seed runs while the
/// figures are taken.
async fn seeded(users: u64) -> Option<(PostgresStore, DropGuard)> {
    let (url, guard) = portcullis::testing::fresh_database().await?;
    let store = connect(&url, PostgresOptions::default()).await.expect("the database migrates");
    let seeder = PgPoolOptions::new().max_connections(1).connect(&url).await.unwrap();
    let started = std::time::Instant::now();
    sqlx::query(SEED).bind(1i64).bind(i64::try_from(users).unwrap()).execute(&seeder).await.unwrap();
    sqlx::query("VACUUM ANALYZE users").execute(&seeder).await.unwrap();
    // Needs a superuser; without one the figures carry the flush's noise.
    let _ = sqlx::query("CHECKPOINT").execute(&seeder).await;
    seeder.close().await;
    eprintln!("users_scale: seeded {users} users in {:?}", started.elapsed());
    Some((store, guard))
}

fn users_at_scale(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let mut stores = Vec::new();
    for users in SIZES {
        let Some(store) = runtime.block_on(seeded(users)) else {
            eprintln!("users_scale: no TEST_DATABASE_URL; skipped");
            return;
        };
        stores.push((users, store));
    }
    let mut group = c.benchmark_group("users_at_scale");
    let counter = AtomicU64::new(0);
    // Each measure at both sizes back to back, so both see the same machine.
    for (users, (store, _)) in &stores {
        group.bench_with_input(BenchmarkId::new("login_store_calls", users), users, |b, &users| {
            b.iter(|| runtime.block_on(login_store_calls(store, pick(&counter, users))));
        });
    }
    for (users, (store, _)) in &stores {
        group.bench_with_input(BenchmarkId::new("admin_list_page", users), users, |b, &users| {
            b.iter(|| {
                let after = id_of(pick(&counter, users));
                let page = runtime.block_on(UserRepo::list(store, Some(after), PAGE)).expect("the store answers");
                assert!(!page.is_empty() || after == id_of(users));
            });
        });
    }
    group.finish();
    // The databases are dropped with their guards, after their pools.
    for (_, (store, guard)) in stores {
        drop(store);
        drop(guard);
    }
}

criterion_group!(benches, users_at_scale);
criterion_main!(benches);

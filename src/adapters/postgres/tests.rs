//! The PostgreSQL adapter against a real server: the storage contract,
//! migrations under concurrent start, races the database must settle, and
//! connection failures. Skipped (loudly) without `TEST_DATABASE_URL`.

use super::{connect, is_connection_sqlstate, pool_options, PostgresOptions, PostgresStore, MIGRATOR};
use crate::adapters::contract;
use crate::core::email::Email;
use crate::core::password::PasswordHash;
use crate::core::user::{CredentialEpoch, Role, UnixSeconds, User, UserId, UserStatus};
use crate::ports::{RepoError, SchemaStatus, UserInsertError, UserRepo};
use crate::testing::fresh_database;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection as _, PgConnection};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

fn test_options() -> PostgresOptions {
    PostgresOptions {
        max_connections: 8,
        min_connections: 0,
        acquire_timeout: Duration::from_secs(5),
        connect_deadline: Duration::from_secs(10),
    }
}

/// Returns early from the test when no server is configured; the
/// helper has already said why.
macro_rules! fresh_store {
    () => {{
        let Some((url, guard)) = fresh_database().await else { return };
        let store = connect(&url, test_options()).await.expect("a fresh Postgres database");
        (store, url, guard)
    }};
}

fn user(email: &str) -> User {
    User {
        id: UserId::from_uuid(Uuid::now_v7()),
        email: Email::parse(email).expect("a valid test address"),
        password_hash: PasswordHash::new("$2b$04$abcdefghijklmnopqrstuuK6fGdYsY7S8mLyXbbPj2xDnhR7ABCDe"),
        role: Role::User,
        status: UserStatus::Active,
        created_at: UnixSeconds::new(1_700_000_000),
        updated_at: UnixSeconds::new(1_700_000_000),
        credential_epoch: CredentialEpoch::INITIAL,
        email_verified: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_keeps_the_users_contract() {
    let (store, _url, _guard) = fresh_store!();
    contract::users_contract(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_survives_abandoned_writes() {
    let (store, _url, _guard) = fresh_store!();
    contract::abandoned_writes_contract(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_keeps_the_sessions_contract() {
    let (store, _url, _guard) = fresh_store!();
    let store = Arc::new(store);
    contract::sessions_contract(store.as_ref(), store.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_keeps_the_account_tokens_contract() {
    let (store, _url, _guard) = fresh_store!();
    contract::account_tokens_contract(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_keeps_the_audit_contract() {
    let (store, _url, _guard) = fresh_store!();
    contract::audit_contract(&store, &store, &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_keeps_the_mfa_contract() {
    let (store, _url, _guard) = fresh_store!();
    let store = Arc::new(store);
    contract::mfa_contract(store.as_ref(), store.as_ref(), store.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_keeps_the_revocations_contract() {
    let (store, _url, _guard) = fresh_store!();
    contract::revocations_contract(&store).await;
}

#[tokio::test]
async fn migrations_are_current_after_connecting_and_not_before() {
    let Some((url, _guard)) = fresh_database().await else { return };
    let options = PgConnectOptions::from_str(&url).expect("a valid URL");
    let unmigrated = PostgresStore { pool: pool_options(&test_options()).connect_lazy_with(options) };
    assert!(!unmigrated.migrations_current().await.expect("migrations readable"));

    let store = connect(&url, test_options()).await.expect("a fresh Postgres database");
    assert!(store.migrations_current().await.expect("migrations readable"));
    assert!(unmigrated.migrations_current().await.expect("migrations readable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_together_migrate_once() {
    const REPLICAS: usize = 4;
    let Some((url, _guard)) = fresh_database().await else { return };
    let replicas: Vec<_> = (0..REPLICAS)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { connect(&url, test_options()).await })
        })
        .collect();
    let mut stores = Vec::with_capacity(REPLICAS);
    for replica in replicas {
        stores.push(replica.await.expect("the replica's task finishes").expect("every replica connects"));
    }
    for store in &stores {
        assert!(store.migrations_current().await.expect("migrations readable"));
    }
    let applied: Vec<(i64, i64)> =
        sqlx::query_as("SELECT version, count(*) FROM _sqlx_migrations GROUP BY version ORDER BY version")
            .fetch_all(&stores[0].pool)
            .await
            .expect("the migrations table is readable");
    let embedded: Vec<(i64, i64)> = MIGRATOR.iter().map(|migration| (migration.version, 1)).collect();
    assert_eq!(applied, embedded, "each migration is applied exactly once");
    // And the schema is whole: the users table answers.
    stores[1].ping().await.expect("the store answers");
    assert!(stores[2].list(None, 1).await.expect("the users table exists").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_registrations_of_one_email_end_in_one_insert() {
    const ROUNDS: usize = 10;
    let (store, _url, _guard) = fresh_store!();
    let store = Arc::new(store);
    for round in 0..ROUNDS {
        let address = format!("racer{round}@example.com");
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let (store, barrier, racer) = (Arc::clone(&store), Arc::clone(&barrier), user(&address));
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.insert(&racer, &[]).await
                })
            })
            .collect();
        let mut results = Vec::with_capacity(2);
        for racer in racers {
            results.push(racer.await.expect("the racing task finishes"));
        }
        let inserted = results.iter().filter(|result| result.is_ok()).count();
        let taken = results.iter().filter(|result| matches!(result, Err(UserInsertError::EmailTaken))).count();
        assert_eq!((inserted, taken), (1, 1), "one insert and one EmailTaken: {results:?}");
    }
    assert_eq!(store.list(None, 100).await.expect("storage answers").len(), ROUNDS);
}

#[tokio::test]
async fn the_database_refuses_an_address_differing_only_in_case() {
    let (store, _url, _guard) = fresh_store!();
    // Written by other means than the adapter, so not normalised.
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, role, status, created_at, updated_at) \
         VALUES ($1, 'Mixed@Example.COM', 'x', 'user', 'active', 0, 0)",
    )
    .bind(Uuid::now_v7())
    .execute(&store.pool)
    .await
    .expect("a raw insert");
    let result = store.insert(&user("mixed@example.com"), &[]).await;
    assert!(matches!(result, Err(UserInsertError::EmailTaken)), "{result:?}");
}

#[tokio::test]
async fn other_unique_violations_are_not_email_taken() {
    let (store, _url, _guard) = fresh_store!();
    let first = user("first@example.com");
    store.insert(&first, &[]).await.expect("the first user is stored");
    let same_id = User { email: Email::parse("second@example.com").expect("a valid address"), ..first };
    let result = store.insert(&same_id, &[]).await;
    assert!(matches!(result, Err(UserInsertError::Repo(RepoError::Unexpected(_)))), "{result:?}");
}

#[tokio::test]
async fn the_pool_replaces_connections_the_server_dropped() {
    let (store, url, _guard) = fresh_store!();
    store.ping().await.expect("the store answers");
    let mut admin = PgConnection::connect(&url).await.expect("a second connection");
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .expect("backends terminated");
    assert!(!terminated.is_empty(), "the pool held a connection");
    store.ping().await.expect("the pool reconnects by itself");
    admin.close().await.expect("closed");
}

#[tokio::test]
async fn a_closed_pool_is_unavailable() {
    let (store, _url, _guard) = fresh_store!();
    store.pool.close().await;
    let result = store.ping().await;
    assert!(matches!(result, Err(RepoError::Unavailable(_))), "{result:?}");
    let result = store.by_id(UserId::from_uuid(Uuid::now_v7())).await;
    assert!(matches!(result, Err(RepoError::Unavailable(_))), "{result:?}");
}

#[tokio::test]
async fn a_lost_server_fails_requests_fast_as_unavailable() {
    // Nothing listens on port 1: as if the database went away.
    let options = PgConnectOptions::from_str("postgres://app@127.0.0.1:1/auth").expect("a valid URL");
    let acquire_timeout = Duration::from_millis(300);
    let store = PostgresStore {
        pool: pool_options(&PostgresOptions { acquire_timeout, ..test_options() }).connect_lazy_with(options),
    };
    let started = Instant::now();
    let result = store.ping().await;
    assert!(matches!(result, Err(RepoError::Unavailable(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "failed fast: {:?}", started.elapsed());
    let result = store.has_active_admin().await;
    assert!(matches!(result, Err(RepoError::Unavailable(_))), "{result:?}");
}

#[tokio::test]
async fn an_unreachable_server_fails_after_the_deadline_without_revealing_the_password() {
    let deadline = Duration::from_secs(1);
    let options = PostgresOptions { connect_deadline: deadline, ..test_options() };
    let started = Instant::now();
    let error = connect("postgres://app:hunter2-secret@127.0.0.1:1/auth", options)
        .await
        .err()
        .expect("nothing listens on port 1");
    let elapsed = started.elapsed();
    let message = format!("{error:#}");
    assert!(elapsed >= deadline, "kept trying until the deadline: {elapsed:?}");
    assert!(elapsed < deadline + Duration::from_secs(3), "gave up soon after it: {elapsed:?}");
    assert!(message.contains("DATABASE_URL=postgres://app:***@127.0.0.1:1/auth"), "{message}");
    assert!(message.contains("within 1s"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(!format!("{error:?}").contains("hunter2"), "{error:?}");
}

#[tokio::test]
async fn a_malformed_url_is_refused_without_echoing_it() {
    let error = connect("postgres://app:hunter2-secret@db:notaport/auth", test_options())
        .await
        .err()
        .expect("the port is not a number");
    assert!(!format!("{error:#}").contains("hunter2"), "{error:#}");
}

#[test]
fn connection_sqlstates_are_told_from_the_rest() {
    for code in ["08000", "08001", "08003", "08006", "08P01", "57P01", "57P02", "57P03", "57P04", "57P05"] {
        assert!(is_connection_sqlstate(code), "{code} is a connection failure");
    }
    for code in ["23505", "23503", "40001", "40P01", "57014", "42P01", "28P01", "3D000"] {
        assert!(!is_connection_sqlstate(code), "{code} is not a connection failure");
    }
}

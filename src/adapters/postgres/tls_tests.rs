//! TLS to Postgres: `sslmode=require` against the local server, and
//! `verify-ca` / `verify-full` against a server the test starts with a
//! certificate from a CA it makes up. A refused certificate fails at once,
//! with a message that says it is TLS, never "could not reach".

use super::{connect, PostgresOptions};
use crate::adapters::test_certificates::TestAuthority;
use crate::testing::{fresh_database, start_postgres_with_tls, ScratchDir};
use std::time::{Duration, Instant};

fn options() -> PostgresOptions {
    PostgresOptions {
        max_connections: 2,
        min_connections: 0,
        acquire_timeout: Duration::from_secs(5),
        connect_deadline: Duration::from_secs(20),
    }
}

/// `url` with `parameters` added to its query.
fn with_query(url: &str, parameters: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{parameters}")
}

/// Whether the pool's connection to `store` runs over TLS, by the server's word.
async fn encrypted(store: &super::PostgresStore) -> bool {
    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&store.pool)
        .await
        .expect("pg_stat_ssl answers")
}

#[tokio::test]
async fn sslmode_require_connects_over_tls() {
    let Some((url, _guard)) = fresh_database().await else { return };
    let started = Instant::now();
    match connect(&with_query(&url, "sslmode=require"), options()).await {
        Ok(store) => assert!(encrypted(&store).await, "sslmode=require gave a plain connection"),
        // A server without TLS (the official and the local container
        // images serve none): `require` must refuse it at once, as TLS.
        Err(error) => {
            let error = format!("{error:#}");
            assert!(error.contains("does not support TLS"), "not a server without TLS: {error}");
            assert!(error.contains("TLS to Postgres") && !error.contains("could not reach"), "{error}");
            assert!(started.elapsed() < Duration::from_secs(5), "refused only after {:?}", started.elapsed());
        }
    }
}

/// Refuses as TLS, fast (no retries until the deadline), naming where to look.
async fn refused_as_tls(url: &str) -> String {
    let started = Instant::now();
    let error = match connect(url, options()).await {
        Ok(_) => panic!("{url} was accepted"),
        Err(error) => format!("{error:#}"),
    };
    assert!(started.elapsed() < Duration::from_secs(5), "a TLS refusal was retried for {:?}", started.elapsed());
    assert!(error.contains("TLS to Postgres") && error.contains("sslrootcert"), "{error}");
    assert!(!error.contains("could not reach"), "{error}");
    assert!(!error.contains("s3cret"), "the password leaked: {error}");
    error
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_full_trusts_the_configured_ca_and_refuses_a_stranger_or_the_wrong_name() {
    let authority = TestAuthority::new("Portcullis test Postgres CA");
    let files = ScratchDir::new("postgres-tls");
    let server = authority.issue(&["localhost"], files.path(), "postgres");
    let Some(postgres) = start_postgres_with_tls(&server.certificate, &server.key).await else { return };
    let ca = authority.write_ca(&files.path().join("ca.pem"));
    let stranger = TestAuthority::new("Some other CA").write_ca(&files.path().join("stranger.pem"));
    let url = |host: &str, mode: &str, root: &std::path::Path| {
        format!(
            "postgres://postgres:s3cret@{host}:{}/postgres?sslmode={mode}&sslrootcert={}",
            postgres.port,
            root.display()
        )
    };

    let store = connect(&url("localhost", "verify-full", &ca), options())
        .await
        .unwrap_or_else(|error| panic!("verify-full with the right CA and name connects: {error:#}"));
    assert!(encrypted(&store).await);
    store.pool.close().await;

    let message = refused_as_tls(&url("localhost", "verify-full", &stranger)).await;
    assert!(message.contains("UnknownIssuer") || message.contains("unknown issuer"), "{message}");
    refused_as_tls(&url("localhost", "verify-ca", &stranger)).await;

    // The certificate names localhost, not 127.0.0.1: verify-full refuses.
    let message = refused_as_tls(&url("127.0.0.1", "verify-full", &ca)).await;
    assert!(message.contains("not valid for name"), "{message}");

    // verify-ca with the right CA connects. It should skip the host name,
    // as libpq's does; sqlx 0.8.6 only skips rustls's old error variant,
    // which rustls 0.23 no longer returns, so it checks the name too: a
    // stricter check, which the README states. This pins it, so an upgrade
    // that changes it is noticed.
    let store = connect(&url("localhost", "verify-ca", &ca), options())
        .await
        .unwrap_or_else(|error| panic!("verify-ca with the right CA connects: {error:#}"));
    assert!(encrypted(&store).await);
    store.pool.close().await;
    refused_as_tls(&url("127.0.0.1", "verify-ca", &ca)).await;
}

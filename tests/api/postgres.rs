//! Postgres-only behaviour: the SQLite fallback at start, the message when
//! there is no fallback, and recovery when the database comes back.
//!
//! The rest of the suite runs on Postgres too with
//! `PORTCULLIS_TEST_STORE=postgres` (see `.ci/run`).

use crate::helpers::{assert_problem, json_body, spawn_app_with, unique_email, STRONG_PASSWORD};
use crate::proxy::Proxy;
use portcullis::app::config::Settings;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const UNREACHABLE: &str = "postgres://portcullis:pg-secret-pw@127.0.0.1:1/portcullis";

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_postgres_at_start_falls_back_to_sqlite_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let fallback = format!("sqlite://{}", dir.path().join("fallback.db").display());
    let app = spawn_app_with(&[
        ("DATABASE_URL", UNREACHABLE),
        ("PORTCULLIS_SQLITE_FALLBACK", &fallback),
        ("PORTCULLIS_DATABASE__CONNECT_DEADLINE_SECONDS", "1"),
    ])
    .await;

    let health = json_body(app.get("/healthz").await).await;
    assert_eq!(health["fallback"], true);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(json_body(ready).await["fallback"], true);
    assert_eq!(app.metric_value("db_fallback_active").await, 1.0);
    assert_eq!(app.register(&unique_email("fallback"), STRONG_PASSWORD).await.status().as_u16(), 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_fallback_the_start_fails_naming_database_url_without_its_password() {
    let vars: HashMap<String, String> = [
        ("DATABASE_URL", UNREACHABLE),
        ("PORTCULLIS_BIND", "127.0.0.1:0"),
        ("PORTCULLIS_DATABASE__CONNECT_DEADLINE_SECONDS", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let settings = Settings::load(None, &vars).unwrap();
    let started = Instant::now();
    let error = match portcullis::app::start(&settings).await {
        Ok(_) => panic!("the start must fail"),
        Err(error) => format!("{error:#}"),
    };
    assert!(started.elapsed() >= Duration::from_secs(1), "it retried until the deadline");
    assert!(error.contains("DATABASE_URL"), "{error}");
    assert!(error.contains("***") && !error.contains("pg-secret-pw"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_postgres_answers_503_and_its_return_recovers_with_no_data_lost() {
    let Some((url, _database)) = portcullis::testing::fresh_database().await else { return };
    let upstream = upstream_of(&url);
    let proxy = Proxy::start(upstream).await;
    let proxied = url.replacen(&upstream.to_string(), &proxy.addr.to_string(), 1);
    let app =
        spawn_app_with(&[("DATABASE_URL", &proxied), ("PORTCULLIS_DATABASE__ACQUIRE_TIMEOUT_SECONDS", "1")]).await;
    let (kept, later) = (unique_email("kept"), unique_email("later"));
    assert_eq!(app.register(&kept, STRONG_PASSWORD).await.status().as_u16(), 201);
    let token = app.login_pair(&kept, STRONG_PASSWORD).await.access_token;

    proxy.cut();
    assert_problem(app.register(&later, STRONG_PASSWORD).await, 503, "service_unavailable").await;
    assert_problem(app.me(&token).await, 503, "service_unavailable").await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status().as_u16(), 503);
    assert_eq!(json_body(ready).await["checks"]["database"], "failing");
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200, "liveness touches no dependency");

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.get("/readyz").await.status().as_u16() != 200 {
        assert!(Instant::now() < deadline, "the service did not recover by itself");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.login(&kept, STRONG_PASSWORD).await.status().as_u16(), 200, "committed data survived");
    assert_eq!(app.me(&token).await.status().as_u16(), 200);
    assert_eq!(app.register(&later, STRONG_PASSWORD).await.status().as_u16(), 201);
}

/// The `host:port` a Postgres URL points at, resolved.
fn upstream_of(url: &str) -> std::net::SocketAddr {
    let rest = url.split_once("://").unwrap().1;
    let authority = rest.split(['/', '?']).next().unwrap();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host_port = if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:5432") };
    let host_port = host_port.replace("localhost", "127.0.0.1");
    host_port.parse().unwrap_or_else(|_| panic!("TEST_DATABASE_URL must name an IP address and port: {host_port}"))
}

//! Protection and operations beyond the routes themselves: the bounded
//! hashing pool, readiness failures, CORS, HSTS, histogram buckets and
//! process metrics.

use crate::helpers::{assert_problem, header, json_body, spawn_app_with, unique_email, STRONG_PASSWORD};
use async_trait::async_trait;
use poem::listener::{Acceptor, Listener, TcpListener};
use portcullis::app::http::{routes, AppState};
use portcullis::app::key_refresh::KeyRefresher;
use portcullis::app::readiness::ReadinessProbe;
use portcullis::ports::{RepoError, RingDocument, SchemaStatus, SecretError, SecretSource};
use serde_json::json;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread")]
async fn a_saturated_hashing_pool_answers_503_with_retry_after() {
    let app = spawn_app_with(&[
        ("PORTCULLIS_HASH_WORKERS", "1"),
        ("PORTCULLIS_HASH_QUEUE", "0"),
        ("PORTCULLIS_BCRYPT_COST", "11"),
    ])
    .await;
    let email = unique_email("storm");
    assert_eq!(app.register(&email, STRONG_PASSWORD).await.status().as_u16(), 201);

    // Five: an address's failure budget reserves at most five verifications
    // at once, and the pool, not that budget, is under test here.
    let logins = (0..5).map(|_| app.login(&email, STRONG_PASSWORD));
    let responses = futures_util::future::join_all(logins).await;

    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert!(statuses.contains(&200), "one login gets the worker: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 503), "{statuses:?}");
    let refused = responses.into_iter().find(|r| r.status().as_u16() == 503).expect("a login is refused");
    let retry_after = header(refused.headers(), "retry-after").map(str::to_owned);
    assert_problem(refused, 503, "service_unavailable").await;
    assert_eq!(retry_after.as_deref(), Some("1"));
}

struct OutdatedSchema;

#[async_trait]
impl SchemaStatus for OutdatedSchema {
    async fn migrations_current(&self) -> Result<bool, RepoError> {
        Ok(false)
    }
}

struct UnreachableSecrets;

#[async_trait]
impl SecretSource for UnreachableSecrets {
    async fn key_ring(&self) -> Result<RingDocument, SecretError> {
        Err(SecretError::Unavailable(anyhow::anyhow!("secret store unreachable")))
    }
    fn name(&self) -> &'static str {
        "unreachable"
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_answers_503_naming_the_failing_checks() {
    let app = spawn_app_with(&[]).await;
    let healthy = &app.running.as_ref().unwrap().state;
    // A refresher whose source has gone away: its last good ring stays, and
    // with a zero interval the failed refresh makes it stale at once.
    let secrets = Arc::new(KeyRefresher::new(
        Arc::new(UnreachableSecrets),
        healthy.auth.live_keys().clone(),
        healthy.metrics.clone(),
        std::time::Duration::ZERO,
    ));
    assert!(secrets.refresh_now().await.is_err());
    let state = Arc::new(AppState {
        auth: healthy.auth.clone(),
        metrics: healthy.metrics.clone(),
        render_metrics: healthy.render_metrics.clone(),
        readiness: ReadinessProbe {
            users: healthy.readiness.users.clone(),
            schema: Arc::new(OutdatedSchema),
            limiter: healthy.readiness.limiter.clone(),
            secrets: secrets.clone(),
            admin_configured: true,
            fallback: false,
            draining: portcullis::app::readiness::Drain::default(),
        },
        keys: secrets,
        trusted_proxies: Vec::new(),
        client_ip_header: portcullis::app::http::client_ip::ClientIpHeader::None,
        metrics_on_main: true,
        cors_allowed_origins: Vec::new(),
        hsts_max_age_seconds: None,
        mail_queue: None,
    });
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let address = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let server = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(routes(state)));

    let response = app.client.get(format!("http://{address}/readyz")).send().await.unwrap();

    assert_eq!(response.status().as_u16(), 503);
    let body = json_body(response).await;
    assert_eq!(
        body,
        json!({
            "status": "unavailable",
            "fallback": false,
            "checks": {
                "database": "ok",
                "rate_limiter": "ok",
                "secrets": "stale",
                "secrets_age_seconds": 0,
                "seed": "failing"
            }
        })
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_is_off_by_default() {
    let app = spawn_app_with(&[]).await;
    let response = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/auth/login"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(header(response.headers(), "access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_origins_get_preflight_answers_and_cors_headers() {
    let app = spawn_app_with(&[("PORTCULLIS_CORS_ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/auth/login"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type, authorization")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(header(preflight.headers(), "access-control-allow-origin"), Some("https://app.example.com"));
    let methods = header(preflight.headers(), "access-control-allow-methods").unwrap_or_default().to_owned();
    assert!(methods.contains("POST"), "{methods}");
    assert!(header(preflight.headers(), "x-request-id").is_some());

    let actual = app.client.get(app.url("/healthz")).header("origin", "https://app.example.com").send().await.unwrap();
    assert_eq!(header(actual.headers(), "access-control-allow-origin"), Some("https://app.example.com"));
    let exposed = header(actual.headers(), "access-control-expose-headers").unwrap_or_default().to_lowercase();
    assert!(exposed.contains("x-request-id") && exposed.contains("retry-after"), "{exposed}");

    let stranger = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/auth/login"))
        .header("origin", "https://evil.example.net")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(header(stranger.headers(), "access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn hsts_is_sent_only_when_configured() {
    let plain = spawn_app_with(&[]).await;
    assert!(header(plain.get("/healthz").await.headers(), "strict-transport-security").is_none());
    let strict = spawn_app_with(&[("PORTCULLIS_HSTS_MAX_AGE_SECONDS", "31536000")]).await;
    let response = strict.get("/v1/users/me").await;
    assert_eq!(header(response.headers(), "strict-transport-security"), Some("max-age=31536000; includeSubDomains"));
}

#[tokio::test(flavor = "multi_thread")]
async fn latency_buckets_fit_bcrypt_and_process_metrics_are_exposed() {
    let app = spawn_app_with(&[]).await;
    app.get("/healthz").await;
    let metrics = app.metrics().await;
    for bucket in ["le=\"0.001\"", "le=\"0.1\"", "le=\"0.2\"", "le=\"0.3\"", "le=\"0.5\"", "le=\"1\""] {
        assert!(
            metrics.contains(&format!(
                "http_request_duration_seconds_bucket{{method=\"GET\",route=\"/healthz\",{bucket}}}"
            )),
            "missing bucket {bucket}"
        );
    }
    for process in ["process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds"] {
        assert!(metrics.contains(process), "missing {process}");
    }
}

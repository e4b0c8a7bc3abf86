//! `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`, and a
//! graceful stop.

use crate::helpers::{header, json_body, spawn_app, spawn_app_with, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn healthz_reports_ok_and_the_version() {
    let app = spawn_app().await;

    let response = app.get("/healthz").await;

    assert_eq!(response.status().as_u16(), 200);
    assert!(header(response.headers(), "content-type").unwrap().starts_with("application/json"));
    let body = json_body(response).await;
    assert_eq!(body, json!({"status": "ok", "fallback": false, "version": env!("CARGO_PKG_VERSION")}));
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_reports_every_check_ok() {
    let app = spawn_app().await;

    let response = app.get("/readyz").await;

    assert_eq!(response.status().as_u16(), 200);
    let body = json_body(response).await;
    assert_eq!(
        body,
        json!({
            "status": "ok",
            "fallback": false,
            "checks": {"database": "ok", "rate_limiter": "ok", "secrets": "ok", "seed": "ok"}
        })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_prometheus_text_with_the_contract_names() {
    let app = spawn_app().await;
    let pair = app.login_pair(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let admin_id = json_body(app.me(&pair.access_token).await).await["id"].as_str().unwrap().to_owned();
    assert_eq!(app.admin_get(&pair.access_token, &admin_id).await.status().as_u16(), 200);
    assert_eq!(app.admin_unlock(&pair.access_token, &admin_id).await.status().as_u16(), 204);
    let stray = uuid::Uuid::new_v4();
    assert_eq!(app.get(&format!("/v1/nowhere/{stray}")).await.status().as_u16(), 404);
    app.login(ADMIN_EMAIL, "not-the-Right-password-11").await;

    let response = app.get("/metrics").await;

    assert_eq!(response.status().as_u16(), 200);
    let content_type = header(response.headers(), "content-type").unwrap_or_default().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.unwrap();
    for expected in [
        "# TYPE http_requests_total counter",
        "# TYPE http_request_duration_seconds histogram",
        r#"route="/v1/admin/users/{"#,
        r#"http_requests_total{method="POST",route="/v1/auth/login",status="200"} 1"#,
        r#"http_request_duration_seconds_bucket{method="GET",route="/v1/users/me","#,
        r"auth_login_attempts_total{outcome=",
        r"rate_limit_decisions_total{bucket=",
        r#"tokens_issued_total{kind="access"}"#,
        r#"tokens_issued_total{kind="refresh"}"#,
        "refresh_token_reuse_total 0",
        r#"refresh_refusals_total{reason="cut_off"} 0"#,
        "db_fallback_active 0",
    ] {
        assert!(text.contains(expected), "/metrics lacks {expected:?}:\n{text}");
    }
    assert!(!text.contains(&admin_id), "a raw id became a label:\n{text}");
    assert!(!text.contains(&stray.to_string()), "a raw path became a label:\n{text}");
    assert!(!text.contains("route=\"/v1/nowhere"), "an unmatched path became a label:\n{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn metric_route_labels_are_the_api_templates() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let admin_id = json_body(app.me(&admin).await).await["id"].as_str().unwrap().to_owned();
    app.admin_get(&admin, &admin_id).await;
    app.admin_unlock(&admin, &admin_id).await;

    let text = app.metrics().await;

    for expected in [
        r#"http_requests_total{method="GET",route="/v1/admin/users/{id}",status="200"} 1"#,
        r#"http_requests_total{method="POST",route="/v1/admin/users/{id}/unlock",status="204"} 1"#,
    ] {
        assert!(text.contains(expected), "/metrics lacks {expected:?}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_can_be_served_on_their_own_listener() {
    let app = spawn_app_with(&[("PORTCULLIS_METRICS_BIND", "127.0.0.1:0")]).await;
    let metrics_addr = app.running.as_ref().unwrap().metrics_addr.expect("a metrics address");

    let separate = app.client.get(format!("http://{metrics_addr}/metrics")).send().await.unwrap();

    assert_eq!(separate.status().as_u16(), 200);
    assert!(separate.text().await.unwrap().contains("db_fallback_active"));
    assert_eq!(app.get("/metrics").await.status().as_u16(), 404);
}

fn committed_spec_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi").join("openapi.json")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;

    let response = app.get("/openapi.json").await;

    assert_eq!(response.status().as_u16(), 200);
    assert!(header(response.headers(), "content-type").unwrap().starts_with("application/json"));
    let spec: Value = json_body(response).await;
    assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", spec["openapi"]);
    let paths = spec["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/v1/auth/register", "post"),
        ("/v1/auth/login", "post"),
        ("/v1/auth/refresh", "post"),
        ("/v1/auth/logout", "post"),
        ("/v1/auth/logout-all", "post"),
        ("/v1/auth/verify", "get"),
        ("/v1/users/me", "get"),
        ("/v1/users/me/password", "put"),
        ("/v1/admin/users", "get"),
        ("/v1/admin/users/{id}", "get"),
        ("/v1/admin/users/{id}", "patch"),
        ("/v1/admin/users/{id}", "delete"),
        ("/v1/admin/users/{id}/unlock", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} missing from the spec");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_served_openapi_document_is_the_committed_one() {
    let path = committed_spec_path();
    let Ok(committed) = std::fs::read(&path) else {
        eprintln!("skipped: {} does not exist yet (generate it with `cargo run -- openapi`)", path.display());
        return;
    };
    let app = spawn_app().await;

    let served = app.get("/openapi.json").await.bytes().await.unwrap();

    assert!(served.as_ref() == committed.as_slice(), "/openapi.json differs from {}: regenerate it", path.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_docs_page_is_self_contained_under_a_strict_policy() {
    let app = spawn_app().await;

    let response = app.get("/docs").await;

    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert!(header(&headers, "content-type").unwrap().starts_with("text/html"));
    let policy = header(&headers, "content-security-policy").expect("a Content-Security-Policy").to_owned();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(!policy.contains("http") && !policy.contains('*') && !policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(header(&headers, "x-frame-options"), Some("DENY"));
    let html = response.text().await.unwrap();
    assert!(html.to_lowercase().contains("<html") && html.contains("swagger"), "not the Swagger UI page");
    for tag in
        html.split('<').skip(1).filter(|t| t.starts_with("script") || t.starts_with("link") || t.starts_with("img"))
    {
        let head = tag.split('>').next().unwrap_or_default();
        for attribute in ["src=", "href="] {
            if let Some(at) = head.find(attribute) {
                let value = head[at + attribute.len()..].trim_start_matches(['"', '\'']);
                assert!(
                    !(value.starts_with("http:") || value.starts_with("https:") || value.starts_with("//")),
                    "external asset in /docs: <{head}>"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_lets_an_in_flight_request_finish() {
    // A bcrypt cost high enough that the login is still running when the
    // stop arrives.
    let mut app = spawn_app_with(&[("PORTCULLIS_BCRYPT_COST", "10")]).await;
    let client = app.client.clone();
    let url = app.url("/v1/auth/login");
    let login = tokio::spawn(async move {
        client.post(url).json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})).send().await
    });
    tokio::time::sleep(Duration::from_millis(15)).await;
    assert!(!login.is_finished(), "the login finished before the stop; raise the bcrypt cost");

    let stopped = app.running.take().unwrap().stop().await;

    let response = login.await.unwrap().expect("the in-flight request got a response");
    assert_eq!(response.status().as_u16(), 200);
    assert!(json_body(response).await["access_token"].is_string());
    stopped.expect("stop returns Ok");
    // Nothing listens any more.
    let fresh = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(fresh.get(app.url("/healthz")).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_separate_metrics_listener_sends_the_common_headers() {
    let app = spawn_app_with(&[("PORTCULLIS_METRICS_BIND", "127.0.0.1:0")]).await;
    let metrics_addr = app.running.as_ref().unwrap().metrics_addr.expect("a metrics address");

    for path in ["/metrics", "/nope"] {
        let response = app
            .client
            .get(format!("http://{metrics_addr}{path}"))
            .header("x-request-id", "scrape-1")
            .send()
            .await
            .unwrap();
        crate::helpers::assert_common_headers(response.headers(), path);
        assert_eq!(header(response.headers(), "x-request-id"), Some("scrape-1"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn liveness_answers_on_the_metrics_listener_too_with_the_same_body() {
    let app = spawn_app_with(&[("PORTCULLIS_METRICS_BIND", "127.0.0.1:0")]).await;
    let metrics_addr = app.running.as_ref().unwrap().metrics_addr.expect("a metrics address");

    let main = app.get("/healthz").await;
    let separate = app.client.get(format!("http://{metrics_addr}/healthz")).send().await.unwrap();

    assert_eq!(separate.status().as_u16(), 200);
    assert_eq!(header(separate.headers(), "content-type"), header(main.headers(), "content-type"));
    let (main, separate) = (json_body(main).await, json_body(separate).await);
    assert_eq!(separate, main);
    assert_eq!(separate["status"], "ok");
    // Readiness stays on the main listener only.
    let readiness = app.client.get(format!("http://{metrics_addr}/readyz")).send().await.unwrap();
    assert_eq!(readiness.status().as_u16(), 404);
}

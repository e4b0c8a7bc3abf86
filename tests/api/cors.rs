//! CORS as browsers expect it, against callers that send any `Origin`.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

const ALLOWED: &str = "https://app.example.com";
const STRANGER: &str = "https://evil.example.net";

async fn cors_app() -> TestApp {
    spawn_app_with(&[("PORTCULLIS_CORS_ALLOWED_ORIGINS", ALLOWED)]).await
}

fn varies_on_origin(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get_all("vary")
        .iter()
        .any(|value| value.to_str().unwrap_or_default().to_ascii_lowercase().split(',').any(|v| v.trim() == "origin"))
}

async fn preflight(app: &TestApp, origin: &str, method: &str, headers: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .request(Method::OPTIONS, app.url("/v1/auth/login"))
        .header("origin", origin)
        .header("access-control-request-method", method);
    if let Some(headers) = headers {
        request = request.header("access-control-request-headers", headers);
    }
    request.send().await.expect("a response")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disallowed_origin_gets_a_normal_answer_without_cors_headers() {
    let app = cors_app().await;
    let email = unique_email("stranger");

    let response = app
        .client
        .post(app.url("/v1/auth/register"))
        .header("origin", STRANGER)
        .json(&json!({"email": email, "password": STRONG_PASSWORD}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 201);
    assert!(header(response.headers(), "access-control-allow-origin").is_none());
    assert!(header(response.headers(), "access-control-expose-headers").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn same_origin_posts_like_those_from_the_docs_page_are_served() {
    let app = cors_app().await;
    let response = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("origin", app.address.as_str())
        .header("referer", app.url("/docs"))
        .json(&json!({"email": "nobody@example.com", "password": STRONG_PASSWORD}))
        .send()
        .await
        .unwrap();

    assert_problem(response, 401, "invalid_credentials").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allowed_origin_gets_cors_headers_and_vary_origin_even_on_errors() {
    let app = cors_app().await;
    for response in [
        app.client.get(app.url("/healthz")).header("origin", ALLOWED).send().await.unwrap(),
        app.client.get(app.url("/v1/users/me")).header("origin", ALLOWED).send().await.unwrap(),
        app.client.get(app.url("/no/such/route")).header("origin", ALLOWED).send().await.unwrap(),
    ] {
        assert_eq!(header(response.headers(), "access-control-allow-origin"), Some(ALLOWED), "{}", response.status());
        assert!(varies_on_origin(&response), "{:?}", response.headers());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_preflight_is_refused_unless_every_method_and_header_is_allowed() {
    let app = cors_app().await;
    let allowed = preflight(&app, ALLOWED, "POST", Some("content-type, authorization")).await;
    assert_eq!(allowed.status().as_u16(), 204);
    assert_eq!(header(allowed.headers(), "access-control-allow-origin"), Some(ALLOWED));
    assert!(varies_on_origin(&allowed));

    for refused in [
        preflight(&app, ALLOWED, "POST", Some("content-type, x-evil")).await,
        preflight(&app, ALLOWED, "TRACE", None).await,
        preflight(&app, STRANGER, "POST", None).await,
    ] {
        assert!(header(refused.headers(), "access-control-allow-origin").is_none());
        assert!(header(refused.headers(), "access-control-allow-headers").is_none());
        assert_problem(refused, 403, "forbidden").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_without_an_origin_are_unaffected() {
    let app = cors_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(header(response.headers(), "access-control-allow-origin").is_none());
}

//! What every response shares: problem+json errors, the request id, the
//! security and cache headers; and no 500 for anything a client can send.

use crate::helpers::{
    assert_common_headers, assert_problem, header, json_body, spawn_app, unique_email, TestApp, STRONG_PASSWORD,
};
use reqwest::Response;
use serde_json::{json, Value};

/// Checks the RFC 9457 shape for a status whose `code` API.md leaves open.
async fn assert_any_problem(response: Response, status: u16) -> Value {
    let body: Value = {
        let headers = response.headers().clone();
        let actual = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(actual, status, "{text}");
        assert!(header(&headers, "content-type").unwrap_or_default().starts_with("application/problem+json"), "{text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["request_id"].as_str(), header(&headers, "x-request-id"));
        body
    };
    let code = body["code"].as_str().expect("a code");
    assert!(!code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "code {code:?}");
    assert_eq!(body["type"], format!("/problems/{code}"));
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string(), "{body}");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_route_is_a_404_problem() {
    let app = spawn_app().await;

    for path in ["/nope", "/v1/nope", "/v1/auth/nope", "/v1/users/someone"] {
        assert_problem(app.get(path).await, 404, "not_found").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_method_is_a_405_problem() {
    let app = spawn_app().await;
    let c = &app.client;

    let requests = [
        c.get(app.url("/v1/auth/login")),
        c.get(app.url("/v1/auth/register")),
        c.delete(app.url("/v1/users/me")),
        c.post(app.url("/v1/auth/verify")),
        c.put(app.url("/v1/admin/users")),
    ];
    for request in requests {
        assert_any_problem(request.send().await.unwrap(), 405).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_method_on_the_spec_and_the_docs_is_a_405_problem() {
    let app = spawn_app().await;
    let c = &app.client;

    for request in [c.post(app.url("/openapi.json")), c.delete(app.url("/docs")), c.put(app.url("/docs"))] {
        assert_any_problem(request.send().await.unwrap(), 405).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_well_formed_request_id_is_echoed_in_the_header_and_the_body() {
    let app = spawn_app().await;
    let long = "a".repeat(128);

    for id in ["abc-123_X.y", "req.42", long.as_str()] {
        let ok = app.client.get(app.url("/healthz")).header("x-request-id", id).send().await.unwrap();
        assert_eq!(header(ok.headers(), "x-request-id"), Some(id));

        let error = app.client.get(app.url("/v1/users/me")).header("x-request-id", id).send().await.unwrap();
        assert_eq!(header(error.headers(), "x-request-id"), Some(id));
        let body = assert_problem(error, 401, "invalid_token").await;
        assert_eq!(body["request_id"], id);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_request_id_is_replaced_by_a_uuid() {
    let app = spawn_app().await;
    let too_long = "a".repeat(129);

    for id in ["bad id!", "semi;colon", "", too_long.as_str(), "ünïcode"] {
        let response = app.client.get(app.url("/v1/users/me")).header("x-request-id", id.as_bytes()).send().await;
        let Ok(response) = response else { continue };
        let echoed = header(response.headers(), "x-request-id").expect("an X-Request-ID").to_owned();
        assert_ne!(echoed, id);
        uuid::Uuid::parse_str(&echoed).unwrap_or_else(|_| panic!("{echoed:?} is not a UUID"));
        let body = assert_problem(response, 401, "invalid_token").await;
        assert_eq!(body["request_id"], echoed);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_without_an_id_gets_a_fresh_uuid_each_time() {
    let app = spawn_app().await;

    let first = app.get("/healthz").await;
    let second = app.get("/healthz").await;

    let first = header(first.headers(), "x-request-id").unwrap().to_owned();
    let second = header(second.headers(), "x-request-id").unwrap().to_owned();
    uuid::Uuid::parse_str(&first).unwrap();
    assert_ne!(first, second);
}

async fn every_kind_of_response(app: &TestApp) -> Vec<(String, Response)> {
    let email = unique_email("headers");
    let user = app.register(&email, STRONG_PASSWORD).await;
    let pair = crate::helpers::TokenPair::from_body(&json_body(app.login(&email, STRONG_PASSWORD).await).await);
    let c = &app.client;
    let mut responses = vec![("POST /v1/auth/register 201".to_owned(), user)];
    for (what, request) in [
        ("GET /v1/users/me 200", c.get(app.url("/v1/users/me")).bearer_auth(&pair.access_token)),
        ("GET /v1/auth/verify 200", c.get(app.url("/v1/auth/verify")).bearer_auth(&pair.access_token)),
        ("GET /v1/users/me 401", c.get(app.url("/v1/users/me"))),
        ("GET /v1/admin/users 403", c.get(app.url("/v1/admin/users")).bearer_auth(&pair.access_token)),
        ("POST /v1/auth/login 401", c.post(app.url("/v1/auth/login")).json(&json!({"email": email, "password": "x"}))),
        (
            "POST /v1/auth/register 400",
            c.post(app.url("/v1/auth/register")).header("content-type", "application/json").body("{"),
        ),
        ("POST /v1/auth/register 413", c.post(app.url("/v1/auth/register")).json(&json!({"p": "x".repeat(17_000)}))),
        ("GET /v1/nope 404", c.get(app.url("/v1/nope"))),
        ("GET /v1/auth/login 405", c.get(app.url("/v1/auth/login"))),
        ("POST /v1/auth/logout 204", c.post(app.url("/v1/auth/logout")).bearer_auth(&pair.access_token)),
        ("GET /healthz", c.get(app.url("/healthz"))),
        ("GET /readyz", c.get(app.url("/readyz"))),
        ("GET /metrics", c.get(app.url("/metrics"))),
        ("GET /openapi.json", c.get(app.url("/openapi.json"))),
        ("GET /docs", c.get(app.url("/docs"))),
        ("GET /nope", c.get(app.url("/nope"))),
    ] {
        responses.push((what.to_owned(), request.send().await.unwrap()));
    }
    responses
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;

    for (what, response) in every_kind_of_response(&app).await {
        assert_common_headers(response.headers(), &what);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn api_responses_carry_the_strict_policy_and_no_store() {
    let app = spawn_app().await;

    for (what, response) in every_kind_of_response(&app).await {
        let headers = response.headers();
        let path = what.split(' ').nth(1).unwrap();
        if path.starts_with("/v1/") {
            assert_eq!(header(headers, "cache-control"), Some("no-store"), "{what}");
        }
        if path != "/docs" {
            assert_eq!(
                header(headers, "content-security-policy"),
                Some("default-src 'none'; frame-ancestors 'none'"),
                "{what}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_bad_input_causes_a_500() {
    let app = spawn_app().await;
    let pair = app.register_and_login(&unique_email("fuzz")).await;
    let token = pair.access_token.as_str();
    let c = &app.client;
    let json_post = |path: &str, body: &'static str| {
        c.post(app.url(path)).header("content-type", "application/json").body(body).bearer_auth(token)
    };

    let requests = [
        json_post("/v1/auth/register", "{\"email\": \"\\u0000@example.com\", \"password\": \"x\"}"),
        json_post("/v1/auth/register", "{\"email\": {\"$ne\": null}, \"password\": \"x\"}"),
        json_post("/v1/auth/register", "null"),
        json_post("/v1/auth/register", "\"\\ud800\""),
        json_post("/v1/auth/login", "{\"email\": \"a@example.com\", \"password\": \"\"}"),
        json_post("/v1/auth/login", "{\"email\": \"a@example.com\", \"password\": \"\\u0000\"}"),
        json_post("/v1/auth/login", "{\"email\": \"' OR 1=1 --@example.com\", \"password\": \"x\"}"),
        json_post("/v1/auth/refresh", "{\"refresh_token\": \"' OR 1=1 --\"}"),
        json_post("/v1/auth/refresh", "[1,2,3]"),
        json_post("/v1/auth/logout", "{\"refresh_token\": \"short\"}"),
        json_post("/v1/auth/logout", "{\"refresh_token\": 7}"),
        json_post("/v1/auth/logout", "not json"),
        c.post(app.url("/v1/auth/register")).header("content-type", "text/plain").body("email=a"),
        c.post(app.url("/v1/auth/login")).body("{}"),
        c.post(app.url("/v1/auth/login")).header("content-type", "application/json"),
        c.put(app.url("/v1/users/me/password")).bearer_auth(token).header("content-type", "application/json").body("{"),
        c.get(app.url("/v1/admin/users/%00")).bearer_auth(token),
        c.get(app.url("/v1/admin/users?limit=1&limit=2")).bearer_auth(token),
        c.get(app.url("/v1/auth/verify")).header("authorization", "Bearer"),
        c.get(app.url("/v1/auth/verify")).header("authorization", "Bearer a.b"),
        c.get(app.url("/v1/auth/verify")).header("authorization", format!("Bearer {}", "x".repeat(20_000))),
        c.get(app.url("/v1/users/me")).header("x-forwarded-for", "not-an-ip, , 999.1.1.1"),
        c.get(app.url("/v1/users/me")).header("forwarded", "for=\"[::1\";proto=http"),
    ];
    for request in requests {
        let request = request.build().unwrap();
        let what = format!("{} {}", request.method(), request.url());
        let response = c.execute(request).await.unwrap();
        let status = response.status().as_u16();
        assert!(status < 500, "{what} gave {status}");
        if status >= 400 {
            assert_any_problem(response, status).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_number_or_boolean_where_a_string_belongs_is_a_400_or_422() {
    let app = spawn_app().await;
    let email = unique_email("types");
    let pair = app.register_and_login(&email).await;
    let c = &app.client;

    let requests = [
        c.post(app.url("/v1/auth/register"))
            .json(&json!({"email": unique_email("n"), "password": 123_456_789_012_345_i64})),
        c.post(app.url("/v1/auth/register")).json(&json!({"email": unique_email("b"), "password": true})),
        c.post(app.url("/v1/auth/login")).json(&json!({"email": email, "password": 123_456_789_012_i64})),
        c.post(app.url("/v1/auth/refresh")).json(&json!({"refresh_token": 42})),
        c.put(app.url("/v1/users/me/password"))
            .bearer_auth(&pair.access_token)
            .json(&json!({"current_password": STRONG_PASSWORD, "new_password": 5})),
    ];
    let mut violations = Vec::new();
    for request in requests {
        let request = request.build().unwrap();
        let what = format!("{} {}", request.method(), request.url().path());
        let response = c.execute(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        let code = serde_json::from_str::<Value>(&body).ok().and_then(|b| b["code"].as_str().map(str::to_owned));
        if !(status == 400 || status == 422) || code.as_deref() != Some("validation_failed") {
            violations.push(format!("{what} gave {status} {code:?}"));
        }
    }
    assert!(violations.is_empty(), "wrong types were read as strings: {violations:#?}");
}

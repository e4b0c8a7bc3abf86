//! `POST /v1/auth/login`. Lockouts and rate limits are in `limits`.

use crate::helpers::{
    assert_problem, decode_claims, decode_header, json_body, kid_for, spawn_app, spawn_app_with, unique_email,
    TokenPair, STRONG_PASSWORD,
};
use serde_json::{json, Value};
use std::time::Instant;

#[tokio::test(flavor = "multi_thread")]
async fn login_returns_a_bearer_token_pair() {
    let app = spawn_app().await;
    let email = unique_email("pair");
    let user = app.register_ok(&email).await;

    let response = app.login(&email, STRONG_PASSWORD).await;

    assert_eq!(response.status().as_u16(), 200);
    let body = json_body(response).await;
    let mut keys: Vec<&str> = body.as_object().expect("an object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["access_token", "device_token", "expires_in", "refresh_token", "token_type"]);
    let pair = TokenPair::from_body(&body);
    assert!((890..=901).contains(&pair.expires_in), "expires_in {}", pair.expires_in);
    assert_eq!(pair.refresh_token.len(), 43);
    assert!(pair.refresh_token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(app.verify(&pair.access_token).await.status().as_u16(), 200);

    let header = decode_header(&pair.access_token);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["kid"], kid_for(&app.jwt_key));
    let claims = decode_claims(&pair.access_token);
    let mut names: Vec<&str> = claims.as_object().expect("claims").keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["amr", "aud", "epoch", "exp", "iat", "iss", "jti", "nbf", "role", "sid", "sub"]);
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["iss"], "portcullis");
    assert_eq!(claims["aud"], "portcullis-api");
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["role"], "user");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
}

#[tokio::test(flavor = "multi_thread")]
async fn login_accepts_the_email_in_any_case_and_with_spaces() {
    let app = spawn_app().await;
    app.register_ok("lin.case@example.com").await;

    let response = app.login("  LIN.Case@EXAMPLE.com ", STRONG_PASSWORD).await;

    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn login_with_wrong_password_is_rejected() {
    let app = spawn_app().await;
    let email = unique_email("wrong");
    app.register_ok(&email).await;

    let response = app.login(&email, "not-the-Right-password-11").await;

    assert_problem(response, 401, "invalid_credentials").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn login_with_an_unknown_email_looks_exactly_like_a_wrong_password() {
    let app = spawn_app().await;
    let email = unique_email("known");
    app.register_ok(&email).await;

    let wrong_password = app.login(&email, "not-the-Right-password-11").await;
    let wrong_headers = wrong_password.headers().clone();
    let mut wrong_password = assert_problem(wrong_password, 401, "invalid_credentials").await;
    let unknown = app.login(&unique_email("nobody"), "not-the-Right-password-11").await;
    let unknown_headers = unknown.headers().clone();
    let mut unknown = assert_problem(unknown, 401, "invalid_credentials").await;

    assert_ne!(wrong_password["request_id"], unknown["request_id"]);
    wrong_password.as_object_mut().unwrap().remove("request_id");
    unknown.as_object_mut().unwrap().remove("request_id");
    assert_eq!(wrong_password, unknown);
    // The headers do not tell them apart either.
    let names = |headers: &reqwest::header::HeaderMap| {
        let mut names: Vec<String> = headers.keys().map(|k| k.as_str().to_owned()).collect();
        names.sort();
        names
    };
    assert_eq!(names(&wrong_headers), names(&unknown_headers));
    assert_eq!(wrong_headers.get("content-type"), unknown_headers.get("content-type"));
}

#[tokio::test(flavor = "multi_thread")]
async fn login_of_a_malformed_address_is_refused_without_a_500() {
    let app = spawn_app().await;

    let response = app.login("not-an-email", STRONG_PASSWORD).await;

    let status = response.status().as_u16();
    assert!(status == 401 || status == 422, "{status}");
    let code = if status == 401 { "invalid_credentials" } else { "validation_failed" };
    assert_problem(response, status, code).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn login_rejects_unknown_fields_and_malformed_json() {
    let app = spawn_app().await;
    let email = unique_email("fields");
    app.register_ok(&email).await;

    let extra = json!({"email": email, "password": STRONG_PASSWORD, "remember_me": true});
    assert_problem(app.post_json("/v1/auth/login", &extra).await, 422, "validation_failed").await;

    let missing: Value = json!({"email": email});
    let response = app.post_json("/v1/auth/login", &missing).await;
    let status = response.status().as_u16();
    assert!(status == 400 || status == 422, "{status}");
    assert_problem(response, status, "validation_failed").await;

    assert_problem(app.post_raw("/v1/auth/login", "{").await, 400, "validation_failed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn token_lifetime_issuer_and_audience_follow_the_configuration() {
    let app = spawn_app_with(&[
        ("PORTCULLIS_ACCESS_TOKEN_TTL_SECONDS", "60"),
        ("PORTCULLIS_JWT_ISSUER", "auth.example.com"),
        ("PORTCULLIS_JWT_AUDIENCE", "shop"),
    ])
    .await;

    let pair = app.register_and_login(&unique_email("config")).await;

    assert!((59..=61).contains(&pair.expires_in), "expires_in {}", pair.expires_in);
    let claims = decode_claims(&pair.access_token);
    assert_eq!((claims["iss"].as_str(), claims["aud"].as_str()), (Some("auth.example.com"), Some("shop")));
    assert_eq!(app.verify(&pair.access_token).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_email_costs_about_as_much_as_a_wrong_password() {
    // At a real bcrypt cost the hash dominates; an account lookup that
    // skipped it would answer many times faster.
    let app = spawn_app_with(&[("PORTCULLIS_BCRYPT_COST", "10")]).await;
    let email = unique_email("timing");
    app.register_ok(&email).await;
    let time = |email: String| {
        let app = &app;
        async move {
            let started = Instant::now();
            let response = app.login(&email, "not-the-Right-password-11").await;
            assert_eq!(response.status().as_u16(), 401);
            started.elapsed()
        }
    };

    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..3 {
        known.push(time(email.clone()).await);
        unknown.push(time(unique_email("ghost")).await);
    }

    let (known, unknown) = (known.iter().min().unwrap(), unknown.iter().min().unwrap());
    assert!(unknown.as_secs_f64() > known.as_secs_f64() * 0.5, "unknown {unknown:?} vs known {known:?}");
    assert!(known.as_secs_f64() > unknown.as_secs_f64() * 0.5, "unknown {unknown:?} vs known {known:?}");
}

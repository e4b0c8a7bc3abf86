//! `POST /v1/auth/refresh`: rotation, the grace window, reuse detection.

use crate::helpers::{assert_problem, json_body, spawn_app, spawn_app_with, unique_email, TokenPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn refresh_returns_a_new_pair_with_a_different_refresh_token() {
    let app = spawn_app().await;
    let pair = app.register_and_login(&unique_email("rotate")).await;

    let response = app.refresh(&pair.refresh_token).await;

    assert_eq!(response.status().as_u16(), 200);
    let next = TokenPair::from_body(&json_body(response).await);
    assert_ne!(next.refresh_token, pair.refresh_token);
    assert_ne!(next.access_token, pair.access_token);
    assert_eq!(next.refresh_token.len(), 43);
    assert!((890..=901).contains(&next.expires_in), "{}", next.expires_in);
    assert_eq!(app.me(&next.access_token).await.status().as_u16(), 200);
    // The child refreshes in turn.
    assert_eq!(app.refresh(&next.refresh_token).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_token_presented_within_the_grace_window_returns_the_same_child() {
    let app = spawn_app().await; // default grace: 10 s
    let pair = app.register_and_login(&unique_email("tabs")).await;

    let first = TokenPair::from_body(&json_body(app.refresh(&pair.refresh_token).await).await);
    let second = app.refresh(&pair.refresh_token).await;

    assert_eq!(second.status().as_u16(), 200);
    let second = TokenPair::from_body(&json_body(second).await);
    assert_eq!(second.refresh_token, first.refresh_token);
    // Both tabs stay signed in.
    assert_eq!(app.me(&first.access_token).await.status().as_u16(), 200);
    assert_eq!(app.me(&second.access_token).await.status().as_u16(), 200);
    assert_eq!(app.refresh(&second.refresh_token).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn reusing_a_rotated_token_after_the_grace_window_revokes_the_whole_session() {
    let app = spawn_app_with(&[("PORTCULLIS_REFRESH_REUSE_GRACE_SECONDS", "0")]).await;
    let pair = app.register_and_login(&unique_email("reuse")).await;
    let reuse_before = app.metric_value("refresh_token_reuse_total").await;
    let child = TokenPair::from_body(&json_body(app.refresh(&pair.refresh_token).await).await);

    let reused = app.refresh(&pair.refresh_token).await;

    assert_problem(reused, 401, "token_revoked").await;
    assert_problem(app.refresh(&child.refresh_token).await, 401, "token_revoked").await;
    assert_eq!(app.me(&child.access_token).await.status().as_u16(), 401);
    assert_eq!(app.verify(&pair.access_token).await.status().as_u16(), 401);
    let reuse_after = app.metric_value("refresh_token_reuse_total").await;
    assert!(reuse_after >= reuse_before + 1.0, "refresh_token_reuse_total went {reuse_before} -> {reuse_after}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reuse_detection_leaves_the_users_other_sessions_alone() {
    let app = spawn_app_with(&[("PORTCULLIS_REFRESH_REUSE_GRACE_SECONDS", "0")]).await;
    let email = unique_email("other");
    let stolen = app.register_and_login(&email).await;
    let laptop = app.login_pair(&email, crate::helpers::STRONG_PASSWORD).await;
    app.refresh(&stolen.refresh_token).await;

    assert_eq!(app.refresh(&stolen.refresh_token).await.status().as_u16(), 401);

    assert_eq!(app.me(&laptop.access_token).await.status().as_u16(), 200);
    assert_eq!(app.refresh(&laptop.refresh_token).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_refresh_token_is_an_invalid_token() {
    let app = spawn_app().await;
    let unknown = URL_SAFE_NO_PAD.encode([7u8; 32]);
    assert_eq!(unknown.len(), 43);

    assert_problem(app.refresh(&unknown).await, 401, "invalid_token").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_refresh_token_is_an_invalid_token() {
    let app = spawn_app().await;
    let pair = app.register_and_login(&unique_email("malformed")).await;
    let too_long = format!("{}A", pair.refresh_token);
    let with_padding = format!("{}=", pair.refresh_token);
    let with_bad_char = format!("{}!", &pair.refresh_token[..42]);

    for token in
        ["", "abc", pair.access_token.as_str(), too_long.as_str(), with_padding.as_str(), with_bad_char.as_str()]
    {
        assert_problem(app.refresh(token).await, 401, "invalid_token").await;
    }
    // None of that touched the real token.
    assert_eq!(app.refresh(&pair.refresh_token).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_rejects_unknown_fields_and_missing_or_structured_values() {
    let app = spawn_app().await;
    let pair = app.register_and_login(&unique_email("shape")).await;

    let extra = json!({"refresh_token": pair.refresh_token, "access_token": pair.access_token});
    assert_problem(app.post_json("/v1/auth/refresh", &extra).await, 422, "validation_failed").await;

    for body in [json!({"refresh_token": ["x"]}), json!({}), json!({"refresh_token": null})] {
        let response = app.post_json("/v1/auth/refresh", &body).await;
        let status = response.status().as_u16();
        assert!(status == 400 || status == 422, "{body} gave {status}");
        assert_problem(response, status, "validation_failed").await;
    }
}

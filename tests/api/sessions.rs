//! `POST /v1/auth/logout` and `POST /v1/auth/logout-all`.

use crate::helpers::{assert_problem, spawn_app, unique_email, STRONG_PASSWORD};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn logout_ends_the_access_token_and_the_refresh_token_of_the_session() {
    let app = spawn_app().await;
    let pair = app.register_and_login(&unique_email("bye")).await;

    let response = app.logout(&pair.access_token, None).await;

    assert_eq!(response.status().as_u16(), 204);
    assert!(response.text().await.unwrap().is_empty());
    assert_problem(app.me(&pair.access_token).await, 401, "token_revoked").await;
    assert_problem(app.verify(&pair.access_token).await, 401, "token_revoked").await;
    assert_problem(app.refresh(&pair.refresh_token).await, 401, "token_revoked").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_without_a_body_works() {
    let app = spawn_app().await;
    let pair = app.register_and_login(&unique_email("nobody")).await;

    // No body, no Content-Type.
    let response = app.client.post(app.url("/v1/auth/logout")).bearer_auth(&pair.access_token).send().await.unwrap();

    assert_eq!(response.status().as_u16(), 204, "{:?}", response.text().await);
    assert_eq!(app.me(&pair.access_token).await.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_with_a_null_refresh_token_works() {
    let app = spawn_app().await;
    let pair = app.register_and_login(&unique_email("null")).await;

    let response = app
        .client
        .post(app.url("/v1/auth/logout"))
        .bearer_auth(&pair.access_token)
        .json(&json!({"refresh_token": null}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(app.refresh(&pair.refresh_token).await.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_with_the_refresh_token_of_another_session_ends_that_session_too() {
    let app = spawn_app().await;
    let email = unique_email("two");
    let phone = app.register_and_login(&email).await;
    let laptop = app.login_pair(&email, STRONG_PASSWORD).await;
    let tablet = app.login_pair(&email, STRONG_PASSWORD).await;

    let response = app.logout(&phone.access_token, Some(&laptop.refresh_token)).await;

    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(app.me(&phone.access_token).await.status().as_u16(), 401);
    assert_eq!(app.refresh(&phone.refresh_token).await.status().as_u16(), 401);
    assert_eq!(app.refresh(&laptop.refresh_token).await.status().as_u16(), 401);
    assert_eq!(app.me(&laptop.access_token).await.status().as_u16(), 401);
    // A session that was not named lives on.
    assert_eq!(app.me(&tablet.access_token).await.status().as_u16(), 200);
    assert_eq!(app.refresh(&tablet.refresh_token).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_cannot_end_another_users_session() {
    let app = spawn_app().await;
    let mallory = app.register_and_login(&unique_email("mallory")).await;
    let victim = app.register_and_login(&unique_email("victim")).await;

    let response = app.logout(&mallory.access_token, Some(&victim.refresh_token)).await;

    assert!(response.status().as_u16() < 500);
    assert_eq!(app.me(&victim.access_token).await.status().as_u16(), 200);
    assert_eq!(app.refresh(&victim.refresh_token).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_without_a_bearer_token_is_unauthorized() {
    let app = spawn_app().await;

    let response = app.client.post(app.url("/v1/auth/logout")).send().await.unwrap();
    assert_problem(response, 401, "invalid_token").await;

    let response = app.logout("not-a-token", None).await;
    assert_problem(response, 401, "invalid_token").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_all_ends_every_access_and_refresh_token_of_the_user() {
    let app = spawn_app().await;
    let email = unique_email("all");
    let phone = app.register_and_login(&email).await;
    let laptop = app.login_pair(&email, STRONG_PASSWORD).await;
    let refreshed = crate::helpers::TokenPair::from_body(
        &crate::helpers::json_body(app.refresh(&laptop.refresh_token).await).await,
    );

    let response = app.logout_all(&phone.access_token).await;

    assert_eq!(response.status().as_u16(), 204);
    for token in [&phone.access_token, &laptop.access_token, &refreshed.access_token] {
        assert_problem(app.me(token).await, 401, "token_revoked").await;
        assert_eq!(app.verify(token).await.status().as_u16(), 401);
    }
    for token in [&phone.refresh_token, &refreshed.refresh_token] {
        assert_eq!(app.refresh(token).await.status().as_u16(), 401);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_right_after_logout_all_is_valid() {
    let app = spawn_app().await;
    let email = unique_email("again");
    let old = app.register_and_login(&email).await;
    assert_eq!(app.logout_all(&old.access_token).await.status().as_u16(), 204);

    let new = app.login_pair(&email, STRONG_PASSWORD).await;

    assert_eq!(app.me(&new.access_token).await.status().as_u16(), 200);
    assert_eq!(app.verify(&new.access_token).await.status().as_u16(), 200);
    let refreshed = app.refresh(&new.refresh_token).await;
    assert_eq!(refreshed.status().as_u16(), 200);
    let refreshed = crate::helpers::TokenPair::from_body(&crate::helpers::json_body(refreshed).await);
    assert_eq!(app.me(&refreshed.access_token).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_all_leaves_other_users_signed_in() {
    let app = spawn_app().await;
    let leaver = app.register_and_login(&unique_email("leaver")).await;
    let stayer = app.register_and_login(&unique_email("stayer")).await;

    assert_eq!(app.logout_all(&leaver.access_token).await.status().as_u16(), 204);

    assert_eq!(app.me(&stayer.access_token).await.status().as_u16(), 200);
    assert_eq!(app.refresh(&stayer.refresh_token).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_all_without_a_bearer_token_is_unauthorized() {
    let app = spawn_app().await;

    let response = app.client.post(app.url("/v1/auth/logout-all")).send().await.unwrap();

    assert_problem(response, 401, "invalid_token").await;
}

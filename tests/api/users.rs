//! `GET /v1/users/me` and `PUT /v1/users/me/password`.

use crate::helpers::{
    assert_problem, assert_user_object, field_errors, json_body, spawn_app, unique_email, TokenPair,
    OTHER_STRONG_PASSWORD, STRONG_PASSWORD,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn me_returns_the_signed_in_user() {
    let app = spawn_app().await;
    let email = unique_email("me");
    let registered = app.register_ok(&email).await;
    let pair = app.login_pair(&email, STRONG_PASSWORD).await;

    let response = app.me(&pair.access_token).await;

    assert_eq!(response.status().as_u16(), 200);
    let user = json_body(response).await;
    assert_user_object(&user);
    assert_eq!(user, registered);
}

#[tokio::test(flavor = "multi_thread")]
async fn me_without_a_valid_token_is_unauthorized() {
    let app = spawn_app().await;

    assert_problem(app.get("/v1/users/me").await, 401, "invalid_token").await;
    assert_problem(app.me("not.a.token").await, 401, "invalid_token").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_the_password_swaps_which_password_signs_in() {
    let app = spawn_app().await;
    let email = unique_email("swap");
    let pair = app.register_and_login(&email).await;

    let response = app.change_password(&pair.access_token, STRONG_PASSWORD, OTHER_STRONG_PASSWORD).await;

    assert_eq!(response.status().as_u16(), 204);
    assert!(response.text().await.unwrap().is_empty());
    assert_problem(app.login(&email, STRONG_PASSWORD).await, 401, "invalid_credentials").await;
    assert_eq!(app.login(&email, OTHER_STRONG_PASSWORD).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_the_password_keeps_this_session_and_ends_the_others() {
    let app = spawn_app().await;
    let email = unique_email("keep");
    let here = app.register_and_login(&email).await;
    let elsewhere = app.login_pair(&email, STRONG_PASSWORD).await;

    assert_eq!(
        app.change_password(&here.access_token, STRONG_PASSWORD, OTHER_STRONG_PASSWORD).await.status().as_u16(),
        204
    );

    // Access tokens issued before the change are void, this session's too...
    assert_problem(app.me(&here.access_token).await, 401, "token_revoked").await;
    assert_problem(app.me(&elsewhere.access_token).await, 401, "token_revoked").await;
    assert_eq!(app.verify(&elsewhere.access_token).await.status().as_u16(), 401);
    // ...but this session refreshes into a working token; the other does not.
    let refreshed = app.refresh(&here.refresh_token).await;
    assert_eq!(refreshed.status().as_u16(), 200);
    let refreshed = TokenPair::from_body(&json_body(refreshed).await);
    assert_eq!(app.me(&refreshed.access_token).await.status().as_u16(), 200);
    assert_eq!(app.refresh(&elsewhere.refresh_token).await.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_the_password_with_a_wrong_current_password_is_rejected() {
    let app = spawn_app().await;
    let email = unique_email("wrongcur");
    let pair = app.register_and_login(&email).await;

    let response = app.change_password(&pair.access_token, "not-the-Current-one-55", OTHER_STRONG_PASSWORD).await;

    assert_problem(response, 401, "invalid_credentials").await;
    // Nothing changed.
    assert_eq!(app.login(&email, STRONG_PASSWORD).await.status().as_u16(), 200);
    assert_eq!(app.me(&pair.access_token).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_to_a_weak_password_is_rejected() {
    let app = spawn_app().await;
    let email = unique_email("weaknew");
    let local = email.split('@').next().unwrap().to_owned();
    let pair = app.register_and_login(&email).await;
    let containing = format!("Orbit-{local}-Tundra");
    let too_long = "x9-Yq".repeat(15);

    for new in ["short-1A", "password1234", containing.as_str(), too_long.as_str()] {
        let response = app.change_password(&pair.access_token, STRONG_PASSWORD, new).await;
        let problem = assert_problem(response, 422, "weak_password").await;
        assert_eq!(field_errors(&problem), ["new_password"], "{new}");
    }
    assert_eq!(app.login(&email, STRONG_PASSWORD).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_the_password_needs_a_token_and_a_well_formed_body() {
    let app = spawn_app().await;
    let pair = app.register_and_login(&unique_email("body")).await;

    let anonymous = app
        .client
        .put(app.url("/v1/users/me/password"))
        .json(&json!({"current_password": STRONG_PASSWORD, "new_password": OTHER_STRONG_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_problem(anonymous, 401, "invalid_token").await;

    let extra = json!({"current_password": STRONG_PASSWORD, "new_password": OTHER_STRONG_PASSWORD, "confirm": "x"});
    let response = app
        .client
        .put(app.url("/v1/users/me/password"))
        .bearer_auth(&pair.access_token)
        .json(&extra)
        .send()
        .await
        .unwrap();
    assert_problem(response, 422, "validation_failed").await;

    let wrong_type = json!({"current_password": STRONG_PASSWORD, "new_password": {"value": OTHER_STRONG_PASSWORD}});
    let response = app
        .client
        .put(app.url("/v1/users/me/password"))
        .bearer_auth(&pair.access_token)
        .json(&wrong_type)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!(status == 400 || status == 422, "{status}");
    assert_problem(response, status, "validation_failed").await;
}

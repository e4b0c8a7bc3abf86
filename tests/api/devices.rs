//! Device tokens: failures from many addresses lock an account everywhere,
//! but not against its owner's own device (OWASP device cookies).

use crate::helpers::{json_body, spawn_app_with, unique_email, TestApp, STRONG_PASSWORD};
use reqwest::Response;
use serde_json::json;

const WRONG: &str = "a-Wrong-password-for-sure-1";

async fn login_from(app: &TestApp, ip: &str, email: &str, password: &str, device: Option<&str>) -> Response {
    let mut body = json!({"email": email, "password": password});
    if let Some(device) = device {
        body["device_token"] = json!(device);
    }
    app.client.post(app.url("/v1/auth/login")).header("x-forwarded-for", ip).json(&body).send().await.expect("POST")
}

async fn spawn_behind_proxy() -> TestApp {
    spawn_app_with(&[
        ("PORTCULLIS_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("PORTCULLIS_CLIENT_IP_HEADER", "x-forwarded-for"),
    ])
    .await
}

/// Signs in from the owner's device and returns the device token.
async fn owners_device_token(app: &TestApp, email: &str) -> String {
    let response = login_from(app, "198.51.100.1", email, STRONG_PASSWORD, None).await;
    assert_eq!(response.status().as_u16(), 200);
    let body = json_body(response).await;
    body["device_token"].as_str().expect("a login returns a device token").to_owned()
}

/// Five wrong guesses from each of ten addresses: the account-wide limit.
async fn lock_the_account_from_ten_addresses(app: &TestApp, email: &str) {
    for address in 1..=10 {
        for _ in 0..5 {
            let status = login_from(app, &format!("203.0.113.{address}"), email, WRONG, None).await.status();
            assert_eq!(status.as_u16(), 401);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_owner_signs_in_with_a_device_token_while_others_locked_the_account() {
    the_owners_device_beats_the_lockout(&spawn_behind_proxy().await).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread")]
async fn the_owner_signs_in_with_a_device_token_while_others_locked_the_account_on_redis() {
    let Some((redis, _server)) = portcullis::testing::redis_server().await else { return };
    let prefix = format!("portcullis-test-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let app = spawn_app_with(&[
        ("PORTCULLIS_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("PORTCULLIS_CLIENT_IP_HEADER", "x-forwarded-for"),
        ("REDIS_URL", &redis),
        ("PORTCULLIS_REDIS__KEY_PREFIX", &prefix),
    ])
    .await;
    the_owners_device_beats_the_lockout(&app).await;
}

async fn the_owners_device_beats_the_lockout(app: &TestApp) {
    let email = unique_email("owner");
    app.register_ok(&email).await;
    let device = owners_device_token(app, &email).await;

    lock_the_account_from_ten_addresses(app, &email).await;

    // Without a device token, even the right password from a new address is refused.
    let refused = login_from(app, "192.0.2.77", &email, STRONG_PASSWORD, None).await;
    assert_eq!(refused.status().as_u16(), 429);
    // A forged or foreign token is no better.
    let forged = format!("{}.9999999999.{}", "0".repeat(32), "0".repeat(64));
    let refused = login_from(app, "192.0.2.77", &email, STRONG_PASSWORD, Some(&forged)).await;
    assert_eq!(refused.status().as_u16(), 429);
    // With the device token, the owner is in.
    let response = login_from(app, "192.0.2.77", &email, STRONG_PASSWORD, Some(&device)).await;
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_token_of_another_account_exempts_nothing() {
    let app = spawn_behind_proxy().await;
    let (owner, attacker) = (unique_email("victim"), unique_email("attacker"));
    app.register_ok(&owner).await;
    app.register_ok(&attacker).await;
    let attackers_device = owners_device_token(&app, &attacker).await;

    lock_the_account_from_ten_addresses(&app, &owner).await;

    let response = login_from(&app, "192.0.2.78", &owner, STRONG_PASSWORD, Some(&attackers_device)).await;
    assert_eq!(response.status().as_u16(), 429);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_token_stops_exempting_once_its_own_budget_is_spent() {
    let app = spawn_behind_proxy().await;
    let email = unique_email("stolen");
    app.register_ok(&email).await;
    let device = owners_device_token(&app, &email).await;
    lock_the_account_from_ten_addresses(&app, &email).await;

    // A thief with the device token gets five guesses, from anywhere.
    for attempt in 0..5 {
        let status = login_from(&app, &format!("192.0.2.{}", 100 + attempt), &email, WRONG, Some(&device)).await;
        assert_eq!(status.status().as_u16(), 401, "guess {attempt}");
    }
    // Then the token exempts nothing: the account's lock applies again.
    let response = login_from(&app, "192.0.2.120", &email, STRONG_PASSWORD, Some(&device)).await;
    assert_eq!(response.status().as_u16(), 429);
}

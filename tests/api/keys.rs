//! Signing keys: rotation without downtime, removal, and what survives a
//! restart on the same database.

use crate::helpers::{
    assert_problem, decode_header, forge_token, hs256_header, kid_for, spawn_app, spawn_app_with, unique_email,
    valid_claims, STRONG_PASSWORD,
};
use portcullis::app::config::Settings;
use std::collections::HashMap;

const KEY_A: &str = "first-signing-key-aaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "second-signing-key-bbbbbbbbbbbbbbbbbbbbbb";
const KEY_C: &str = "unconfigured-key-ccccccccccccccccccccccccc";

#[tokio::test(flavor = "multi_thread")]
async fn the_first_key_signs_and_every_configured_key_verifies() {
    let keys = format!("{KEY_A},{KEY_B}");
    let app = spawn_app_with(&[("PORTCULLIS_JWT_KEYS", &keys)]).await;
    let (id, _, pair) = app.new_user("ring").await;

    assert_eq!(decode_header(&pair.access_token)["kid"], kid_for(KEY_A));
    let by_b = forge_token(KEY_B, &hs256_header(KEY_B), &valid_claims(&id, "user"));
    assert_eq!(app.verify(&by_b).await.status().as_u16(), 200);
    let by_c = forge_token(KEY_C, &hs256_header(KEY_C), &valid_claims(&id, "user"));
    assert_problem(app.verify(&by_c).await, 401, "invalid_token").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rotating_keys_keeps_old_tokens_valid_until_their_key_is_removed() {
    let app = spawn_app_with(&[("PORTCULLIS_JWT_KEYS", KEY_A)]).await;
    let email = unique_email("rotation");
    let old = app.register_and_login(&email).await;

    // Step 1: a new key signs, the old one still verifies.
    let rotated = format!("{KEY_B},{KEY_A}");
    let app = app.restart_with(&[("PORTCULLIS_JWT_KEYS", &rotated)]).await;
    assert_eq!(app.verify(&old.access_token).await.status().as_u16(), 200);
    let new = app.login_pair(&email, STRONG_PASSWORD).await;
    assert_eq!(decode_header(&new.access_token)["kid"], kid_for(KEY_B));

    // Step 2: the old key is gone, and with it the tokens it signed.
    let app = app.restart_with(&[("PORTCULLIS_JWT_KEYS", KEY_B)]).await;
    assert_problem(app.verify(&old.access_token).await, 401, "invalid_token").await;
    assert_eq!(app.verify(&new.access_token).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn revocations_and_accounts_survive_a_restart() {
    let app = spawn_app().await;
    let email = unique_email("restart");
    let ended = app.register_and_login(&email).await;
    let everywhere = unique_email("everywhere");
    let cut = app.register_and_login(&everywhere).await;
    assert_eq!(app.logout(&ended.access_token, None).await.status().as_u16(), 204);
    assert_eq!(app.logout_all(&cut.access_token).await.status().as_u16(), 204);

    let app = app.restart_with(&[]).await;

    assert_eq!(app.me(&ended.access_token).await.status().as_u16(), 401);
    assert_eq!(app.refresh(&ended.refresh_token).await.status().as_u16(), 401);
    assert_eq!(app.me(&cut.access_token).await.status().as_u16(), 401);
    assert_eq!(app.refresh(&cut.refresh_token).await.status().as_u16(), 401);
    let again = app.login_pair(&email, STRONG_PASSWORD).await;
    assert_eq!(app.me(&again.access_token).await.status().as_u16(), 200);
}

#[test]
fn a_key_shorter_than_32_bytes_refuses_to_start() {
    let database = if cfg!(feature = "sqlite") { "sqlite::memory:" } else { "postgres://localhost/portcullis" };
    let vars = HashMap::from([
        ("PORTCULLIS_JWT_KEYS".to_owned(), "x".repeat(31)),
        ("DATABASE_URL".to_owned(), database.to_owned()),
    ]);

    let error = Settings::load(None, &vars).expect_err("a 31-byte key is refused").to_string();

    assert!(error.contains("PORTCULLIS_JWT_KEYS") && error.contains("32"), "{error}");
    assert!(!error.contains(&"x".repeat(31)), "the message repeats the key: {error}");
}

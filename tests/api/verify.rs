//! `GET /v1/auth/verify`, and through it the rules every bearer token meets.
//! Tokens are forged by hand: base64url(header).base64url(claims).HMAC-SHA256.

use crate::helpers::{
    assert_problem, b64, forge_token, header, hs256_header, json_body, kid_for, now, spawn_app, unique_email,
    valid_claims, ADMIN_EMAIL, ADMIN_PASSWORD,
};
use serde_json::{json, Value};

/// A registered user's id, so forged tokens name someone real.
async fn user_id(app: &crate::helpers::TestApp) -> String {
    app.register_ok(&unique_email("forged")).await["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_names_the_user_and_role_of_a_valid_token() {
    let app = spawn_app().await;
    let email = unique_email("gateway");
    let user = app.register_ok(&email).await;
    let pair = app.login_pair(&email, crate::helpers::STRONG_PASSWORD).await;

    let response = app.verify(&pair.access_token).await;

    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(header(response.headers(), "x-user-id"), user["id"].as_str());
    assert_eq!(header(response.headers(), "x-user-role"), Some("user"));
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_names_the_admin_role() {
    let app = spawn_app().await;
    let pair = app.login_pair(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let me = json_body(app.me(&pair.access_token).await).await;

    let response = app.verify(&pair.access_token).await;

    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(header(response.headers(), "x-user-id"), me["id"].as_str());
    assert_eq!(header(response.headers(), "x-user-role"), Some("admin"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hand_forged_token_with_the_right_key_is_accepted() {
    // Proves the forging helper right, so the rejections below are about
    // the one thing each of them changes.
    let app = spawn_app().await;
    let id = user_id(&app).await;

    let token = forge_token(&app.jwt_key, &hs256_header(&app.jwt_key), &valid_claims(&id, "user"));

    let response = app.verify(&token).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(header(response.headers(), "x-user-id"), Some(id.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_without_a_token_is_unauthorized() {
    let app = spawn_app().await;

    assert_problem(app.get("/v1/auth/verify").await, 401, "invalid_token").await;
    let basic = app.client.get(app.url("/v1/auth/verify")).header("authorization", "Basic YTpi").send().await.unwrap();
    assert_problem(basic, 401, "invalid_token").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_rejects_garbage() {
    let app = spawn_app().await;

    for token in ["garbage", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9.e30.", "\u{7f}"] {
        let response =
            app.client.get(app.url("/v1/auth/verify")).header("authorization", format!("Bearer {token}")).send().await;
        let Ok(response) = response else { continue }; // reqwest may refuse to send an invalid header value
        assert_problem(response, 401, "invalid_token").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_rejects_an_unsigned_alg_none_token() {
    let app = spawn_app().await;
    let id = user_id(&app).await;
    let claims = valid_claims(&id, "admin");

    for alg in ["none", "None", "NONE"] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": kid_for(&app.jwt_key)});
        let unsigned = format!("{}.{}.", b64(&header), b64(&claims));
        assert_problem(app.verify(&unsigned).await, 401, "invalid_token").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_rejects_other_algorithms_even_with_the_right_key() {
    let app = spawn_app().await;
    let id = user_id(&app).await;
    let claims = valid_claims(&id, "user");

    // An HMAC-SHA256 signature labelled as something else.
    for alg in ["HS384", "HS512", "RS256", "ES256"] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": kid_for(&app.jwt_key)});
        assert_problem(app.verify(&forge_token(&app.jwt_key, &header, &claims)).await, 401, "invalid_token").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_rejects_a_token_signed_with_another_key() {
    let app = spawn_app().await;
    let id = user_id(&app).await;
    let other = "another-key-that-is-at-least-32-bytes-long!";
    let claims = valid_claims(&id, "user");

    // Its own kid: unknown here.
    assert_problem(app.verify(&forge_token(other, &hs256_header(other), &claims)).await, 401, "invalid_token").await;
    // Our kid, their signature.
    assert_problem(app.verify(&forge_token(other, &hs256_header(&app.jwt_key), &claims)).await, 401, "invalid_token")
        .await;
    // No kid at all, our key.
    let no_kid = json!({"alg": "HS256", "typ": "JWT"});
    assert_problem(app.verify(&forge_token(&app.jwt_key, &no_kid, &claims)).await, 401, "invalid_token").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_rejects_a_tampered_token() {
    let app = spawn_app().await;
    let pair = app.register_and_login(&unique_email("tamper")).await;
    let parts: Vec<&str> = pair.access_token.split('.').collect();
    let mut claims: Value = crate::helpers::decode_claims(&pair.access_token);
    claims["role"] = json!("admin");

    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);

    assert_problem(app.verify(&tampered).await, 401, "invalid_token").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_rejects_an_expired_token() {
    let app = spawn_app().await;
    let id = user_id(&app).await;
    let mut claims = valid_claims(&id, "user");
    let now = now();
    claims["iat"] = json!(now - 1_000);
    claims["nbf"] = json!(now - 1_000);
    claims["exp"] = json!(now - 100); // well past the 30 s leeway

    let token = forge_token(&app.jwt_key, &hs256_header(&app.jwt_key), &claims);

    assert_problem(app.verify(&token).await, 401, "token_expired").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_rejects_a_token_without_an_expiry() {
    let app = spawn_app().await;
    let id = user_id(&app).await;
    let mut claims = valid_claims(&id, "user");
    claims.as_object_mut().unwrap().remove("exp");

    let token = forge_token(&app.jwt_key, &hs256_header(&app.jwt_key), &claims);

    assert_problem(app.verify(&token).await, 401, "invalid_token").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_rejects_a_token_not_valid_yet() {
    let app = spawn_app().await;
    let id = user_id(&app).await;
    let mut claims = valid_claims(&id, "user");
    let now = now();
    claims["iat"] = json!(now + 120);
    claims["nbf"] = json!(now + 120);
    claims["exp"] = json!(now + 1_000);

    let token = forge_token(&app.jwt_key, &hs256_header(&app.jwt_key), &claims);

    assert_problem(app.verify(&token).await, 401, "invalid_token").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_rejects_a_wrong_issuer_or_audience() {
    let app = spawn_app().await;
    let id = user_id(&app).await;

    for (claim, value) in [("iss", "someone-else"), ("aud", "another-api"), ("iss", ""), ("aud", "")] {
        let mut claims = valid_claims(&id, "user");
        claims[claim] = json!(value);
        let token = forge_token(&app.jwt_key, &hs256_header(&app.jwt_key), &claims);
        assert_problem(app.verify(&token).await, 401, "invalid_token").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_rejects_tokens_over_8_kib() {
    let app = spawn_app().await;
    let id = user_id(&app).await;
    let claims = valid_claims(&id, "user");
    // The padding sits in the header, so the token is valid in every other respect.
    let padded = |pad: usize| {
        let mut header = hs256_header(&app.jwt_key);
        header["x-pad"] = json!("p".repeat(pad));
        forge_token(&app.jwt_key, &header, &claims)
    };
    let small = padded(4_000);
    assert!(small.len() < 8 * 1024);
    let large = padded(7_000);
    assert!(large.len() > 8 * 1024);

    assert_eq!(app.verify(&small).await.status().as_u16(), 200, "a padded token under 8 KiB is fine");
    assert_problem(app.verify(&large).await, 401, "invalid_token").await;
}

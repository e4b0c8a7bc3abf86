//! The TOTP second factor over HTTP: enrolment and confirmation, the
//! `mfa_required` login and `POST /v1/auth/mfa`, replays, recovery codes,
//! the lockout, racing submissions, disabling and an admin's reset.
//! Codes are computed from the returned secret by the RFC 6238 code the
//! unit tests check against the RFC's vectors (the external check computes
//! them with pyotp).

use crate::helpers::*;
use portcullis::core::totp;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

fn decode_base32(text: &str) -> Vec<u8> {
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {c}"),
        };
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).unwrap());
        }
    }
    out
}

/// The code of `secret` `offset` steps from now.
fn code(secret: &[u8], offset: i64) -> String {
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap();
    totp::format_code(secret, now / totp::STEP_SECONDS + offset)
}

impl TestApp {
    async fn bearer_json(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> Response {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("the request is sent")
    }

    /// Enrols and confirms TOTP for a new user; returns its e-mail, id,
    /// secret and recovery codes. The confirming code is this step's.
    async fn totp_user(&self) -> (String, String, Vec<u8>, Vec<String>) {
        let (id, email, pair) = self.new_user("totp").await;
        let response = self.bearer_json(reqwest::Method::POST, "/v1/users/me/mfa/totp", &pair.access_token, None).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let enrolment = json_body(response).await;
        let uri = enrolment["otpauth_uri"].as_str().expect("a URI");
        assert!(uri.starts_with("otpauth://totp/portcullis:") && uri.contains("period=30"), "{uri}");
        let secret = decode_base32(enrolment["secret"].as_str().expect("a secret"));
        let body = json!({"code": code(&secret, 0)});
        let path = "/v1/users/me/mfa/totp/confirm";
        let response = self.bearer_json(reqwest::Method::POST, path, &pair.access_token, Some(body)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let codes = json_body(response).await["recovery_codes"].as_array().expect("codes").clone();
        let codes = codes.iter().map(|code| code.as_str().expect("a code").to_owned()).collect::<Vec<_>>();
        assert_eq!(codes.len(), 10);
        (email, id, secret, codes)
    }

    /// Logs in with the right password; returns the `mfa_token`.
    async fn mfa_token(&self, email: &str) -> String {
        let body = assert_problem(self.login(email, STRONG_PASSWORD).await, 401, "mfa_required").await;
        body["mfa_token"].as_str().expect("an mfa_token").to_owned()
    }

    async fn complete_mfa(&self, body: &Value) -> Response {
        self.post_json("/v1/auth/mfa", body).await
    }
}

#[tokio::test]
async fn a_totp_user_signs_in_with_a_code_once_and_with_a_recovery_code_once() {
    let app = spawn_app().await;
    let (email, _, secret, recovery) = app.totp_user().await;

    let token = app.mfa_token(&email).await;
    let next = code(&secret, 1);
    let response = app.complete_mfa(&json!({"mfa_token": token, "code": next})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let pair = TokenPair::from_body(&json_body(response).await);
    assert_eq!(decode_claims(&pair.access_token)["amr"], json!(["pwd", "otp"]));
    let refreshed = TokenPair::from_body(&json_body(app.refresh(&pair.refresh_token).await).await);
    assert_eq!(decode_claims(&refreshed.access_token)["amr"], json!(["pwd", "otp"]));

    // The token is spent, and so is the code.
    let again = app.complete_mfa(&json!({"mfa_token": token, "code": next})).await;
    assert_problem(again, 401, "invalid_token").await;
    let token = app.mfa_token(&email).await;
    let replay = app.complete_mfa(&json!({"mfa_token": token, "code": next})).await;
    assert_problem(replay, 401, "invalid_mfa_code").await;

    // A recovery code works once, typed loosely.
    let loose = recovery[3].to_lowercase().replace('-', " ");
    let response = app.complete_mfa(&json!({"mfa_token": token, "recovery_code": loose})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let token = app.mfa_token(&email).await;
    let reused = app.complete_mfa(&json!({"mfa_token": token, "recovery_code": recovery[3]})).await;
    assert_problem(reused, 401, "invalid_mfa_code").await;

    // Neither or both factors, or junk, are client mistakes.
    for body in [
        json!({"mfa_token": token}),
        json!({"mfa_token": token, "code": "123456", "recovery_code": recovery[0]}),
        json!({"mfa_token": token, "code": "1", "extra": true}),
    ] {
        assert_problem(app.complete_mfa(&body).await, 422, "validation_failed").await;
    }
    assert_problem(app.complete_mfa(&json!({"mfa_token": 5, "code": "123456"})).await, 400, "validation_failed").await;
    let huge = "7".repeat(6_000);
    assert_problem(app.complete_mfa(&json!({"mfa_token": huge, "code": huge})).await, 401, "invalid_token").await;
}

#[tokio::test]
async fn wrong_codes_lock_the_account_as_wrong_passwords_do() {
    let app = spawn_app_with(&[("PORTCULLIS_LIMITS__LOGIN_FAILURES__MAX", "3")]).await;
    let (email, _, secret, _) = app.totp_user().await;
    let right = [code(&secret, -1), code(&secret, 0), code(&secret, 1)];
    let wrong = (0..10).map(|d| d.to_string().repeat(6)).find(|c| !right.contains(c)).expect("a wrong code");
    for _ in 0..3 {
        let token = app.mfa_token(&email).await;
        let refused = app.complete_mfa(&json!({"mfa_token": token, "code": wrong})).await;
        assert_problem(refused, 401, "invalid_mfa_code").await;
    }
    // Locked now, for passwords and codes alike.
    assert_problem(app.login(&email, STRONG_PASSWORD).await, 429, "rate_limited").await;
    let admin = app.admin_token().await;
    let audit = app.get_with_token("/v1/admin/audit?type=mfa_failed", &admin).await;
    let events = json_body(audit).await;
    assert_eq!(events["items"].as_array().map(Vec::len), Some(3), "{events}");
}

#[tokio::test]
async fn of_racing_submissions_of_one_code_exactly_one_signs_in() {
    let app = spawn_app().await;
    let (email, _, secret, _) = app.totp_user().await;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(app.mfa_token(&email).await);
    }
    let next = code(&secret, 1);
    let attempts = (0..12).map(|i| app.complete_mfa_owned(json!({"mfa_token": tokens[i % 3], "code": next})));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts).await;
    let wins = statuses.iter().filter(|status| **status == StatusCode::OK).count();
    assert_eq!(wins, 1, "{statuses:?}");
    // The losers are refused, or locked out once their failures add up.
    let refused = [StatusCode::OK, StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS];
    assert!(statuses.iter().all(|status| refused.contains(status)), "{statuses:?}");
}

impl TestApp {
    async fn complete_mfa_owned(&self, body: Value) -> StatusCode {
        self.complete_mfa(&body).await.status()
    }
}

#[tokio::test]
async fn disabling_needs_a_code_and_an_admin_can_reset_the_factor() {
    let app = spawn_app().await;
    let (email, id, secret, _) = app.totp_user().await;
    let token = app.mfa_token(&email).await;
    let response = app.complete_mfa(&json!({"mfa_token": token, "code": code(&secret, 1)})).await;
    let pair = TokenPair::from_body(&json_body(response).await);
    let delete = reqwest::Method::DELETE;
    let path = "/v1/users/me/mfa/totp";
    let refused = app.bearer_json(delete.clone(), path, &pair.access_token, Some(json!({"code": "abcdef"}))).await;
    assert_problem(refused, 422, "invalid_mfa_code").await;
    let enrol = app.bearer_json(reqwest::Method::POST, path, &pair.access_token, None).await;
    assert_problem(enrol, 409, "mfa_already_enabled").await;

    // An admin resets it: the password alone signs in again.
    let admin = app.admin_token().await;
    let reset = app.bearer_json(delete.clone(), &format!("/v1/admin/users/{id}/mfa"), &admin, None).await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    let pair = app.login_pair(&email, STRONG_PASSWORD).await;
    assert_eq!(decode_claims(&pair.access_token)["amr"], json!(["pwd"]));
    let gone = app.bearer_json(delete.clone(), path, &pair.access_token, Some(json!({"code": "123456"}))).await;
    assert_problem(gone, 409, "mfa_not_enabled").await;
    let unknown = format!("/v1/admin/users/{}/mfa", uuid::Uuid::new_v4());
    assert_problem(app.bearer_json(delete, &unknown, &admin, None).await, 404, "not_found").await;
    let audit = json_body(app.get_with_token("/v1/admin/audit?type=admin_mfa_reset", &admin).await).await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(1), "{audit}");
}

#[tokio::test]
async fn production_without_the_mfa_key_refuses_enrolment_then_refuses_to_start_once_totp_is_on() {
    let app = spawn_app().await;
    let production: std::collections::HashMap<String, String> = [
        ("DATABASE_URL", app.database_url()),
        ("PORTCULLIS_ENV", "production"),
        ("PORTCULLIS_BIND", "127.0.0.1:0"),
        ("PORTCULLIS_JWT_KEYS", JWT_KEY),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();
    let settings = portcullis::app::config::Settings::load(None, &production).expect("production settings");

    // No user has TOTP on: it starts, and refuses enrolment.
    let running = portcullis::app::start(&settings).await.expect("the keyless service starts");
    let (_, _, pair) = app.new_user("keyless").await;
    let keyless = format!("http://{}/v1/users/me/mfa/totp", running.addr);
    let response = app.client.post(&keyless).bearer_auth(&pair.access_token).send().await.expect("sent");
    assert_problem(response, 503, "mfa_unavailable").await;
    running.stop().await.expect("a clean stop");

    // Once a user has it on, a start without the key that sealed it is refused.
    app.totp_user().await;
    let error = portcullis::app::start(&settings).await.err().expect("the start is refused");
    let message = format!("{error:#}");
    assert!(message.contains("PORTCULLIS_MFA_KEY"), "{message}");
}

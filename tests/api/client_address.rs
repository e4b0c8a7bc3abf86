//! The client address behind a proxy, as an attacker tries to choose it:
//! the proxy is the test client on loopback, trusted, and each test sends
//! what a caller could put through a proxy that appends its peer to
//! `X-Forwarded-For` (nginx's `$proxy_add_x_forwarded_for`).

use crate::helpers::*;
use serde_json::json;

const WRONG_PASSWORD: &str = "a-Wrong-password-for-sure-1";

/// The settings of a service behind a loopback proxy reporting in `header`,
/// with the Redis limiter when `redis` is given.
fn behind_proxy<'a>(header: &'a str, redis: Option<&'a (String, String)>) -> Vec<(&'a str, &'a str)> {
    let mut settings = vec![
        ("PORTCULLIS_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("PORTCULLIS_CLIENT_IP_HEADER", header),
        ("PORTCULLIS_LIMITS__LOGIN_FAILURES__MAX", "3"),
    ];
    if let Some((url, prefix)) = redis {
        settings.push(("REDIS_URL", url));
        settings.push(("PORTCULLIS_REDIS__KEY_PREFIX", prefix));
    }
    settings
}

async fn login_with_headers(app: &TestApp, email: &str, password: &str, headers: &[(&str, String)]) -> u16 {
    let mut request = app.client.post(app.url("/v1/auth/login")).json(&json!({"email": email, "password": password}));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.expect("a response").status().as_u16()
}

/// A caller's own random `Forwarded` and `X-Forwarded-For` elements,
/// followed by what the proxy appends: the caller's real address.
async fn random_claims_do_not_dodge_the_lockout(app: &TestApp) {
    let email = unique_email("claims");
    app.register_ok(&email).await;
    for attempt in 0..3 {
        let headers = [
            ("forwarded", format!("for=198.51.100.{attempt}")),
            ("x-forwarded-for", format!("192.0.2.{attempt}, 203.0.113.7")),
            ("x-real-ip", format!("192.0.2.{attempt}")),
        ];
        assert_eq!(login_with_headers(app, &email, WRONG_PASSWORD, &headers).await, 401, "attempt {attempt}");
    }
    let headers =
        [("forwarded", "for=198.51.100.99".to_owned()), ("x-forwarded-for", "192.0.2.99, 203.0.113.7".to_owned())];
    assert_eq!(login_with_headers(app, &email, STRONG_PASSWORD, &headers).await, 429);
    let elsewhere = [("x-forwarded-for", "203.0.113.8".to_owned())];
    assert_eq!(login_with_headers(app, &email, STRONG_PASSWORD, &elsewhere).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_behind_the_proxy_cannot_pick_its_own_address() {
    let app = spawn_app_with(&behind_proxy("x-forwarded-for", None)).await;
    random_claims_do_not_dodge_the_lockout(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_legal_unknown_in_forwarded_never_lets_another_header_decide() {
    let app = spawn_app_with(&behind_proxy("forwarded", None)).await;
    let email = unique_email("unknown");
    app.register_ok(&email).await;
    for attempt in 0..3 {
        let headers = [
            ("forwarded", "for=unknown".to_owned()),
            ("x-forwarded-for", format!("203.0.113.{attempt}")),
            ("x-real-ip", format!("203.0.113.{attempt}")),
        ];
        assert_eq!(login_with_headers(&app, &email, WRONG_PASSWORD, &headers).await, 401);
    }

    // Every attempt counted against the proxy, the last trusted hop.
    let headers = [("forwarded", "for=unknown".to_owned()), ("x-forwarded-for", "203.0.113.50".to_owned())];
    assert_eq!(login_with_headers(&app, &email, STRONG_PASSWORD, &headers).await, 429);
}

#[tokio::test(flavor = "multi_thread")]
async fn x_real_ip_is_the_client_only_when_configured() {
    let app = spawn_app_with(&behind_proxy("x-real-ip", None)).await;
    let email = unique_email("realip");
    app.register_ok(&email).await;
    for _ in 0..3 {
        let headers = [("x-real-ip", "203.0.113.7".to_owned()), ("x-forwarded-for", "192.0.2.1".to_owned())];
        assert_eq!(login_with_headers(&app, &email, WRONG_PASSWORD, &headers).await, 401);
    }
    let same = [("x-real-ip", "203.0.113.7".to_owned()), ("forwarded", "for=192.0.2.2".to_owned())];
    assert_eq!(login_with_headers(&app, &email, STRONG_PASSWORD, &same).await, 429);
    let other = [("x-real-ip", "203.0.113.8".to_owned())];
    assert_eq!(login_with_headers(&app, &email, STRONG_PASSWORD, &other).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_configured_header_a_trusted_proxy_is_the_client() {
    let app = spawn_app_with(&[
        ("PORTCULLIS_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("PORTCULLIS_LIMITS__LOGIN_FAILURES__MAX", "2"),
    ])
    .await;
    let email = unique_email("noheader");
    app.register_ok(&email).await;
    for attempt in 0..2 {
        let headers = [("x-forwarded-for", format!("203.0.113.{attempt}"))];
        assert_eq!(login_with_headers(&app, &email, WRONG_PASSWORD, &headers).await, 401);
    }
    let headers = [("x-forwarded-for", "203.0.113.77".to_owned())];
    assert_eq!(login_with_headers(&app, &email, STRONG_PASSWORD, &headers).await, 429);
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread")]
async fn the_redis_limiter_sees_the_same_address() {
    let Some((redis, _server)) = portcullis::testing::redis_server().await else { return };
    let prefix = format!("portcullis-test-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let shared = (redis, prefix);
    let app = spawn_app_with(&behind_proxy("x-forwarded-for", Some(&shared))).await;
    random_claims_do_not_dodge_the_lockout(&app).await;
}

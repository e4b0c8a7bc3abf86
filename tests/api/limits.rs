//! Rate limits on the auth routes and the rest, and the failed-login lockout.

use crate::helpers::{assert_problem, header, spawn_app, spawn_app_with, unique_email, STRONG_PASSWORD};
use serde_json::json;

const WRONG_PASSWORD: &str = "not-the-Right-password-11";

fn retry_after(headers: &reqwest::header::HeaderMap) -> u64 {
    header(headers, "retry-after").expect("a Retry-After header").parse().expect("Retry-After in seconds")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_auth_rate_limit_refuses_the_request_after_the_burst() {
    let app =
        spawn_app_with(&[("PORTCULLIS_LIMITS__AUTH__BURST", "3"), ("PORTCULLIS_LIMITS__AUTH__PER_MINUTE", "1")]).await;
    let email = unique_email("burst");

    let mut remaining = Vec::new();
    for response in [
        app.register(&email, STRONG_PASSWORD).await,
        app.login(&email, STRONG_PASSWORD).await,
        app.login(&email, WRONG_PASSWORD).await,
    ] {
        assert!(response.status().as_u16() < 429, "{}", response.status());
        let headers = response.headers();
        assert_eq!(header(headers, "ratelimit-limit"), Some("3"));
        remaining.push(header(headers, "ratelimit-remaining").expect("RateLimit-Remaining").parse::<u32>().unwrap());
        let reset: u64 = header(headers, "ratelimit-reset").expect("RateLimit-Reset").parse().unwrap();
        assert!(reset <= 180, "RateLimit-Reset {reset}");
    }
    assert_eq!(remaining, [2, 1, 0]);

    let refused = app.refresh(&"A".repeat(43)).await;

    assert_eq!(refused.status().as_u16(), 429);
    let wait = retry_after(refused.headers());
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert_eq!(header(refused.headers(), "ratelimit-remaining"), Some("0"));
    crate::helpers::assert_common_headers(refused.headers(), "429");
    assert_eq!(header(refused.headers(), "cache-control"), Some("no-store"));
    assert_problem(refused, 429, "rate_limited").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_auth_rate_limit_does_not_touch_other_routes() {
    let app =
        spawn_app_with(&[("PORTCULLIS_LIMITS__AUTH__BURST", "2"), ("PORTCULLIS_LIMITS__AUTH__PER_MINUTE", "1")]).await;
    let pair = app.register_and_login(&unique_email("spent")).await;
    assert_eq!(app.login(&unique_email("nobody"), WRONG_PASSWORD).await.status().as_u16(), 429);

    assert_eq!(app.me(&pair.access_token).await.status().as_u16(), 200);
    assert_eq!(app.verify(&pair.access_token).await.status().as_u16(), 200);
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_peer_cannot_dodge_the_limit_with_forwarded_headers() {
    let app =
        spawn_app_with(&[("PORTCULLIS_LIMITS__AUTH__BURST", "2"), ("PORTCULLIS_LIMITS__AUTH__PER_MINUTE", "1")]).await;
    let attempt = |n: u32| {
        app.client
            .post(app.url("/v1/auth/login"))
            .header("x-forwarded-for", format!("203.0.113.{n}"))
            .header("forwarded", format!("for=198.51.100.{n}"))
            .json(&json!({"email": unique_email("dodge"), "password": WRONG_PASSWORD}))
            .send()
    };

    assert_eq!(attempt(1).await.unwrap().status().as_u16(), 401);
    assert_eq!(attempt(2).await.unwrap().status().as_u16(), 401);
    assert_eq!(attempt(3).await.unwrap().status().as_u16(), 429);
}

#[tokio::test(flavor = "multi_thread")]
async fn other_routes_carry_rate_limit_headers() {
    let app = spawn_app().await;
    let pair = app.register_and_login(&unique_email("headers")).await;

    let response = app.me(&pair.access_token).await;

    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers();
    assert_eq!(header(headers, "ratelimit-limit"), Some("600"));
    assert!(header(headers, "ratelimit-remaining").is_some_and(|r| r.parse::<u32>().is_ok()));
    assert!(header(headers, "ratelimit-reset").is_some_and(|r| r.parse::<u64>().is_ok()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_rate_limit_refuses_with_retry_after() {
    let app = spawn_app_with(&[("PORTCULLIS_LIMITS__API__PER_MINUTE", "2")]).await;
    let pair = app.register_and_login(&unique_email("api")).await;

    assert_eq!(app.me(&pair.access_token).await.status().as_u16(), 200);
    assert_eq!(app.me(&pair.access_token).await.status().as_u16(), 200);
    let refused = app.me(&pair.access_token).await;

    assert_eq!(refused.status().as_u16(), 429);
    assert!(retry_after(refused.headers()) >= 1);
    assert_problem(refused, 429, "rate_limited").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn after_max_failed_logins_even_the_right_password_is_refused() {
    let app = spawn_app_with(&[("PORTCULLIS_LIMITS__LOGIN_FAILURES__MAX", "3")]).await;
    let email = unique_email("lockout");
    app.register_ok(&email).await;
    for _ in 0..3 {
        assert_problem(app.login(&email, WRONG_PASSWORD).await, 401, "invalid_credentials").await;
    }

    let response = app.login(&email, STRONG_PASSWORD).await;

    assert_eq!(response.status().as_u16(), 429);
    let wait = retry_after(response.headers());
    assert!((1..=900).contains(&wait), "Retry-After {wait}");
    assert_problem(response, 429, "rate_limited").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fewer_than_max_failures_do_not_lock_and_a_success_starts_the_count_again() {
    let app = spawn_app_with(&[("PORTCULLIS_LIMITS__LOGIN_FAILURES__MAX", "3")]).await;
    let email = unique_email("almost");
    app.register_ok(&email).await;

    for _ in 0..2 {
        assert_eq!(app.login(&email, WRONG_PASSWORD).await.status().as_u16(), 401);
    }
    assert_eq!(app.login(&email, STRONG_PASSWORD).await.status().as_u16(), 200);
    for _ in 0..2 {
        assert_eq!(app.login(&email, WRONG_PASSWORD).await.status().as_u16(), 401);
    }
    assert_eq!(app.login(&email, STRONG_PASSWORD).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_accounts_lock_like_known_ones_and_addresses_count_normalised() {
    let app = spawn_app_with(&[("PORTCULLIS_LIMITS__LOGIN_FAILURES__MAX", "3")]).await;

    for email in ["ghost@example.com", "GHOST@example.com", "  ghost@EXAMPLE.com "] {
        assert_problem(app.login(email, WRONG_PASSWORD).await, 401, "invalid_credentials").await;
    }

    assert_problem(app.login("ghost@example.com", WRONG_PASSWORD).await, 429, "rate_limited").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lockout_is_per_client_address_behind_a_trusted_proxy() {
    let app = spawn_app_with(&[
        ("PORTCULLIS_LIMITS__LOGIN_FAILURES__MAX", "3"),
        ("PORTCULLIS_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("PORTCULLIS_CLIENT_IP_HEADER", "x-forwarded-for"),
    ])
    .await;
    let email = unique_email("proxied");
    app.register_ok(&email).await;
    let login_from = |ip: &'static str, password: &'static str| {
        app.client
            .post(app.url("/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(login_from("203.0.113.7", WRONG_PASSWORD).await.unwrap().status().as_u16(), 401);
    }

    assert_eq!(login_from("203.0.113.7", STRONG_PASSWORD).await.unwrap().status().as_u16(), 429);
    assert_eq!(login_from("198.51.100.9", STRONG_PASSWORD).await.unwrap().status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_signed_in_user_has_an_api_bucket_of_their_own() {
    let app = spawn_app_with(&[("PORTCULLIS_LIMITS__API__PER_MINUTE", "2")]).await;
    let busy = app.register_and_login(&unique_email("busy")).await;
    let calm = app.register_and_login(&unique_email("calm")).await;
    for _ in 0..2 {
        assert_eq!(app.me(&busy.access_token).await.status().as_u16(), 200);
    }
    assert_eq!(app.me(&busy.access_token).await.status().as_u16(), 429);

    assert_eq!(app.me(&calm.access_token).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_from_many_addresses_lock_the_account_everywhere() {
    let app = spawn_app_with(&[
        ("PORTCULLIS_LIMITS__LOGIN_FAILURES__MAX", "100"),
        ("PORTCULLIS_LIMITS__ACCOUNT_FAILURES__MAX", "3"),
        ("PORTCULLIS_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("PORTCULLIS_CLIENT_IP_HEADER", "x-forwarded-for"),
    ])
    .await;
    let email = unique_email("spread");
    app.register_ok(&email).await;
    let login_from = |ip: String, password: &'static str| {
        app.client
            .post(app.url("/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    for n in 1..=3 {
        assert_eq!(login_from(format!("203.0.113.{n}"), WRONG_PASSWORD).await.unwrap().status().as_u16(), 401);
    }

    let response = login_from("198.51.100.77".to_owned(), STRONG_PASSWORD).await.unwrap();

    assert_eq!(response.status().as_u16(), 429);
    assert!(retry_after(response.headers()) >= 1);
    assert_problem(response, 429, "rate_limited").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_forwarded_headers_from_a_trusted_proxy_are_ignored() {
    let app = spawn_app_with(&[
        ("PORTCULLIS_LIMITS__LOGIN_FAILURES__MAX", "3"),
        ("PORTCULLIS_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("PORTCULLIS_CLIENT_IP_HEADER", "x-forwarded-for"),
    ])
    .await;
    let email = unique_email("garbled");
    app.register_ok(&email).await;
    let login_with = |name: &'static str, value: &'static str, password: &'static str| {
        app.client
            .post(app.url("/v1/auth/login"))
            .header(name, value)
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    // Each garbled value ends at the peer, the last trusted hop, and a header
    // that is not the configured one is never read: all three count against the peer.
    assert_eq!(login_with("x-forwarded-for", "not-an-ip", WRONG_PASSWORD).await.unwrap().status().as_u16(), 401);
    assert_eq!(
        login_with("x-forwarded-for", "203.0.113.5, 999.1.1.1", WRONG_PASSWORD).await.unwrap().status().as_u16(),
        401
    );
    assert_eq!(
        login_with("forwarded", "for=300.1.2.3;proto=https", WRONG_PASSWORD).await.unwrap().status().as_u16(),
        401
    );

    assert_eq!(login_with("x-forwarded-for", "still garbage", STRONG_PASSWORD).await.unwrap().status().as_u16(), 429);
    // A well-formed address from the trusted proxy is a different client.
    assert_eq!(login_with("x-forwarded-for", "198.51.100.4", STRONG_PASSWORD).await.unwrap().status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unbalanced_bracket_in_forwarded_is_malformed_and_ignored() {
    let app = spawn_app_with(&[
        ("PORTCULLIS_LIMITS__LOGIN_FAILURES__MAX", "1"),
        ("PORTCULLIS_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("PORTCULLIS_CLIENT_IP_HEADER", "forwarded"),
    ])
    .await;
    let email = unique_email("bracket");
    app.register_ok(&email).await;
    let login_with = |value: &'static str, password: &'static str| {
        app.client
            .post(app.url("/v1/auth/login"))
            .header("forwarded", value)
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    // Counted against the peer, 127.0.0.1, since the value is malformed...
    assert_eq!(login_with("for=\"[2001:db8::1\"", WRONG_PASSWORD).await.unwrap().status().as_u16(), 401);

    // ...so the peer is now locked out.
    assert_eq!(login_with("for=nonsense", STRONG_PASSWORD).await.unwrap().status().as_u16(), 429);
}

/// Serves `route` behind the service's middleware, with the state of `app`.
fn behind_the_middleware(
    app: &crate::helpers::TestApp,
    route: poem::Route,
) -> impl poem::Endpoint<Output = poem::Response> {
    let state = app.running.as_ref().expect("a running service").state.clone();
    portcullis::app::http::middleware::Portcullis::new(state, std::collections::HashMap::new()).wrap(route)
}

async fn post(endpoint: &impl poem::Endpoint<Output = poem::Response>, path: &str) -> poem::Response {
    let request = poem::Request::builder().method(poem::http::Method::POST).uri_str(path).finish();
    endpoint.call(request).await.expect("the middleware answers every request")
}

fn ratelimit_limit(response: &poem::Response) -> Option<&str> {
    response.headers().get("ratelimit-limit").and_then(|value| value.to_str().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_spends_the_bucket_it_declares_whatever_its_path() {
    use portcullis::app::http::middleware::rate_limit::{api_bucket, auth_bucket};
    let app =
        spawn_app_with(&[("PORTCULLIS_LIMITS__AUTH__BURST", "3"), ("PORTCULLIS_LIMITS__API__PER_MINUTE", "7")]).await;
    let ok = || poem::endpoint::make_sync(|_| "ok");
    let route = poem::Route::new()
        .at("/v1/users/declared-auth", poem::post(auth_bucket(ok())))
        .at("/v1/auth/declared-api", poem::post(api_bucket(ok())));
    let endpoint = behind_the_middleware(&app, route);

    let auth = post(&endpoint, "/v1/users/declared-auth").await;
    let api = post(&endpoint, "/v1/auth/declared-api").await;

    assert_eq!((auth.status().as_u16(), ratelimit_limit(&auth)), (200, Some("3")));
    assert_eq!((api.status().as_u16(), ratelimit_limit(&api)), (200, Some("7")));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operation_that_declares_no_bucket_cannot_answer() {
    let app = spawn_app().await;
    let undeclared = poem::endpoint::make_sync(|_| {
        let mut response = poem::Response::builder().body("done");
        response.set_data(poem_openapi::OperationId("undeclared"));
        response
    });
    let endpoint = behind_the_middleware(&app, poem::Route::new().at("/v1/undeclared", poem::post(undeclared)));

    let response = post(&endpoint, "/v1/undeclared").await;

    assert_eq!(response.status().as_u16(), 500);
    assert_eq!(ratelimit_limit(&response), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_spends_the_quota_of_its_kind() {
    let app =
        spawn_app_with(&[("PORTCULLIS_LIMITS__AUTH__BURST", "30"), ("PORTCULLIS_LIMITS__API__PER_MINUTE", "70")]).await;
    let spec: serde_json::Value = serde_json::from_str(&portcullis::app::http::spec_json()).unwrap();
    let mut checked = 0;
    for (path, operations) in spec["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/") {
            continue;
        }
        let url = app.url(&path.replace("{id}", &uuid::Uuid::new_v4().to_string()));
        for (method, operation) in operations.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap();
            let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let response = app.client.request(method, &url).json(&json!({})).send().await.unwrap();
            let auth_route = matches!(
                id,
                "register"
                    | "login"
                    | "refresh"
                    | "changePassword"
                    | "completeMfa"
                    | "disableTotp"
                    | "verifyEmail"
                    | "resendVerification"
                    | "requestPasswordReset"
                    | "confirmPasswordReset"
            );
            let expected = if auth_route { "30" } else { "70" };
            assert_ne!(response.status().as_u16(), 500, "{id}");
            assert_eq!(header(response.headers(), "ratelimit-limit"), Some(expected), "{id}");
            checked += 1;
        }
    }
    assert!(checked >= 13, "{checked} operations");
}

//! IPv6 grouping on the auth bucket (issue 11, finding 7): the /64s of one
//! /48 share a bounded budget, and NAT64 clients count by the IPv4 address
//! they carry. Played through a trusted proxy, in-process and, in a build
//! with Redis, on Redis too.

use crate::helpers::{spawn_app_with, TestApp};
use serde_json::json;

/// The proxy the tests speak through, and the header it appends.
const BEHIND_PROXY: &[(&str, &str)] = &[
    ("PORTCULLIS_TRUSTED_PROXIES", "127.0.0.1/32"),
    ("PORTCULLIS_CLIENT_IP_HEADER", "x-forwarded-for"),
    ("PORTCULLIS_LIMITS__AUTH__PER_MINUTE", "2"),
    ("PORTCULLIS_LIMITS__AUTH__BURST", "2"),
];

/// Whatever keeps a test's Redis server alive until the test ends.
type Guard = Option<Box<dyn std::any::Any>>;

/// The service in-process, and on Redis when this build and machine have it.
async fn apps() -> Vec<(&'static str, TestApp, Guard)> {
    #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
    let mut apps: Vec<(&'static str, TestApp, Guard)> = vec![("in-process", spawn_app_with(BEHIND_PROXY).await, None)];
    #[cfg(feature = "redis")]
    if let Some((redis, server)) = portcullis::testing::redis_server().await {
        let prefix = format!("portcullis-test-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let mut settings = BEHIND_PROXY.to_vec();
        settings.extend([("REDIS_URL", redis.as_str()), ("PORTCULLIS_REDIS__KEY_PREFIX", prefix.as_str())]);
        apps.push(("redis", spawn_app_with(&settings).await, Some(Box::new(server))));
    }
    apps
}

/// One refresh with a token that does not exist: an auth-bucket request
/// that costs no bcrypt. Returns the status.
async fn refresh_from(app: &TestApp, client: &str) -> u16 {
    let response = app
        .client
        .post(app.url("/v1/auth/refresh"))
        .header("x-forwarded-for", client)
        .json(&json!({"refresh_token": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}))
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_slash_64s_of_one_slash_48_share_one_budget() {
    for (name, app, _guard) in apps().await {
        let mut refused = 0;
        for subnet in 0..30 {
            if refresh_from(&app, &format!("2001:db8:7:{subnet:x}::1")).await == 429 {
                refused += 1;
            }
        }
        // Each /64 may burst 2; the /48 as a whole 4 × 2.
        assert_eq!(refused, 30 - 8, "{name}: the /48 should allow exactly 8");
        assert_eq!(refresh_from(&app, "2001:db8:8::1").await, 401, "{name}: another /48 is not affected");
        // Two keys decide each request, and the metric counts it once.
        let allowed = app.metric_value(r#"rate_limit_decisions_total{bucket="auth",decision="allowed"}"#).await;
        let refused_total = app.metric_value(r#"rate_limit_decisions_total{bucket="auth",decision="refused"}"#).await;
        assert_eq!((allowed, refused_total), (9.0, 22.0), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nat64_clients_count_by_their_ipv4_address() {
    for (name, app, _guard) in apps().await {
        for _ in 0..2 {
            assert_eq!(refresh_from(&app, "64:ff9b::192.0.2.7").await, 401, "{name}");
        }
        assert_eq!(refresh_from(&app, "64:ff9b::192.0.2.7").await, 429, "{name}: over its own burst");
        assert_eq!(refresh_from(&app, "192.0.2.7").await, 429, "{name}: the same IPv4 client");

        assert_eq!(refresh_from(&app, "64:ff9b::198.51.100.9").await, 401, "{name}: another IPv4 client");
    }
}

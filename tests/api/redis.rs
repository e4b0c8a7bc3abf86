//! Replicas sharing Redis share one set of limits; when Redis is cut off,
//! limits fall back to each process and recover by themselves, and revoked
//! tokens stay refused throughout.

use crate::helpers::{assert_problem, json_body, spawn_app_with, unique_email, TestApp, STRONG_PASSWORD};
use crate::proxy::Proxy;
use std::time::{Duration, Instant};

fn prefix() -> String {
    format!("portcullis-test-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// `count` replicas on one database and one Redis.
async fn replicas(count: usize, redis: &str, extra: &[(&str, &str)]) -> Vec<TestApp> {
    let prefix = prefix();
    let mut settings: Vec<(&str, &str)> = vec![("REDIS_URL", redis), ("PORTCULLIS_REDIS__KEY_PREFIX", &prefix)];
    settings.extend_from_slice(extra);
    let first = spawn_app_with(&settings).await;
    let database = first.database_url().to_owned();
    let mut all = vec![first];
    for _ in 1..count {
        let mut shared = settings.clone();
        shared.push(("DATABASE_URL", &database));
        all.push(spawn_app_with(&shared).await);
    }
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_spread_over_three_replicas_lock_at_exactly_the_limit() {
    let Some((redis, _server)) = portcullis::testing::redis_server().await else { return };
    let replicas = replicas(3, &redis, &[("PORTCULLIS_LIMITS__LOGIN_FAILURES__MAX", "4")]).await;
    failures_lock_at_exactly_four(&replicas).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_redis_cluster_failed_logins_spread_over_three_replicas_lock_at_exactly_the_limit() {
    let Some(cluster) = portcullis::testing::RedisCluster::start(3, 0).await else { return };
    let settings = [("PORTCULLIS_REDIS__CLUSTER", "true"), ("PORTCULLIS_LIMITS__LOGIN_FAILURES__MAX", "4")];
    failures_lock_at_exactly_four(&replicas(3, &cluster.urls(), &settings).await).await;
    let budget = [
        ("PORTCULLIS_REDIS__CLUSTER", "true"),
        ("PORTCULLIS_LIMITS__AUTH__BURST", "5"),
        ("PORTCULLIS_LIMITS__AUTH__PER_MINUTE", "1"),
    ];
    auth_limit_is_one_budget(&replicas(3, &cluster.urls(), &budget).await).await;
}

/// Four failed logins, round-robin over the replicas, lock the account on all.
async fn failures_lock_at_exactly_four(replicas: &[TestApp]) {
    let email = unique_email("spread");
    assert_eq!(replicas[0].register(&email, STRONG_PASSWORD).await.status().as_u16(), 201);

    for attempt in 0..4 {
        let replica = &replicas[attempt % 3];
        assert_eq!(replica.login(&email, "a-Wrong-password-for-sure-1").await.status().as_u16(), 401, "{attempt}");
    }
    for replica in replicas {
        assert_problem(replica.login(&email, STRONG_PASSWORD).await, 429, "rate_limited").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_auth_limit_is_one_budget_across_replicas() {
    let Some((redis, _server)) = portcullis::testing::redis_server().await else { return };
    let replicas =
        replicas(3, &redis, &[("PORTCULLIS_LIMITS__AUTH__BURST", "5"), ("PORTCULLIS_LIMITS__AUTH__PER_MINUTE", "1")])
            .await;
    auth_limit_is_one_budget(&replicas).await;
}

/// Gateway checks raced over three replicas, each answered in front of the
/// middleware (`app::http::lane`), spend one shared quota exactly.
#[tokio::test(flavor = "multi_thread")]
async fn racing_gateway_checks_over_three_replicas_spend_one_quota_exactly() {
    let Some((redis, _server)) = portcullis::testing::redis_server().await else { return };
    let replicas = replicas(3, &redis, &[("PORTCULLIS_LIMITS__API__PER_MINUTE", "10")]).await;
    crate::fast_path::racing_checks_spend_the_quota_exactly(&replicas, 10, 45).await;
}

/// A burst of five, spent round-robin over the replicas: the sixth is refused.
async fn auth_limit_is_one_budget(replicas: &[TestApp]) {
    let mut statuses = Vec::new();
    for attempt in 0..6 {
        statuses.push(replicas[attempt % 3].login("nobody@example.com", STRONG_PASSWORD).await.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
}

async fn readiness(app: &TestApp) -> String {
    let body = json_body(app.get("/readyz").await).await;
    body["checks"]["rate_limiter"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn cutting_redis_degrades_to_local_limits_and_restoring_it_recovers() {
    let Some((redis, _server)) = portcullis::testing::redis_server().await else { return };
    let upstream = redis.trim_start_matches("redis://").trim_end_matches('/').replace("localhost", "127.0.0.1");
    let proxy = Proxy::start(upstream.parse().expect("TEST_REDIS_URL names IP:port")).await;
    let proxied = format!("redis://{}", proxy.addr);
    let replicas = replicas(2, &proxied, &[]).await;
    let email = unique_email("cut");
    assert_eq!(replicas[0].register(&email, STRONG_PASSWORD).await.status().as_u16(), 201);
    assert_eq!(readiness(&replicas[0]).await, "ok");
    let pair = replicas[0].login_pair(&email, STRONG_PASSWORD).await;

    proxy.cut();
    assert_eq!(replicas[0].login(&email, STRONG_PASSWORD).await.status().as_u16(), 200, "limits fall back");
    assert_eq!(readiness(&replicas[0]).await, "degraded");
    assert_eq!(replicas[0].get("/readyz").await.status().as_u16(), 200, "a degraded limiter keeps the replica ready");
    assert_eq!(replicas[0].metric_value("rate_limiter_degraded").await, 1.0);

    assert_eq!(replicas[0].logout(&pair.access_token, None).await.status().as_u16(), 204);
    let started = Instant::now();
    while replicas[1].verify(&pair.access_token).await.status().as_u16() != 401 {
        assert!(started.elapsed() < Duration::from_secs(1), "a revoked token was accepted while Redis was down");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    proxy.restore();
    let started = Instant::now();
    while readiness(&replicas[0]).await != "ok" {
        assert!(started.elapsed() < Duration::from_secs(10), "the limiter did not recover by itself");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(replicas[0].metric_value("rate_limiter_degraded").await, 0.0);
    assert_eq!(replicas[0].login(&email, STRONG_PASSWORD).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logout_on_one_of_three_replicas_sharing_redis_fails_on_the_other_two_within_a_second() {
    let Some((redis, _server)) = portcullis::testing::redis_server().await else { return };
    let replicas = replicas(3, &redis, &[]).await;
    let email = unique_email("three");
    assert_eq!(replicas[0].register(&email, STRONG_PASSWORD).await.status().as_u16(), 201);
    let pair = replicas[0].login_pair(&email, STRONG_PASSWORD).await;
    for replica in &replicas {
        assert_eq!(replica.verify(&pair.access_token).await.status().as_u16(), 200);
    }

    assert_eq!(replicas[0].logout(&pair.access_token, None).await.status().as_u16(), 204);

    let started = Instant::now();
    for replica in &replicas[1..] {
        while replica.verify(&pair.access_token).await.status().as_u16() != 401 {
            assert!(started.elapsed() < Duration::from_secs(1), "a replica still accepted the token after 1 s");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

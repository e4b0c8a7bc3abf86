//! Unauthenticated routes outside `/v1/` stay cheap: one per-address quota
//! covers them before they run, and `/metrics` stays off the public
//! listener in production.

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn public_routes_and_unknown_paths_share_one_per_address_quota() {
    let app = spawn_app_with(&[("PORTCULLIS_LIMITS__API__PER_MINUTE", "6")]).await;
    for path in ["/readyz", "/docs", "/openapi.json", "/metrics", "/no-such-route", "/readyz"] {
        let response = app.get(path).await;
        assert!(response.status().as_u16() < 500 && response.status().as_u16() != 429, "{path}");
        assert!(header(response.headers(), "ratelimit-limit").is_some(), "{path}");
    }

    for path in ["/readyz", "/docs", "/openapi.json", "/metrics", "/wp-admin.php"] {
        let response = app.get(path).await;
        assert!(header(response.headers(), "retry-after").is_some(), "{path}");
        assert_problem(response, 429, "rate_limited").await;
    }
    // Liveness is never refused.
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn in_production_metrics_are_not_on_the_public_listener_unless_asked_for() {
    let production = [("PORTCULLIS_ENV", "production"), ("PORTCULLIS_BCRYPT_COST", "10")];
    let app = spawn_app_with(&production).await;
    assert_problem(app.get("/metrics").await, 404, "not_found").await;

    let mut asked = production.to_vec();
    asked.push(("PORTCULLIS_METRICS_PUBLIC", "true"));
    let app = spawn_app_with(&asked).await;
    assert_eq!(app.get("/metrics").await.status().as_u16(), 200);
}

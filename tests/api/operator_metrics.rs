//! The operator's metrics (issue 14): build info, registrations, logouts,
//! revocations by reason, the hashing pool and the database pool, each
//! under its contract name, counted by the real service over HTTP.

use crate::helpers::{json_body, spawn_app, spawn_app_with, STRONG_PASSWORD};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn every_closed_set_series_is_exposed_at_zero_before_any_event() {
    let app = spawn_app().await;

    let text = app.metrics().await;

    let mut expected: Vec<String> =
        ["success", "invalid_credentials", "locked", "rate_limited", "cut_off", "email_not_verified", "error"]
            .iter()
            .map(|outcome| format!("auth_login_attempts_total{{outcome=\"{outcome}\"}}"))
            .collect();
    for reason in ["logout", "logout_all", "password_change", "refresh_reuse", "admin_update", "admin_delete"] {
        expected.push(format!("revocations_total{{reason=\"{reason}\"}} 0"));
    }
    for bucket in ["auth", "api"] {
        for decision in ["allowed", "refused"] {
            expected.push(format!("rate_limit_decisions_total{{bucket=\"{bucket}\",decision=\"{decision}\"}}"));
        }
    }
    expected.extend(
        [
            r#"logouts_total{scope="session"} 0"#,
            r#"logouts_total{scope="all"} 0"#,
            r#"tokens_issued_total{kind="access"}"#,
            "registrations_total 0",
            "password_hash_queue_depth 0",
            "password_hash_refusals_total 0",
            "revocation_sync_failures_total 0",
            "rate_limiter_degraded 0",
        ]
        .map(str::to_owned),
    );
    for sample in expected {
        assert!(text.contains(&sample), "/metrics lacks {sample:?}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn build_info_names_the_version_and_the_features() {
    let app = spawn_app().await;

    let text = app.metrics().await;

    let line = text.lines().find(|line| line.starts_with("portcullis_build_info{")).expect("portcullis_build_info");
    assert!(line.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))), "{line}");
    let features = line.split("features=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or_default();
    assert_eq!(features.contains("sqlite"), cfg!(feature = "sqlite"), "{line}");
    assert_eq!(features.contains("postgres"), cfg!(feature = "postgres"), "{line}");
    assert!(line.ends_with("} 1"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pool_gauges_show_the_configured_cap_and_the_connections_open() {
    let app = spawn_app_with(&[("PORTCULLIS_DATABASE__MAX_CONNECTIONS", "7")]).await;
    app.new_user("pool").await;

    assert_eq!(app.metric_value("db_pool_max_connections").await, 7.0);
    let idle = app.metric_value(r#"db_pool_connections{state="idle"}"#).await;
    let in_use = app.metric_value(r#"db_pool_connections{state="in_use"}"#).await;
    // The store has been used, so the pool holds at least one connection,
    // never more than its cap (the revocation poll may hold one just now).
    assert!(idle + in_use >= 1.0 && idle + in_use <= 7.0, "idle {idle}, in use {in_use}");
}

#[tokio::test(flavor = "multi_thread")]
async fn registrations_and_logouts_are_counted_with_their_revocations() {
    let app = spawn_app().await;
    let (_, email, pair) = app.new_user("counted").await;
    app.register("someone-else@example.com", "short").await; // refused: not counted
    assert_eq!(app.metric_value("registrations_total").await, 1.0);

    assert_eq!(app.logout(&pair.access_token, None).await.status().as_u16(), 204);
    assert_eq!(app.metric_value(r#"logouts_total{scope="session"}"#).await, 1.0);
    assert_eq!(app.metric_value(r#"revocations_total{reason="logout"}"#).await, 1.0);

    let pair = app.login_pair(&email, STRONG_PASSWORD).await;
    assert_eq!(app.logout_all(&pair.access_token).await.status().as_u16(), 204);
    assert_eq!(app.metric_value(r#"logouts_total{scope="all"}"#).await, 1.0);
    assert_eq!(app.metric_value(r#"revocations_total{reason="logout_all"}"#).await, 1.0);

    let pair = app.login_pair(&email, STRONG_PASSWORD).await;
    let changed = app.change_password(&pair.access_token, STRONG_PASSWORD, "another-Long-unusual-phrase-77").await;
    assert_eq!(changed.status().as_u16(), 204);
    assert_eq!(app.metric_value(r#"revocations_total{reason="password_change"}"#).await, 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reused_refresh_token_counts_a_revocation() {
    let app = spawn_app_with(&[("PORTCULLIS_REFRESH_REUSE_GRACE_SECONDS", "0")]).await;
    let (_, _, pair) = app.new_user("reuse").await;
    assert_eq!(app.refresh(&pair.refresh_token).await.status().as_u16(), 200);

    assert_eq!(app.refresh(&pair.refresh_token).await.status().as_u16(), 401);

    assert_eq!(app.metric_value(r#"revocations_total{reason="refresh_reuse"}"#).await, 1.0);
    assert_eq!(app.metric_value("refresh_token_reuse_total").await, 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_changes_and_deletions_count_revocations() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, _, _) = app.new_user("managed").await;

    let disabled = app.admin_patch(&admin, &id, &json!({"status": "disabled"})).await;
    assert_eq!(disabled.status().as_u16(), 200, "{}", json_body(disabled).await);
    assert_eq!(app.metric_value(r#"revocations_total{reason="admin_update"}"#).await, 1.0);

    assert_eq!(app.admin_delete(&admin, &id).await.status().as_u16(), 204);
    assert_eq!(app.metric_value(r#"revocations_total{reason="admin_delete"}"#).await, 1.0);
    // An unknown user changes nothing and counts nothing.
    assert_eq!(app.admin_delete(&admin, &id).await.status().as_u16(), 404);
    assert_eq!(app.metric_value(r#"revocations_total{reason="admin_delete"}"#).await, 1.0);
}

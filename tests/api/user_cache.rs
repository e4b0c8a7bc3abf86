//! `GET /v1/users/me` answers from a per-replica cache of user rows, and
//! a changed, disabled or deleted user is never served stale for longer
//! than the revocation delay: at once on the replica that made the change,
//! within a second on the others (through the revocation feed).

use crate::helpers::{
    assert_problem, json_body, spawn_app, spawn_app_with, TestApp, OTHER_STRONG_PASSWORD, STRONG_PASSWORD,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn me(app: &TestApp, token: &str) -> Value {
    let response = app.me(token).await;
    assert_eq!(response.status().as_u16(), 200, "GET /v1/users/me");
    json_body(response).await
}

/// Asks `app` for the user until the token is refused; panics if it is
/// still served after the revocation delay (one second).
async fn refused_within_a_second(app: &TestApp, token: &str) {
    let started = Instant::now();
    loop {
        let status = app.me(token).await.status().as_u16();
        if status == 401 {
            return;
        }
        assert_eq!(status, 200);
        assert!(started.elapsed() < Duration::from_secs(1), "a stale user was served for over a second");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_change_to_a_user_is_seen_at_once_by_the_replica_that_made_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, email, pair) = app.new_user("cached").await;
    for _ in 0..3 {
        assert_eq!(me(&app, &pair.access_token).await["role"], "user");
    }

    assert_eq!(app.admin_patch(&admin, &id, &json!({"role": "admin"})).await.status().as_u16(), 200);
    assert_problem(app.me(&pair.access_token).await, 401, "token_revoked").await;
    let promoted = app.login_pair(&email, STRONG_PASSWORD).await;
    assert_eq!(me(&app, &promoted.access_token).await["role"], "admin");

    let response = app.change_password(&promoted.access_token, STRONG_PASSWORD, OTHER_STRONG_PASSWORD).await;
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(app.me(&promoted.access_token).await.status().as_u16(), 401, "the old token is over");
    let changed = app.login_pair(&email, OTHER_STRONG_PASSWORD).await;
    let before = me(&app, &changed.access_token).await;

    assert_eq!(app.admin_patch(&admin, &id, &json!({"status": "disabled"})).await.status().as_u16(), 200);
    assert_eq!(app.me(&changed.access_token).await.status().as_u16(), 401, "disabled");
    assert_eq!(app.admin_patch(&admin, &id, &json!({"status": "active"})).await.status().as_u16(), 200);
    let enabled = app.login_pair(&email, OTHER_STRONG_PASSWORD).await;
    let after = me(&app, &enabled.access_token).await;
    assert_eq!(after["status"], "active");
    assert_eq!(after["id"], before["id"]);

    assert_eq!(app.admin_delete(&admin, &id).await.status().as_u16(), 204);
    assert_eq!(app.me(&enabled.access_token).await.status().as_u16(), 401, "deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_on_one_replica_is_never_served_stale_by_another_for_over_a_second() {
    let here = spawn_app_with(&[]).await;
    let there = spawn_app_with(&[("DATABASE_URL", here.database_url())]).await;
    let admin = here.admin_token().await;
    let (id, email, pair) = here.new_user("replicated").await;
    assert_eq!(me(&there, &pair.access_token).await["role"], "user");
    assert_eq!(me(&there, &pair.access_token).await["role"], "user");

    assert_eq!(here.admin_patch(&admin, &id, &json!({"role": "admin"})).await.status().as_u16(), 200);
    refused_within_a_second(&there, &pair.access_token).await;
    // A token of the new epoch is never answered from the old row, even
    // before the feed has been read.
    let promoted = here.login_pair(&email, STRONG_PASSWORD).await;
    assert_eq!(me(&there, &promoted.access_token).await["role"], "admin");

    assert_eq!(here.admin_patch(&admin, &id, &json!({"status": "disabled"})).await.status().as_u16(), 200);
    refused_within_a_second(&there, &promoted.access_token).await;

    assert_eq!(here.admin_patch(&admin, &id, &json!({"status": "active"})).await.status().as_u16(), 200);
    let enabled = here.login_pair(&email, STRONG_PASSWORD).await;
    assert_eq!(me(&there, &enabled.access_token).await["status"], "active");
    assert_eq!(here.admin_delete(&admin, &id).await.status().as_u16(), 204);
    refused_within_a_second(&there, &enabled.access_token).await;
}

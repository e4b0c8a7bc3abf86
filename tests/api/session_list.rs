//! `GET /v1/users/me/sessions` and `DELETE /v1/users/me/sessions/{id}`:
//! the sessions a user can see and end, as exactly as a logout.

use crate::helpers::{
    assert_problem, decode_claims, json_body, spawn_app, spawn_app_with, unique_email, TestApp, TokenPair,
    STRONG_PASSWORD,
};
use reqwest::Response;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Signs in as `email` with `agent` as the `User-Agent`.
pub async fn login_as(app: &TestApp, email: &str, agent: &str) -> TokenPair {
    let response = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("user-agent", agent)
        .json(&json!({"email": email, "password": STRONG_PASSWORD}))
        .send()
        .await
        .expect("POST login");
    assert_eq!(response.status().as_u16(), 200);
    TokenPair::from_body(&json_body(response).await)
}

pub async fn list(app: &TestApp, token: &str, query: &str) -> Response {
    app.get_with_token(&format!("/v1/users/me/sessions{query}"), token).await
}

pub async fn list_ok(app: &TestApp, token: &str) -> Vec<Value> {
    let response = list(app, token, "").await;
    assert_eq!(response.status().as_u16(), 200);
    let page = json_body(response).await;
    assert!(page.get("next_cursor").is_none(), "one page: {page}");
    page["items"].as_array().expect("items").clone()
}

pub async fn end(app: &TestApp, token: &str, id: &str) -> Response {
    app.client.delete(app.url(&format!("/v1/users/me/sessions/{id}"))).bearer_auth(token).send().await.expect("DELETE")
}

pub fn sid(pair: &TokenPair) -> String {
    decode_claims(&pair.access_token)["sid"].as_str().expect("sid").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_shows_each_sign_in_with_its_address_and_agent_and_marks_the_current_one() {
    let app = spawn_app().await;
    let email = unique_email("seen");
    app.register_ok(&email).await;
    let phone = login_as(&app, &email, "Phone/1.0").await;
    let laptop = login_as(&app, &email, "Laptop/2.0 (X11)").await;

    let items = list_ok(&app, &phone.access_token).await;

    assert_eq!(items.len(), 2, "{items:?}");
    let find = |pair: &TokenPair| items.iter().find(|item| item["id"] == sid(pair)).expect("listed").clone();
    let (phone_item, laptop_item) = (find(&phone), find(&laptop));
    assert_eq!((phone_item["current"].as_bool(), laptop_item["current"].as_bool()), (Some(true), Some(false)));
    assert_eq!(laptop_item["user_agent"], "Laptop/2.0 (X11)");
    assert_eq!(phone_item["user_agent"], "Phone/1.0");
    for item in &items {
        assert_eq!(item["ip"], "127.0.0.1");
        assert!(item["created_at"].is_string() && item["last_used_at"].is_string(), "{item}");
    }
    let other = app.register_and_login(&unique_email("other")).await;
    assert_eq!(list_ok(&app, &other.access_token).await.len(), 1, "only the caller's own sessions");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_is_recorded_as_the_sessions_last_use() {
    let app = spawn_app().await;
    let email = unique_email("moved");
    app.register_ok(&email).await;
    let first = login_as(&app, &email, "Before/1").await;

    let response = app
        .client
        .post(app.url("/v1/auth/refresh"))
        .header("user-agent", "After/2")
        .json(&json!({"refresh_token": first.refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let renewed = TokenPair::from_body(&json_body(response).await);

    let items = list_ok(&app, &renewed.access_token).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], sid(&first), "a refresh carries the same session on");
    assert_eq!(items[0]["user_agent"], "After/2");
    assert_eq!(items[0]["current"], true);
    let (created, used) = (items[0]["created_at"].as_str().unwrap(), items[0]["last_used_at"].as_str().unwrap());
    assert!(used >= created, "{used} before {created}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ending_a_session_refuses_its_refresh_and_access_tokens_at_once() {
    let app = spawn_app().await;
    let email = unique_email("ended");
    app.register_ok(&email).await;
    let phone = login_as(&app, &email, "Phone/1.0").await;
    let laptop = login_as(&app, &email, "Laptop/2.0").await;

    let response = end(&app, &phone.access_token, &sid(&laptop)).await;

    assert_eq!(response.status().as_u16(), 204);
    assert_problem(app.me(&laptop.access_token).await, 401, "token_revoked").await;
    assert_problem(app.refresh(&laptop.refresh_token).await, 401, "token_revoked").await;
    assert_eq!(app.me(&phone.access_token).await.status().as_u16(), 200, "the other session lives on");
    let items = list_ok(&app, &phone.access_token).await;
    assert_eq!(items.iter().map(|item| item["id"].clone()).collect::<Vec<_>>(), vec![json!(sid(&phone))]);
    assert_problem(end(&app, &phone.access_token, &sid(&laptop)).await, 404, "not_found").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ending_the_current_session_signs_the_caller_out() {
    let app = spawn_app().await;
    let pair = app.register_and_login(&unique_email("self")).await;

    assert_eq!(end(&app, &pair.access_token, &sid(&pair)).await.status().as_u16(), 204);

    assert_problem(app.verify(&pair.access_token).await, 401, "token_revoked").await;
    assert_problem(app.refresh(&pair.refresh_token).await, 401, "token_revoked").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn another_users_session_is_not_found_and_lives_on() {
    let app = spawn_app().await;
    let mallory = app.register_and_login(&unique_email("mallory")).await;
    let victim = app.register_and_login(&unique_email("victim")).await;

    let refused = assert_problem(end(&app, &mallory.access_token, &sid(&victim)).await, 404, "not_found").await;
    let unknown =
        assert_problem(end(&app, &mallory.access_token, &uuid::Uuid::now_v7().to_string()).await, 404, "not_found")
            .await;

    assert_eq!(refused["detail"], unknown["detail"], "a foreign id reads like one that never was");
    assert_eq!(app.me(&victim.access_token).await.status().as_u16(), 200);
    assert_eq!(app.refresh(&victim.refresh_token).await.status().as_u16(), 200);
    assert_eq!(end(&app, &mallory.access_token, "not-a-uuid").await.status().as_u16(), 400);
    assert_problem(end(&app, "not-a-token", &sid(&victim)).await, 401, "invalid_token").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_come_in_pages_newest_first() {
    let app = spawn_app().await;
    let email = unique_email("paged");
    app.register_ok(&email).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(sid(&login_as(&app, &email, &format!("Client/{n}")).await));
    }
    let token = app.login_pair(&email, STRONG_PASSWORD).await.access_token;
    ids.push(decode_claims(&token)["sid"].as_str().unwrap().to_owned());
    // Newest first: session ids are UUIDv7, ordered by the sign-in's millisecond.
    ids.sort_by(|a, b| b.cmp(a));

    let mut seen = Vec::new();
    let mut query = "?limit=3".to_owned();
    loop {
        let page = json_body(list(&app, &token, &query).await).await;
        seen.extend(page["items"].as_array().unwrap().iter().map(|item| item["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    assert_problem(list(&app, &token, "?limit=0").await, 422, "validation_failed").await;
    assert_problem(list(&app, &token, "?limit=101").await, 422, "validation_failed").await;
    assert_problem(list(&app, &token, "?cursor=x").await, 422, "validation_failed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_user_agent_is_cut_and_cleaned_before_it_is_shown() {
    let app = spawn_app().await;
    let email = unique_email("agent");
    app.register_ok(&email).await;
    let huge = format!("Mozilla/5.0 {}", "A".repeat(8_000));
    login_as(&app, &email, &huge).await;
    let odd = reqwest::header::HeaderValue::from_bytes(b"Odd\xff\xfe\tAgent").unwrap();
    let response = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("user-agent", odd)
        .json(&json!({"email": email, "password": STRONG_PASSWORD}))
        .send()
        .await
        .unwrap();
    let pair = TokenPair::from_body(&json_body(response).await);

    let items = list_ok(&app, &pair.access_token).await;

    let agents: Vec<&str> = items.iter().map(|item| item["user_agent"].as_str().unwrap()).collect();
    assert!(agents.contains(&"Odd\u{FFFD}\u{FFFD}\u{FFFD}Agent"), "{agents:?}");
    let long = agents.iter().find(|agent| agent.starts_with("Mozilla/5.0 AAA")).expect("the long agent");
    assert_eq!(long.len(), 256, "cut to 256 bytes");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_ended_on_one_replica_is_refused_by_another() {
    let first = spawn_app().await;
    let second = spawn_app_with(&[("DATABASE_URL", first.database_url())]).await;
    let email = unique_email("replica");
    first.register_ok(&email).await;
    let phone = first.login_pair(&email, STRONG_PASSWORD).await;
    let laptop = second.login_pair(&email, STRONG_PASSWORD).await;
    assert_eq!(second.verify(&laptop.access_token).await.status().as_u16(), 200);

    assert_eq!(end(&first, &phone.access_token, &sid(&laptop)).await.status().as_u16(), 204);

    // The other replica learns of it through the revocation feed; the
    // bound only keeps a broken feed from hanging the test.
    let started = Instant::now();
    while second.verify(&laptop.access_token).await.status().as_u16() != 401 {
        assert!(started.elapsed() < Duration::from_secs(30), "the other replica never refused the token");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_problem(second.refresh(&laptop.refresh_token).await, 401, "token_revoked").await;
}

//! The admin side of sessions (`/v1/admin/users/{id}/sessions`), and who
//! may sign up: `PORTCULLIS_REGISTRATION` and `POST /v1/admin/users`.

use crate::helpers::{assert_problem, json_body, spawn_app, spawn_app_with, unique_email, TestApp, STRONG_PASSWORD};
use crate::session_list::{list_ok, sid};
use reqwest::Response;
use serde_json::{json, Value};

async fn admin_sessions(app: &TestApp, token: &str, user: &str) -> Response {
    app.get_with_token(&format!("/v1/admin/users/{user}/sessions"), token).await
}

async fn admin_end(app: &TestApp, token: &str, path: &str) -> Response {
    app.client.delete(app.url(&format!("/v1/admin/users/{path}"))).bearer_auth(token).send().await.expect("DELETE")
}

async fn create_user(app: &TestApp, token: &str, body: &Value) -> Response {
    app.client.post(app.url("/v1/admin/users")).bearer_auth(token).json(body).send().await.expect("POST")
}

async fn audit_types(app: &TestApp, token: &str, kind: &str) -> Vec<Value> {
    let response = app.get_with_token(&format!("/v1/admin/audit?type={kind}"), token).await;
    assert_eq!(response.status().as_u16(), 200);
    json_body(response).await["items"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_lists_and_ends_one_session_of_a_user_and_it_is_audited() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, email, phone) = app.new_user("managed").await;
    let laptop = app.login_pair(&email, STRONG_PASSWORD).await;

    let response = admin_sessions(&app, &admin, &id).await;
    assert_eq!(response.status().as_u16(), 200);
    let items = json_body(response).await["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|item| item["current"] == false), "none is the admin's own");
    let one = app.get_with_token(&format!("/v1/admin/users/{id}/sessions/{}", sid(&laptop)), &admin).await;
    assert_eq!(one.status().as_u16(), 200);
    assert_eq!(json_body(one).await["id"], sid(&laptop));

    assert_eq!(admin_end(&app, &admin, &format!("{id}/sessions/{}", sid(&laptop))).await.status().as_u16(), 204);

    assert_problem(app.me(&laptop.access_token).await, 401, "token_revoked").await;
    assert_problem(app.refresh(&laptop.refresh_token).await, 401, "token_revoked").await;
    assert_eq!(app.me(&phone.access_token).await.status().as_u16(), 200);
    let events = audit_types(&app, &admin, "admin_sessions_revoked").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["subject"], id);
    assert_eq!(events[0]["details"]["session_id"], sid(&laptop), "{}", events[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_ends_every_session_of_a_user_at_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, email, phone) = app.new_user("all").await;
    let laptop = app.login_pair(&email, STRONG_PASSWORD).await;

    assert_eq!(admin_end(&app, &admin, &format!("{id}/sessions")).await.status().as_u16(), 204);

    for pair in [&phone, &laptop] {
        assert_problem(app.me(&pair.access_token).await, 401, "token_revoked").await;
        assert_problem(app.refresh(&pair.refresh_token).await, 401, "token_revoked").await;
    }
    let fresh = app.login_pair(&email, STRONG_PASSWORD).await;
    assert_eq!(list_ok(&app, &fresh.access_token).await.len(), 1, "only the new sign-in is live");
    assert_eq!(audit_types(&app, &admin, "admin_sessions_revoked").await[0]["details"]["scope"], "all");
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_session_routes_hide_other_users_sessions_and_refuse_non_admins() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (alice, _, alice_pair) = app.new_user("alice").await;
    let (bob, _, bob_pair) = app.new_user("bob").await;
    let nobody = uuid::Uuid::now_v7().to_string();

    // Bob's session under Alice's id is not Alice's: not found, and it lives on.
    let path = format!("{alice}/sessions/{}", sid(&bob_pair));
    assert_problem(admin_end(&app, &admin, &path).await, 404, "not_found").await;
    let seen = app.get_with_token(&format!("/v1/admin/users/{path}"), &admin).await;
    assert_problem(seen, 404, "not_found").await;
    assert_eq!(app.me(&bob_pair.access_token).await.status().as_u16(), 200);
    assert_problem(admin_sessions(&app, &admin, &nobody).await, 404, "not_found").await;
    assert_problem(admin_end(&app, &admin, &format!("{nobody}/sessions")).await, 404, "not_found").await;
    assert_problem(admin_sessions(&app, &alice_pair.access_token, &bob).await, 403, "forbidden").await;
    let path = format!("{bob}/sessions");
    assert_problem(admin_end(&app, &alice_pair.access_token, &path).await, 403, "forbidden").await;
    assert_eq!(app.me(&bob_pair.access_token).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_registration_closed_only_an_admin_creates_accounts_and_they_sign_in() {
    let app = spawn_app_with(&[("PORTCULLIS_REGISTRATION", "closed")]).await;
    let email = unique_email("closed");

    let refused = assert_problem(app.register(&email, STRONG_PASSWORD).await, 403, "registration_closed").await;
    assert!(refused["detail"].as_str().unwrap().contains("administrator"), "{refused}");
    let admin = app.admin_token().await;
    let response = create_user(&app, &admin, &json!({"email": email, "password": STRONG_PASSWORD})).await;
    assert_eq!(response.status().as_u16(), 201);
    let user = json_body(response).await;
    assert_eq!((user["email"].as_str(), user["role"].as_str()), (Some(email.as_str()), Some("user")));

    let pair = app.login_pair(&email, STRONG_PASSWORD).await;
    assert_eq!(json_body(app.me(&pair.access_token).await).await["id"], user["id"]);
    let created = audit_types(&app, &admin, "admin_user_created").await;
    assert!(created.iter().any(|event| event["subject"] == user["id"]), "{created:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_created_account_follows_the_password_and_address_rules() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let email = unique_email("made");
    let body = json!({"email": email, "password": STRONG_PASSWORD, "role": "admin"});

    assert_problem(
        create_user(&app, &admin, &json!({"email": email, "password": "short"})).await,
        422,
        "weak_password",
    )
    .await;
    let response = create_user(&app, &admin, &body).await;
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(json_body(response).await["role"], "admin");
    assert_problem(create_user(&app, &admin, &body).await, 409, "email_taken").await;
    let odd = json!({"email": unique_email("odd"), "password": STRONG_PASSWORD, "invite": true});
    assert_problem(create_user(&app, &admin, &odd).await, 422, "password_or_invite").await;
    let bad = json!({"email": "not an address", "password": STRONG_PASSWORD});
    assert_problem(create_user(&app, &admin, &bad).await, 422, "validation_failed").await;
    let (_, _, user) = app.new_user("plain").await;
    let body = json!({"email": unique_email("nope"), "password": STRONG_PASSWORD});
    assert_problem(create_user(&app, &user.access_token, &body).await, 403, "forbidden").await;
    assert_eq!(app.register(&unique_email("open"), STRONG_PASSWORD).await.status().as_u16(), 201, "open by default");
}

//! `POST /v1/admin/users` with `invite: true`: an account without a usable
//! password, and an invitation mail read from a real SMTP server
//! (`aiosmtpd`, see [`crate::mail`]) whose link sets the first password.

use crate::helpers::{assert_problem, json_body, spawn_app_with, unique_email, TestApp, STRONG_PASSWORD};
use crate::mail::{app_for, link_token, SmtpServer};
use reqwest::Response;
use serde_json::{json, Value};

const INVITATION_SUBJECT: &str = "Subject: You are invited: choose your password";

async fn create_user(app: &TestApp, token: &str, body: &Value) -> Response {
    app.client.post(app.url("/v1/admin/users")).bearer_auth(token).json(body).send().await.expect("POST")
}

#[tokio::test(flavor = "multi_thread")]
async fn with_registration_closed_an_invited_user_sets_a_password_from_the_mail_and_signs_in() {
    let Some(server) = SmtpServer::start().await else { return };
    let app =
        app_for(&server, &[("PORTCULLIS_REGISTRATION", "closed"), ("PORTCULLIS_REQUIRE_VERIFIED_EMAIL", "true")]).await;
    let email = unique_email("invited");
    assert_problem(app.register(&email, STRONG_PASSWORD).await, 403, "registration_closed").await;

    let admin = app.admin_token().await;
    let created = create_user(&app, &admin, &json!({ "email": email, "invite": true })).await;
    assert_eq!(created.status().as_u16(), 201);
    let user = json_body(created).await;
    assert_eq!((user["role"].as_str(), user["email_verified"].as_bool()), (Some("user"), Some(false)), "{user}");
    // Nothing signs in before the invitation is taken up.
    assert_problem(app.login(&email, STRONG_PASSWORD).await, 401, "invalid_credentials").await;

    let message = server.wait_for(&email, INVITATION_SUBJECT, 1).await.remove(0);
    assert!(message.contains("text/html") && message.contains("24 hours"), "{message}");
    let token = link_token(&message, "reset-password");
    let confirm = json!({ "token": token, "new_password": STRONG_PASSWORD });
    assert_eq!(app.post_json("/v1/auth/password-reset/confirm", &confirm).await.status().as_u16(), 204);

    let pair = app.login_pair(&email, STRONG_PASSWORD).await;
    let me = json_body(app.me(&pair.access_token).await).await;
    assert_eq!(me["email_verified"], true, "the invitation proved the address: {me}");
    let reused = json!({ "token": token, "new_password": "Yet-another-quiet-harbour-31" });
    assert_problem(app.post_json("/v1/auth/password-reset/confirm", &reused).await, 400, "invalid_token").await;

    let audit = json_body(app.get_with_token("/v1/admin/audit?type=admin_user_created", &admin).await).await;
    let event = audit["items"].as_array().unwrap().iter().find(|e| e["subject"] == user["id"]).cloned();
    let event = event.expect("the creation is audited");
    assert_eq!(event["details"]["invited"], "true", "{event}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_with_an_invitation_or_neither_is_refused_with_its_own_code() {
    let Some(server) = SmtpServer::start().await else { return };
    let app = app_for(&server, &[]).await;
    let admin = app.admin_token().await;
    let email = unique_email("both");
    let bodies = [
        json!({ "email": email, "password": STRONG_PASSWORD, "invite": true }),
        json!({ "email": email }),
        json!({ "email": email, "invite": false }),
    ];
    for body in &bodies {
        let problem = assert_problem(create_user(&app, &admin, body).await, 422, "password_or_invite").await;
        assert!(problem["detail"].as_str().unwrap_or_default().contains("invite"), "{problem}");
    }
    assert_problem(app.login(&email, STRONG_PASSWORD).await, 401, "invalid_credentials").await;
    let plain = json!({ "email": email, "password": STRONG_PASSWORD, "invite": false });
    assert_eq!(create_user(&app, &admin, &plain).await.status().as_u16(), 201, "invite: false is a plain creation");
    let again = create_user(&app, &admin, &json!({ "email": email, "invite": true })).await;
    assert_problem(again, 409, "email_taken").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_mailer_an_invitation_is_refused_and_no_account_is_left_behind() {
    let app = spawn_app_with(&[]).await;
    let admin = app.admin_token().await;
    let email = unique_email("unsent");
    let refused = create_user(&app, &admin, &json!({ "email": email, "invite": true })).await;
    assert_problem(refused, 501, "mail_disabled").await;
    let created = create_user(&app, &admin, &json!({ "email": email, "password": STRONG_PASSWORD })).await;
    assert_eq!(created.status().as_u16(), 201, "the address is still free");
}

//! `/v1/admin/users...`: listing, reading, changing, unlocking, deleting.

use crate::helpers::{
    assert_problem, assert_user_object, field_errors, json_body, spawn_app, spawn_app_with, unique_email, ADMIN_EMAIL,
    ADMIN_PASSWORD, STRONG_PASSWORD,
};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn every_admin_route_is_forbidden_to_a_non_admin() {
    let app = spawn_app().await;
    let (id, _, pair) = app.new_user("plain").await;
    let token = pair.access_token.as_str();

    assert_problem(app.admin_list(token, "").await, 403, "forbidden").await;
    assert_problem(app.admin_get(token, &id).await, 403, "forbidden").await;
    assert_problem(app.admin_patch(token, &id, &json!({"role": "admin"})).await, 403, "forbidden").await;
    assert_problem(app.admin_unlock(token, &id).await, 403, "forbidden").await;
    assert_problem(app.admin_delete(token, &id).await, 403, "forbidden").await;
    // Nothing happened.
    let admin = app.admin_token().await;
    let user = json_body(app.admin_get(&admin, &id).await).await;
    assert_eq!(user["role"], "user");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_admin_is_forbidden_before_the_request_is_read() {
    let app = spawn_app().await;
    let (_, _, pair) = app.new_user("nosy").await;
    let token = pair.access_token.as_str();

    assert_problem(app.admin_list(token, "?limit=0&cursor=nope").await, 403, "forbidden").await;
    assert_problem(app.admin_get(token, "not-a-uuid").await, 403, "forbidden").await;
    assert_problem(app.admin_patch(token, "not-a-uuid", &json!({"role": null, "x": 1})).await, 403, "forbidden").await;
    assert_problem(app.admin_delete(token, "not-a-uuid").await, 403, "forbidden").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_admin_route_needs_a_token() {
    let app = spawn_app().await;
    let (id, _, _) = app.new_user("anon").await;
    let c = &app.client;
    let user = app.url(&format!("/v1/admin/users/{id}"));

    let requests = [
        c.get(app.url("/v1/admin/users")),
        c.get(&user),
        c.patch(&user).json(&json!({"role": "admin"})),
        c.post(format!("{user}/unlock")),
        c.delete(&user),
    ];
    for request in requests {
        assert_problem(request.send().await.unwrap(), 401, "invalid_token").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_pages_through_every_user_in_creation_order() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut expected = vec![ADMIN_EMAIL.to_owned()];
    for n in 0..3 {
        let email = unique_email(&format!("page{n}"));
        app.register_ok(&email).await;
        expected.push(email);
        // Ids are UUIDv7: keep creations in distinct milliseconds.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }

    let mut seen = Vec::new();
    let mut query = "?limit=1".to_owned();
    for _ in 0..10 {
        let response = app.admin_list(&admin, &query).await;
        assert_eq!(response.status().as_u16(), 200);
        let page = json_body(response).await;
        let items = page["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{page}");
        for item in items {
            assert_user_object(item);
            seen.push(item["email"].as_str().unwrap().to_owned());
        }
        match page.get("next_cursor").filter(|c| !c.is_null()) {
            Some(cursor) => query = format!("?limit=1&cursor={}", cursor.as_str().expect("a string cursor")),
            None => break,
        }
    }

    assert_eq!(seen, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_large_enough_for_everyone_has_no_next_cursor() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.register_ok(&unique_email("one")).await;

    // "?limit=2" fills the page exactly: no empty page follows.
    for query in ["", "?limit=2", "?limit=100"] {
        let page = json_body(app.admin_list(&admin, query).await).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 2, "{query}: {page}");
        assert!(page.get("next_cursor").is_none_or(Value::is_null), "{query}: {page}");
    }
    // A smaller page points at the next one.
    let page = json_body(app.admin_list(&admin, "?limit=1").await).await;
    assert!(page["next_cursor"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_limit_outside_1_to_100_is_a_validation_error() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    for limit in ["0", "101", "-1", "100000000000"] {
        let problem =
            assert_problem(app.admin_list(&admin, &format!("?limit={limit}")).await, 422, "validation_failed").await;
        assert_eq!(field_errors(&problem), ["limit"], "limit={limit}");
    }
    // Not a number at all: a bad request.
    let response = app.admin_list(&admin, "?limit=ten").await;
    assert_problem(response, 400, "validation_failed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_cursor_is_a_validation_error() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    for cursor in ["nonsense", "12345", "%27%3B--"] {
        let problem =
            assert_problem(app.admin_list(&admin, &format!("?cursor={cursor}")).await, 422, "validation_failed").await;
        assert_eq!(field_errors(&problem), ["cursor"], "cursor={cursor}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn getting_a_user_by_id_returns_the_user_object() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let email = unique_email("byid");
    let registered = app.register_ok(&email).await;

    let response = app.admin_get(&admin, registered["id"].as_str().unwrap()).await;

    assert_eq!(response.status().as_u16(), 200);
    let user = json_body(response).await;
    assert_user_object(&user);
    assert_eq!(user, registered);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_user_id_is_not_found_and_a_malformed_one_is_a_bad_request() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let unknown = uuid::Uuid::new_v4().to_string();

    assert_problem(app.admin_get(&admin, &unknown).await, 404, "not_found").await;
    assert_problem(app.admin_patch(&admin, &unknown, &json!({"role": "admin"})).await, 404, "not_found").await;
    assert_problem(app.admin_unlock(&admin, &unknown).await, 404, "not_found").await;
    assert_problem(app.admin_delete(&admin, &unknown).await, 404, "not_found").await;

    for id in ["not-a-uuid", "123"] {
        assert_problem(app.admin_get(&admin, id).await, 400, "validation_failed").await;
        assert_problem(app.admin_patch(&admin, id, &json!({"role": "admin"})).await, 400, "validation_failed").await;
        assert_problem(app.admin_unlock(&admin, id).await, 400, "validation_failed").await;
        assert_problem(app.admin_delete(&admin, id).await, 400, "validation_failed").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn patching_the_role_promotes_a_user_to_admin() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, email, _) = app.new_user("promote").await;

    let response = app.admin_patch(&admin, &id, &json!({"role": "admin"})).await;

    assert_eq!(response.status().as_u16(), 200);
    let user = json_body(response).await;
    assert_user_object(&user);
    assert_eq!(user["role"], "admin");
    assert_eq!(user["status"], "active");
    let promoted = app.login_pair(&email, STRONG_PASSWORD).await;
    assert_eq!(app.admin_list(&promoted.access_token, "").await.status().as_u16(), 200);
    let verified = app.verify(&promoted.access_token).await;
    assert_eq!(crate::helpers::header(verified.headers(), "x-user-role"), Some("admin"));
}

#[tokio::test(flavor = "multi_thread")]
async fn disabling_a_user_ends_their_tokens_and_their_logins() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, email, pair) = app.new_user("disable").await;

    let response = app.admin_patch(&admin, &id, &json!({"status": "disabled"})).await;

    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(json_body(response).await["status"], "disabled");
    assert_eq!(app.me(&pair.access_token).await.status().as_u16(), 401);
    assert_eq!(app.verify(&pair.access_token).await.status().as_u16(), 401);
    assert_eq!(app.refresh(&pair.refresh_token).await.status().as_u16(), 401);
    assert_problem(app.login(&email, STRONG_PASSWORD).await, 401, "invalid_credentials").await;

    // Enabled again, the user signs in again.
    let response = app.admin_patch(&admin, &id, &json!({"status": "active"})).await;
    assert_eq!(json_body(response).await["status"], "active");
    let pair = app.login_pair(&email, STRONG_PASSWORD).await;
    assert_eq!(app.me(&pair.access_token).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_active_admin_cannot_be_demoted_disabled_or_deleted() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let admin_id = json_body(app.me(&admin).await).await["id"].as_str().unwrap().to_owned();

    assert_problem(app.admin_patch(&admin, &admin_id, &json!({"role": "user"})).await, 409, "last_admin").await;
    assert_problem(app.admin_patch(&admin, &admin_id, &json!({"status": "disabled"})).await, 409, "last_admin").await;
    assert_problem(app.admin_delete(&admin, &admin_id).await, 409, "last_admin").await;

    let still = json_body(app.admin_get(&admin, &admin_id).await).await;
    assert_eq!((still["role"].as_str(), still["status"].as_str()), (Some("admin"), Some("active")));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_can_step_down_once_another_admin_exists() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let admin_id = json_body(app.me(&admin).await).await["id"].as_str().unwrap().to_owned();
    let (other_id, other_email, _) = app.new_user("second").await;
    assert_eq!(app.admin_patch(&admin, &other_id, &json!({"role": "admin"})).await.status().as_u16(), 200);

    let response = app.admin_patch(&admin, &admin_id, &json!({"role": "user"})).await;

    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(json_body(response).await["role"], "user");
    // Now the other one is the last admin.
    let other = app.login_pair(&other_email, STRONG_PASSWORD).await.access_token;
    assert_problem(app.admin_patch(&other, &other_id, &json!({"status": "disabled"})).await, 409, "last_admin").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn patching_with_an_unknown_field_or_value_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, _, _) = app.new_user("patchy").await;

    let response = app.admin_patch(&admin, &id, &json!({"role": "admin", "email": "x@example.com"})).await;
    assert_problem(response, 422, "validation_failed").await;

    for body in [json!({"role": "superuser"}), json!({"status": "paused"}), json!({"role": 1})] {
        let response = app.admin_patch(&admin, &id, &body).await;
        let status = response.status().as_u16();
        assert!(status == 400 || status == 422, "{body} gave {status}");
        assert_problem(response, status, "validation_failed").await;
    }
    let user = json_body(app.admin_get(&admin, &id).await).await;
    assert_eq!(user["role"], "user");
}

#[tokio::test(flavor = "multi_thread")]
async fn unlocking_clears_a_lockout() {
    let app = spawn_app_with(&[("PORTCULLIS_LIMITS__LOGIN_FAILURES__MAX", "3")]).await;
    let admin = app.admin_token().await;
    let (id, email, _) = app.new_user("locked").await;
    for _ in 0..3 {
        assert_eq!(app.login(&email, "not-the-Right-password-11").await.status().as_u16(), 401);
    }
    assert_problem(app.login(&email, STRONG_PASSWORD).await, 429, "rate_limited").await;

    let response = app.admin_unlock(&admin, &id).await;

    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(app.login(&email, STRONG_PASSWORD).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_user_removes_them_and_ends_their_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, email, pair) = app.new_user("delete").await;

    let response = app.admin_delete(&admin, &id).await;

    assert_eq!(response.status().as_u16(), 204);
    assert_problem(app.admin_get(&admin, &id).await, 404, "not_found").await;
    assert_eq!(app.me(&pair.access_token).await.status().as_u16(), 401);
    assert_eq!(app.verify(&pair.access_token).await.status().as_u16(), 401);
    assert_eq!(app.refresh(&pair.refresh_token).await.status().as_u16(), 401);
    assert_problem(app.login(&email, STRONG_PASSWORD).await, 401, "invalid_credentials").await;
    assert_problem(app.admin_delete(&admin, &id).await, 404, "not_found").await;
    // The address is free again.
    assert_eq!(app.register(&email, STRONG_PASSWORD).await.status().as_u16(), 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seeded_admin_signs_in() {
    let app = spawn_app().await;

    let pair = app.login_pair(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let me = json_body(app.me(&pair.access_token).await).await;
    assert_user_object(&me);
    assert_eq!((me["email"].as_str(), me["role"].as_str()), (Some(ADMIN_EMAIL), Some("admin")));
}

//! `POST /v1/auth/register`.

use crate::helpers::{
    assert_problem, assert_user_object, field_errors, json_body, raw_http, spawn_app, unique_email, STRONG_PASSWORD,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn registering_returns_201_and_a_user_object_without_a_hash() {
    let app = spawn_app().await;
    let email = unique_email("ada");

    let response = app.register(&email, STRONG_PASSWORD).await;

    assert_eq!(response.status().as_u16(), 201);
    let user = json_body(response).await;
    assert_user_object(&user);
    assert_eq!(user["email"], email);
    assert_eq!(user["role"], "user");
    assert_eq!(user["status"], "active");
}

#[tokio::test(flavor = "multi_thread")]
async fn registering_normalises_the_email() {
    let app = spawn_app().await;

    let response = app.register("  Ada@Example.COM ", STRONG_PASSWORD).await;

    assert_eq!(response.status().as_u16(), 201);
    let user = json_body(response).await;
    assert_eq!(user["email"], "ada@example.com");
    // And the normalised address is the one that signs in.
    assert_eq!(app.login("ada@example.com", STRONG_PASSWORD).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn registering_a_taken_email_is_a_conflict() {
    let app = spawn_app().await;
    let email = unique_email("taken");
    app.register_ok(&email).await;

    let response = app.register(&email, "another-Unrelated-phrase-for-you-88").await;

    assert_problem(response, 409, "email_taken").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn registering_the_same_email_in_another_case_is_a_conflict() {
    let app = spawn_app().await;
    app.register_ok("grace.hopper@example.com").await;

    let response = app.register("  Grace.HOPPER@Example.com", STRONG_PASSWORD).await;

    assert_problem(response, 409, "email_taken").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_shorter_than_12_characters_is_weak() {
    let app = spawn_app().await;

    let response = app.register(&unique_email("short"), "Xq7#kLp2!zR").await; // 11 characters

    let problem = assert_problem(response, 422, "weak_password").await;
    assert_eq!(field_errors(&problem), ["password"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_over_72_bytes_is_weak_even_when_it_has_fewer_characters() {
    let app = spawn_app().await;
    let ascii: String =
        "correct-Horse-battery-staple-42-Quartz-lamp-drifting-over-97-zinc-maple-oak".chars().take(73).collect();
    assert_eq!(ascii.len(), 73);
    // 37 characters, 74 bytes of UTF-8: bytes count, not characters.
    let accented = "é".repeat(37) + "Zq9";
    assert!(accented.len() > 72 && accented.chars().count() < 72);

    for password in [ascii, accented] {
        let response = app.register(&unique_email("long"), &password).await;
        let problem = assert_problem(response, 422, "weak_password").await;
        assert_eq!(field_errors(&problem), ["password"]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_of_exactly_72_bytes_is_accepted_and_never_truncated() {
    let app = spawn_app().await;
    let email = unique_email("limit");
    let password: String =
        "correct-Horse-battery-staple-42-Quartz-lamp-drifting-over-97-zinc-maple-oak".chars().take(72).collect();
    assert_eq!(password.len(), 72);

    assert_eq!(app.register(&email, &password).await.status().as_u16(), 201);

    assert_eq!(app.login(&email, &password).await.status().as_u16(), 200);
    // bcrypt would read only the first 72 bytes of this one: it must not match.
    let longer = format!("{password}X");
    assert_problem(app.login(&email, &longer).await, 401, "invalid_credentials").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guessable_password_is_weak() {
    let app = spawn_app().await;

    for password in ["password1234", "aaaaaaaaaaaaaaaa", "qwertyuiop123"] {
        let response = app.register(&unique_email("guess"), password).await;
        let problem = assert_problem(response, 422, "weak_password").await;
        assert_eq!(field_errors(&problem), ["password"], "{password}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_containing_the_emails_local_part_is_weak() {
    let app = spawn_app().await;

    let response = app.register("Zebrafinch@example.com", "Tundra-ZEBRAFINCH-orbit-71").await;

    let problem = assert_problem(response, 422, "weak_password").await;
    assert_eq!(field_errors(&problem), ["password"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_email_is_a_validation_error_naming_the_field() {
    let app = spawn_app().await;
    let too_long = format!("{}@example.com", "a".repeat(250));

    for email in ["not-an-email", "", "   ", "two@@example.com", "user@localhost", too_long.as_str()] {
        let response = app.register(email, STRONG_PASSWORD).await;
        let problem = assert_problem(response, 422, "validation_failed").await;
        assert_eq!(field_errors(&problem), ["email"], "{email:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_field_is_rejected_with_422() {
    let app = spawn_app().await;
    let body = json!({"email": unique_email("extra"), "password": STRONG_PASSWORD, "role": "admin"});

    let response = app.post_json("/v1/auth/register", &body).await;

    assert_problem(response, 422, "validation_failed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_field_problem_names_the_field() {
    let app = spawn_app().await;
    let body = json!({"email": unique_email("extra"), "password": STRONG_PASSWORD, "role": "admin"});

    let response = app.post_json("/v1/auth/register", &body).await;

    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(field_errors(&problem), ["role"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_is_a_bad_request() {
    let app = spawn_app().await;

    for body in ["{\"email\": ", "not json at all", "{\"email\": \"a@example.com\", }", "[]"] {
        let response = app.post_raw("/v1/auth/register", body).await;
        let status = response.status().as_u16();
        assert!(status == 400 || (body == "[]" && status == 422), "{body:?} gave {status}");
        assert_problem(response, status, "validation_failed").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_null_or_structured_field_is_a_400_or_422_never_a_500() {
    let app = spawn_app().await;
    let bodies = [
        json!({"email": {"address": "a@example.com"}, "password": STRONG_PASSWORD}),
        json!({"email": unique_email("types"), "password": ["a"]}),
        json!({"email": null, "password": STRONG_PASSWORD}),
        json!({"email": unique_email("missing")}),
        json!({}),
        json!("a string"),
    ];

    for body in bodies {
        let response = app.post_json("/v1/auth/register", &body).await;
        let status = response.status().as_u16();
        assert!(status == 400 || status == 422, "{body} gave {status}");
        assert_problem(response, status, "validation_failed").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_16_kib_is_too_large() {
    let app = spawn_app().await;
    let padding = "x".repeat(16 * 1024);
    let body = json!({"email": unique_email("big"), "password": padding});

    let response = app.post_json("/v1/auth/register", &body).await;

    assert_problem(response, 413, "payload_too_large").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_of_16_kib_or_less_is_read() {
    let app = spawn_app().await;
    // Valid JSON padded with whitespace to exactly 16 KiB.
    let mut body = json!({"email": unique_email("edge"), "password": STRONG_PASSWORD}).to_string();
    body.push_str(&" ".repeat(16 * 1024 - body.len()));
    assert_eq!(body.len(), 16 * 1024);

    let response = app.post_raw("/v1/auth/register", body).await;

    assert_eq!(response.status().as_u16(), 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunked_body_over_16_kib_without_a_length_is_too_large() {
    // reqwest's streaming bodies need its `stream` feature, which the
    // dev-dependency does not enable, so the request is written by hand.
    let app = spawn_app().await;
    let chunk = format!("{{\"email\": \"big@example.com\", \"password\": \"{}\"}}", "x".repeat(20 * 1024));
    let authority = app.address.trim_start_matches("http://");
    let mut request = format!(
        "POST /v1/auth/register HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for piece in chunk.as_bytes().chunks(4096) {
        request.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        request.extend_from_slice(piece);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");

    let response = raw_http(&app.address, request).await;

    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    let lower = response.to_lowercase();
    assert!(lower.contains("content-type: application/problem+json"), "{response}");
    assert!(response.contains("\"code\":\"payload_too_large\""), "{response}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_email_of_exactly_254_bytes_is_accepted() {
    let app = spawn_app().await;
    let domain = format!("{}.{}.{}.com", "b".repeat(63), "c".repeat(63), "d".repeat(57));
    let email = format!("{}@{domain}", "a".repeat(64));
    assert_eq!(email.len(), 254);

    let response = app.register(&email, STRONG_PASSWORD).await;

    assert_eq!(response.status().as_u16(), 201);
    let longer = format!("{}@{domain}", "a".repeat(65));
    assert_problem(app.register(&longer, STRONG_PASSWORD).await, 422, "validation_failed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_strong_password_of_exactly_12_characters_is_accepted() {
    let app = spawn_app().await;
    let password = "vK9#qL2!mZ7@";
    assert_eq!(password.chars().count(), 12);

    assert_eq!(app.register(&unique_email("twelve"), password).await.status().as_u16(), 201);
}

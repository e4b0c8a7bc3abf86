//! Input normalisation (issue 11, finding 6): what a hostile client can do
//! with control characters and Unicode look-alikes in passwords and e-mails.

use crate::helpers::{assert_problem, json_body, spawn_app, unique_email, STRONG_PASSWORD};

/// 71 bytes: with bcrypt's NUL terminator it fills the 72-byte input.
const PASSWORD_71: &str = "tH3-quiet-Orchard-sings;7-violet-Lanterns-drift_over-42-copper-Bridges!";

#[tokio::test(flavor = "multi_thread")]
async fn a_71_byte_password_followed_by_nul_does_not_sign_in() {
    assert_eq!(PASSWORD_71.len(), 71);
    let app = spawn_app().await;
    let email = unique_email("nul");
    assert_eq!(app.register(&email, PASSWORD_71).await.status().as_u16(), 201);

    let response = app.login(&email, &format!("{PASSWORD_71}\0")).await;

    assert_problem(response, 401, "invalid_credentials").await;
    assert_eq!(app.login(&email, PASSWORD_71).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn passwords_with_control_characters_are_refused_at_registration() {
    let app = spawn_app().await;
    for control in ["\0", "\u{1b}", "\t", "\u{7f}"] {
        let response = app.register(&unique_email("control"), &format!("{STRONG_PASSWORD}{control}")).await;
        assert_problem(response, 422, "weak_password").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_typed_in_full_width_is_the_same_password() {
    let app = spawn_app().await;
    let email = unique_email("wide");
    let full_width: String = STRONG_PASSWORD
        .chars()
        .map(|c| if c.is_ascii_lowercase() { char::from_u32(c as u32 + 0xFEE0).unwrap() } else { c })
        .collect();
    assert_ne!(full_width, STRONG_PASSWORD);
    assert_eq!(app.register(&email, &full_width).await.status().as_u16(), 201);

    let response = app.login(&email, STRONG_PASSWORD).await;

    assert_eq!(response.status().as_u16(), 200, "{}", json_body(response).await);
    assert_eq!(app.login(&email, &full_width).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_in_nfc_and_in_nfd_is_one_account() {
    let app = spawn_app().await;
    let suffix = unique_email("x");
    let composed = format!("caf\u{e9}.{suffix}");
    let decomposed = format!("cafe\u{301}.{suffix}");
    assert_eq!(app.register(&composed, STRONG_PASSWORD).await.status().as_u16(), 201);

    assert_problem(app.register(&decomposed, STRONG_PASSWORD).await, 409, "email_taken").await;
    assert_eq!(app.login(&decomposed, STRONG_PASSWORD).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cyrillic_look_alike_of_an_address_is_refused() {
    let app = spawn_app().await;
    let latin = unique_email("alice");
    assert_eq!(app.register(&latin, STRONG_PASSWORD).await.status().as_u16(), 201);

    let look_alike = latin.replacen('a', "\u{430}", 1);
    assert_ne!(look_alike, latin);
    assert_problem(app.register(&look_alike, STRONG_PASSWORD).await, 422, "validation_failed").await;
    let hidden = latin.replacen('@', "\u{200b}@", 1);
    assert_problem(app.register(&hidden, STRONG_PASSWORD).await, 422, "validation_failed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_internationalised_domain_is_stored_in_ascii() {
    let app = spawn_app().await;
    let local = unique_email("hans").replace("@example.com", "");
    let response = app.register(&format!("{local}@B\u{fc}cher.example"), STRONG_PASSWORD).await;

    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(json_body(response).await["email"], format!("{local}@xn--bcher-kva.example"));
    assert_eq!(app.login(&format!("{local}@xn--bcher-kva.example"), STRONG_PASSWORD).await.status().as_u16(), 200);
}

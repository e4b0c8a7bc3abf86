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

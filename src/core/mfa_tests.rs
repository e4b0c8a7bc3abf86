//! The TOTP second factor through the use cases, on in-memory ports with a
//! fixed clock: codes are computed from the enrolment's secret by
//! [`super::totp`], whose RFC vectors are checked next to it.

use super::audit::Origin;
use super::auth::*;
use super::harness::*;
use super::mfa::SecondFactor;
use super::token::Principal;
use super::totp;
use base64::Engine;
use secrecy::ExposeSecret;
use std::sync::Arc;

/// RFC 4648 base32, unpadded, as enrolment returns the secret.
fn decode_base32(text: &str) -> Vec<u8> {
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {c}"),
        };
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).unwrap());
        }
    }
    out
}

fn amr(access_token: &str) -> Vec<String> {
    let payload = access_token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    serde_json::from_value(claims["amr"].clone()).unwrap()
}

struct Enrolled {
    secret: Vec<u8>,
    recovery: Vec<String>,
}

impl Harness {
    /// How many audit events of `kind` were stored.
    async fn store_events(&self, kind: &str) -> usize {
        use crate::ports::AuditLog as _;
        let query = super::audit::AuditQuery { limit: 1_000, kind: Some(kind.parse().unwrap()), ..Default::default() };
        self.store.page(&query).await.unwrap().len()
    }

    fn code(&self, secret: &[u8]) -> String {
        use crate::ports::Clock as _;
        totp::format_code(secret, totp::step_at(self.clock.now()))
    }

    async fn enrolled(&self, email: &str) -> (Principal, Enrolled) {
        let pair = self.signed_up(email).await;
        let principal = self.auth.authenticate(&pair.access_token).unwrap();
        let enrolment = self.auth.enrol_totp(&principal, &ip(1)).await.unwrap();
        let label = format!("otpauth://totp/Portcullis:{email}?");
        assert!(enrolment.otpauth_uri.starts_with(&label), "{}", enrolment.otpauth_uri);
        let secret = decode_base32(&enrolment.secret);
        assert_eq!(secret.len(), totp::SECRET_BYTES);
        let recovery = self.auth.confirm_totp(&principal, &self.code(&secret), &ip(1)).await.unwrap();
        // The confirming code's step is spent: the next step's code is the
        // first one a login can use.
        self.clock.advance(totp::STEP_SECONDS);
        (principal, Enrolled { secret, recovery })
    }

    async fn mfa_token(&self, email: &str, from: u8) -> String {
        match self.auth.login(email, PASSWORD.into(), &ip(from)).await {
            Err(LoginError::MfaRequired { mfa_token }) => mfa_token.expose_secret().to_owned(),
            other => panic!("expected mfa_required, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_totp_user_signs_in_with_a_code_and_tokens_say_so_across_refreshes() {
    let h = harness().await;
    let (_, enrolled) = h.enrolled("ada@example.com").await;
    assert_eq!(enrolled.recovery.len(), 10);
    let token = h.mfa_token("ada@example.com", 1).await;
    let pair = h.auth.complete_mfa(&token, SecondFactor::Code(&h.code(&enrolled.secret)), &ip(1)).await.unwrap();
    assert_eq!(amr(&pair.access_token), ["pwd", "otp"]);
    assert!(pair.device_token.is_some());
    let refreshed = h.auth.refresh(pair.refresh_token.expose(), &ip(1)).await.unwrap();
    assert_eq!(amr(&refreshed.access_token), ["pwd", "otp"], "a refresh keeps the session's methods");
    // A password-only user's tokens say pwd.
    let bob = h.signed_up("bob@example.com").await;
    assert_eq!(amr(&bob.access_token), ["pwd"]);
}

#[tokio::test]
async fn a_used_code_and_a_used_token_are_refused() {
    let h = harness().await;
    let (_, enrolled) = h.enrolled("ada@example.com").await;
    let code = h.code(&enrolled.secret);
    let token = h.mfa_token("ada@example.com", 1).await;
    h.auth.complete_mfa(&token, SecondFactor::Code(&code), &ip(1)).await.unwrap();
    let again = h.auth.complete_mfa(&token, SecondFactor::Code(&code), &ip(1)).await;
    assert!(matches!(again, Err(MfaLoginError::InvalidToken)), "the token is spent: {again:?}");
    let fresh = h.mfa_token("ada@example.com", 1).await;
    let replay = h.auth.complete_mfa(&fresh, SecondFactor::Code(&code), &ip(1)).await;
    assert!(matches!(replay, Err(MfaLoginError::InvalidCode)), "the code is spent: {replay:?}");
    // The next step's code still works with the same token.
    h.clock.advance(totp::STEP_SECONDS);
    h.auth.complete_mfa(&fresh, SecondFactor::Code(&h.code(&enrolled.secret)), &ip(1)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_racing_submissions_of_one_code_exactly_one_signs_in() {
    let h = Arc::new(harness().await);
    let (_, enrolled) = h.enrolled("ada@example.com").await;
    let code = h.code(&enrolled.secret);
    // Several tokens, so the code's compare-and-set alone must decide.
    let mut tokens = Vec::new();
    for _ in 0..2 {
        tokens.push(h.mfa_token("ada@example.com", 1).await);
    }
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (h, token, code) = (h.clone(), tokens[i % 2].clone(), code.clone());
            tokio::spawn(async move { h.auth.complete_mfa(&token, SecondFactor::Code(&code), &ip(1)).await })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap().is_ok());
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn a_recovery_code_works_once_in_any_case_and_spacing() {
    let h = harness().await;
    let (_, enrolled) = h.enrolled("ada@example.com").await;
    let code = &enrolled.recovery[0];
    assert_eq!(code.len(), 19, "{code}");
    let typed = code.replace('-', " ").to_lowercase();
    let token = h.mfa_token("ada@example.com", 1).await;
    let pair = h.auth.complete_mfa(&token, SecondFactor::RecoveryCode(&typed), &ip(1)).await.unwrap();
    assert_eq!(amr(&pair.access_token), ["pwd", "otp"]);
    let token = h.mfa_token("ada@example.com", 1).await;
    let again = h.auth.complete_mfa(&token, SecondFactor::RecoveryCode(code), &ip(1)).await;
    assert!(matches!(again, Err(MfaLoginError::InvalidCode)), "{again:?}");
    let huge = "A".repeat(10_000);
    let junk = h.auth.complete_mfa(&token, SecondFactor::RecoveryCode(&huge), &ip(1)).await;
    assert!(matches!(junk, Err(MfaLoginError::InvalidCode)), "{junk:?}");
}

#[tokio::test]
async fn wrong_codes_lock_the_account_as_wrong_passwords_do() {
    let h = harness().await;
    let (_, enrolled) = h.enrolled("ada@example.com").await;
    let right = h.code(&enrolled.secret);
    let wrong = if right == "000000" { "111111" } else { "000000" };
    // The harness locks after three failures; re-entering the right
    // password buys no fresh guesses.
    for _ in 0..3 {
        let token = h.mfa_token("ada@example.com", 1).await;
        let refused = h.auth.complete_mfa(&token, SecondFactor::Code(wrong), &ip(1)).await;
        assert!(matches!(refused, Err(MfaLoginError::InvalidCode)), "{refused:?}");
    }
    let locked = h.auth.login("ada@example.com", PASSWORD.into(), &ip(1)).await;
    assert!(matches!(locked, Err(LoginError::Locked { .. })), "{locked:?}");
    let events = h.store_events("mfa_failed").await;
    assert_eq!(events, 3);
}

#[tokio::test]
async fn a_token_is_redeemed_only_from_its_network_and_before_it_expires() {
    let h = harness().await;
    let (_, enrolled) = h.enrolled("ada@example.com").await;
    let token = h.mfa_token("ada@example.com", 1).await;
    let code = h.code(&enrolled.secret);
    let elsewhere =
        h.auth.complete_mfa(&token, SecondFactor::Code(&code), &Origin::request([198, 51, 100, 1].into(), None)).await;
    assert!(matches!(elsewhere, Err(MfaLoginError::InvalidToken)), "{elsewhere:?}");
    for junk in ["", "x", &"A".repeat(5_000)] {
        let refused = h.auth.complete_mfa(junk, SecondFactor::Code(&code), &ip(1)).await;
        assert!(matches!(refused, Err(MfaLoginError::InvalidToken)), "{refused:?}");
    }
    h.clock.advance(super::mfa_login::MFA_TOKEN_TTL_SECONDS);
    let code = h.code(&enrolled.secret);
    let late = h.auth.complete_mfa(&token, SecondFactor::Code(&code), &ip(1)).await;
    assert!(matches!(late, Err(MfaLoginError::InvalidToken)), "{late:?}");
}

#[tokio::test]
async fn disabling_needs_a_code_and_an_admin_reset_needs_none() {
    let h = harness().await;
    let (principal, enrolled) = h.enrolled("ada@example.com").await;
    let refused = h.auth.disable_totp(&principal, SecondFactor::Code("12345x"), &ip(1)).await;
    assert!(matches!(refused, Err(MfaError::InvalidCode)), "{refused:?}");
    h.auth.disable_totp(&principal, SecondFactor::Code(&h.code(&enrolled.secret)), &ip(1)).await.unwrap();
    assert!(!h.auth.mfa_enabled(principal.user_id).await.unwrap());
    assert_eq!(h.auth.login("ada@example.com", PASSWORD.into(), &ip(1)).await.map(|_| ()).ok(), Some(()));

    let (bob, _) = h.enrolled("bob@example.com").await;
    assert!(h.auth.reset_mfa(bob.user_id, &ip(2)).await.unwrap());
    assert!(!h.auth.reset_mfa(bob.user_id, &ip(2)).await.unwrap());
    assert!(h.auth.login("bob@example.com", PASSWORD.into(), &ip(1)).await.is_ok());
    assert_eq!(h.store_events("admin_mfa_reset").await, 1);
    assert_eq!(h.store_events("mfa_enabled").await, 2);
    assert_eq!(h.store_events("mfa_disabled").await, 1);
}

#[tokio::test]
async fn enrolment_is_confirmed_once_by_a_right_code_only() {
    let h = harness().await;
    let pair = h.signed_up("ada@example.com").await;
    let principal = h.auth.authenticate(&pair.access_token).unwrap();
    let missing = h.auth.confirm_totp(&principal, "123456", &ip(1)).await;
    assert!(matches!(missing, Err(MfaError::NotEnabled)), "{missing:?}");
    let first = h.auth.enrol_totp(&principal, &ip(1)).await.unwrap();
    let second = h.auth.enrol_totp(&principal, &ip(1)).await.unwrap();
    assert_ne!(first.secret, second.secret, "a new enrolment replaces the pending one");
    let stale = h.code(&decode_base32(&first.secret));
    let wrong = h.auth.confirm_totp(&principal, &stale, &ip(1)).await;
    assert!(matches!(wrong, Err(MfaError::InvalidCode)), "{wrong:?}");
    // Until confirmed, sign-in is unchanged.
    assert!(h.auth.login("ada@example.com", PASSWORD.into(), &ip(1)).await.is_ok());
    let secret = decode_base32(&second.secret);
    h.auth.confirm_totp(&principal, &h.code(&secret), &ip(1)).await.unwrap();
    let twice = h.auth.enrol_totp(&principal, &ip(1)).await;
    assert!(matches!(twice, Err(MfaError::AlreadyEnabled)), "{twice:?}");
}

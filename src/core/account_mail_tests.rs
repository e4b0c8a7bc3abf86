//! Mailed links in the core: expiry on a moving clock, voiding by newer
//! links and cut-offs, the per-address budget, and the verified-login rule.

use super::account_mail::MailLinkError;
use super::audit::{AuditQuery, AuditType};
use super::auth::{LoginError, MailPorts, RefreshError, RegisterError};
use super::harness::{anonymous, harness, ip, Harness, OTHER_PASSWORD, PASSWORD};
use super::mail::{Mail, MailKind, TokenPurpose};
use super::user::{Role, UserId};
use crate::ports::{AuditLog, MailRefused, Mailer, UserRepo};
use std::sync::{Arc, Mutex};

/// Keeps what it is given, as a queue would before delivery.
#[derive(Default)]
struct Outbox(Mutex<Vec<Mail>>);

impl Mailer for Outbox {
    fn submit(&self, mail: Mail) -> Result<(), MailRefused> {
        self.0.lock().unwrap().push(mail);
        Ok(())
    }
}

impl Outbox {
    fn tokens(&self, to: &str, purpose: TokenPurpose) -> Vec<String> {
        let sent = self.0.lock().unwrap();
        sent.iter()
            .filter(|m| m.to.as_str() == to && m.kind.purpose() == purpose)
            .map(|m| m.token.expose().to_owned())
            .collect()
    }
}

async fn mailing(required: bool) -> (Harness, Arc<Outbox>) {
    let Harness { auth, clock, store } = harness().await;
    let outbox = Arc::new(Outbox::default());
    let mail = MailPorts { mailer: outbox.clone(), tokens: store.clone(), in_flight: Arc::default() };
    let auth = auth.with_mail(mail).with_verified_email_required(required);
    (Harness { auth, clock, store }, outbox)
}

#[tokio::test]
async fn reset_links_expire_after_thirty_minutes_and_verification_links_after_a_day() {
    let (h, outbox) = mailing(false).await;
    h.signed_up("ada@example.com").await;
    h.auth.request_password_reset("ada@example.com", &anonymous()).await.unwrap();
    let reset = outbox.tokens("ada@example.com", TokenPurpose::PasswordReset).remove(0);
    let verify = outbox.tokens("ada@example.com", TokenPurpose::VerifyEmail).remove(0);
    h.clock.advance(30 * 60);
    let late = h.auth.confirm_password_reset(&reset, OTHER_PASSWORD.into(), &ip(1)).await;
    assert!(matches!(late, Err(MailLinkError::Expired)), "{late:?}");
    h.clock.advance(24 * 3600 - 30 * 60 - 1);
    h.auth.verify_email(&verify, &ip(1)).await.expect("a verification link lives a day");
}

#[tokio::test]
async fn a_verification_link_expires_after_a_day() {
    let (h, outbox) = mailing(false).await;
    h.auth.register("bob@example.com", PASSWORD.into(), &anonymous()).await.unwrap();
    let verify = outbox.tokens("bob@example.com", TokenPurpose::VerifyEmail).remove(0);
    h.clock.advance(24 * 3600);
    assert!(matches!(h.auth.verify_email(&verify, &ip(1)).await, Err(MailLinkError::Expired)));
}

#[tokio::test]
async fn a_password_change_voids_a_pending_reset_link_and_a_reset_ends_every_session() {
    let (h, outbox) = mailing(false).await;
    let pair = h.signed_up("cy@example.com").await;
    h.auth.request_password_reset("cy@example.com", &anonymous()).await.unwrap();
    let first = outbox.tokens("cy@example.com", TokenPurpose::PasswordReset).remove(0);
    let principal = h.auth.authenticate(&pair.access_token).unwrap();
    h.auth.change_password(&principal, PASSWORD.into(), OTHER_PASSWORD.into(), &ip(1)).await.unwrap();
    let voided = h.auth.confirm_password_reset(&first, PASSWORD.into(), &ip(1)).await;
    assert!(matches!(voided, Err(MailLinkError::InvalidToken)), "{voided:?}");

    h.auth.request_password_reset("cy@example.com", &anonymous()).await.unwrap();
    let second = outbox.tokens("cy@example.com", TokenPurpose::PasswordReset).pop().unwrap();
    h.auth.confirm_password_reset(&second, "Yet-another-quiet-harbour-31".into(), &ip(1)).await.unwrap();
    assert!(h.auth.authenticate(&pair.access_token).is_err(), "the kept session's access token is over too");
    let refreshed = h.auth.refresh(pair.refresh_token.expose(), &ip(1)).await;
    assert!(matches!(refreshed, Err(RefreshError::Revoked | RefreshError::Invalid)), "{refreshed:?}");
}

#[tokio::test]
async fn each_address_gets_three_links_an_hour_whoever_asks() {
    let (h, outbox) = mailing(false).await;
    h.signed_up("dee@example.com").await;
    for last in 0..6 {
        h.auth.request_password_reset("DEE@example.com ", &ip(last)).await.unwrap();
    }
    assert_eq!(outbox.tokens("dee@example.com", TokenPurpose::PasswordReset).len(), 3);
    h.auth.request_password_reset("nobody@example.com", &anonymous()).await.unwrap();
    assert!(outbox.tokens("nobody@example.com", TokenPurpose::PasswordReset).is_empty());
}

#[tokio::test]
async fn an_unverified_account_is_told_so_only_with_the_right_password() {
    let (h, outbox) = mailing(true).await;
    h.auth.register("eve@example.com", PASSWORD.into(), &anonymous()).await.unwrap();
    let wrong = h.auth.login("eve@example.com", OTHER_PASSWORD.into(), &ip(1)).await;
    assert!(matches!(wrong, Err(LoginError::InvalidCredentials)), "{wrong:?}");
    let right = h.auth.login("eve@example.com", PASSWORD.into(), &ip(1)).await;
    assert!(matches!(right, Err(LoginError::EmailNotVerified)), "{right:?}");
    let token = outbox.tokens("eve@example.com", TokenPurpose::VerifyEmail).remove(0);
    h.auth.verify_email(&token, &ip(1)).await.unwrap();
    h.auth.login("eve@example.com", PASSWORD.into(), &ip(1)).await.expect("verified, signed in");
    let again = h.auth.verify_email(&token, &ip(1)).await;
    assert!(matches!(again, Err(MailLinkError::InvalidToken)), "single use");
}

#[tokio::test]
async fn an_invitation_creates_an_account_nobody_signs_in_to_until_its_link_sets_the_password() {
    let (h, outbox) = mailing(true).await;
    let by_admin = ip(9).by(UserId::from_uuid(uuid::Uuid::from_u128(7)));
    let user = h.auth.invite_account("Ivy@example.com", Role::Admin, &by_admin).await.unwrap();
    assert!(!user.email_verified && user.role == Role::Admin, "{user:?}");
    let sent: Vec<Mail> = outbox.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "one message, the invitation, and no verification mail");
    assert_eq!((sent[0].kind, sent[0].expires_in_seconds), (MailKind::Invitation, 86_400));
    let token = sent[0].token.expose().to_owned();
    for guess in [PASSWORD, OTHER_PASSWORD, ""] {
        let refused = h.auth.login("ivy@example.com", guess.into(), &ip(1)).await;
        assert!(matches!(refused, Err(LoginError::InvalidCredentials)), "{refused:?}");
    }
    let query = AuditQuery {
        before: None,
        limit: 10,
        user: None,
        kind: Some(AuditType::AdminUserCreated),
        since: None,
        until: None,
    };
    let created = h.store.page(&query).await.unwrap();
    assert_eq!(created[0].details.get("invited").map(String::as_str), Some("true"), "{created:?}");

    // Longer than a reset link's half hour: a day.
    h.clock.advance(23 * 3600);
    h.auth.confirm_password_reset(&token, OTHER_PASSWORD.into(), &ip(1)).await.unwrap();
    h.auth.login("ivy@example.com", OTHER_PASSWORD.into(), &ip(1)).await.expect("set, and the address proved");
    let again = h.auth.confirm_password_reset(&token, PASSWORD.into(), &ip(1)).await;
    assert!(matches!(again, Err(MailLinkError::InvalidToken)), "single use: {again:?}");
    let refused = h.auth.invite_account("ivy@example.com", Role::User, &by_admin).await;
    assert!(matches!(refused, Err(RegisterError::EmailTaken)), "{refused:?}");
}

#[tokio::test]
async fn an_invitation_expires_after_a_day_and_needs_a_mailer() {
    let (h, outbox) = mailing(false).await;
    let by_admin = ip(9).by(UserId::from_uuid(uuid::Uuid::from_u128(7)));
    h.auth.invite_account("jo@example.com", Role::User, &by_admin).await.unwrap();
    let token = outbox.tokens("jo@example.com", TokenPurpose::PasswordReset).remove(0);
    h.clock.advance(24 * 3600);
    let late = h.auth.confirm_password_reset(&token, OTHER_PASSWORD.into(), &ip(1)).await;
    assert!(matches!(late, Err(MailLinkError::Expired)), "{late:?}");

    let quiet = harness().await;
    let refused = quiet.auth.invite_account("kit@example.com", Role::User, &by_admin).await;
    assert!(matches!(refused, Err(RegisterError::MailDisabled)), "{refused:?}");
    let kit = crate::core::email::Email::parse("kit@example.com").unwrap();
    assert!(quiet.store.by_email(&kit).await.unwrap().is_none(), "nothing is created without a mailer");
}

#[tokio::test]
async fn a_verified_address_shows_at_once_on_the_replica_that_verified_it() {
    let (h, outbox) = mailing(false).await;
    let pair = h.signed_up("gus@example.com").await;
    let principal = h.auth.authenticate(&pair.access_token).unwrap();
    assert!(!h.auth.current_user(&principal).await.unwrap().unwrap().email_verified, "cached unverified");
    let token = outbox.tokens("gus@example.com", TokenPurpose::VerifyEmail).remove(0);
    h.auth.verify_email(&token, &ip(1)).await.unwrap();
    let user = h.auth.current_user(&principal).await.unwrap().unwrap();
    assert!(user.email_verified, "the cached row was evicted, not served for another second");
}

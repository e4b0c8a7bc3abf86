//! Mailed links against a real SMTP server: Python's `aiosmtpd` (from
//! PyPI: `pip install aiosmtpd`) listening on 127.0.0.1 and writing each
//! message it accepts into a maildir, which the tests read. Without
//! `aiosmtpd` the tests are skipped, loudly, or fail under
//! `PORTCULLIS_REQUIRE_SERVICES=1`.

use crate::helpers::{
    assert_problem, json_body, spawn_app_with, unique_email, TestApp, OTHER_STRONG_PASSWORD, STRONG_PASSWORD,
};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// An `aiosmtpd` process and the maildir it delivers into.
pub(crate) struct SmtpServer {
    port: u16,
    maildir: TempDir,
    child: Option<Child>,
}

fn aiosmtpd_installed() -> bool {
    Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("its address").port()
}

impl SmtpServer {
    /// A port and maildir for a server, not started yet; `None` (skipped)
    /// without `aiosmtpd`.
    fn reserve() -> Option<Self> {
        if !aiosmtpd_installed() {
            portcullis::testing::skip_or_fail("an SMTP server (Python aiosmtpd)", "`pip install aiosmtpd`");
            return None;
        }
        Some(Self { port: free_port(), maildir: tempfile::tempdir().expect("a maildir"), child: None })
    }

    pub(crate) async fn start() -> Option<Self> {
        let mut server = Self::reserve()?;
        server.listen().await;
        Some(server)
    }

    /// Starts the process and waits until it accepts connections.
    async fn listen(&mut self) {
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{}", self.port)])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(self.maildir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on {}", self.port);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The settings that point Portcullis at this server.
    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PORTCULLIS_MAILER", "smtp".to_owned()),
            ("PORTCULLIS_SMTP__HOST", "127.0.0.1".to_owned()),
            ("PORTCULLIS_SMTP__PORT", self.port.to_string()),
            ("PORTCULLIS_SMTP__SECURITY", "none".to_owned()),
            ("PORTCULLIS_SMTP__RETRY_MAX_SECONDS", "1".to_owned()),
            ("PORTCULLIS_MAIL_FROM", "Portcullis <auth@example.com>".to_owned()),
            ("PORTCULLIS_PUBLIC_URL", "https://app.example.com".to_owned()),
        ]
    }

    pub(crate) fn messages(&self) -> Vec<String> {
        let new: PathBuf = self.maildir.path().join("mail").join("new");
        let Ok(entries) = std::fs::read_dir(new) else { return Vec::new() };
        let mut paths: Vec<_> = entries.filter_map(Result::ok).map(|entry| entry.path()).collect();
        paths.sort();
        paths.iter().filter_map(|path| std::fs::read_to_string(path).ok()).collect()
    }

    /// The `count` messages to `to` whose subject is `subject`, waiting
    /// for them to arrive.
    pub(crate) async fn wait_for(&self, to: &str, subject: &str, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found: Vec<String> = self
                .messages()
                .into_iter()
                .filter(|message| message.contains(&format!("To: {to}")) && message.contains(subject))
                .collect();
            if found.len() >= count {
                return found;
            }
            assert!(Instant::now() < deadline, "no message {subject:?} to {to} arrived");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The token of the link `page` in a delivered message.
pub(crate) fn link_token(message: &str, page: &str) -> String {
    // Undo quoted-printable soft line breaks, should a body be encoded so.
    let message = message.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    let marker = format!("https://app.example.com/{page}#token=");
    let start = message.find(&marker).unwrap_or_else(|| panic!("a {page} link in {message}")) + marker.len();
    let token: String =
        message[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    assert_eq!(token.len(), 43, "a 256-bit token in the link: {token}");
    token
}

pub(crate) async fn app_for(server: &SmtpServer, extra: &[(&'static str, &str)]) -> TestApp {
    let mut settings = server.settings();
    settings.extend(extra.iter().map(|(name, value)| (*name, (*value).to_owned())));
    let settings: Vec<(&str, &str)> = settings.iter().map(|(name, value)| (*name, value.as_str())).collect();
    spawn_app_with(&settings).await
}

const VERIFY_SUBJECT: &str = "Subject: Confirm your e-mail address";
const RESET_SUBJECT: &str = "Subject: Reset your password";

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_is_verified_through_the_link_read_from_the_smtp_server() {
    let Some(server) = SmtpServer::start().await else { return };
    let app = app_for(&server, &[("PORTCULLIS_REQUIRE_VERIFIED_EMAIL", "true")]).await;
    let email = unique_email("verify");
    let user = json_body(app.register(&email, STRONG_PASSWORD).await).await;
    assert_eq!(user["email_verified"], false, "{user}");

    let refused = assert_problem(app.login(&email, STRONG_PASSWORD).await, 403, "email_not_verified").await;
    assert!(refused["detail"].as_str().unwrap_or_default().contains("verif"), "{refused}");
    // A wrong password still learns only that the credentials are wrong.
    assert_problem(app.login(&email, OTHER_STRONG_PASSWORD).await, 401, "invalid_credentials").await;

    let message = server.wait_for(&email, VERIFY_SUBJECT, 1).await.remove(0);
    assert!(message.contains("From: Portcullis <auth@example.com>"), "{message}");
    assert!(message.contains("text/html"), "an HTML part beside the text: {message}");
    let token = link_token(&message, "verify-email");
    let verified = app.post_json("/v1/auth/verify-email", &json!({ "token": token })).await;
    assert_eq!(verified.status(), 204);

    let pair = json_body(app.login(&email, STRONG_PASSWORD).await).await;
    let access = pair["access_token"].as_str().expect("signed in once verified");
    let me = json_body(app.me(access).await).await;
    assert_eq!(me["email_verified"], true, "{me}");

    let again = app.post_json("/v1/auth/verify-email", &json!({ "token": token })).await;
    assert_problem(again, 400, "invalid_token").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_reset_read_from_the_mail_ends_every_session_and_works_once() {
    let Some(server) = SmtpServer::start().await else { return };
    let app = app_for(&server, &[]).await;
    let (_, email, old) = app.new_user("reset").await;
    let other = app.login_pair(&email, STRONG_PASSWORD).await;

    let asked = app.post_json("/v1/auth/password-reset", &json!({ "email": email })).await;
    assert_eq!(asked.status(), 202);
    let message = server.wait_for(&email, RESET_SUBJECT, 1).await.remove(0);
    let token = link_token(&message, "reset-password");

    // A refused password leaves the link usable.
    let weak = json!({ "token": token, "new_password": "password1234" });
    assert_problem(app.post_json("/v1/auth/password-reset/confirm", &weak).await, 422, "weak_password").await;
    let confirm = json!({ "token": token, "new_password": OTHER_STRONG_PASSWORD });
    assert_eq!(app.post_json("/v1/auth/password-reset/confirm", &confirm).await.status(), 204);

    for pair in [&old, &other] {
        assert_eq!(app.me(&pair.access_token).await.status(), 401, "old access tokens are refused");
        assert_eq!(app.refresh(&pair.refresh_token).await.status(), 401, "old refresh tokens are refused");
    }
    assert_problem(app.login(&email, STRONG_PASSWORD).await, 401, "invalid_credentials").await;
    let pair = app.login_pair(&email, OTHER_STRONG_PASSWORD).await;
    assert_eq!(json_body(app.me(&pair.access_token).await).await["email_verified"], true, "a reset proves the address");

    let reused = json!({ "token": token, "new_password": "Yet-another-quiet-harbour-31" });
    assert_problem(app.post_json("/v1/auth/password-reset/confirm", &reused).await, 400, "invalid_token").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_request_or_a_password_change_voids_a_reset_link() {
    let Some(server) = SmtpServer::start().await else { return };
    let app = app_for(&server, &[]).await;
    let (_, email, pair) = app.new_user("voided").await;
    let ask = json!({ "email": email });
    assert_eq!(app.post_json("/v1/auth/password-reset", &ask).await.status(), 202);
    let first = link_token(&server.wait_for(&email, RESET_SUBJECT, 1).await[0], "reset-password");
    assert_eq!(app.post_json("/v1/auth/password-reset", &ask).await.status(), 202);
    let mails = server.wait_for(&email, RESET_SUBJECT, 2).await;
    let second = mails.iter().map(|m| link_token(m, "reset-password")).find(|t| *t != first).expect("a new link");

    let with_first = json!({ "token": first, "new_password": OTHER_STRONG_PASSWORD });
    assert_problem(app.post_json("/v1/auth/password-reset/confirm", &with_first).await, 400, "invalid_token").await;

    let changed = app.change_password(&pair.access_token, STRONG_PASSWORD, OTHER_STRONG_PASSWORD).await;
    assert_eq!(changed.status(), 204);
    let with_second = json!({ "token": second, "new_password": "Yet-another-quiet-harbour-31" });
    assert_problem(app.post_json("/v1/auth/password-reset/confirm", &with_second).await, 400, "invalid_token").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_request_answers_alike_for_known_and_unknown_addresses() {
    let Some(server) = SmtpServer::start().await else { return };
    let app = app_for(&server, &[]).await;
    let (_, known, _) = app.new_user("known").await;
    let unknown = unique_email("unknown");
    let mut answers = Vec::new();
    for email in [&known, &unknown] {
        let response = app.post_json("/v1/auth/password-reset", &json!({ "email": email })).await;
        assert_eq!(response.status(), 202);
        answers.push(response.text().await.expect("a body"));
    }
    assert!(answers.windows(2).all(|pair| pair[0] == pair[1]), "one body for all: {answers:?}");
    server.wait_for(&known, RESET_SUBJECT, 1).await;
    assert!(server.messages().iter().all(|message| !message.contains(&unknown)), "no mail to an unknown address");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_smtp_server_down_registration_succeeds_and_the_mail_arrives_once_it_returns() {
    let Some(mut server) = SmtpServer::reserve() else { return };
    let app = app_for(&server, &[]).await;
    let email = unique_email("later");
    // Nothing listens on the port: the answer cannot have waited for
    // delivery.
    let response = app.register(&email, STRONG_PASSWORD).await;
    assert_eq!(response.status(), 201);
    let reset = app.post_json("/v1/auth/password-reset", &json!({ "email": email })).await;
    assert_eq!(reset.status(), 202);

    server.listen().await;
    let message = server.wait_for(&email, VERIFY_SUBJECT, 1).await.remove(0);
    let token = link_token(&message, "verify-email");
    assert_eq!(app.post_json("/v1/auth/verify-email", &json!({ "token": token })).await.status(), 204);
    server.wait_for(&email, RESET_SUBJECT, 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_still_queued_at_shutdown_goes_out_before_the_service_stops() {
    let Some(mut server) = SmtpServer::reserve() else { return };
    // The first attempt finds no server and the retry waits; the stop's
    // drain retries at once and waits for the delivery.
    let app = app_for(&server, &[("PORTCULLIS_SMTP__RETRY_MAX_SECONDS", "3600")]).await;
    let email = unique_email("queued");
    assert_eq!(app.register(&email, STRONG_PASSWORD).await.status(), 201);
    server.listen().await;
    app.stop().await;
    let arrived = server.messages().into_iter().filter(|m| m.contains(&format!("To: {email}"))).count();
    assert_eq!(arrived, 1, "the verification mail was delivered during the stop, not lost");
}

#[tokio::test]
async fn without_a_mailer_links_are_not_offered_and_say_so() {
    let app = spawn_app_with(&[]).await;
    let reset = app.post_json("/v1/auth/password-reset", &json!({ "email": "ada@example.com" })).await;
    assert_problem(reset, 501, "mail_disabled").await;
    let token = "q4Zs0dVhYkq1a9W9o1p3m8Gd2bJx7nXyT6cRfLuE2sA";
    assert_problem(app.post_json("/v1/auth/verify-email", &json!({ "token": token })).await, 501, "mail_disabled")
        .await;
    let user = json_body(app.register(&unique_email("quiet"), STRONG_PASSWORD).await).await;
    assert_eq!(user["email_verified"], false);
}

#[tokio::test]
async fn hostile_link_tokens_are_refused_as_invalid_never_as_errors() {
    let Some(server) = SmtpServer::reserve() else { return };
    let app = app_for(&server, &[]).await;
    for token in ["", "short", &"A".repeat(43), &"é".repeat(40), &"x".repeat(5000)] {
        let response = app.post_json("/v1/auth/verify-email", &json!({ "token": token })).await;
        let status = response.status().as_u16();
        assert!(matches!(status, 400 | 413), "{status} for a hostile token");
    }
}

#[tokio::test]
async fn a_malformed_address_is_refused_by_both_link_requests_whatever_the_mailer() {
    let long = format!("{}@example.com", "a".repeat(300));
    for extra in [&[][..], &[("PORTCULLIS_MAILER", "log"), ("PORTCULLIS_PUBLIC_URL", "https://app.example")][..]] {
        let app = spawn_app_with(extra).await;
        for path in ["/v1/auth/password-reset", "/v1/auth/verify-email/resend"] {
            for email in ["not-an-address", long.as_str(), ""] {
                let response = app.post_json(path, &json!({ "email": email })).await;
                assert_problem(response, 422, "validation_failed").await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_the_server_cannot_take_is_dropped_and_holds_up_no_other_mail() {
    let Some(server) = SmtpServer::start().await else { return };
    let app = app_for(&server, &[]).await;
    // aiosmtpd, like many servers, does not offer SMTPUTF8: lettre cannot
    // send to a non-ASCII address through it, and retrying cannot help.
    let unsendable = unique_email("josé");
    assert_eq!(app.register(&unsendable, STRONG_PASSWORD).await.status(), 201);
    let email = unique_email("after-utf8");
    assert_eq!(app.register(&email, STRONG_PASSWORD).await.status(), 201);
    server.wait_for(&email, VERIFY_SUBJECT, 1).await;
    assert!(server.messages().iter().all(|message| !message.contains("jos")), "nothing reached the server for it");
}

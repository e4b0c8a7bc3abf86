//! The SMTP transport over TLS against a real server: Python's `aiosmtpd`
//! with a certificate from a CA the test makes up, speaking STARTTLS
//! (required) or implicit TLS. The CA file is trusted; without it, or with
//! another CA's, delivery fails as a transient error (the queue retries and
//! logs it) and nothing is delivered. Without `aiosmtpd` the tests are
//! skipped, loudly, or fail under `PORTCULLIS_REQUIRE_SERVICES=1`.

use super::smtp_mailer::{SmtpMailer, SmtpOptions, SmtpRoots, SmtpSecurity};
use super::test_certificates::TestAuthority;
use crate::core::email::Email;
use crate::ports::{DeliveryError, MailTransport, RenderedMail};
use crate::testing::{free_port, skip_or_fail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An `aiosmtpd` with TLS, delivering into a maildir; killed on drop.
struct TlsSmtp {
    port: u16,
    maildir: PathBuf,
    child: Child,
}

impl Drop for TlsSmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TlsSmtp {
    /// A server with a certificate for 127.0.0.1 signed by `authority`;
    /// `None` (skipped) without `aiosmtpd`.
    async fn start(authority: &TestAuthority, security: SmtpSecurity, dir: &Path) -> Option<Self> {
        let installed = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !installed {
            skip_or_fail("an SMTP server (Python aiosmtpd)", "`pip install aiosmtpd`");
            return None;
        }
        let files = authority.issue(&["127.0.0.1", "localhost"], dir, "smtp");
        let (cert_flag, key_flag) = match security {
            SmtpSecurity::Tls => ("--smtpscert", "--smtpskey"),
            _ => ("--tlscert", "--tlskey"),
        };
        let port = free_port();
        let maildir = dir.join("mail");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .arg(cert_flag)
            .arg(&files.certificate)
            .arg(key_flag)
            .arg(&files.key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let server = Self { port, maildir, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(server)
    }

    fn delivered(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else { return Vec::new() };
        entries.filter_map(Result::ok).filter_map(|entry| std::fs::read_to_string(entry.path()).ok()).collect()
    }

    fn mailer(&self, security: SmtpSecurity, ca: Option<&TestAuthority>) -> SmtpMailer {
        let options = SmtpOptions {
            host: "127.0.0.1".to_owned(),
            port: self.port,
            security,
            username: None,
            password: None,
            timeout: Duration::from_secs(10),
            from: "Portcullis <auth@example.com>".to_owned(),
            ca: ca.map(|authority| SmtpRoots::from_pem(authority.pem().into_bytes()).expect("PEM roots")),
        };
        SmtpMailer::new(&options).expect("a transport")
    }
}

fn message(subject: &str) -> RenderedMail {
    RenderedMail {
        to: Email::parse("ada@example.com").unwrap(),
        subject: subject.to_owned(),
        text: "the link".to_owned(),
        html: "<p>the link</p>".to_owned(),
    }
}

/// Delivers with the CA trusted; refuses without it and with another CA.
async fn trusted_only_with_the_ca(security: SmtpSecurity) {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let authority = TestAuthority::new("Portcullis SMTP test CA");
    let Some(server) = TlsSmtp::start(&authority, security, dir.path()).await else { return };

    let stranger = TestAuthority::new("Someone else's CA");
    for ca in [None, Some(&stranger)] {
        let refused = server.mailer(security, ca).deliver(&message("Untrusted")).await;
        let Err(DeliveryError::Transient(reason)) = refused else {
            panic!("an untrusted certificate must fail delivery, retryably: {refused:?}")
        };
        assert!(!reason.is_empty());
    }
    assert!(server.delivered().is_empty(), "nothing went over an untrusted connection");

    server.mailer(security, Some(&authority)).deliver(&message("Trusted")).await.expect("delivered over TLS");
    let delivered = server.delivered();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert!(delivered[0].contains("Subject: Trusted") && delivered[0].contains("To: ada@example.com"));
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_delivers_only_to_a_certificate_the_ca_file_vouches_for() {
    trusted_only_with_the_ca(SmtpSecurity::StartTls).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn implicit_tls_delivers_only_to_a_certificate_the_ca_file_vouches_for() {
    trusted_only_with_the_ca(SmtpSecurity::Tls).await;
}

#[test]
fn a_ca_file_without_a_certificate_is_refused() {
    assert!(SmtpRoots::from_pem(b"not a certificate".to_vec()).unwrap_err().contains("no PEM certificate"));
    let broken = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".to_vec();
    assert!(SmtpRoots::from_pem(broken).is_err());
}

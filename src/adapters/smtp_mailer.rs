//! The SMTP mail transport, through `lettre`: implicit TLS (usually port
//! 465), STARTTLS required (usually 587) or, for a relay on a trusted
//! network, no TLS; optional authentication; a timeout on every exchange.
//! TLS is rustls on ring, trusting the system's roots and, when given, the
//! PEM roots of `PORTCULLIS_SMTP__CA_FILE`; a certificate neither vouches
//! for fails the delivery (retried, as the server's CA may be fixed), and
//! is never accepted. Retrying is the
//! queue's ([`super::mail_queue`]); this adapter only says whether a
//! failure is worth it.

use crate::ports::{DeliveryError, MailTransport, RenderedMail};
use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// How the connection to the server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
    /// Plain connect, then STARTTLS, which must succeed (port 587).
    StartTls,
    /// No TLS at all: only for a relay on a trusted network.
    None,
}

/// Where and how to send. `Debug` redacts the password.
#[derive(Clone, Debug)]
pub struct SmtpOptions {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub timeout: Duration,
    /// The `From` of every message.
    pub from: String,
    /// PEM roots trusted beside the system's, for a server whose
    /// certificate a private CA signed.
    pub ca: Option<SmtpRoots>,
}

/// The certificates of a CA file, checked when read.
#[derive(Clone)]
pub struct SmtpRoots {
    pem: Vec<u8>,
}

impl std::fmt::Debug for SmtpRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpRoots").field("bytes", &self.pem.len()).finish()
    }
}

impl SmtpRoots {
    /// The certificates in `pem`.
    ///
    /// # Errors
    /// `pem` holds no certificate, or one that does not decode.
    pub fn from_pem(pem: Vec<u8>) -> Result<Self, String> {
        if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned());
        }
        Certificate::from_pem(&pem).map_err(|_| "holds a PEM block that is not a valid certificate".to_owned())?;
        Ok(Self { pem })
    }
}

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// Builds the transport; connects only when a message is sent.
    ///
    /// # Errors
    /// A `from` that is not a mailbox, or TLS parameters rustls refuses.
    pub fn new(options: &SmtpOptions) -> anyhow::Result<Self> {
        let from: Mailbox =
            options.from.parse().map_err(|e| anyhow::anyhow!("PORTCULLIS_MAIL_FROM is not a mailbox: {e}"))?;
        let tls = || {
            let mut builder = TlsParameters::builder(options.host.clone());
            if let Some(ca) = &options.ca {
                builder = builder.add_root_certificate(Certificate::from_pem(&ca.pem)?);
            }
            builder.build_rustls()
        };
        let tls = match options.security {
            SmtpSecurity::Tls => Tls::Wrapper(tls()?),
            SmtpSecurity::StartTls => Tls::Required(tls()?),
            SmtpSecurity::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(options.host.clone())
            .port(options.port)
            .tls(tls)
            .timeout(Some(options.timeout));
        if let (Some(username), Some(password)) = (&options.username, &options.password) {
            builder = builder.credentials(Credentials::new(username.clone(), password.expose_secret().to_owned()));
        }
        Ok(Self { transport: builder.build(), from })
    }
}

#[async_trait]
impl MailTransport for SmtpMailer {
    fn name(&self) -> &'static str {
        "smtp"
    }

    async fn deliver(&self, mail: &RenderedMail) -> Result<(), DeliveryError> {
        let to: Mailbox = mail.to.as_str().parse().map_err(|e| DeliveryError::Permanent(format!("recipient: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
            .map_err(|e| DeliveryError::Permanent(format!("message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            // A 5xx answer: the same message would be refused again. A
            // client error: lettre cannot send this message through this
            // server at all (a non-ASCII address to a server without
            // SMTPUTF8, say); retrying it would only hold up the mail
            // queued behind it.
            Err(error) if error.is_permanent() || error.is_client() => Err(DeliveryError::Permanent(error.to_string())),
            // A 4xx answer to this message (greylisting, a recipient
            // domain that did not resolve): the next message may pass.
            // 421 closes the channel for every message, so it is not one.
            Err(error) if error.is_transient() && error.status().is_some_and(|code| code.to_string() != "421") => {
                Err(DeliveryError::Deferred(error.to_string()))
            }
            // Unreachable, timed out, 421, a TLS or protocol failure: the
            // server may do better later, for every message.
            Err(error) => Err(DeliveryError::Transient(error.to_string())),
        }
    }
}

//! Outgoing mail. The core hands a [`Mail`] to a [`Mailer`], which must
//! return at once: rendering and delivery happen off the request path, so a
//! slow or unreachable mail server never slows or fails a response. A
//! [`MailTransport`] is the technology that delivers a rendered message
//! (SMTP, or the development log).

use crate::core::email::Email;
use crate::core::mail::Mail;
use async_trait::async_trait;
use std::fmt;

/// Accepts mail for later delivery.
///
/// # Errors
/// [`MailRefused`] when the message cannot even be queued (the queue is
/// full, or the mailer has stopped). Implementations must never block on
/// delivery.
pub trait Mailer: Send + Sync {
    fn submit(&self, mail: Mail) -> Result<(), MailRefused>;
}

/// The mailer did not take the message.
#[derive(Debug, thiserror::Error)]
pub enum MailRefused {
    #[error("the outgoing mail queue is full")]
    QueueFull,
    #[error("the mailer has stopped")]
    Stopped,
    #[error("the message could not be rendered: {0}")]
    Render(String),
}

/// A message ready to send. `Debug` leaves the bodies out: they carry a
/// one-time token.
#[derive(Clone)]
pub struct RenderedMail {
    pub to: Email,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl fmt::Debug for RenderedMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderedMail")
            .field("to", &self.to.as_str())
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Worth retrying, and the next message would fare no better: the
    /// server is unreachable, timed out, failed TLS or closed the channel
    /// (421).
    #[error("transient delivery failure: {0}")]
    Transient(String),
    /// Worth retrying later, but only this message was turned away (a 4xx
    /// answer to it, such as greylisting or an unresolvable domain): the
    /// messages behind it may go through now.
    #[error("delivery deferred: {0}")]
    Deferred(String),
    /// Retrying cannot help: the server refused the message (5xx).
    #[error("permanent delivery failure: {0}")]
    Permanent(String),
}

/// Delivers one rendered message.
///
/// # Errors
/// [`DeliveryError`], sorted into transient and permanent; the message
/// never appears in it.
#[async_trait]
pub trait MailTransport: Send + Sync {
    /// A short name for logs: `smtp` or `log`.
    fn name(&self) -> &'static str;
    async fn deliver(&self, mail: &RenderedMail) -> Result<(), DeliveryError>;
}

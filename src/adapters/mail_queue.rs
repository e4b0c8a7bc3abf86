//! The outgoing mail queue: [`Mailer::submit`] renders the message and
//! puts it on a bounded channel without waiting; one background task
//! delivers through the [`MailTransport`], retrying transient failures
//! with exponential backoff until the message is older than the retry
//! horizon. A slow or unreachable server delays mail, never a response;
//! mail queued while the server is down goes out once it answers. The
//! queue lives in this process: mail still queued at shutdown is lost (the
//! user can ask for another link).

use super::mail_templates::MailTemplates;
use crate::core::mail::Mail;
use crate::ports::{DeliveryError, MailRefused, MailTransport, Mailer, RenderedMail};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How delivery is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failure; doubled after each one.
    pub first_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
    /// A message still undelivered this long after it was queued is
    /// dropped (its link would soon expire anyway).
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            give_up_after: Duration::from_secs(30 * 60),
        }
    }
}

/// The [`Mailer`] of the service: render, queue, deliver in the background.
pub struct MailQueue {
    sender: mpsc::Sender<(RenderedMail, Instant)>,
    templates: MailTemplates,
}

impl MailQueue {
    /// Starts the delivery task on the current runtime. It ends when the
    /// queue is dropped and drained.
    pub fn start(
        transport: Arc<dyn MailTransport>,
        templates: MailTemplates,
        capacity: usize,
        retry: RetryPolicy,
    ) -> Self {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        tokio::spawn(deliver_all(receiver, transport, retry));
        Self { sender, templates }
    }
}

impl Mailer for MailQueue {
    fn submit(&self, mail: Mail) -> Result<(), MailRefused> {
        let rendered = self.templates.render(&mail);
        self.sender.try_send((rendered, Instant::now())).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => MailRefused::QueueFull,
            mpsc::error::TrySendError::Closed(_) => MailRefused::Stopped,
        })
    }
}

async fn deliver_all(
    mut receiver: mpsc::Receiver<(RenderedMail, Instant)>,
    transport: Arc<dyn MailTransport>,
    retry: RetryPolicy,
) {
    while let Some((mail, queued_at)) = receiver.recv().await {
        deliver_one(&mail, queued_at, transport.as_ref(), retry).await;
    }
}

/// Delivers one message, retrying transient failures. In order: the next
/// message waits, which keeps a down server from being hammered.
async fn deliver_one(mail: &RenderedMail, queued_at: Instant, transport: &dyn MailTransport, retry: RetryPolicy) {
    let mut backoff = retry.first_backoff;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        match transport.deliver(mail).await {
            Ok(()) => {
                tracing::info!(transport = transport.name(), attempts, subject = %mail.subject, "mail delivered");
                return;
            }
            Err(DeliveryError::Permanent(reason)) => {
                tracing::error!(transport = transport.name(), attempts, reason = %reason, "mail refused by the server; dropped");
                return;
            }
            Err(DeliveryError::Transient(reason)) => {
                if queued_at.elapsed() + backoff > retry.give_up_after {
                    tracing::error!(transport = transport.name(), attempts, reason = %reason, "mail undeliverable; dropped");
                    return;
                }
                tracing::warn!(
                    transport = transport.name(),
                    attempts,
                    reason = %reason,
                    retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                    "mail delivery failed; will retry"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(retry.max_backoff);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::email::Email;
    use crate::core::mail::MailKind;
    use crate::core::refresh::RefreshToken;
    use crate::core::testkit::SeededEntropy;
    use async_trait::async_trait;
    use std::sync::Mutex;

    /// Fails the first `failures` attempts transiently, then accepts.
    struct Flaky {
        failures: Mutex<u32>,
        delivered: mpsc::UnboundedSender<RenderedMail>,
    }

    #[async_trait]
    impl MailTransport for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }
        async fn deliver(&self, mail: &RenderedMail) -> Result<(), DeliveryError> {
            {
                let mut failures = self.failures.lock().unwrap();
                if *failures > 0 {
                    *failures -= 1;
                    return Err(DeliveryError::Transient("connection refused".into()));
                }
            }
            self.delivered.send(mail.clone()).unwrap();
            Ok(())
        }
    }

    fn mail() -> Mail {
        Mail {
            to: Email::parse("ada@example.com").unwrap(),
            kind: MailKind::VerifyEmail,
            token: RefreshToken::generate(&SeededEntropy::new(3)),
            expires_in_seconds: 60,
        }
    }

    fn quick() -> RetryPolicy {
        RetryPolicy {
            first_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            give_up_after: Duration::from_secs(600),
        }
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_the_mail_is_delivered() {
        let (delivered, mut received) = mpsc::unbounded_channel();
        let transport = Arc::new(Flaky { failures: Mutex::new(5), delivered });
        let templates = MailTemplates::load("https://auth.example.com", None).unwrap();
        let queue = MailQueue::start(transport, templates, 4, quick());
        queue.submit(mail()).expect("queued");
        let delivered = received.recv().await.expect("delivered after the failures");
        assert_eq!(delivered.to.as_str(), "ada@example.com");
        assert!(delivered.text.contains("/verify-email#token="));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_instead_of_waiting() {
        let (delivered, _received) = mpsc::unbounded_channel();
        // Never succeeds within the test: the worker holds the first mail.
        let transport = Arc::new(Flaky { failures: Mutex::new(u32::MAX), delivered });
        let templates = MailTemplates::load("https://auth.example.com", None).unwrap();
        let queue = MailQueue::start(transport, templates, 1, quick());
        let mut refused = 0;
        for _ in 0..5 {
            if matches!(queue.submit(mail()), Err(MailRefused::QueueFull)) {
                refused += 1;
            }
        }
        assert!(refused >= 3, "a bounded queue refuses the overflow ({refused} refused)");
    }
}

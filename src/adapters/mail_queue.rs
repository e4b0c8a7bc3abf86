//! The outgoing mail queue: [`Mailer::submit`] renders the message and
//! puts it on a bounded channel without waiting; one background task
//! delivers through the [`MailTransport`], retrying transient failures
//! with exponential backoff until the message is older than the retry
//! horizon. A slow or unreachable server delays mail, never a response;
//! mail queued while the server is down goes out once it answers. The
//! queue lives in this process: at a graceful shutdown
//! [`MailQueue::drain`] goes on delivering for a bounded time (a waiting
//! retry is tried at once), then stops and logs how many messages were
//! dropped, as a count only (the user can ask for another link).

use super::mail_templates::MailTemplates;
use crate::core::mail::Mail;
use crate::ports::{DeliveryError, MailRefused, MailTransport, Mailer, RenderedMail};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

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

/// The longest a shutdown waits for queued mail.
pub const MAX_SHUTDOWN_DRAIN: Duration = Duration::from_secs(10);

/// What the delivery task and the queue's owner share.
struct Progress {
    /// Messages accepted and not yet delivered or given up on.
    pending: AtomicUsize,
    /// Signalled each time a message is done with.
    settled: Notify,
}

/// The [`Mailer`] of the service: render, queue, deliver in the background.
pub struct MailQueue {
    sender: mpsc::Sender<(RenderedMail, Instant)>,
    templates: MailTemplates,
    progress: Arc<Progress>,
    /// Set when a shutdown drain begins: a waiting retry goes at once.
    draining: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    /// How long [`MailQueue::drain_at_shutdown`] waits.
    shutdown_drain: Duration,
}

impl MailQueue {
    /// Starts the delivery task on the current runtime. It ends when the
    /// queue is dropped and drained, or at [`MailQueue::drain`].
    pub fn start(
        transport: Arc<dyn MailTransport>,
        templates: MailTemplates,
        capacity: usize,
        retry: RetryPolicy,
    ) -> Self {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let progress = Arc::new(Progress { pending: AtomicUsize::new(0), settled: Notify::new() });
        let (draining, drain_signal) = watch::channel(false);
        let task = tokio::spawn(deliver_all(receiver, transport, retry, progress.clone(), drain_signal));
        Self { sender, templates, progress, draining, task: Mutex::new(Some(task)), shutdown_drain: MAX_SHUTDOWN_DRAIN }
    }

    /// How long a shutdown waits for queued mail: the SMTP timeout, say;
    /// never more than [`MAX_SHUTDOWN_DRAIN`].
    #[must_use]
    pub fn with_shutdown_drain(mut self, within: Duration) -> Self {
        self.shutdown_drain = within.min(MAX_SHUTDOWN_DRAIN);
        self
    }

    /// [`MailQueue::drain`] for the configured time.
    pub async fn drain_at_shutdown(&self) -> usize {
        self.drain(self.shutdown_drain).await
    }

    /// At a graceful shutdown, once no request can queue more: goes on
    /// delivering until the queue is empty or `within` (capped at
    /// [`MAX_SHUTDOWN_DRAIN`]) has passed, then stops delivery and logs
    /// how many messages were dropped (a count: never an address or a
    /// link). Returns that count. Later submissions are refused.
    pub async fn drain(&self, within: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + within.min(MAX_SHUTDOWN_DRAIN);
        self.draining.send_replace(true);
        loop {
            let settled = self.progress.settled.notified();
            if self.progress.pending.load(Ordering::SeqCst) == 0 {
                break;
            }
            tokio::select! {
                () = settled => {}
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        let task = self.task.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        let dropped = self.progress.pending.swap(0, Ordering::SeqCst);
        if dropped == 0 {
            tracing::info!("mail queue drained at shutdown: nothing was dropped");
        } else {
            tracing::warn!(dropped, "mail still queued at shutdown was dropped; its recipients can ask for new links");
        }
        dropped
    }
}

impl Mailer for MailQueue {
    fn submit(&self, mail: Mail) -> Result<(), MailRefused> {
        let rendered = self.templates.render(&mail);
        // Counted before it is sent, so the worker never settles a message
        // the count has not seen.
        self.progress.pending.fetch_add(1, Ordering::SeqCst);
        self.sender.try_send((rendered, Instant::now())).map_err(|error| {
            self.progress.pending.fetch_sub(1, Ordering::SeqCst);
            match error {
                mpsc::error::TrySendError::Full(_) => MailRefused::QueueFull,
                mpsc::error::TrySendError::Closed(_) => MailRefused::Stopped,
            }
        })
    }
}

async fn deliver_all(
    mut receiver: mpsc::Receiver<(RenderedMail, Instant)>,
    transport: Arc<dyn MailTransport>,
    retry: RetryPolicy,
    progress: Arc<Progress>,
    mut draining: watch::Receiver<bool>,
) {
    while let Some((mail, queued_at)) = receiver.recv().await {
        deliver_one(&mail, queued_at, transport.as_ref(), retry, &mut draining).await;
        progress.pending.fetch_sub(1, Ordering::SeqCst);
        progress.settled.notify_one();
    }
}

/// Delivers one message, retrying transient failures. In order: the next
/// message waits, which keeps a down server from being hammered. When a
/// shutdown drain begins, a waiting retry goes at once.
async fn deliver_one(
    mail: &RenderedMail,
    queued_at: Instant,
    transport: &dyn MailTransport,
    retry: RetryPolicy,
    draining: &mut watch::Receiver<bool>,
) {
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
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    // A drain began: one more attempt now, then backoff as before.
                    Ok(()) = draining.changed() => {}
                }
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
    async fn a_shutdown_drain_delivers_what_is_queued_and_then_refuses_more() {
        let (delivered, mut received) = mpsc::unbounded_channel();
        // Fails twice: the second retry would wait 1 s but for the drain.
        let transport = Arc::new(Flaky { failures: Mutex::new(2), delivered });
        let templates = MailTemplates::load("https://auth.example.com", None).unwrap();
        let slow = RetryPolicy { first_backoff: Duration::from_secs(1), ..quick() };
        let queue = MailQueue::start(transport, templates, 8, slow);
        for _ in 0..3 {
            queue.submit(mail()).expect("queued");
        }
        assert_eq!(queue.drain(MAX_SHUTDOWN_DRAIN).await, 0, "everything queued went out");
        let mut count = 0;
        while received.try_recv().is_ok() {
            count += 1;
        }
        assert_eq!(count, 3);
        assert!(matches!(queue.submit(mail()), Err(MailRefused::Stopped)), "the queue is closed after the drain");
    }

    #[tokio::test]
    async fn a_shutdown_drain_gives_up_in_bounded_time_and_counts_what_it_dropped() {
        let (delivered, _received) = mpsc::unbounded_channel();
        let transport = Arc::new(Flaky { failures: Mutex::new(u32::MAX), delivered });
        let templates = MailTemplates::load("https://auth.example.com", None).unwrap();
        let queue = MailQueue::start(transport, templates, 8, quick());
        for _ in 0..4 {
            queue.submit(mail()).expect("queued");
        }
        assert_eq!(queue.drain(Duration::from_millis(20)).await, 4, "the message being retried counts as dropped");
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

//! The outgoing mail queue: [`Mailer::submit`] renders the message and
//! puts it on a bounded channel without waiting; one background task
//! delivers through the [`MailTransport`], retrying transient failures
//! with exponential backoff until the message is older than the retry
//! horizon. A message the server defers (a 4xx for it alone) waits apart
//! with its own backoff, so an address the server turns away holds up no
//! one else's mail. A slow or unreachable server delays mail, never a response;
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
        let task =
            tokio::spawn(deliver_all(receiver, transport, retry, progress.clone(), drain_signal, capacity.max(1)));
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

/// A message on its way: what it is, when it was queued, and how its
/// retries stand.
struct Outgoing {
    mail: RenderedMail,
    queued_at: Instant,
    backoff: Duration,
    attempts: u32,
    /// Whether it had its one immediate retry of a shutdown drain.
    retried_for_drain: bool,
}

/// A message the server deferred, waiting for its next attempt.
struct Parked {
    due: Instant,
    outgoing: Outgoing,
}

/// The delivery task. New messages go out in order. One the server
/// defers (a 4xx for it alone) is parked with its own backoff and the
/// next message goes on, so one address the server turns away holds up
/// nobody else's mail; at most `park_limit` wait so (the queue's
/// capacity), and one more deferred beyond that is dropped. When the
/// server itself is unavailable, the message is retried in place: every
/// message would fail alike, and waiting keeps a down server from being
/// hammered. A shutdown drain makes every parked message due at once.
async fn deliver_all(
    mut receiver: mpsc::Receiver<(RenderedMail, Instant)>,
    transport: Arc<dyn MailTransport>,
    retry: RetryPolicy,
    progress: Arc<Progress>,
    mut draining: watch::Receiver<bool>,
    park_limit: usize,
) {
    let mut parked: Vec<Parked> = Vec::new();
    let mut open = true;
    let mut drain_seen = false;
    loop {
        if !drain_seen && *draining.borrow() {
            drain_seen = true;
            let now = Instant::now();
            for waiting in &mut parked {
                waiting.due = now;
            }
        }
        let now = Instant::now();
        let due = parked.iter().enumerate().filter(|(_, waiting)| waiting.due <= now).min_by_key(|(_, w)| w.due);
        let outgoing = if let Some((index, _)) = due {
            parked.swap_remove(index).outgoing
        } else {
            if !open && parked.is_empty() {
                return;
            }
            let next_due = parked.iter().map(|waiting| waiting.due).min();
            tokio::select! {
                next = receiver.recv(), if open => if let Some((mail, queued_at)) = next {
                    Outgoing { mail, queued_at, backoff: retry.first_backoff, attempts: 0, retried_for_drain: false }
                } else {
                    open = false;
                    continue;
                },
                () = tokio::time::sleep_until(next_due.unwrap_or(now).into()), if next_due.is_some() => continue,
                Ok(()) = draining.changed() => continue,
            }
        };
        match deliver_one(outgoing, transport.as_ref(), retry, &mut draining).await {
            Some(deferred) if parked.len() < park_limit => {
                parked.push(Parked { due: Instant::now() + deferred.backoff, outgoing: deferred.next_backoff(retry) });
                continue;
            }
            Some(deferred) => {
                tracing::error!(
                    transport = transport.name(),
                    attempts = deferred.attempts,
                    parked = parked.len(),
                    "mail deferred by the server while the retry list is full; dropped"
                );
            }
            None => {}
        }
        progress.pending.fetch_sub(1, Ordering::SeqCst);
        progress.settled.notify_one();
    }
}

impl Outgoing {
    fn next_backoff(mut self, retry: RetryPolicy) -> Self {
        self.backoff = (self.backoff * 2).min(retry.max_backoff);
        self
    }

    fn past_horizon(&self, retry: RetryPolicy) -> bool {
        self.queued_at.elapsed() + self.backoff > retry.give_up_after
    }
}

/// Tries one message: until it is delivered or dropped (`None`), retrying
/// in place while the server is unavailable, or until the server defers
/// it (`Some`, to be parked). A drain that begins during a wait ends the
/// wait: one more attempt goes at once.
async fn deliver_one(
    mut outgoing: Outgoing,
    transport: &dyn MailTransport,
    retry: RetryPolicy,
    draining: &mut watch::Receiver<bool>,
) -> Option<Outgoing> {
    loop {
        outgoing.attempts += 1;
        let attempts = outgoing.attempts;
        let (reason, deferred) = match transport.deliver(&outgoing.mail).await {
            Ok(()) => {
                let subject = &outgoing.mail.subject;
                tracing::info!(transport = transport.name(), attempts, subject = %subject, "mail delivered");
                return None;
            }
            Err(DeliveryError::Permanent(reason)) => {
                tracing::error!(transport = transport.name(), attempts, reason = %reason, "mail refused by the server; dropped");
                return None;
            }
            Err(DeliveryError::Deferred(reason)) => (reason, true),
            Err(DeliveryError::Transient(reason)) => (reason, false),
        };
        if outgoing.past_horizon(retry) {
            tracing::error!(transport = transport.name(), attempts, reason = %reason, "mail undeliverable; dropped");
            return None;
        }
        tracing::warn!(
            transport = transport.name(),
            attempts,
            reason = %reason,
            deferred,
            retry_in_ms = u64::try_from(outgoing.backoff.as_millis()).unwrap_or(u64::MAX),
            "mail delivery failed; will retry"
        );
        if deferred {
            return Some(outgoing);
        }
        // Once a drain has begun, the message gets one retry at once
        // (however the drain was noticed), then its backoff as before.
        if *draining.borrow() && !outgoing.retried_for_drain {
            outgoing.retried_for_drain = true;
        } else {
            tokio::select! {
                () = tokio::time::sleep(outgoing.backoff) => {}
                Ok(()) = draining.changed() => outgoing.retried_for_drain = true,
            }
        }
        outgoing = outgoing.next_backoff(retry);
    }
}

#[cfg(test)]
#[path = "mail_queue_tests.rs"]
mod tests;

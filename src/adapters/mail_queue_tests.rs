//! The mail queue's delivery task, with a transport that fails as told.

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
    mail_to("ada@example.com")
}

fn mail_to(to: &str) -> Mail {
    Mail {
        to: Email::parse(to).unwrap(),
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

/// Defers each message to an address in `deferrals` as many times as its
/// count says (`u32::MAX`: for ever), accepts the rest; reports every
/// attempt and every delivery.
struct Picky {
    deferrals: Mutex<std::collections::HashMap<String, u32>>,
    attempted: mpsc::UnboundedSender<String>,
    delivered: mpsc::UnboundedSender<String>,
}

#[async_trait]
impl MailTransport for Picky {
    fn name(&self) -> &'static str {
        "picky"
    }
    async fn deliver(&self, mail: &RenderedMail) -> Result<(), DeliveryError> {
        let to = mail.to.as_str().to_owned();
        self.attempted.send(to.clone()).unwrap();
        if let Some(left) = self.deferrals.lock().unwrap().get_mut(&to).filter(|left| **left > 0) {
            *left -= 1;
            return Err(DeliveryError::Deferred("450 4.1.2 recipient domain not found".into()));
        }
        self.delivered.send(to).unwrap();
        Ok(())
    }
}

type Reports = (mpsc::UnboundedReceiver<String>, mpsc::UnboundedReceiver<String>);

fn picky(deferrals: &[(&str, u32)]) -> (Arc<Picky>, Reports) {
    let (attempted, attempts) = mpsc::unbounded_channel();
    let (delivered, deliveries) = mpsc::unbounded_channel();
    let deferrals = deferrals.iter().map(|(to, times)| ((*to).to_owned(), *times)).collect();
    (Arc::new(Picky { deferrals: Mutex::new(deferrals), attempted, delivered }), (attempts, deliveries))
}

/// Retries a deferred message only after an hour, well within the horizon.
fn patient() -> RetryPolicy {
    RetryPolicy {
        first_backoff: Duration::from_secs(3600),
        max_backoff: Duration::from_secs(3600),
        give_up_after: Duration::from_secs(4 * 3600),
    }
}

/// Fails the test instead of hanging when mail that should go never does.
async fn next(receiver: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(30), receiver.recv()).await.expect("in time").expect("open")
}

#[tokio::test]
async fn a_message_the_server_defers_waits_apart_and_the_next_goes_on() {
    let (transport, (_attempts, mut deliveries)) = picky(&[("stuck@example.com", u32::MAX)]);
    let templates = MailTemplates::load("https://auth.example.com", None).unwrap();
    // A deferred message waits an hour: the next one must not.
    let patient = patient();
    let queue = MailQueue::start(transport, templates, 8, patient);
    queue.submit(mail_to("stuck@example.com")).expect("queued");
    queue.submit(mail_to("ada@example.com")).expect("queued");
    assert_eq!(next(&mut deliveries).await, "ada@example.com");
}

#[tokio::test]
async fn a_deferred_message_is_delivered_by_a_later_attempt() {
    let (transport, (_attempts, mut deliveries)) = picky(&[("late@example.com", 2)]);
    let templates = MailTemplates::load("https://auth.example.com", None).unwrap();
    let queue = MailQueue::start(transport, templates, 8, quick());
    queue.submit(mail_to("late@example.com")).expect("queued");
    queue.submit(mail_to("ada@example.com")).expect("queued");
    assert_eq!(next(&mut deliveries).await, "ada@example.com", "the next message went first");
    assert_eq!(next(&mut deliveries).await, "late@example.com", "the deferred one went on its third attempt");
    assert_eq!(queue.drain(Duration::from_millis(50)).await, 0);
}

#[tokio::test]
async fn deferred_messages_beyond_the_queues_capacity_are_dropped_not_kept() {
    let stuck = ["a@example.com", "b@example.com", "c@example.com"];
    let (transport, (mut attempts, _deliveries)) = picky(&stuck.map(|to| (to, u32::MAX)));
    let templates = MailTemplates::load("https://auth.example.com", None).unwrap();
    let patient = patient();
    let queue = MailQueue::start(transport, templates, 2, patient);
    for to in stuck {
        queue.submit(mail_to(to)).expect("queued");
        assert_eq!(next(&mut attempts).await, to);
    }
    // Two wait (the capacity); the third was dropped when it was deferred.
    // The drain tries the two once more, then counts them as dropped.
    assert_eq!(queue.drain(Duration::from_millis(200)).await, 2);
    let mut retried = Vec::new();
    while let Ok(to) = attempts.try_recv() {
        retried.push(to);
    }
    retried.sort();
    assert_eq!(retried, ["a@example.com", "b@example.com"], "the drain retried what was parked, at once");
}

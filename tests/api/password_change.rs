//! The password change as an attacker sees it: a guessing oracle for the
//! current password, and a lever against the shared hashing pool. Wrong
//! current passwords count as failed logins and obey the lockout; the route
//! is in the `auth` bucket; and one user cannot keep more than two hashing
//! operations running, so other users' logins do not wait behind it.

use crate::helpers::{header, spawn_app_with, unique_email, TestApp, OTHER_STRONG_PASSWORD, STRONG_PASSWORD};
use std::time::{Duration, Instant};

const WRONG: &str = "not-the-Current-password-12";

#[tokio::test(flavor = "multi_thread")]
async fn wrong_current_passwords_count_towards_the_lockout_and_lock_the_route() {
    let app = spawn_app_with(&[]).await;
    let email = unique_email("oracle");
    let pair = app.register_and_login(&email).await;

    for attempt in 0..5 {
        let status = app.change_password(&pair.access_token, WRONG, OTHER_STRONG_PASSWORD).await.status();
        assert_eq!(status.as_u16(), 401, "wrong guess {attempt}");
    }
    // The sixth guess is the right one, and is refused unchecked.
    let locked = app.change_password(&pair.access_token, STRONG_PASSWORD, OTHER_STRONG_PASSWORD).await;
    assert_eq!(locked.status().as_u16(), 429);
    assert!(header(locked.headers(), "retry-after").is_some());
    // The guesses were failed logins of the account from this address.
    assert_eq!(app.login(&email, STRONG_PASSWORD).await.status().as_u16(), 429);
    let counted = app.metric_value("auth_login_attempts_total{outcome=\"invalid_credentials\"}").await;
    assert!(counted >= 5.0, "wrong current passwords are counted as failed logins: {counted}");
    assert!(app.metric_value("auth_login_attempts_total{outcome=\"locked\"}").await >= 2.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_password_change_is_in_the_auth_bucket() {
    let app =
        spawn_app_with(&[("PORTCULLIS_LIMITS__AUTH__BURST", "3"), ("PORTCULLIS_LIMITS__AUTH__PER_MINUTE", "3")]).await;
    // Register and login take two of the three.
    let pair = app.register_and_login(&unique_email("bucket")).await;
    let third = app.change_password(&pair.access_token, WRONG, OTHER_STRONG_PASSWORD).await;
    assert_eq!(third.status().as_u16(), 401);
    assert_eq!(header(third.headers(), "ratelimit-limit"), Some("3"));
    let fourth = app.change_password(&pair.access_token, WRONG, OTHER_STRONG_PASSWORD).await;
    assert_eq!(fourth.status().as_u16(), 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_gets_at_most_two_password_operations_in_flight() {
    let app = spawn_app_with(&[("PORTCULLIS_BCRYPT_COST", "10")]).await;
    let pair = app.register_and_login(&unique_email("flood")).await;

    let changes = (0..8).map(|_| app.change_password(&pair.access_token, STRONG_PASSWORD, OTHER_STRONG_PASSWORD));
    let statuses: Vec<u16> =
        futures_util::future::join_all(changes).await.iter().map(|r| r.status().as_u16()).collect();

    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 6, "{statuses:?}");
    assert!(statuses.contains(&204), "{statuses:?}");
}

/// The fastest of `count` logins of `email`, one after another.
async fn fastest_login(app: &TestApp, email: &str, count: usize) -> Duration {
    let mut fastest = Duration::MAX;
    for _ in 0..count {
        let started = Instant::now();
        assert_eq!(app.login(email, STRONG_PASSWORD).await.status().as_u16(), 200);
        fastest = fastest.min(started.elapsed());
    }
    fastest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_account_flooding_password_changes_does_not_slow_other_logins() {
    // A pool wider than one user's share: with only two workers, the two
    // operations a user may hold would be all of it.
    let app = spawn_app_with(&[("PORTCULLIS_BCRYPT_COST", "10"), ("PORTCULLIS_HASH_WORKERS", "4")]).await;
    let bystander = unique_email("bystander");
    app.register_ok(&bystander).await;
    let flooder = app.register_and_login(&unique_email("flooder")).await;
    let idle = fastest_login(&app, &bystander, 3).await;

    let flood = async {
        for _ in 0..4 {
            let changes = (0..64).map(|_| app.change_password(&flooder.access_token, WRONG, OTHER_STRONG_PASSWORD));
            futures_util::future::join_all(changes).await;
        }
    };
    let ((), loaded) = tokio::join!(flood, async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        fastest_login(&app, &bystander, 3).await
    });

    assert!(loaded <= idle * 2 + Duration::from_millis(30), "idle {idle:?}, during the flood {loaded:?}");
}

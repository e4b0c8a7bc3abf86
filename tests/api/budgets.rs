//! Failure budgets reserved before the password is verified: a burst of
//! guesses arriving at once buys no more verifications than the budget,
//! on the in-process limiter and on Redis.

use crate::helpers::{spawn_app_with, unique_email, TestApp, STRONG_PASSWORD};

/// 20 wrong guesses at once from one address; returns the statuses.
async fn twenty_parallel_guesses(app: &TestApp, email: &str) -> Vec<u16> {
    let passwords: Vec<String> = (0..20).map(|n| format!("wrong-Guess-number-{n:02}")).collect();
    let guesses = passwords.iter().map(|password| app.login(email, password));
    futures_util::future::join_all(guesses).await.iter().map(|r| r.status().as_u16()).collect()
}

async fn parallel_guesses_cost_exactly_the_budget(app: &TestApp) {
    let email = unique_email("guessed");
    app.register_ok(&email).await;
    let verified_before = app.metric_value("auth_login_attempts_total{outcome=\"invalid_credentials\"}").await;

    let statuses = twenty_parallel_guesses(app, &email).await;

    // Every 401 is a verification that ran; every 429 was refused before it.
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 15, "{statuses:?}");
    let verified = app.metric_value("auth_login_attempts_total{outcome=\"invalid_credentials\"}").await;
    assert_eq!(verified - verified_before, 5.0);
    // And the pair stays locked, even for the right password.
    assert_eq!(app.login(&email, STRONG_PASSWORD).await.status().as_u16(), 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_wrong_guesses_from_one_address_get_exactly_five_verifications() {
    let app = spawn_app_with(&[("PORTCULLIS_BCRYPT_COST", "8")]).await;
    parallel_guesses_cost_exactly_the_budget(&app).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_wrong_guesses_get_exactly_five_verifications_on_redis() {
    let Some((redis, _server)) = portcullis::testing::redis_server().await else { return };
    let prefix = format!("portcullis-test-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let app = spawn_app_with(&[
        ("PORTCULLIS_BCRYPT_COST", "8"),
        ("REDIS_URL", &redis),
        ("PORTCULLIS_REDIS__KEY_PREFIX", &prefix),
    ])
    .await;
    parallel_guesses_cost_exactly_the_budget(&app).await;
}

//! Cut-offs under concurrency, played as an attacker would: logins and
//! refreshes are kept in flight while the owner changes the password or logs
//! out everywhere, or an admin disables, deletes or demotes the account. No
//! credential from a login or refresh that started before the cut-off may
//! work after it, and no comparison may hinge on the clock's second.

use crate::helpers::{
    decode_claims, json_body, spawn_app_with, TestApp, TokenPair, ADMIN_EMAIL, ADMIN_PASSWORD, OTHER_STRONG_PASSWORD,
    STRONG_PASSWORD,
};
use reqwest::StatusCode;
use serde_json::json;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// Trials per action, each a fresh account.
const TRIALS: usize = 20;
/// Attackers keeping requests in flight at once.
const ATTACKERS: usize = 4;

/// A slower hash than the suite's default, so that logins overlap the
/// cut-off; the per-route limits are out of the way.
async fn spawn_racing_app() -> TestApp {
    spawn_app_with(&[("PORTCULLIS_BCRYPT_COST", "6"), ("PORTCULLIS_LIMITS__API__PER_MINUTE", "1000000")]).await
}

#[derive(Clone, Copy, Debug)]
enum Cutoff {
    PasswordChange,
    LogoutAll,
    Disable,
    Delete,
    Demotion,
}

/// One account under attack: its id, address, and the owner's own pair.
struct Target {
    id: String,
    email: String,
    owner: TokenPair,
}

async fn prepare(app: &TestApp, admin: &str, cutoff: Cutoff) -> Target {
    let (id, email, owner) = app.new_user("raced").await;
    if let Cutoff::Demotion = cutoff {
        let promoted = app.admin_patch(admin, &id, &json!({"role": "admin"})).await;
        assert_eq!(promoted.status(), StatusCode::OK);
    }
    Target { id, email, owner }
}

async fn cut_off(app: &TestApp, admin: &str, target: &Target, cutoff: Cutoff) {
    let response = match cutoff {
        Cutoff::PasswordChange => {
            app.change_password(&target.owner.access_token, STRONG_PASSWORD, OTHER_STRONG_PASSWORD).await
        }
        Cutoff::LogoutAll => app.logout_all(&target.owner.access_token).await,
        Cutoff::Disable => app.admin_patch(admin, &target.id, &json!({"status": "disabled"})).await,
        Cutoff::Delete => app.admin_delete(admin, &target.id).await,
        Cutoff::Demotion => app.admin_patch(admin, &target.id, &json!({"role": "user"})).await,
    };
    assert!(response.status().is_success(), "{cutoff:?}: {}", response.status());
}

/// What one attacker obtained: when each request started and finished, and
/// the pair it returned, if any.
type Haul = Vec<(Instant, Instant, Option<TokenPair>)>;

async fn pair_of(response: reqwest::Response) -> Option<TokenPair> {
    if response.status() == StatusCode::OK {
        Some(TokenPair::from_body(&json_body(response).await))
    } else {
        None
    }
}

async fn keep_logging_in(app: &TestApp, email: &str, stop: &Cell<bool>) -> Haul {
    let mut haul = Vec::new();
    while !stop.get() {
        let started = Instant::now();
        let pair = pair_of(app.login(email, STRONG_PASSWORD).await).await;
        haul.push((started, Instant::now(), pair));
    }
    haul
}

/// Rotates one session's refresh token again and again.
async fn keep_refreshing(app: &TestApp, mut current: TokenPair, stop: &Cell<bool>) -> Haul {
    let mut haul = Vec::new();
    while !stop.get() {
        let started = Instant::now();
        let pair = pair_of(app.refresh(&current.refresh_token).await).await;
        haul.push((started, Instant::now(), pair.clone()));
        match pair {
            Some(pair) => current = pair,
            None => break,
        }
    }
    haul
}

/// Runs `attack` on every attacker while the cut-off lands, then raises
/// `stop`; returns the hauls and the instant the cut-off was sent.
async fn race<'a, F, Fut>(
    app: &'a TestApp,
    admin: &'a str,
    target: &'a Target,
    cutoff: Cutoff,
    stop: &'a Cell<bool>,
    attack: F,
) -> (Vec<Haul>, Instant)
where
    F: Fn(usize, &'a Cell<bool>) -> Fut,
    Fut: std::future::Future<Output = Haul> + 'a,
{
    let attackers = futures_util::future::join_all((0..ATTACKERS).map(|n| attack(n, stop)));
    let owner = async {
        tokio::time::sleep(Duration::from_millis(25)).await;
        let sent = Instant::now();
        cut_off(app, admin, target, cutoff).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        stop.set(true);
        sent
    };
    let (hauls, sent) = tokio::join!(attackers, owner);
    (hauls, sent)
}

/// Which refresh tokens of a haul can be checked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RefreshCheck {
    /// Each pair is a session of its own: all of them.
    Every,
    /// The pairs are one chain of rotations: only the newest is unrotated,
    /// and presenting an older one is refused as reuse whatever the
    /// cut-off did.
    Newest,
    /// A role change keeps sessions (their next access token carries the
    /// new role): none.
    None,
}

/// The credential epoch a token was issued in.
fn epoch_of(pair: &TokenPair) -> i64 {
    decode_claims(&pair.access_token)["epoch"].as_i64().expect("an epoch claim")
}

/// The epoch of a login made after the cut-off, when the account can still
/// sign in (logout everywhere, demotion). A request sent before the cut-off
/// may reach the server after it; if it then reads the account in this
/// epoch, its credential is a new one, as if sent afterwards, and is not a
/// survivor.
async fn epoch_after(app: &TestApp, target: &Target, cutoff: Cutoff) -> Option<i64> {
    match cutoff {
        Cutoff::LogoutAll | Cutoff::Demotion => Some(epoch_of(&app.login_pair(&target.email, STRONG_PASSWORD).await)),
        Cutoff::PasswordChange | Cutoff::Disable | Cutoff::Delete => None,
    }
}

/// Every access token obtained by a request that started before `sent`
/// (and not issued in the epoch `after`) is refused, and so are the refresh
/// tokens `check` names. Returns how many of those requests were still in
/// flight at `sent`.
async fn assert_nothing_from_before_works(
    app: &TestApp,
    hauls: &[Haul],
    sent: Instant,
    after: Option<i64>,
    check: RefreshCheck,
) -> usize {
    let mut in_flight = 0;
    for haul in hauls {
        let before: Vec<&TokenPair> = haul
            .iter()
            .filter(|(started, _, _)| *started < sent)
            .filter_map(|(_, finished, pair)| {
                in_flight += usize::from(*finished > sent && pair.is_some());
                pair.as_ref()
            })
            .filter(|pair| after.is_none_or(|after| epoch_of(pair) < after))
            .collect();
        for pair in &before {
            let status = app.verify(&pair.access_token).await.status();
            assert_eq!(status, StatusCode::UNAUTHORIZED, "an access token from before the cut-off works");
        }
        let refresh_tokens = match check {
            RefreshCheck::Every => before.clone(),
            RefreshCheck::Newest => before.last().copied().into_iter().collect(),
            RefreshCheck::None => Vec::new(),
        };
        for pair in refresh_tokens {
            let status = app.refresh(&pair.refresh_token).await.status();
            assert_eq!(status, StatusCode::UNAUTHORIZED, "a refresh token from before the cut-off works");
        }
    }
    in_flight
}

async fn logins_in_flight_do_not_survive(cutoff: Cutoff) {
    let app = spawn_racing_app().await;
    let admin = app.login_pair(ADMIN_EMAIL, ADMIN_PASSWORD).await.access_token;
    let check = if matches!(cutoff, Cutoff::Demotion) { RefreshCheck::None } else { RefreshCheck::Every };
    let mut in_flight = 0;
    for _ in 0..TRIALS {
        let target = prepare(&app, &admin, cutoff).await;
        let stop = Cell::new(false);
        let (hauls, sent) =
            race(&app, &admin, &target, cutoff, &stop, |_, stop| keep_logging_in(&app, &target.email, stop)).await;
        let after = epoch_after(&app, &target, cutoff).await;
        in_flight += assert_nothing_from_before_works(&app, &hauls, sent, after, check).await;
    }
    eprintln!("{cutoff:?}: {in_flight} logins completed after the cut-off had been sent");
    assert!(in_flight > 0, "no login was in flight at a cut-off: the race was never run");
}

async fn refreshes_in_flight_do_not_survive(cutoff: Cutoff) {
    let app = spawn_racing_app().await;
    let admin = app.login_pair(ADMIN_EMAIL, ADMIN_PASSWORD).await.access_token;
    let mut in_flight = 0;
    for _ in 0..TRIALS {
        let target = prepare(&app, &admin, cutoff).await;
        let mut sessions = Vec::with_capacity(ATTACKERS);
        for _ in 0..ATTACKERS {
            sessions.push(app.login_pair(&target.email, STRONG_PASSWORD).await);
        }
        let sessions = &sessions;
        let stop = Cell::new(false);
        let (hauls, sent) =
            race(&app, &admin, &target, cutoff, &stop, |n, stop| keep_refreshing(&app, sessions[n].clone(), stop))
                .await;
        let check = if matches!(cutoff, Cutoff::Demotion) { RefreshCheck::None } else { RefreshCheck::Newest };
        let after = epoch_after(&app, &target, cutoff).await;
        in_flight += assert_nothing_from_before_works(&app, &hauls, sent, after, check).await;
    }
    eprintln!("{cutoff:?}: {in_flight} refreshes completed after the cut-off had been sent");
    assert!(in_flight > 0, "no refresh was in flight at a cut-off: the race was never run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_in_flight_do_not_survive_a_password_change() {
    logins_in_flight_do_not_survive(Cutoff::PasswordChange).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_in_flight_do_not_survive_logout_everywhere() {
    logins_in_flight_do_not_survive(Cutoff::LogoutAll).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_in_flight_do_not_survive_disabling() {
    logins_in_flight_do_not_survive(Cutoff::Disable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_in_flight_do_not_survive_deletion() {
    logins_in_flight_do_not_survive(Cutoff::Delete).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_in_flight_do_not_survive_a_demotion() {
    logins_in_flight_do_not_survive(Cutoff::Demotion).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refreshes_in_flight_do_not_survive_a_password_change() {
    refreshes_in_flight_do_not_survive(Cutoff::PasswordChange).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refreshes_in_flight_do_not_survive_logout_everywhere() {
    refreshes_in_flight_do_not_survive(Cutoff::LogoutAll).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refreshes_in_flight_do_not_survive_disabling() {
    refreshes_in_flight_do_not_survive(Cutoff::Disable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refreshes_in_flight_do_not_survive_a_demotion() {
    refreshes_in_flight_do_not_survive(Cutoff::Demotion).await;
}

/// Promote, sign in, delete, all inside one second: the token signed in
/// between carries the admin role, and must be dead once the delete is
/// answered, however few seconds have passed.
#[tokio::test(flavor = "multi_thread")]
async fn promote_login_delete_within_one_second_leaves_no_working_token() {
    let app = spawn_app_with(&[("PORTCULLIS_LIMITS__API__PER_MINUTE", "1000000")]).await;
    let admin = app.admin_token().await;
    for _ in 0..TRIALS {
        let (id, email, _) = app.new_user("fleeting").await;
        let (_, _, bystander) = app.new_user("bystander").await;
        let bystander_id = json_body(app.me(&bystander.access_token).await).await["id"].as_str().unwrap().to_owned();
        let started = Instant::now();
        assert_eq!(app.admin_patch(&admin, &id, &json!({"role": "admin"})).await.status(), StatusCode::OK);
        let pair = app.login_pair(&email, STRONG_PASSWORD).await;
        assert_eq!(app.admin_delete(&admin, &id).await.status(), StatusCode::NO_CONTENT);
        let elapsed = started.elapsed();

        assert_eq!(app.verify(&pair.access_token).await.status(), StatusCode::UNAUTHORIZED, "after {elapsed:?}");
        let promoted = app.admin_patch(&pair.access_token, &bystander_id, &json!({"role": "admin"})).await;
        assert_eq!(promoted.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.refresh(&pair.refresh_token).await.status(), StatusCode::UNAUTHORIZED);
    }
}

/// The same with a demotion: the admin token of a demoted user is refused
/// even when promotion, login and demotion share a second.
#[tokio::test(flavor = "multi_thread")]
async fn promote_login_demote_within_one_second_ends_the_admin_token() {
    let app = spawn_app_with(&[("PORTCULLIS_LIMITS__API__PER_MINUTE", "1000000")]).await;
    let admin = app.admin_token().await;
    for _ in 0..TRIALS {
        let (id, email, _) = app.new_user("briefly").await;
        assert_eq!(app.admin_patch(&admin, &id, &json!({"role": "admin"})).await.status(), StatusCode::OK);
        let pair = app.login_pair(&email, STRONG_PASSWORD).await;
        assert_eq!(app.admin_patch(&admin, &id, &json!({"role": "user"})).await.status(), StatusCode::OK);

        assert_eq!(app.verify(&pair.access_token).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.admin_list(&pair.access_token, "").await.status(), StatusCode::UNAUTHORIZED);
        // The session survives a role change; its next token is a user's.
        let refreshed = app.refresh(&pair.refresh_token).await;
        let refreshed = TokenPair::from_body(&json_body(refreshed).await);
        assert_eq!(app.admin_list(&refreshed.access_token, "").await.status(), StatusCode::FORBIDDEN);
    }
}

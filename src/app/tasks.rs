//! The background loops of a running service: housekeeping (purging
//! expired revocations and refresh tokens), the revocation sync that
//! makes a logout on one replica count on all of them, and the key ring's
//! reload on its interval and on SIGHUP. They only call the core and the
//! refresher; they never decide anything themselves.

use super::key_refresh::KeyRefresher;
use crate::core::auth::AuthService;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often expired revocations and refresh tokens are purged.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(600);
/// How often revocations recorded by other replicas are read from the
/// shared database: well inside the one second in which every replica must
/// see a logout.
const REVOCATION_SYNC_EVERY: Duration = Duration::from_millis(250);

/// The loops of one running service; they end when it stops.
pub struct BackgroundTasks {
    loops: Vec<JoinHandle<()>>,
}

impl BackgroundTasks {
    /// Starts every loop for `auth`.
    pub fn spawn(auth: &Arc<AuthService>, keys: &Arc<KeyRefresher>) -> Self {
        Self {
            loops: vec![
                tokio::spawn(housekeeping(auth.clone())),
                tokio::spawn(revocation_sync(auth.clone())),
                tokio::spawn(key_refresh(keys.clone())),
                tokio::spawn(reload_on_hangup(keys.clone())),
            ],
        }
    }

    pub fn stop(self) {
        for task in self.loops {
            task.abort();
        }
    }
}

async fn housekeeping(auth: Arc<AuthService>) {
    let mut every = tokio::time::interval(HOUSEKEEPING_EVERY);
    // The first tick is immediate; start has just done the work.
    every.tick().await;
    loop {
        every.tick().await;
        if let Err(error) = auth.housekeeping().await {
            tracing::warn!(error = ?error, "housekeeping failed");
        }
    }
}

/// Logs a failure once and the recovery once, not every 250 ms.
async fn revocation_sync(auth: Arc<AuthService>) {
    let mut every = tokio::time::interval(REVOCATION_SYNC_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        every.tick().await;
        // Only the changes between working and failing are logged, so a
        // long outage is one line, not four a second.
        match (auth.sync_revocations().await, failing) {
            (Ok(_), true) => {
                failing = false;
                tracing::info!("revocation sync recovered");
            }
            (Err(error), false) => {
                failing = true;
                tracing::warn!(error = ?error, "revocation sync failed; retrying");
            }
            (Ok(_), false) | (Err(_), true) => {}
        }
    }
}

/// Re-reads the key ring every interval; failures are logged and counted by
/// the refresher itself.
async fn key_refresh(keys: Arc<KeyRefresher>) {
    let mut every = tokio::time::interval(keys.interval());
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate; start has just read the ring.
    every.tick().await;
    loop {
        every.tick().await;
        let _ = keys.refresh_now().await;
    }
}

/// Re-reads the key ring on SIGHUP, so an operator can apply a rotation
/// step at once instead of waiting out the interval.
async fn reload_on_hangup(keys: Arc<KeyRefresher>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("SIGHUP cannot be watched; the key ring reloads on its interval only");
            return;
        };
        while hangups.recv().await.is_some() {
            tracing::info!(source = keys.source_name(), "SIGHUP: reloading the key ring");
            let _ = keys.refresh_now().await;
        }
    }
    #[cfg(not(unix))]
    let _ = keys;
}

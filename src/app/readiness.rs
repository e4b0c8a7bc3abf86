//! Readiness: can this replica serve? Each check has a deadline, so a hung
//! dependency makes `/readyz` fail rather than hang. The probe only asks;
//! it never repairs, reconnects or changes a dependency, and it never
//! fetches secrets: the key refresher's state says how fresh the ring is.

use super::key_refresh::{KeyRefresher, RingFreshness};
use crate::ports::{RateLimiter, SchemaStatus, UserRepo};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CHECK_DEADLINE: Duration = Duration::from_secs(2);

/// The outcome of each check.
#[allow(clippy::struct_excessive_bools, reason = "each flag is one independent check of /readyz")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadinessReport {
    pub database: bool,
    pub rate_limiter: bool,
    /// The limiter answers, but from its in-process stand-in.
    pub rate_limiter_degraded: bool,
    /// The key ring in use; a stale one still signs and verifies, so it
    /// does not fail readiness.
    pub secrets: RingFreshness,
    pub seed: bool,
}

/// Whether the service is shutting down: set once by
/// [`crate::app::Running::shutdown`], read by `/readyz`; clones share it.
#[derive(Clone, Debug, Default)]
pub struct Drain(Arc<AtomicBool>);

impl Drain {
    /// From now on `/readyz` answers `503 draining`; there is no way back.
    pub fn start(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What `/readyz` asks.
pub struct ReadinessProbe {
    pub users: Arc<dyn UserRepo>,
    pub schema: Arc<dyn SchemaStatus>,
    pub limiter: Arc<dyn RateLimiter>,
    pub secrets: Arc<KeyRefresher>,
    /// Whether an initial admin is configured, and so must exist.
    pub admin_configured: bool,
    /// Whether the service runs on the SQLite fallback.
    pub fallback: bool,
    /// Set when a shutdown has begun.
    pub draining: Drain,
}

async fn within<F: std::future::Future<Output = bool>>(check: F) -> bool {
    tokio::time::timeout(CHECK_DEADLINE, check).await.unwrap_or(false)
}

impl ReadinessProbe {
    pub async fn check(&self) -> ReadinessReport {
        let database = within(async { self.users.ping().await.is_ok() });
        let rate_limiter = within(async { self.limiter.ping().await.is_ok() });
        let seed = within(async {
            let migrated = self.schema.migrations_current().await.unwrap_or(false);
            let admin = !self.admin_configured || self.users.has_active_admin().await.unwrap_or(false);
            migrated && admin
        });
        let (database, rate_limiter, seed) = tokio::join!(database, rate_limiter, seed);
        let secrets = self.secrets.freshness();
        let rate_limiter_degraded = self.limiter.degraded();
        ReadinessReport { database, rate_limiter, rate_limiter_degraded, secrets, seed }
    }
}

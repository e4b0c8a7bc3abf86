//! Metrics in the Prometheus text format. The names are part of the HTTP
//! contract. Every label comes from a closed set: `route` is a route
//! template or `unmatched`, and `method` one of the standard methods or
//! `other`, so no request can add a series of its own choosing.

use crate::ports::{
    Bucket, LoginOutcome, LogoutScope, MetricsSink, PoolUsage, RefreshRefusal, RevocationReason, TokenKind,
};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Latency buckets, in seconds: fine below 50 ms for token checks, and
/// through 100-300 ms and beyond for bcrypt-bound logins.
pub const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0];

/// A registry holding every Portcullis metric.
pub struct PrometheusMetrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    login_attempts: IntCounterVec,
    rate_limit_decisions: IntCounterVec,
    tokens_issued: IntCounterVec,
    refresh_reuse: IntCounter,
    refresh_refusals: IntCounterVec,
    db_fallback: IntGauge,
    limiter_degraded: IntGauge,
    build_info: IntGaugeVec,
    registrations: IntCounter,
    logouts: IntCounterVec,
    revocations: IntCounterVec,
    hash_queue_depth: IntGauge,
    hash_refusals: IntCounter,
    pool_connections: IntGaugeVec,
    pool_max: IntGauge,
    revocation_sync_failures: IntCounter,
    secrets_refresh_failures: IntCounter,
    secrets_ring_age: IntGauge,
    secrets_stale: IntGauge,
    /// The series of [`HOT_ROUTES`] answering `GET` with 200, resolved once:
    /// gateways and probes send these on every request, and a label
    /// look-up costs more than the rest of counting.
    hot: [(&'static str, IntCounter, Histogram); 2],
}

/// The routes whose 200 series are resolved at start.
const HOT_ROUTES: [&str; 2] = ["/healthz", "/v1/auth/verify"];

/// The `GET` 200 series of each of [`HOT_ROUTES`]: its count and its latency.
fn hot_series(requests: &IntCounterVec, duration: &HistogramVec) -> [(&'static str, IntCounter, Histogram); 2] {
    HOT_ROUTES.map(|route| {
        (route, requests.with_label_values(&["GET", route, "200"]), duration.with_label_values(&["GET", route]))
    })
}

/// The `state` label values of `db_pool_connections`.
const POOL_STATES: [&str; 2] = ["idle", "in_use"];

impl PrometheusMetrics {
    /// # Errors
    /// Only if two metrics were given one name, which is a programming error.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by method, route template and status."),
            &["method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by method and route template.")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route"],
        )?;
        let login_attempts =
            IntCounterVec::new(Opts::new("auth_login_attempts_total", "Login attempts by outcome."), &["outcome"])?;
        let rate_limit_decisions = IntCounterVec::new(
            Opts::new("rate_limit_decisions_total", "Rate-limit decisions by bucket and decision."),
            &["bucket", "decision"],
        )?;
        let tokens_issued = IntCounterVec::new(Opts::new("tokens_issued_total", "Tokens issued by kind."), &["kind"])?;
        let refresh_reuse = IntCounter::new(
            "refresh_token_reuse_total",
            "Rotated refresh tokens presented after the grace window; each revoked its session.",
        )?;
        let refresh_refusals = IntCounterVec::new(
            Opts::new("refresh_refusals_total", "Refreshes refused by the store, by reason; no token was issued."),
            &["reason"],
        )?;
        let db_fallback = IntGauge::new("db_fallback_active", "1 while running on the SQLite fallback database.")?;
        let limiter_degraded = IntGauge::new(
            "rate_limiter_degraded",
            "1 while rate limits come from the in-process stand-in because the shared limiter is unavailable.",
        )?;
        let secrets_refresh_failures = IntCounter::new(
            "secrets_refresh_failures_total",
            "Key-ring refreshes that failed (source unavailable or ring invalid); the last good ring stayed.",
        )?;
        let secrets_ring_age =
            IntGauge::new("secrets_ring_age_seconds", "Seconds since the key ring was last read successfully.")?;
        let secrets_stale = IntGauge::new(
            "secrets_stale",
            "1 while the key ring is stale: refreshes have failed for over an interval.",
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new("portcullis_build_info", "Always 1; the labels name this binary's version and Cargo features."),
            &["version", "features"],
        )?;
        let registrations = IntCounter::new("registrations_total", "Accounts created by self-registration.")?;
        let logouts =
            IntCounterVec::new(Opts::new("logouts_total", "Logouts by scope: `session` or `all`."), &["scope"])?;
        let revocations = IntCounterVec::new(
            Opts::new("revocations_total", "Actions that ended sessions or tokens early, by reason."),
            &["reason"],
        )?;
        let hash_queue_depth = IntGauge::new(
            "password_hash_queue_depth",
            "Password hashing jobs waiting for a worker of the bounded pool.",
        )?;
        let hash_refusals = IntCounter::new(
            "password_hash_refusals_total",
            "Password hashing jobs refused (503) because the pool's queue was full.",
        )?;
        let pool_connections = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state: `idle` or `in_use`."),
            &["state"],
        )?;
        let pool_max = IntGauge::new("db_pool_max_connections", "The most connections the database pool may open.")?;
        let revocation_sync_failures = IntCounter::new(
            "revocation_sync_failures_total",
            "Polls of the shared revocation feed that failed; the next poll catches up.",
        )?;
        let hot = hot_series(&http_requests, &http_duration);
        let metrics = Self {
            registry,
            http_requests,
            http_duration,
            login_attempts,
            rate_limit_decisions,
            tokens_issued,
            refresh_reuse,
            refresh_refusals,
            db_fallback,
            limiter_degraded,
            build_info,
            registrations,
            logouts,
            revocations,
            hash_queue_depth,
            hash_refusals,
            pool_connections,
            pool_max,
            revocation_sync_failures,
            secrets_refresh_failures,
            secrets_ring_age,
            secrets_stale,
            hot,
        };
        metrics.register_all()?;
        metrics.expose_closed_sets();
        Ok(metrics)
    }

    fn register_all(&self) -> Result<(), prometheus::Error> {
        let collectors: [Box<dyn prometheus::core::Collector>; 21] = [
            Box::new(self.http_requests.clone()),
            Box::new(self.http_duration.clone()),
            Box::new(self.login_attempts.clone()),
            Box::new(self.rate_limit_decisions.clone()),
            Box::new(self.tokens_issued.clone()),
            Box::new(self.refresh_reuse.clone()),
            Box::new(self.refresh_refusals.clone()),
            Box::new(self.db_fallback.clone()),
            Box::new(self.limiter_degraded.clone()),
            Box::new(self.build_info.clone()),
            Box::new(self.registrations.clone()),
            Box::new(self.logouts.clone()),
            Box::new(self.revocations.clone()),
            Box::new(self.hash_queue_depth.clone()),
            Box::new(self.hash_refusals.clone()),
            Box::new(self.pool_connections.clone()),
            Box::new(self.pool_max.clone()),
            Box::new(self.revocation_sync_failures.clone()),
            Box::new(self.secrets_refresh_failures.clone()),
            Box::new(self.secrets_ring_age.clone()),
            Box::new(self.secrets_stale.clone()),
        ];
        for collector in collectors {
            self.registry.register(collector)?;
        }
        #[cfg(target_os = "linux")]
        self.registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        Ok(())
    }

    /// Every label comes from a closed set: each series is exposed at 0
    /// from the start, so dashboards and alerts see it before the first event.
    fn expose_closed_sets(&self) {
        for outcome in LoginOutcome::ALL {
            self.login_attempts.with_label_values(&[outcome.as_str()]);
        }
        for bucket in [Bucket::Auth, Bucket::Api] {
            for decision in ["allowed", "refused"] {
                self.rate_limit_decisions.with_label_values(&[bucket.as_str(), decision]);
            }
        }
        for kind in TokenKind::ALL {
            self.tokens_issued.with_label_values(&[kind.as_str()]);
        }
        for reason in RefreshRefusal::ALL {
            self.refresh_refusals.with_label_values(&[reason.as_str()]);
        }
        for scope in LogoutScope::ALL {
            self.logouts.with_label_values(&[scope.as_str()]);
        }
        for reason in RevocationReason::ALL {
            self.revocations.with_label_values(&[reason.as_str()]);
        }
        for state in POOL_STATES {
            self.pool_connections.with_label_values(&[state]);
        }
    }

    /// The exposition text for `/metrics`.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }

    /// The latency histogram of one route, for tests.
    pub fn duration_of(&self, method: &str, route: &str) -> Histogram {
        self.http_duration.with_label_values(&[method, route])
    }
}

impl MetricsSink for PrometheusMetrics {
    fn login_attempt(&self, outcome: LoginOutcome) {
        self.login_attempts.with_label_values(&[outcome.as_str()]).inc();
    }

    fn rate_limit_decision(&self, bucket: &str, allowed: bool) {
        let decision = if allowed { "allowed" } else { "refused" };
        self.rate_limit_decisions.with_label_values(&[bucket, decision]).inc();
    }

    fn token_issued(&self, kind: TokenKind) {
        self.tokens_issued.with_label_values(&[kind.as_str()]).inc();
    }

    fn refresh_token_reuse(&self) {
        self.refresh_reuse.inc();
    }

    fn refresh_refused(&self, reason: RefreshRefusal) {
        self.refresh_refusals.with_label_values(&[reason.as_str()]).inc();
    }

    fn db_fallback_active(&self, active: bool) {
        self.db_fallback.set(i64::from(active));
    }

    fn rate_limiter_degraded(&self, degraded: bool) {
        self.limiter_degraded.set(i64::from(degraded));
    }

    fn secrets_refresh_failed(&self) {
        self.secrets_refresh_failures.inc();
    }

    fn secrets_ring_state(&self, age_seconds: u64, stale: bool) {
        self.secrets_ring_age.set(i64::try_from(age_seconds).unwrap_or(i64::MAX));
        self.secrets_stale.set(i64::from(stale));
    }

    fn http_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        if status == 200 && method == "GET" {
            if let Some((_, count, duration)) = self.hot.iter().find(|(hot, ..)| *hot == route) {
                count.inc();
                duration.observe(seconds);
                return;
            }
        }
        let method = method_label(method);
        let mut digits = [0_u8; 3];
        self.http_requests.with_label_values(&[method, route, status_label(status, &mut digits)]).inc();
        self.http_duration.with_label_values(&[method, route]).observe(seconds);
    }

    fn build_info(&self, version: &str, features: &str) {
        // One series: a second call (a test composing twice) replaces it.
        self.build_info.reset();
        self.build_info.with_label_values(&[version, features]).set(1);
    }

    fn registration(&self) {
        self.registrations.inc();
    }

    fn logout(&self, scope: LogoutScope) {
        self.logouts.with_label_values(&[scope.as_str()]).inc();
    }

    fn revocation(&self, reason: RevocationReason) {
        self.revocations.with_label_values(&[reason.as_str()]).inc();
    }

    fn password_hash_queue_depth(&self, depth: usize) {
        self.hash_queue_depth.set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    fn password_hash_refused(&self) {
        self.hash_refusals.inc();
    }

    fn db_pool(&self, usage: PoolUsage) {
        self.pool_connections.with_label_values(&["idle"]).set(i64::from(usage.idle));
        self.pool_connections.with_label_values(&["in_use"]).set(i64::from(usage.in_use));
        self.pool_max.set(i64::from(usage.max));
    }

    fn revocation_sync_failed(&self) {
        self.revocation_sync_failures.inc();
    }
}

/// The `method` label: a standard method by its name, anything else
/// `other`, because the method token is chosen by the caller.
/// The status code as its three digits, written into `digits` rather than
/// a fresh string: this runs for every request.
fn status_label(status: u16, digits: &mut [u8; 3]) -> &str {
    let status = status.min(999);
    *digits = [status / 100, status / 10 % 10, status % 10].map(|digit| b'0' + u8::try_from(digit).unwrap_or(0));
    std::str::from_utf8(digits).unwrap_or("000")
}

fn method_label(method: &str) -> &'static str {
    const KNOWN: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"];
    KNOWN.iter().find(|known| **known == method).copied().unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_labels_are_the_three_digits() {
        for status in [100_u16, 200, 204, 404, 429, 503, 999] {
            assert_eq!(status_label(status, &mut [0; 3]), status.to_string());
        }
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let metrics = PrometheusMetrics::new().unwrap();
        metrics.http_request("GET", "unmatched", 404, 0.001);
        let before = metrics.render().len();
        for index in 0..1000 {
            metrics.http_request(&format!("HOSTILE{index}"), "unmatched", 404, 0.001);
        }
        metrics.http_request("get", "unmatched", 404, 0.001);
        let text = metrics.render();
        assert!(text.contains("http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"} 1001"));
        assert!(!text.contains("HOSTILE"));
        assert!(text.len() < before + 4096, "{} grew to {}", before, text.len());
    }

    #[test]
    fn every_contract_metric_is_exposed() {
        let metrics = PrometheusMetrics::new().unwrap();
        metrics.login_attempt(LoginOutcome::Success);
        metrics.rate_limit_decision("auth", false);
        metrics.token_issued(TokenKind::Access);
        metrics.refresh_token_reuse();
        metrics.refresh_refused(RefreshRefusal::CutOff);
        metrics.db_fallback_active(true);
        metrics.rate_limiter_degraded(true);
        metrics.http_request("GET", "/v1/users/me", 200, 0.002);
        metrics.build_info("1.2.3", "sqlite,redis");
        metrics.registration();
        metrics.logout(LogoutScope::All);
        metrics.revocation(RevocationReason::AdminDelete);
        metrics.password_hash_queue_depth(3);
        metrics.password_hash_refused();
        metrics.db_pool(PoolUsage { idle: 2, in_use: 5, max: 10 });
        metrics.revocation_sync_failed();
        let text = metrics.render();
        for needle in [
            "portcullis_build_info{features=\"sqlite,redis\",version=\"1.2.3\"} 1",
            "registrations_total 1",
            "logouts_total{scope=\"all\"} 1",
            "logouts_total{scope=\"session\"} 0",
            "revocations_total{reason=\"admin_delete\"} 1",
            "revocations_total{reason=\"logout\"} 0",
            "password_hash_queue_depth 3",
            "password_hash_refusals_total 1",
            "db_pool_connections{state=\"idle\"} 2",
            "db_pool_connections{state=\"in_use\"} 5",
            "db_pool_max_connections 10",
            "revocation_sync_failures_total 1",
            "http_requests_total{method=\"GET\",route=\"/v1/users/me\",status=\"200\"} 1",
            "http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/users/me\",le=\"0.0025\"} 1",
            "auth_login_attempts_total{outcome=\"success\"} 1",
            "rate_limit_decisions_total{bucket=\"auth\",decision=\"refused\"} 1",
            "tokens_issued_total{kind=\"access\"} 1",
            "refresh_token_reuse_total 1",
            "refresh_refusals_total{reason=\"cut_off\"} 1",
            "db_fallback_active 1",
            "rate_limiter_degraded 1",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        assert_eq!(metrics.duration_of("GET", "/v1/users/me").get_sample_count(), 1);
    }

    #[test]
    fn build_info_keeps_one_series() {
        let metrics = PrometheusMetrics::new().unwrap();
        metrics.build_info("1.0.0", "sqlite");
        metrics.build_info("1.0.1", "postgres");
        let text = metrics.render();
        assert_eq!(text.matches("portcullis_build_info{").count(), 1, "{text}");
        assert!(text.contains("portcullis_build_info{features=\"postgres\",version=\"1.0.1\"} 1"));
    }
}

//! Metrics in the Prometheus text format. The names are part of the HTTP
//! contract. Every label comes from a closed set: `route` is a route
//! template or `unmatched`, and `method` one of the standard methods or
//! `other`, so no request can add a series of its own choosing.

use crate::ports::{LoginOutcome, MetricsSink, RefreshRefusal, TokenKind};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
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
    secrets_refresh_failures: IntCounter,
    secrets_ring_age: IntGauge,
    secrets_stale: IntGauge,
}

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
        // The reasons are a closed set: expose each series at 0 from the start.
        for reason in RefreshRefusal::ALL {
            refresh_refusals.with_label_values(&[reason.as_str()]);
        }
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
        registry.register(Box::new(secrets_refresh_failures.clone()))?;
        registry.register(Box::new(secrets_ring_age.clone()))?;
        registry.register(Box::new(secrets_stale.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(login_attempts.clone()))?;
        registry.register(Box::new(rate_limit_decisions.clone()))?;
        registry.register(Box::new(tokens_issued.clone()))?;
        registry.register(Box::new(refresh_reuse.clone()))?;
        registry.register(Box::new(refresh_refusals.clone()))?;
        registry.register(Box::new(db_fallback.clone()))?;
        registry.register(Box::new(limiter_degraded.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        Ok(Self {
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
            secrets_refresh_failures,
            secrets_ring_age,
            secrets_stale,
        })
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
        let method = method_label(method);
        self.http_requests.with_label_values(&[method, route, &status.to_string()]).inc();
        self.http_duration.with_label_values(&[method, route]).observe(seconds);
    }
}

/// The `method` label: a standard method by its name, anything else
/// `other`, because the method token is chosen by the caller.
fn method_label(method: &str) -> &'static str {
    const KNOWN: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"];
    KNOWN.iter().find(|known| **known == method).copied().unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let text = metrics.render();
        for needle in [
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
}

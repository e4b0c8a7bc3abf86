//! What every handler and layer may reach: the core service, the metrics
//! port and the HTTP settings. Built once by the composition root; this
//! module must never name an adapter.

use crate::adapters::mail_queue::MailQueue;
use crate::app::http::client_ip::ClientIpHeader;
use crate::app::key_refresh::KeyRefresher;
use crate::app::readiness::ReadinessProbe;
use crate::core::auth::AuthService;
use crate::ports::MetricsSink;
use ipnet::IpNet;
use std::sync::Arc;

/// Renders the `/metrics` page in the exporter's text format. The
/// composition root sets it from the adapter behind [`AppState::metrics`],
/// so the HTTP layer serves the page without knowing which exporter it is.
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// Everything a request handler may need.
pub struct AppState {
    pub auth: Arc<AuthService>,
    pub metrics: Arc<dyn MetricsSink>,
    pub render_metrics: RenderMetrics,
    pub readiness: ReadinessProbe,
    /// The key ring's refresher: JWKS caching follows its interval, and
    /// tests and SIGHUP refresh through it.
    pub keys: Arc<KeyRefresher>,
    pub trusted_proxies: Vec<IpNet>,
    /// The one header trusted proxies report the client address in.
    pub client_ip_header: ClientIpHeader,
    /// Serve `/metrics` on the main listener (false when it has its own).
    pub metrics_on_main: bool,
    /// Browser origins allowed by CORS; empty: no CORS headers at all.
    pub cors_allowed_origins: Vec<String>,
    /// `Strict-Transport-Security` max-age, when configured.
    pub hsts_max_age_seconds: Option<u32>,
    /// The outgoing mail queue, drained at shutdown; `None` without a mailer.
    pub mail_queue: Option<Arc<MailQueue>>,
}

//! Liveness and readiness probes.

use super::state::AppState;
use crate::app::key_refresh::RingFreshness;
use poem::http::header::{HeaderValue, CONTENT_TYPE};
use poem::web::Data;
use poem::{IntoResponse, Response};
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;

use super::ApiTags;

/// Liveness: the process is up. Touches no dependency.
#[derive(Object)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// Whether the service runs on the SQLite fallback database.
    pub fallback: bool,
    /// The service version.
    pub version: String,
}

/// The result of each readiness check: `ok` or `failing`; the rate
/// limiter may also be `degraded` (the shared limiter is down and limits
/// are kept in process), and `secrets` may be `stale` (refreshing the key
/// ring has failed for over one refresh interval, and the last good ring
/// is still in use): neither fails readiness.
#[derive(Object)]
pub struct ReadinessChecks {
    pub database: String,
    pub rate_limiter: String,
    /// `ok` or `stale`.
    pub secrets: String,
    /// While `secrets` is `stale`: seconds since the key ring was last read.
    #[oai(skip_serializing_if_is_none)]
    pub secrets_age_seconds: Option<u64>,
    /// Migrations applied and, when configured, the initial admin present.
    pub seed: String,
}

/// Readiness: whether this replica should receive traffic.
#[derive(Object)]
pub struct Readiness {
    /// `ok`, `unavailable`, or `draining` while the service shuts down
    /// (requests are still served; the listener closes after the drain).
    pub status: String,
    pub fallback: bool,
    pub checks: ReadinessChecks,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// The process is alive.
    #[oai(status = 200)]
    Ok(HealthBody),
}

/// The liveness body as bytes written once: `/healthz` is probed often,
/// and building it as a JSON value on every probe cost more than the rest
/// of the route. The document and the bytes are those of `Json<Health>`
/// (keys in order, as `serde_json` writes a value); a test holds them equal.
pub struct HealthBody {
    fallback: bool,
}

impl HealthBody {
    /// The body for a service that is (or is not) on the SQLite fallback.
    pub fn new(fallback: bool) -> Self {
        Self { fallback }
    }

    /// The JSON document.
    pub fn as_str(&self) -> &'static str {
        const HEALTHY: &str =
            concat!("{\"fallback\":false,\"status\":\"ok\",\"version\":\"", env!("CARGO_PKG_VERSION"), "\"}");
        const ON_FALLBACK: &str =
            concat!("{\"fallback\":true,\"status\":\"ok\",\"version\":\"", env!("CARGO_PKG_VERSION"), "\"}");
        if self.fallback {
            ON_FALLBACK
        } else {
            HEALTHY
        }
    }
}

impl Payload for HealthBody {
    const CONTENT_TYPE: &'static str = <Json<Health> as Payload>::CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        <Json<Health> as Payload>::schema_ref()
    }

    fn register(registry: &mut Registry) {
        <Json<Health> as Payload>::register(registry);
    }
}

impl IntoResponse for HealthBody {
    fn into_response(self) -> Response {
        // A static header value: the builder's `content_type` checks and
        // copies the text on every probe.
        let mut response = Response::from(self.as_str());
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(Self::CONTENT_TYPE));
        response
    }
}

#[derive(ApiResponse)]
pub enum ReadinessResponse {
    /// Every check passed; a `stale` key ring or a `degraded` rate limiter
    /// still serves, so either may show here.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// At least one check failed (`checks` names it), or the service is
    /// draining before it shuts down (`status` is `draining`).
    #[oai(status = 503)]
    NotReady(Json<Readiness>),
}

pub struct OpsApi;

/// The liveness body, the same on the main and the metrics listener.
pub fn health(state: &AppState) -> Health {
    Health {
        status: "ok".to_owned(),
        fallback: state.readiness.fallback,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

fn verdict(ok: bool) -> String {
    if ok { "ok" } else { "failing" }.to_owned()
}

#[OpenApi(tag = "ApiTags::Operations")]
impl OpsApi {
    /// Liveness probe
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self, state: Data<&Arc<AppState>>) -> HealthResponse {
        HealthResponse::Ok(HealthBody::new(state.readiness.fallback))
    }

    /// Readiness probe
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self, state: Data<&Arc<AppState>>) -> ReadinessResponse {
        let report = state.readiness.check().await;
        let healthy = report.database && report.rate_limiter && report.seed;
        let draining = state.readiness.draining.is_draining();
        let ready = healthy && !draining;
        let status = match (healthy, draining) {
            (_, true) => "draining",
            (true, false) => "ok",
            (false, false) => "unavailable",
        };
        let secrets_age_seconds = match report.secrets {
            RingFreshness::Fresh => None,
            RingFreshness::Stale { age_seconds } => Some(age_seconds),
        };
        let body = Readiness {
            status: status.to_owned(),
            fallback: state.readiness.fallback,
            checks: ReadinessChecks {
                database: verdict(report.database),
                rate_limiter: if report.rate_limiter && report.rate_limiter_degraded {
                    "degraded".to_owned()
                } else {
                    verdict(report.rate_limiter)
                },
                secrets: if secrets_age_seconds.is_some() { "stale" } else { "ok" }.to_owned(),
                secrets_age_seconds,
                seed: verdict(report.seed),
            },
        };
        if ready {
            ReadinessResponse::Ready(Json(body))
        } else {
            ReadinessResponse::NotReady(Json(body))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem_openapi::types::ToJSON as _;

    #[test]
    fn the_written_liveness_body_is_the_json_of_health() {
        for fallback in [false, true] {
            let health = Health { status: "ok".to_owned(), fallback, version: env!("CARGO_PKG_VERSION").to_owned() };
            assert_eq!(HealthBody::new(fallback).as_str(), health.to_json_string());
        }
    }
}

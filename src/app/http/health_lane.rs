//! `GET /healthz` answered at the door. Its answer is the same bytes every
//! time but for the request id, so it is written from a template built
//! once, in front of the middleware stack instead of through it: the eight
//! layers each cost a future, a poll and a move on every probe, and a
//! probe needs none of them (no limit, no body, no problem, no CORS).
//!
//! What a caller and an operator see is what the stack gives:
//! - the headers, from the same functions the stack's layers call
//!   ([`headers::decorate`]), the id by the same rule
//!   ([`request_scope::request_id_header`]);
//! - the body, [`HealthBody`];
//! - the request's span, access-log line and samples, from the same
//!   functions ([`request_scope::request_span`], [`observe::finished`]),
//!   under the `healthz` route.
//!
//! Anything else goes to the stack: another method or path, a request that
//! frames a body, or one with an `Origin` when CORS is configured (its
//! answer may carry CORS headers; without one it carries only the `Vary`
//! that CORS adds to every answer, which the template holds too). `tests/api/fast_path.rs` holds the two
//! answers equal.

use super::middleware::{cors, headers, observe, request_scope};
use super::ops::HealthBody;
use super::state::AppState;
use crate::app::http::client_ip::ClientIpHeader;
use crate::ports::MetricsSink;
use ipnet::IpNet;
use poem::http::header::{self, HeaderMap, HeaderValue};
use poem::http::{Method, StatusCode};
use poem::{Endpoint, Request, Response};
use std::sync::Arc;
use std::time::Instant;

const PATH: &str = "/healthz";

/// The stack, with `GET /healthz` answered in front of it.
pub struct HealthLane<E> {
    inner: E,
    enabled: bool,
    /// The answer's headers but for `X-Request-ID`.
    headers: HeaderMap,
    body: &'static str,
    metrics: Arc<dyn MetricsSink>,
    client_ip_header: ClientIpHeader,
    trusted_proxies: Vec<IpNet>,
    cors: bool,
}

impl HealthLane<()> {
    /// The lane for a service's state, to be put [`around`](Self::around)
    /// its stack. `enabled: false` sends everything to the stack, for the
    /// tests that compare the two answers.
    pub fn new(state: &AppState, enabled: bool) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        let strict_transport = headers::strict_transport(state.hsts_max_age_seconds);
        headers::decorate(&mut headers, PATH, strict_transport.as_ref());
        let cors = !state.cors_allowed_origins.is_empty();
        if cors {
            cors::vary_headers(&mut headers);
        }
        Self {
            inner: (),
            enabled,
            headers,
            body: HealthBody::new(state.readiness.fallback).as_str(),
            metrics: state.metrics.clone(),
            client_ip_header: state.client_ip_header,
            trusted_proxies: state.trusted_proxies.clone(),
            cors,
        }
    }

    /// The lane in front of `stack`.
    pub fn around<E>(self, stack: E) -> HealthLane<E> {
        let Self { enabled, headers, body, metrics, client_ip_header, trusted_proxies, cors, .. } = self;
        HealthLane { inner: stack, enabled, headers, body, metrics, client_ip_header, trusted_proxies, cors }
    }
}

impl<E> HealthLane<E> {
    /// Whether the answer is the template's: a plain probe.
    fn takes(&self, req: &Request) -> bool {
        let headers = req.headers();
        self.enabled
            && req.method() == Method::GET
            && req.uri().path() == PATH
            && !headers.contains_key(header::CONTENT_LENGTH)
            && !headers.contains_key(header::TRANSFER_ENCODING)
            && !(self.cors && headers.contains_key(header::ORIGIN))
    }

    fn answer(&self, req: &Request) -> Response {
        let started = Instant::now();
        let id = request_scope::request_id_header(req);
        let client = request_scope::resolve_client(req, self.client_ip_header, &self.trusted_proxies);
        let span = request_scope::request_span(id.to_str().unwrap_or_default(), Method::GET.as_str(), client);
        let mut response = Response::builder().status(StatusCode::OK).body(self.body);
        *response.headers_mut() = self.headers.clone();
        request_scope::answer_with_id(&mut response, id);
        span.in_scope(|| observe::finished(&*self.metrics, Method::GET.as_str(), PATH, 200, started));
        response
    }
}

impl<E: Endpoint<Output = Response>> Endpoint for HealthLane<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if self.takes(&req) {
            return Ok(self.answer(&req));
        }
        self.inner.call(req).await
    }
}

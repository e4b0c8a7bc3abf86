//! The two requests that come most often, answered at the door, in front
//! of the middleware stack instead of through it:
//!
//! - `GET /healthz` (probes), whose answer is the same bytes every time but
//!   for the request id;
//! - `GET /v1/auth/verify` with a bearer token that verifies (gateways, on
//!   every request they forward): its `200`, or the `429` of its `api`
//!   quota.
//!
//! The eight layers each cost a future, a poll and a move on every request,
//! and these need none of what most of them do (no body, no CORS answer, no
//! problem but the `429`). Each answer is written once, here, with the
//! functions the layers themselves call, so that a caller and an operator
//! see what the stack gives:
//! - the headers: `headers::decorate`, CORS's `Vary` when CORS is
//!   configured, `rate_limit::add_headers`, the id by the stack's rule
//!   (`request_scope::request_id_header`); the fixed ones are built once;
//! - the bodies: [`HealthBody`], and the `429` problem built inside the
//!   request's [`RequestScope`] (it quotes the id);
//! - the request's span, access-log line and samples
//!   (`request_scope::request_span`, `observe::finished`) under the
//!   route's template;
//! - the quota: the user's `api` bucket, spent once, as the route declares.
//!
//! Anything else goes to the stack, untouched: another method or path, a
//! request that frames a body, one with an `Origin` when CORS is configured
//! (its answer may carry CORS headers), a verify without a token that
//! verifies (its `401` and challenge). `tests/api/fast_path.rs` holds the
//! answers of both equal.

use super::middleware::{cors, headers, observe, rate_limit, request_scope};
use super::ops::HealthBody;
use super::problem::Problem;
use super::scope::{RequestIdText, RequestScope};
use super::state::AppState;
use crate::core::token::Principal;
use crate::ports::Bucket;
use poem::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use poem::http::{Method, StatusCode};
use poem::web::headers::authorization::Bearer;
use poem::web::headers::{Authorization, HeaderMapExt};
use poem::{Endpoint, Request, Response};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

const HEALTHZ: &str = "/healthz";
const VERIFY: &str = "/v1/auth/verify";

/// The stack, with the frequent requests answered in front of it.
pub struct Lane<E> {
    inner: E,
    state: Arc<AppState>,
    enabled: bool,
    cors: bool,
    /// The probe's headers but for `X-Request-ID`.
    healthz_headers: HeaderMap,
    healthz_body: &'static str,
    /// The headers every verify answer carries (security, cache, `Vary`).
    verify_headers: HeaderMap,
}

impl Lane<()> {
    /// The lane for a service's state, to be put [`around`](Self::around)
    /// its stack. `enabled: false` sends everything to the stack, for the
    /// tests that compare the two answers.
    pub fn new(state: &Arc<AppState>, enabled: bool) -> Self {
        let cors = !state.cors_allowed_origins.is_empty();
        let strict_transport = headers::strict_transport(state.hsts_max_age_seconds);
        let fixed = |path: &str, content_type: Option<&'static str>| {
            let mut fixed = HeaderMap::with_capacity(16);
            if let Some(content_type) = content_type {
                fixed.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            }
            headers::decorate(&mut fixed, path, strict_transport.as_ref());
            if cors {
                cors::vary_headers(&mut fixed);
            }
            fixed
        };
        Self {
            inner: (),
            state: state.clone(),
            enabled,
            cors,
            healthz_headers: fixed(HEALTHZ, Some("application/json; charset=utf-8")),
            healthz_body: HealthBody::new(state.readiness.fallback).as_str(),
            verify_headers: fixed(VERIFY, None),
        }
    }

    /// The lane in front of `stack`.
    pub fn around<E>(self, stack: E) -> Lane<E> {
        let Self { state, enabled, cors, healthz_headers, healthz_body, verify_headers, .. } = self;
        Lane { inner: stack, state, enabled, cors, healthz_headers, healthz_body, verify_headers }
    }
}

/// Who asks, under which id, in which span: what the request-scope layer
/// works out, worked out the same way.
struct Asked {
    started: Instant,
    id: HeaderValue,
    client: std::net::IpAddr,
    span: tracing::Span,
}

impl<E> Lane<E> {
    /// The path a request goes to if the lane may answer it: a plain `GET`.
    fn path_taken<'r>(&self, req: &'r Request) -> Option<&'r str> {
        let headers = req.headers();
        let plain = self.enabled
            && req.method() == Method::GET
            && !headers.contains_key(header::CONTENT_LENGTH)
            && !headers.contains_key(header::TRANSFER_ENCODING)
            && !(self.cors && headers.contains_key(header::ORIGIN));
        Some(req.uri().path()).filter(|path| plain && matches!(*path, HEALTHZ | VERIFY))
    }

    fn asked(&self, req: &Request) -> Asked {
        let started = Instant::now();
        let id = request_scope::request_id_header(req);
        let client = request_scope::resolve_client(req, self.state.client_ip_header, &self.state.trusted_proxies);
        let span = request_scope::request_span(id.to_str().unwrap_or_default(), Method::GET.as_str(), client);
        Asked { started, id, client, span }
    }

    /// Sends `response` with its id, and records it as the stack would.
    fn answered(&self, asked: Asked, route: &str, mut response: Response) -> Response {
        let status = response.status().as_u16();
        request_scope::answer_with_id(&mut response, asked.id);
        asked
            .span
            .in_scope(|| observe::finished(&*self.state.metrics, Method::GET.as_str(), route, status, asked.started));
        response
    }

    fn healthz(&self, req: &Request) -> Response {
        let asked = self.asked(req);
        let mut response = Response::builder().status(StatusCode::OK).body(self.healthz_body);
        *response.headers_mut() = self.healthz_headers.clone();
        self.answered(asked, HEALTHZ, response)
    }

    /// The answer for a bearer token that verifies; `None`, and nothing
    /// spent, for any other request.
    async fn verify(&self, req: &Request) -> Option<Response> {
        let bearer = req.headers().typed_get::<Authorization<Bearer>>()?;
        let principal = self.state.auth.authenticate(bearer.token()).ok()?;
        let asked = self.asked(req);
        let key = rate_limit::user_key(principal.user_id);
        let decision = self.state.auth.limit(Bucket::Api, &key).instrument(asked.span.clone()).await;
        let mut response = if decision.allowed {
            let mut response = Response::default();
            *response.headers_mut() = self.verify_headers.clone();
            add_principal(response.headers_mut(), &principal);
            response
        } else {
            let text = asked.id.to_str().ok().and_then(RequestIdText::new);
            let scope =
                RequestScope::new(text.unwrap_or_else(|| RequestIdText::new("").expect("empty fits")), asked.client);
            let mut response = scope.run(async { Problem::rate_limited(decision.retry_after).into_response() }).await;
            for (name, value) in &self.verify_headers {
                response.headers_mut().insert(name, value.clone());
            }
            response
        };
        rate_limit::add_headers(&mut response, &decision);
        Some(self.answered(asked, VERIFY, response))
    }
}

/// `X-User-Id` and `X-User-Role`, the `200` of verify
/// ([`super::wire::VerifyOk`]), with static names and the id encoded
/// without the formatting machinery.
pub(crate) fn add_principal(headers: &mut HeaderMap, principal: &Principal) {
    static USER_ID: HeaderName = HeaderName::from_static("x-user-id");
    static USER_ROLE: HeaderName = HeaderName::from_static("x-user-role");
    let mut buffer = uuid::Uuid::encode_buffer();
    let id = principal.user_id.as_uuid().hyphenated().encode_lower(&mut buffer);
    headers.insert(USER_ID.clone(), HeaderValue::from_str(id).expect("a hyphenated UUID is a valid header value"));
    headers.insert(USER_ROLE.clone(), HeaderValue::from_static(principal.role.as_str()));
}

impl<E: Endpoint<Output = Response>> Endpoint for Lane<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        match self.path_taken(&req) {
            Some(HEALTHZ) => return Ok(self.healthz(&req)),
            Some(_) => {
                if let Some(response) = self.verify(&req).await {
                    return Ok(response);
                }
            }
            None => {}
        }
        self.inner.call(req).await
    }
}

//! What happens around every request, outermost first:
//!
//! 1. a request id: the caller's `X-Request-ID` if well-formed, else a UUID,
//!    carried in a tracing span, the response header and every error body;
//! 2. the client address (see [`super::client_ip`]);
//! 3. the 16 KiB body limit;
//! 4. rate limits, with `RateLimit-*` headers;
//! 5. every error, the framework's own included, as problem+json;
//! 6. security and cache headers;
//! 7. the request's metrics and its one access-log line.

use super::client_ip::client_ip;
use super::problem::{Problem, PROBLEM_CONTENT_TYPE, REQUEST_ID};
use super::{AppState, ClientIp};
use crate::core::limits::limited_network;
use crate::core::limits::Decision;
use crate::ports::{Bucket, MetricsSink};
use poem::error::{MethodNotAllowedError, NotFoundError};
use poem::http::header::{self, HeaderName, HeaderValue};
use poem::http::{Method, StatusCode};
use poem::web::headers::{Authorization, HeaderMapExt};
use poem::{Body, Endpoint, PathPattern, Request, Response};
use poem_openapi::error::{AuthorizationError, ContentTypeError, ParseParamError, ParseRequestPayloadError};
use poem_openapi::OperationId;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// A bearer token already checked by this middleware, for the checker.
#[derive(Clone)]
pub struct VerifiedBearer {
    pub token: String,
    pub verdict: Result<crate::core::token::Principal, crate::core::token::TokenError>,
}

/// The methods each route answers, for the `Allow` header that RFC 9110
/// requires on a `405`. A route answering `GET` answers `HEAD` too (poem
/// serves `HEAD` from the `GET` handler).
#[derive(Clone, Debug, Default)]
pub struct AllowedMethods(Vec<(String, Vec<String>)>);

impl AllowedMethods {
    /// The operations of an OpenAPI document, `{name}` segments matching any
    /// segment.
    pub fn from_spec(spec: &str) -> Self {
        let spec: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let mut allowed = Self::default();
        for (path, operations) in spec["paths"].as_object().into_iter().flatten() {
            for method in operations.as_object().into_iter().flat_map(|o| o.keys()) {
                allowed = allowed.route(path, &method.to_ascii_uppercase());
            }
        }
        allowed
    }

    /// Adds `method` to the methods `path` answers.
    #[must_use]
    pub fn route(mut self, path: &str, method: &str) -> Self {
        let index = self.0.iter().position(|(p, _)| p == path).unwrap_or_else(|| {
            self.0.push((path.to_owned(), Vec::new()));
            self.0.len() - 1
        });
        let methods = &mut self.0[index].1;
        let mut add = |m: &str| {
            if !methods.iter().any(|known| known == m) {
                methods.push(m.to_owned());
            }
        };
        add(method);
        if method == "GET" {
            add("HEAD");
        }
        self
    }

    /// The `Allow` value for a request path, if a known route matches it.
    pub fn header_for(&self, path: &str) -> Option<String> {
        let matches = |template: &str| {
            let (mut t, mut p) = (template.split('/'), path.split('/'));
            loop {
                match (t.next(), p.next()) {
                    (None, None) => return true,
                    (Some(ts), Some(ps)) if ts == ps || (ts.starts_with('{') && !ps.is_empty()) => {}
                    _ => return false,
                }
            }
        };
        self.0.iter().find(|(template, _)| matches(template)).map(|(_, methods)| methods.join(", "))
    }
}

/// Builds the middleware stack around an endpoint.
pub struct Portcullis {
    state: Arc<AppState>,
    templates: HashMap<String, String>,
    allowed: AllowedMethods,
}

impl Portcullis {
    /// `templates` maps operation ids to their path templates.
    pub fn new(state: Arc<AppState>, templates: HashMap<String, String>) -> Self {
        Self { state, templates, allowed: AllowedMethods::default() }
    }

    /// The methods of each route, named in the `Allow` header of a `405`.
    #[must_use]
    pub fn allowed_methods(mut self, allowed: AllowedMethods) -> Self {
        self.allowed = allowed;
        self
    }

    pub fn wrap<E: Endpoint<Output = Response>>(self, inner: E) -> impl Endpoint<Output = Response> {
        Wrapped { state: self.state, templates: self.templates, allowed: self.allowed, inner }
    }
}

struct Wrapped<E> {
    state: Arc<AppState>,
    templates: HashMap<String, String>,
    allowed: AllowedMethods,
    inner: E,
}

/// Whether a caller-supplied id may be echoed: `^[A-Za-z0-9._-]{1,128}$`.
pub fn is_valid_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl<E: Endpoint<Output = Response>> Endpoint for Wrapped<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let request_id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| is_valid_request_id(v))
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), ToOwned::to_owned);
        let peer = req.remote_addr().as_socket_addr().map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |addr| addr.ip());
        let header_text = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        let client =
            client_ip(peer, header_text("forwarded"), header_text("x-forwarded-for"), &self.state.trusted_proxies);
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        req.extensions_mut().insert(ClientIp(client));
        req.set_data(self.state.clone());

        let span = tracing::info_span!("request", request_id = %request_id, method = %method, client_ip = %client);
        let state = self.state.clone();
        let (method_ref, path_ref) = (&method, path.as_str());
        let handled = REQUEST_ID.scope(request_id.clone(), async move {
            let mut decision = None;
            let response = match limit_body(&mut req).await {
                Err(problem) => problem.into_response(),
                Ok(()) => match self.rate_limit(&mut req, method_ref, path_ref, client).await {
                    Some(d) if !d.allowed => {
                        decision = Some(d);
                        Problem::rate_limited(d.retry_after).into_response()
                    }
                    other => {
                        decision = other;
                        match self.inner.call(req).await {
                            Ok(response) => response,
                            Err(error) => error_response(error),
                        }
                    }
                },
            };
            let response = ensure_problem(response);
            (response, decision)
        });
        let (mut response, decision) = handled.instrument(span.clone()).await;

        let route = route_template(&response, &self.templates);
        let status = response.status();
        finish_headers(&mut response, &request_id, &path, decision.as_ref());
        if status == StatusCode::METHOD_NOT_ALLOWED && !response.headers().contains_key(header::ALLOW) {
            if let Some(value) = self.allowed.header_for(&path).and_then(|v| HeaderValue::from_str(&v).ok()) {
                response.headers_mut().insert(header::ALLOW, value);
            }
        }
        if let Some(max_age) = state.hsts_max_age_seconds {
            if let Ok(value) = HeaderValue::from_str(&format!("max-age={max_age}; includeSubDomains")) {
                response.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, value);
            }
        }
        let elapsed = started.elapsed();
        state.metrics.http_request(method.as_str(), &route, status.as_u16(), elapsed.as_secs_f64());
        span.in_scope(|| {
            tracing::info!(
                route = %route,
                status = status.as_u16(),
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                "request finished"
            );
        });
        Ok(response)
    }
}

impl<E> Wrapped<E> {
    /// Applies the bucket this request falls in, if any.
    async fn rate_limit(&self, req: &mut Request, method: &Method, path: &str, client: IpAddr) -> Option<Decision> {
        let auth = &self.state.auth;
        if method == Method::OPTIONS {
            return None;
        }
        let network = limited_network(client);
        if method == Method::POST && matches!(path, "/v1/auth/register" | "/v1/auth/login" | "/v1/auth/refresh") {
            return Some(auth.limit(Bucket::Auth, &format!("ip:{network}")).await);
        }
        if !path.starts_with("/v1/") {
            return None;
        }
        // Signed-in callers are limited per user, everyone else per address.
        // The verdict is kept for the bearer checker, so a token is verified
        // once per request.
        let verdict =
            req.headers().typed_get::<Authorization<poem::web::headers::authorization::Bearer>>().map(|bearer| {
                VerifiedBearer { token: bearer.token().to_owned(), verdict: auth.authenticate(bearer.token()) }
            });
        let user = verdict.as_ref().and_then(|v| v.verdict.as_ref().ok()).map(|principal| principal.user_id);
        if let Some(verdict) = verdict {
            req.extensions_mut().insert(verdict);
        }
        let key = user.map_or_else(|| format!("ip:{network}"), |user| format!("user:{user}"));
        Some(auth.limit(Bucket::Api, &key).await)
    }
}

/// Refuses bodies over [`MAX_BODY_BYTES`], whether or not they declare a length.
async fn limit_body(req: &mut Request) -> Result<(), Problem> {
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let empty = match declared {
        Some(length) if length > MAX_BODY_BYTES as u64 => return Err(too_large()),
        Some(length) => length == 0,
        None => {
            let body = req.take_body();
            match body.into_bytes_limit(MAX_BODY_BYTES).await {
                Ok(bytes) => {
                    let empty = bytes.is_empty();
                    req.set_body(Body::from(bytes));
                    empty
                }
                Err(poem::error::ReadBodyError::PayloadTooLarge) => return Err(too_large()),
                Err(_) => {
                    return Err(Problem::new(
                        StatusCode::BAD_REQUEST,
                        "validation_failed",
                        "the request body could not be read",
                    ))
                }
            }
        }
    };
    // An absent body is an absent JSON document: optional bodies (logout)
    // then parse as none, and required ones fail as malformed, not as 415.
    if empty && req.headers().get(header::CONTENT_TYPE).is_none() {
        req.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    Ok(())
}

/// Turns a framework or handler error into a problem response.
fn error_response(error: poem::Error) -> Response {
    let pattern = error.data::<PathPattern>().cloned();
    let operation = error.data::<OperationId>().cloned();
    if error.is_from_response() {
        let mut response = error.into_response();
        if let Some(operation) = operation {
            response.set_data(operation);
        }
        return response;
    }
    let problem = if error.is::<NotFoundError>() {
        Problem::not_found("no such route")
    } else if error.is::<MethodNotAllowedError>() {
        Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not accept that method")
    } else if error.is::<AuthorizationError>() {
        Problem::invalid_token("a bearer access token is required")
    } else if let Some(parse) = error.downcast_ref::<ParseRequestPayloadError>() {
        if let Some(field) = unknown_field(&parse.reason) {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", parse.reason.clone())
                .field(field, "unknown field")
        } else {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "validation_failed",
                format!("malformed request body: {}", parse.reason),
            )
        }
    } else if let Some(param) = error.downcast_ref::<ParseParamError>() {
        Problem::new(StatusCode::BAD_REQUEST, "validation_failed", format!("{}: {}", param.name, param.reason))
            .field(param.name, param.reason.clone())
    } else if error.is::<ContentTypeError>() {
        Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send the body as application/json")
    } else if error.status().is_server_error() {
        tracing::error!(error = %error, "unhandled server error");
        Problem::internal()
    } else {
        Problem::new(error.status(), "validation_failed", error.to_string())
    };
    let mut response = problem.into_response();
    if let Some(pattern) = pattern {
        response.set_data(pattern);
    }
    if let Some(operation) = operation {
        response.set_data(operation);
    }
    response
}

/// The field named by poem-openapi's "unknown field `name`" message.
fn unknown_field(reason: &str) -> Option<&str> {
    let (_, rest) = reason.split_once("unknown field `")?;
    rest.split_once('`').map(|(field, _)| field)
}

/// Any error response without a documented JSON body becomes problem+json.
fn ensure_problem(response: Response) -> Response {
    let status = response.status();
    // Documented JSON error bodies (such as `/readyz`'s 503) stay as they are.
    let documented = response
        .content_type()
        .is_some_and(|ct| ct.starts_with(PROBLEM_CONTENT_TYPE) || ct.starts_with("application/json"));
    if status.as_u16() < 400 || documented {
        return response;
    }
    let pattern = response.data::<PathPattern>().cloned();
    let operation = response.data::<OperationId>().cloned();
    let problem = match status {
        StatusCode::NOT_FOUND => Problem::not_found("no such route"),
        s if s.is_server_error() => Problem::internal(),
        s => Problem::new(s, "validation_failed", s.canonical_reason().unwrap_or("bad request")),
    };
    let mut replaced = problem.into_response();
    if let Some(pattern) = pattern {
        replaced.set_data(pattern);
    }
    if let Some(operation) = operation {
        replaced.set_data(operation);
    }
    replaced
}

/// The route template for metrics and logs, `{id}` style; `unmatched`
/// for requests no route took, so raw paths never become labels.
fn route_template(response: &Response, templates: &HashMap<String, String>) -> String {
    if let Some(template) = response.data::<OperationId>().and_then(|id| templates.get(id.0)) {
        return template.clone();
    }
    let pattern =
        response.data::<PathPattern>().filter(|p| !p.0.is_empty() && response.status() != StatusCode::NOT_FOUND);
    pattern.map_or_else(
        || "unmatched".to_owned(),
        |pattern| {
            pattern
                .0
                .split('/')
                .map(|segment| {
                    segment.strip_prefix(':').map_or_else(|| segment.to_owned(), |name| format!("{{{name}}}"))
                })
                .collect::<Vec<_>>()
                .join("/")
        },
    )
}

fn finish_headers(response: &mut Response, request_id: &str, path: &str, decision: Option<&Decision>) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(HeaderName::from_static("x-request-id"), value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(API_CSP));
    }
    if path.starts_with("/v1/") {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(decision) = decision {
        let seconds = |d: Duration| (d.as_secs() + u64::from(d.subsec_nanos() > 0)).to_string();
        for (name, value) in [
            ("ratelimit-limit", decision.limit.to_string()),
            ("ratelimit-remaining", decision.remaining.to_string()),
            ("ratelimit-reset", seconds(decision.reset_after)),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_follow_the_contract_pattern() {
        assert!(is_valid_request_id("abc-123_X.y"));
        assert!(is_valid_request_id(&"a".repeat(128)));
        for bad in ["", "has space", "semi;colon", "ünïcode", &"a".repeat(129)] {
            assert!(!is_valid_request_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn allow_lists_the_methods_of_the_matching_route() {
        let spec = r#"{"paths": {"/v1/users/{id}": {"get": {}, "delete": {}}, "/healthz": {"get": {}}}}"#;
        let allowed = AllowedMethods::from_spec(spec).route("/docs", "GET").route("/login", "POST");
        assert_eq!(allowed.header_for("/v1/users/42").as_deref(), Some("DELETE, GET, HEAD"));
        assert_eq!(allowed.header_for("/healthz").as_deref(), Some("GET, HEAD"));
        assert_eq!(allowed.header_for("/docs").as_deref(), Some("GET, HEAD"));
        assert_eq!(allowed.header_for("/login").as_deref(), Some("POST"));
        for unknown in ["/v1/users/", "/v1/users/42/x", "/nope", "/"] {
            assert_eq!(allowed.header_for(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn route_templates_use_braces() {
        let mut response = Response::default();
        response.set_data(PathPattern("/v1/admin/users/:id/unlock".into()));
        assert_eq!(route_template(&response, &HashMap::new()), "/v1/admin/users/{id}/unlock");
        assert_eq!(route_template(&Response::default(), &HashMap::new()), "unmatched");
        let mut operation = Response::default();
        operation.set_data(OperationId("getUser"));
        let templates = HashMap::from([("getUser".to_owned(), "/v1/admin/users/{id}".to_owned())]);
        assert_eq!(route_template(&operation, &templates), "/v1/admin/users/{id}");
    }
}

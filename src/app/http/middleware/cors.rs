//! CORS as browsers expect it (the Fetch standard): an allowed origin gets
//! `Access-Control-Allow-Origin` and the exposed headers; any other origin
//! gets no CORS headers and an unchanged answer, since refusing to read the
//! response is the browser's job, and same-origin and non-browser requests
//! (which may carry an `Origin` too) must not notice CORS at all. A
//! preflight is answered only when the origin, the method and every
//! requested header are allowed.
//!
//! Never decides whether a caller may do something: that is the bearer
//! token's business.

use crate::app::http::errors::ProblemCode;
use crate::app::http::problem::Problem;
use poem::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use poem::http::{HeaderMap, HeaderValue, Method, StatusCode};
use poem::{Endpoint, Middleware, Request, Response};
use std::sync::Arc;

const ALLOWED_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];
const ALLOWED_HEADERS: &[&str] = &["authorization", "content-type", "x-request-id"];
const EXPOSED_HEADERS: &str =
    "x-request-id, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset, x-user-id, x-user-role";
/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE_SECONDS: &str = "600";
/// Every response's CORS headers depend on these request headers.
const VARY_ON: &str = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

/// CORS for the configured origins.
pub struct Cors {
    origins: Arc<Vec<String>>,
}

impl Cors {
    pub fn new(origins: &[String]) -> Self {
        Self { origins: Arc::new(origins.iter().map(|origin| origin.to_ascii_lowercase()).collect()) }
    }
}

impl<E: Endpoint<Output = Response>> Middleware<E> for Cors {
    type Output = CorsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        CorsEndpoint { origins: self.origins.clone(), inner }
    }
}

pub struct CorsEndpoint<E> {
    origins: Arc<Vec<String>>,
    inner: E,
}

impl<E: Endpoint<Output = Response>> Endpoint for CorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let origin = req.headers().get(ORIGIN).and_then(|value| value.to_str().ok()).map(str::to_owned);
        let allowed = origin.as_deref().filter(|origin| self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin)));
        let preflight = req.method() == Method::OPTIONS && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
        if preflight && origin.is_some() {
            let mut response = match allowed {
                Some(origin) if preflight_allowed(req.headers()) => preflight_answer(origin),
                _ => Problem::new(
                    StatusCode::FORBIDDEN,
                    ProblemCode::Forbidden,
                    "CORS preflight refused: the origin, method or a requested header is not allowed",
                )
                .into_response(),
            };
            vary(&mut response);
            return Ok(response);
        }
        let mut response = self.inner.call(req).await?;
        if let Some(origin) = allowed.and_then(|origin| HeaderValue::from_str(origin).ok()) {
            response.headers_mut().insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            response.headers_mut().insert(ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED_HEADERS));
        }
        vary(&mut response);
        Ok(response)
    }
}

/// Whether the requested method and every requested header are allowed.
fn preflight_allowed(headers: &HeaderMap) -> bool {
    let method_allowed = headers
        .get(ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|method| ALLOWED_METHODS.contains(&method));
    let headers_allowed = headers.get_all(ACCESS_CONTROL_REQUEST_HEADERS).iter().all(|value| {
        value.to_str().is_ok_and(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .all(|name| ALLOWED_HEADERS.iter().any(|allowed| allowed.eq_ignore_ascii_case(name)))
        })
    });
    method_allowed && headers_allowed
}

fn preflight_answer(origin: &str) -> Response {
    let mut response = Response::builder().status(StatusCode::NO_CONTENT).finish();
    let headers = response.headers_mut();
    if let Ok(origin) = HeaderValue::from_str(origin) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    headers.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE"));
    headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type, x-request-id"));
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE_SECONDS));
    response
}

fn vary(response: &mut Response) {
    vary_headers(response.headers_mut());
}

/// The `Vary` that every answer carries when CORS is configured: its
/// CORS headers depend on these request headers.
pub(crate) fn vary_headers(headers: &mut HeaderMap) {
    headers.append(VARY, HeaderValue::from_static(VARY_ON));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_headers(method: &str, headers: Option<&str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(ACCESS_CONTROL_REQUEST_METHOD, HeaderValue::from_str(method).unwrap());
        if let Some(headers) = headers {
            map.insert(ACCESS_CONTROL_REQUEST_HEADERS, HeaderValue::from_str(headers).unwrap());
        }
        map
    }

    #[test]
    fn a_preflight_passes_only_when_the_method_and_every_header_are_allowed() {
        assert!(preflight_allowed(&request_headers("POST", None)));
        assert!(preflight_allowed(&request_headers("PATCH", Some("Content-Type, authorization"))));
        assert!(!preflight_allowed(&request_headers("POST", Some("content-type, x-secret"))));
        assert!(!preflight_allowed(&request_headers("TRACE", None)));
        assert!(!preflight_allowed(&request_headers("post", None)));
    }
}

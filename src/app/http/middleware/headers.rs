//! The headers every response carries: `X-Content-Type-Options`,
//! `X-Frame-Options`, `Referrer-Policy`, a `Content-Security-Policy` unless
//! the page set a narrower one, `Cache-Control: no-store` under `/v1/`,
//! `Strict-Transport-Security` when configured, and the `Allow` list that
//! RFC 9110 requires on a `405`.

use poem::http::header::{self, HeaderValue};
use poem::http::HeaderMap;
use poem::http::StatusCode;
use poem::{Endpoint, Middleware, Request, Response};

const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// The methods each route answers, for the `Allow` header of a `405`. A
/// route answering `GET` answers `HEAD` too (poem serves `HEAD` from the
/// `GET` handler).
#[derive(Clone, Debug, Default)]
pub struct AllowedMethods(Vec<(String, Vec<String>)>);

impl AllowedMethods {
    /// The operations of an OpenAPI document, `{name}` segments matching any
    /// segment.
    pub fn from_spec(spec: &str) -> Self {
        let spec: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let mut allowed = Self::default();
        for (path, operations) in spec["paths"].as_object().into_iter().flatten() {
            for method in operations.as_object().into_iter().flat_map(|operations| operations.keys()) {
                allowed = allowed.route(path, &method.to_ascii_uppercase());
            }
        }
        allowed
    }

    /// Adds `method` to the methods `path` answers.
    #[must_use]
    pub fn route(mut self, path: &str, method: &str) -> Self {
        let index = self.0.iter().position(|(known, _)| known == path).unwrap_or_else(|| {
            self.0.push((path.to_owned(), Vec::new()));
            self.0.len() - 1
        });
        let methods = &mut self.0[index].1;
        let mut add = |method: &str| {
            if !methods.iter().any(|known| known == method) {
                methods.push(method.to_owned());
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
            let (mut templates, mut segments) = (template.split('/'), path.split('/'));
            loop {
                match (templates.next(), segments.next()) {
                    (None, None) => return true,
                    (Some(expected), Some(segment))
                        if expected == segment || (expected.starts_with('{') && !segment.is_empty()) => {}
                    _ => return false,
                }
            }
        };
        self.0.iter().find(|(template, _)| matches(template)).map(|(_, methods)| methods.join(", "))
    }
}

/// Adds the security, cache, HSTS and `Allow` headers.
pub struct Headers {
    allowed: AllowedMethods,
    hsts_max_age_seconds: Option<u32>,
}

impl Headers {
    pub fn new(allowed: AllowedMethods, hsts_max_age_seconds: Option<u32>) -> Self {
        Self { allowed, hsts_max_age_seconds }
    }
}

impl<E: Endpoint<Output = Response>> Middleware<E> for Headers {
    type Output = HeadersEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        let strict_transport = strict_transport(self.hsts_max_age_seconds);
        HeadersEndpoint { allowed: self.allowed.clone(), strict_transport, inner }
    }
}

pub struct HeadersEndpoint<E> {
    allowed: AllowedMethods,
    strict_transport: Option<HeaderValue>,
    inner: E,
}

impl<E: Endpoint<Output = Response>> Endpoint for HeadersEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        // A reference count, not a copy: the path is read again only for
        // `/v1/` and a `405`.
        let uri = req.uri().clone();
        // Boxed: every layer moves the future of the layers inside it,
        // and each holds a request, so without a break in the chain the
        // copies grow with the square of the depth.
        let mut response = Box::pin(self.inner.call(req)).await?;
        let path = uri.path();
        let not_allowed = response.status() == StatusCode::METHOD_NOT_ALLOWED;
        let headers = response.headers_mut();
        decorate(headers, path, self.strict_transport.as_ref());
        if not_allowed && !headers.contains_key(header::ALLOW) {
            if let Some(value) = self.allowed.header_for(path).and_then(|allow| HeaderValue::from_str(&allow).ok()) {
                headers.insert(header::ALLOW, value);
            }
        }
        Ok(response)
    }
}

/// The `Strict-Transport-Security` value for a configured max-age.
pub(crate) fn strict_transport(max_age_seconds: Option<u32>) -> Option<HeaderValue> {
    max_age_seconds.and_then(|max_age| HeaderValue::from_str(&format!("max-age={max_age}; includeSubDomains")).ok())
}

/// The security, cache and HSTS headers of an answer to `path`.
pub(crate) fn decorate(headers: &mut HeaderMap, path: &str, strict_transport: Option<&HeaderValue>) {
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(API_CSP));
    }
    if path.starts_with("/v1/") {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(value) = strict_transport {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::endpoint::make_sync;
    use poem::EndpointExt;

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

    #[tokio::test]
    async fn api_responses_are_not_cached_and_a_405_says_what_is_allowed() {
        let allowed = AllowedMethods::default().route("/v1/thing", "POST");
        let endpoint =
            make_sync(|_| StatusCode::METHOD_NOT_ALLOWED).map_to_response().with(Headers::new(allowed, Some(60)));
        let response = endpoint.call(Request::builder().uri_str("/v1/thing").finish()).await.unwrap();
        let headers = response.headers();
        assert_eq!(headers["allow"], "POST");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["content-security-policy"], API_CSP);
        assert_eq!(headers["strict-transport-security"], "max-age=60; includeSubDomains");
    }
}

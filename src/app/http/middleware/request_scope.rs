//! The outermost layer: who is asking, and under which id. It resolves
//! the client address (the socket peer, or what a trusted proxy says in
//! the one configured header; see [`crate::app::http::client_ip`]) and the
//! request id (the caller's `X-Request-ID` when it matches
//! `^[A-Za-z0-9._-]{1,128}$`, otherwise a fresh UUID), and runs the rest of
//! the request in their [`RequestScope`]: the request span names both, every
//! problem body quotes the id, the rate limits and the login lockout key on
//! the address, and the id goes back in the `X-Request-ID` header.

use crate::app::http::client_ip::{client_ip, ClientIpHeader};
use crate::app::http::scope::{RequestIdText, RequestScope};
use ipnet::IpNet;
use poem::http::header::{HeaderName, HeaderValue};
use poem::{Endpoint, Middleware, Request, Response};
use std::net::{IpAddr, Ipv4Addr};
use tracing::Instrument;

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Whether a caller-supplied id may be echoed: `^[A-Za-z0-9._-]{1,128}$`.
pub fn is_valid_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

/// The method as every log line of the request names it: cut to 16 bytes,
/// longer than any real method, because the caller chooses the token and
/// could otherwise make each line tens of kilobytes long.
fn logged_method(method: &str) -> &str {
    method.get(..16).unwrap_or(method)
}

/// Gives each request its client address, id, span and `X-Request-ID`.
pub struct RequestScopes {
    header: ClientIpHeader,
    trusted_proxies: Vec<IpNet>,
}

impl RequestScopes {
    pub fn new(header: ClientIpHeader, trusted_proxies: Vec<IpNet>) -> Self {
        Self { header, trusted_proxies }
    }
}

impl<E: Endpoint<Output = Response>> Middleware<E> for RequestScopes {
    type Output = RequestScopeEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestScopeEndpoint { header: self.header, trusted_proxies: self.trusted_proxies.clone(), inner }
    }
}

pub struct RequestScopeEndpoint<E> {
    header: ClientIpHeader,
    trusted_proxies: Vec<IpNet>,
    inner: E,
}

/// The client address of a request: the socket peer, or what a trusted
/// proxy says in the one configured header.
pub(crate) fn resolve_client(req: &Request, header: ClientIpHeader, trusted_proxies: &[IpNet]) -> IpAddr {
    let peer = req.remote_addr().as_socket_addr().map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), std::net::SocketAddr::ip);
    let Some(name) = header.name() else {
        return peer;
    };
    // A line that is not text is kept as an element no hop can vouch for.
    let values: Vec<&str> =
        req.headers().get_all(name).iter().map(|value| value.to_str().unwrap_or("unknown")).collect();
    client_ip(peer, header, &values, trusted_proxies)
}

/// The request's id as its `X-Request-ID` header value: the caller's when
/// it is well formed (plain ASCII, so it goes back as it came), otherwise
/// a fresh UUID v4.
pub(crate) fn request_id_header(req: &Request) -> HeaderValue {
    let supplied = req.headers().get(&X_REQUEST_ID).filter(|value| value.to_str().is_ok_and(is_valid_request_id));
    supplied.cloned().unwrap_or_else(fresh_request_id)
}

/// The request's span, which every log line of the request is in.
pub(crate) fn request_span(request_id: &str, method: &str, client: IpAddr) -> tracing::Span {
    let method = logged_method(method);
    tracing::info_span!("request", request_id = %request_id, method = %method, client_ip = %client)
}

/// Sets the `X-Request-ID` of an answer.
pub(crate) fn answer_with_id(response: &mut Response, id: HeaderValue) {
    response.headers_mut().insert(X_REQUEST_ID.clone(), id);
}

impl<E: Endpoint<Output = Response>> Endpoint for RequestScopeEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let client = resolve_client(&req, self.header, &self.trusted_proxies);
        let header = request_id_header(&req);
        let request_id = header.to_str().unwrap_or_default();
        let text = RequestIdText::new(request_id).unwrap_or_else(|| RequestIdText::new("").expect("empty fits"));
        let span = request_span(request_id, req.method().as_str(), client);
        // Boxed before it is wrapped: the scope and the span each take the
        // future by value, and the stack inside is kilobytes, copied whole
        // at every move (three copies per request, most of the memcpy a
        // profile showed). A pointer moves instead.
        let inner = Box::pin(self.inner.call(req));
        let mut response = RequestScope::new(text, client).run(inner).instrument(span).await?;
        answer_with_id(&mut response, header);
        Ok(response)
    }
}

/// A fresh UUID v4 id as a header value, written without the formatting
/// machinery: this runs for every request that brings no id.
fn fresh_request_id() -> HeaderValue {
    let mut buffer = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
    HeaderValue::from_str(id).expect("a hyphenated UUID is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::http::scope::{current_client, current_request_id};
    use poem::endpoint::make_sync;
    use poem::EndpointExt;

    #[test]
    fn a_hostile_method_is_logged_cut_short() {
        assert_eq!(logged_method("PATCH"), "PATCH");
        assert_eq!(logged_method(&"X".repeat(60_000)).len(), 16);
    }

    #[test]
    fn request_ids_follow_the_contract_pattern() {
        assert!(is_valid_request_id("abc-123_X.y"));
        assert!(is_valid_request_id(&"a".repeat(128)));
        for bad in ["", "has space", "semi;colon", "ünïcode", &"a".repeat(129)] {
            assert!(!is_valid_request_id(bad), "{bad:?}");
        }
    }

    fn scoped(header: ClientIpHeader, trusted: Vec<IpNet>) -> impl Endpoint<Output = Response> {
        let echo = |_| format!("{} {}", current_request_id(), current_client().map(|ip| ip.0.to_string()).unwrap());
        make_sync(echo).map_to_response().with(RequestScopes::new(header, trusted))
    }

    async fn body(endpoint: &impl Endpoint<Output = Response>, request: Request) -> String {
        endpoint.call(request).await.unwrap().into_body().into_string().await.unwrap()
    }

    #[tokio::test]
    async fn a_well_formed_id_is_echoed_and_in_scope_a_bad_one_replaced() {
        let endpoint = scoped(ClientIpHeader::None, Vec::new());
        let request = Request::builder().header("x-request-id", "caller-1").finish();
        let response = endpoint.call(request).await.unwrap();
        assert_eq!(response.headers()["x-request-id"], "caller-1");
        assert!(response.into_body().into_string().await.unwrap().starts_with("caller-1 "));
        let response = endpoint.call(Request::builder().header("x-request-id", "bad id").finish()).await.unwrap();
        let fresh = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&fresh).is_ok(), "{fresh}");
        assert!(response.into_body().into_string().await.unwrap().starts_with(&fresh));
    }

    #[tokio::test]
    async fn forwarded_headers_count_only_from_a_trusted_peer() {
        let request =
            || Request::builder().header("x-request-id", "r").header("x-forwarded-for", "203.0.113.9").finish();
        // A request built here has no socket peer: it counts as loopback.
        let untrusted = scoped(ClientIpHeader::XForwardedFor, Vec::new());
        assert_eq!(body(&untrusted, request()).await, "r 127.0.0.1");
        let loopback = || vec!["127.0.0.0/8".parse().unwrap()];
        let trusted = scoped(ClientIpHeader::XForwardedFor, loopback());
        assert_eq!(body(&trusted, request()).await, "r 203.0.113.9");
        let unconfigured = scoped(ClientIpHeader::None, loopback());
        assert_eq!(body(&unconfigured, request()).await, "r 127.0.0.1");
    }
}

//! The request id: the caller's `X-Request-ID` when it matches
//! `^[A-Za-z0-9._-]{1,128}$`, otherwise a fresh UUID. It names the tracing
//! span of the request, is in scope for every problem body, and goes back
//! in the `X-Request-ID` header. Must run inside [`super::client_ip`], whose
//! address the span records.

use crate::app::http::problem::{RequestIdText, REQUEST_ID};
use crate::app::http::ClientIp;
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

/// Gives each request its id, span and `X-Request-ID` header.
pub struct RequestId;

impl<E: Endpoint<Output = Response>> Middleware<E> for RequestId {
    type Output = RequestIdEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestIdEndpoint { inner }
    }
}

pub struct RequestIdEndpoint<E> {
    inner: E,
}

impl<E: Endpoint<Output = Response>> Endpoint for RequestIdEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let supplied = req.headers().get(&X_REQUEST_ID).filter(|value| value.to_str().is_ok_and(is_valid_request_id));
        // A valid id is plain ASCII: its header value goes back as it came.
        let header = supplied.cloned().unwrap_or_else(fresh_request_id);
        let request_id = header.to_str().unwrap_or_default();
        let text = RequestIdText::new(request_id).unwrap_or_else(|| RequestIdText::new("").expect("empty fits"));
        let client = req.extensions().get::<ClientIp>().map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |client| client.0);
        let method = logged_method(req.method().as_str());
        let span = tracing::info_span!("request", request_id = %request_id, method = %method, client_ip = %client);
        // Boxed before it is wrapped: the scope and the span each take the
        // future by value, and the stack inside is kilobytes, copied whole
        // at every move (three copies per request, most of the memcpy a
        // profile showed). A pointer moves instead.
        let inner = Box::pin(self.inner.call(req));
        let mut response = REQUEST_ID.scope(text, inner).instrument(span).await?;
        response.headers_mut().insert(X_REQUEST_ID.clone(), header);
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

    #[test]
    fn a_hostile_method_is_logged_cut_short() {
        assert_eq!(logged_method("PATCH"), "PATCH");
        assert_eq!(logged_method(&"X".repeat(60_000)).len(), 16);
    }
    use poem::endpoint::make_sync;
    use poem::EndpointExt;

    #[test]
    fn request_ids_follow_the_contract_pattern() {
        assert!(is_valid_request_id("abc-123_X.y"));
        assert!(is_valid_request_id(&"a".repeat(128)));
        for bad in ["", "has space", "semi;colon", "ünïcode", &"a".repeat(129)] {
            assert!(!is_valid_request_id(bad), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_well_formed_id_is_echoed_and_in_scope_a_bad_one_replaced() {
        let endpoint = make_sync(|_| crate::app::http::problem::current_request_id()).map_to_response().with(RequestId);
        let request = Request::builder().header("x-request-id", "caller-1").finish();
        let response = endpoint.call(request).await.unwrap();
        assert_eq!(response.headers()["x-request-id"], "caller-1");
        assert_eq!(response.into_body().into_string().await.unwrap(), "caller-1");
        let response = endpoint.call(Request::builder().header("x-request-id", "bad id").finish()).await.unwrap();
        let fresh = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&fresh).is_ok(), "{fresh}");
    }
}

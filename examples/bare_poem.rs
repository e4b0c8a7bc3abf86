//! The baseline for the load script: a bare poem handler with no
//! middleware, no auth and no state, on the same runtime settings as
//! Portcullis. `/healthz` and `/v1/auth/verify` are measured against its
//! `GET /`.
//!
//! `GET /healthz` here is a second, diagnostic baseline: the very bytes
//! Portcullis's `/healthz` answers (its headers, a request id of the same
//! length and its body), written from constants with no work at all. The
//! gap between the two baselines is what the answer's size alone costs the
//! client and the kernel; the rest of the gap to Portcullis is Portcullis.
//!
//! `cargo run --release --example bare_poem -- 127.0.0.1:18081`

use poem::http::header::{self, HeaderName, HeaderValue};
use poem::listener::TcpListener;
use poem::{get, handler, Response, Route, Server};

#[handler]
fn ok() -> &'static str {
    "ok"
}

/// Portcullis's `/healthz` answer, byte for byte but for the request id's
/// value and the date.
#[handler]
fn same_bytes() -> Response {
    static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
    Response::builder()
        .header(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"))
        .header(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"))
        .header(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"))
        .header(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"))
        .header(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"))
        .header(REQUEST_ID.clone(), HeaderValue::from_static("00000000-0000-4000-8000-000000000000"))
        .body(r#"{"fallback":false,"status":"ok","version":"0.1.0"}"#)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18081".to_owned());
    Server::new(TcpListener::bind(bind)).run(Route::new().at("/", get(ok)).at("/healthz", get(same_bytes))).await
}

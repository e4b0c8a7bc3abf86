//! The baseline for the load script: a bare poem handler with no
//! middleware, no auth and no state, on the same runtime settings as
//! Portcullis. `/healthz` and `/v1/auth/verify` are measured against its
//! `GET /`.
//!
//! `GET /healthz` and `GET /v1/auth/verify` here are diagnostic baselines:
//! the very bytes Portcullis answers on those routes (its headers, values
//! of the same length, its body), written from constants with no work at
//! all. The load script sends them the same requests (verify's with its
//! bearer token). The gap between `GET /` and these is what the size of
//! the exchange alone costs the client, the kernel and hyper; the rest of
//! the gap to Portcullis is Portcullis.
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

/// Portcullis's `200` for `/v1/auth/verify`, as the load script's server
/// writes it (its limit, what is left of it, the reset), from constants.
#[handler]
fn verify_bytes() -> Response {
    static USER_ID: HeaderName = HeaderName::from_static("x-user-id");
    static USER_ROLE: HeaderName = HeaderName::from_static("x-user-role");
    static LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
    static REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
    static RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
    static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
    Response::builder()
        .header(USER_ID.clone(), HeaderValue::from_static("01a22548-00fe-7261-9e7f-0861633e99b9"))
        .header(USER_ROLE.clone(), HeaderValue::from_static("user"))
        .header(LIMIT.clone(), HeaderValue::from_static("10000000"))
        .header(REMAINING.clone(), HeaderValue::from_static("9999999"))
        .header(RESET.clone(), HeaderValue::from_static("1"))
        .header(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"))
        .header(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"))
        .header(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"))
        .header(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"))
        .header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
        .header(REQUEST_ID.clone(), HeaderValue::from_static("00000000-0000-4000-8000-000000000000"))
        .finish()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18081".to_owned());
    let routes = Route::new().at("/", get(ok)).at("/healthz", get(same_bytes)).at("/v1/auth/verify", get(verify_bytes));
    Server::new(TcpListener::bind(bind)).run(routes).await
}

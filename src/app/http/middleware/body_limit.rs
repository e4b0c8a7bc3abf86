//! The 16 KiB limit on request bodies, whether or not they declare a
//! length: a `413 payload_too_large` before anything reads the body, the
//! rate limiter included.

use crate::app::http::errors::ProblemCode;
use crate::app::http::problem::Problem;
use poem::http::header::{self, HeaderValue};
use poem::http::{Method, StatusCode};
use poem::{Body, Endpoint, Middleware, Request, Response};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Refuses bodies over [`MAX_BODY_BYTES`].
pub struct BodyLimit;

impl<E: Endpoint<Output = Response>> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint { inner }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
}

impl<E: Endpoint<Output = Response>> Endpoint for BodyLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        match limit_body(&mut req).await {
            Ok(()) => self.inner.call(req).await,
            Err(problem) => Ok(problem.into_response()),
        }
    }
}

fn too_large() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ProblemCode::PayloadTooLarge,
        format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
    )
}

async fn limit_body(req: &mut Request) -> Result<(), Problem> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let empty = match declared {
        Some(length) if length > MAX_BODY_BYTES as u64 => return Err(too_large()),
        Some(length) => length == 0,
        None => {
            let body = req.take_body();
            // A request that declares no length and carries no body at all
            // (most GETs) has nothing to read: hyper says so exactly.
            if body.is_empty() {
                req.set_body(body);
                true
            } else {
                read_within_limit(req, body).await?
            }
        }
    };
    // An absent body is an absent JSON document: optional bodies (logout)
    // then parse as none, and required ones fail as malformed, not as 415.
    // No `GET` or `HEAD` operation takes a body, so theirs are left alone.
    let bodiless = matches!(*req.method(), Method::GET | Method::HEAD);
    if empty && !bodiless && req.headers().get(header::CONTENT_TYPE).is_none() {
        req.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    Ok(())
}

/// Reads a body of undeclared length, refusing it past the limit, and puts
/// it back; whether it was empty.
async fn read_within_limit(req: &mut Request, body: Body) -> Result<bool, Problem> {
    match body.into_bytes_limit(MAX_BODY_BYTES).await {
        Ok(bytes) => {
            let empty = bytes.is_empty();
            req.set_body(Body::from(bytes));
            Ok(empty)
        }
        Err(poem::error::ReadBodyError::PayloadTooLarge) => Err(too_large()),
        Err(_) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::ValidationFailed,
            "the request body could not be read",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::endpoint::make_sync;
    use poem::EndpointExt;

    fn echo_content_type() -> impl Endpoint<Output = Response> {
        make_sync(|req: Request| req.content_type().unwrap_or("none").to_owned()).map_to_response().with(BodyLimit)
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_with_or_without_a_length() {
        let declared = Request::builder().header("content-length", "16385").body(vec![b'x'; 16_385]);
        assert_eq!(echo_content_type().call(declared).await.unwrap().status(), StatusCode::PAYLOAD_TOO_LARGE);
        let undeclared =
            Request::builder().body(Body::from_bytes_stream(futures_util::stream::iter([Ok::<_, std::io::Error>(
                vec![b'x'; 16_385],
            )])));
        assert_eq!(echo_content_type().call(undeclared).await.unwrap().status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn an_empty_body_reads_as_absent_json() {
        for method in [Method::POST, Method::DELETE] {
            let response = echo_content_type().call(Request::builder().method(method).finish()).await.unwrap();
            assert_eq!(response.into_body().into_string().await.unwrap(), "application/json");
        }
        // No `GET` takes a body: nothing is added to it.
        let response = echo_content_type().call(Request::builder().finish()).await.unwrap();
        assert_eq!(response.into_body().into_string().await.unwrap(), "none");
    }
}

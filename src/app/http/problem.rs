//! RFC 9457 problem details: every error the service returns, the
//! framework's own included, has this one shape.
//!
//! [`Problem`] is the common currency: domain errors convert into it, and
//! each endpoint's error type (see [`super::errors`]) converts from it.

use super::errors::ProblemCode;
use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::Object;
use std::time::Duration;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

pub use super::scope::current_request_id;

/// One field that failed validation.
#[derive(Object, Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The request field, e.g. `email`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// An RFC 9457 problem document.
#[derive(Object, Clone, Debug)]
#[oai(rename = "Problem")]
pub struct ProblemBody {
    /// A URI reference naming the problem type: `/problems/<code>`.
    #[oai(rename = "type")]
    pub kind: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// A stable snake_case code, e.g. `invalid_credentials`.
    pub code: String,
    /// The request's id, as in the `X-Request-ID` header.
    pub request_id: String,
    /// For validation errors: the fields at fault. Absent on other errors.
    #[oai(skip_serializing_if_is_empty, default)]
    pub errors: Vec<FieldError>,
    /// With `mfa_required` only: the token to send to `POST /v1/auth/mfa`
    /// with a code.
    #[oai(skip_serializing_if_is_none)]
    pub mfa_token: Option<String>,
}

/// An error on its way to becoming a response.
#[derive(Clone, Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub code: ProblemCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub retry_after: Option<Duration>,
    pub mfa_token: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, code: ProblemCode, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into(), errors: Vec::new(), retry_after: None, mfa_token: None }
    }

    pub fn field(mut self, field: &str, message: impl Into<String>) -> Self {
        self.errors.push(FieldError { field: field.to_owned(), message: message.into() });
        self
    }

    pub fn retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    pub fn mfa_token(mut self, token: &str) -> Self {
        self.mfa_token = Some(token.to_owned());
        self
    }

    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, ProblemCode::ValidationFailed, format!("{field}: {message}"))
            .field(field, message)
    }

    pub fn invalid_token(detail: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ProblemCode::InvalidToken, detail)
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, ProblemCode::Forbidden, "this operation needs the admin role")
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ProblemCode::NotFound, detail)
    }

    pub fn rate_limited(retry_after: Duration) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, ProblemCode::RateLimited, "too many requests; retry later")
            .retry_after(retry_after)
    }

    pub fn unavailable(retry_after: Duration) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ProblemCode::ServiceUnavailable,
            "the service is temporarily unavailable; retry later",
        )
        .retry_after(retry_after)
    }

    /// An opaque 500. The cause belongs in the log, never in the body.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, ProblemCode::Internal, "an unexpected error occurred")
    }

    /// Seconds for `Retry-After`, rounded up, at least 1.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        self.retry_after.map(|wait| wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).map(|s| s.max(1))
    }

    pub fn title(&self) -> String {
        self.status.canonical_reason().unwrap_or("Error").to_owned()
    }

    pub fn body(&self) -> Json<ProblemBody> {
        Json(ProblemBody {
            kind: format!("/problems/{}", self.code),
            title: self.title(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.as_str().to_owned(),
            request_id: current_request_id(),
            errors: self.errors.clone(),
            mfa_token: self.mfa_token.clone(),
        })
    }

    /// The problem as a plain poem response, for middleware and fallbacks.
    pub fn into_response(self) -> poem::Response {
        let body = serde_json::to_vec(&poem_openapi::types::ToJSON::to_json(&self.body().0)).unwrap_or_default();
        let mut builder = poem::Response::builder().status(self.status).content_type(PROBLEM_CONTENT_TYPE);
        if let Some(seconds) = self.retry_after_seconds() {
            builder = builder.header("Retry-After", seconds.to_string());
        }
        builder.body(body)
    }
}

impl From<Problem> for poem::Error {
    fn from(problem: Problem) -> Self {
        poem::Error::from_response(problem.into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::http::scope::{RequestIdText, RequestScope};
    use std::net::{IpAddr, Ipv4Addr};

    #[tokio::test]
    async fn problems_carry_the_request_id_and_round_retry_after_up() {
        let problem = Problem::rate_limited(Duration::from_millis(1_200));
        assert_eq!(problem.retry_after_seconds(), Some(2));
        let scope = |id| RequestScope::new(RequestIdText::new(id).unwrap(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        let body = scope("req-1").run(async { problem.body() }).await;
        assert_eq!(body.request_id, "req-1");
        assert_eq!(body.kind, "/problems/rate_limited");
        assert_eq!(body.status, 429);
        let response = scope("req-2").run(async { Problem::internal().into_response() }).await;
        assert_eq!(response.content_type(), Some(PROBLEM_CONTENT_TYPE));
    }
}

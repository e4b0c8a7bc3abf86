//! Every error as RFC 9457 problem+json, the framework's own included:
//! unknown routes, wrong methods, unparsable bodies and parameters, missing
//! credentials. The innermost layer, so the layers around it only ever see
//! responses. Must never add detail to a `5xx`.

use crate::app::http::errors::ProblemCode;
use crate::app::http::problem::{Problem, PROBLEM_CONTENT_TYPE};
use poem::error::{MethodNotAllowedError, NotFoundError};
use poem::http::StatusCode;
use poem::{Endpoint, Middleware, PathPattern, Request, Response};
use poem_openapi::error::{AuthorizationError, ContentTypeError, ParseParamError, ParseRequestPayloadError};
use poem_openapi::OperationId;

/// Turns errors and bodiless error responses into problems.
pub struct Problems;

impl<E: Endpoint<Output = Response>> Middleware<E> for Problems {
    type Output = ProblemsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ProblemsEndpoint { inner }
    }
}

pub struct ProblemsEndpoint<E> {
    inner: E,
}

impl<E: Endpoint<Output = Response>> Endpoint for ProblemsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let response = match self.inner.call(req).await {
            Ok(response) => response,
            Err(error) => error_response(error),
        };
        Ok(ensure_problem(response))
    }
}

/// Keeps what names the route (for metric labels) on a replaced response.
fn keep_route(from_pattern: Option<PathPattern>, operation: Option<OperationId>, response: &mut Response) {
    if let Some(pattern) = from_pattern {
        response.set_data(pattern);
    }
    if let Some(operation) = operation {
        response.set_data(operation);
    }
}

/// Turns a framework or handler error into a problem response.
fn error_response(error: poem::Error) -> Response {
    let pattern = error.data::<PathPattern>().cloned();
    let operation = error.data::<OperationId>().copied();
    if error.is_from_response() {
        let mut response = error.into_response();
        keep_route(None, operation, &mut response);
        return response;
    }
    let problem = if error.is::<NotFoundError>() {
        Problem::not_found("no such route")
    } else if error.is::<MethodNotAllowedError>() {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ProblemCode::MethodNotAllowed,
            "this route does not accept that method",
        )
    } else if error.is::<AuthorizationError>() {
        Problem::invalid_token("a bearer access token is required")
    } else if let Some(parse) = error.downcast_ref::<ParseRequestPayloadError>() {
        if let Some(field) = unknown_field(&parse.reason) {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, ProblemCode::ValidationFailed, parse.reason.clone())
                .field(field, "unknown field")
        } else {
            Problem::new(
                StatusCode::BAD_REQUEST,
                ProblemCode::ValidationFailed,
                format!("malformed request body: {}", parse.reason),
            )
        }
    } else if let Some(param) = error.downcast_ref::<ParseParamError>() {
        Problem::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::ValidationFailed,
            format!("{}: {}", param.name, param.reason),
        )
        .field(param.name, param.reason.clone())
    } else if error.is::<ContentTypeError>() {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemCode::UnsupportedMediaType,
            "send the body as application/json",
        )
    } else if error.status().is_server_error() {
        tracing::error!(error = %error, "unhandled server error");
        Problem::internal()
    } else {
        Problem::new(error.status(), ProblemCode::ValidationFailed, error.to_string())
    };
    let mut response = problem.into_response();
    keep_route(pattern, operation, &mut response);
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
    if status.as_u16() < 400 {
        return response;
    }
    // Documented JSON error bodies (such as `/readyz`'s 503) stay as they are.
    let documented = response.content_type().is_some_and(|content_type| {
        content_type.starts_with(PROBLEM_CONTENT_TYPE) || content_type.starts_with("application/json")
    });
    if documented {
        return response;
    }
    let pattern = response.data::<PathPattern>().cloned();
    let operation = response.data::<OperationId>().copied();
    let problem = match status {
        StatusCode::NOT_FOUND => Problem::not_found("no such route"),
        status if status.is_server_error() => Problem::internal(),
        status => {
            Problem::new(status, ProblemCode::ValidationFailed, status.canonical_reason().unwrap_or("bad request"))
        }
    };
    let mut replaced = problem.into_response();
    keep_route(pattern, operation, &mut replaced);
    replaced
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::endpoint::make_sync;
    use poem::EndpointExt;

    #[test]
    fn the_unknown_field_is_read_from_the_parser_message() {
        assert_eq!(unknown_field("failed to parse: unknown field `extra`."), Some("extra"));
        assert_eq!(unknown_field("expected a string"), None);
    }

    #[tokio::test]
    async fn framework_errors_and_bare_statuses_become_problems() {
        let missing = make_sync(|_| Err::<Response, poem::Error>(NotFoundError.into())).with(Problems);
        let response = missing.call(Request::default()).await.unwrap();
        assert_eq!((response.status(), response.content_type()), (StatusCode::NOT_FOUND, Some(PROBLEM_CONTENT_TYPE)));
        let teapot = make_sync(|_| StatusCode::IM_A_TEAPOT).map_to_response().with(Problems);
        let body = teapot.call(Request::default()).await.unwrap().into_body().into_string().await.unwrap();
        assert!(body.contains("\"code\":\"validation_failed\""), "{body}");
        let crashed = make_sync(|_| StatusCode::BAD_GATEWAY).map_to_response().with(Problems);
        let body = crashed.call(Request::default()).await.unwrap().into_body().into_string().await.unwrap();
        assert!(body.contains("\"code\":\"internal\""), "{body}");
    }
}

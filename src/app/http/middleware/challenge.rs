//! The RFC 6750 challenge: every `401` carries `WWW-Authenticate: Bearer`,
//! with `error="invalid_token"` when the request presented a bearer token,
//! so a client knows whether to sign in or to get a fresh token. A
//! challenge a handler set itself (the admin check's `insufficient_scope`)
//! is kept. Must never say why a token failed beyond that code.

use poem::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use poem::http::{HeaderValue, StatusCode};
use poem::{Endpoint, Middleware, Request, Response};

/// `WWW-Authenticate` of a `403` for a caller whose token lacks the role.
pub const INSUFFICIENT_SCOPE: &str = "Bearer error=\"insufficient_scope\"";

/// Adds the bearer challenge to every `401`.
pub struct Challenge;

impl<E: Endpoint<Output = Response>> Middleware<E> for Challenge {
    type Output = ChallengeEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ChallengeEndpoint { inner }
    }
}

pub struct ChallengeEndpoint<E> {
    inner: E,
}

impl<E: Endpoint<Output = Response>> Endpoint for ChallengeEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let presented = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.get(..7))
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer "));
        let mut response = self.inner.call(req).await?;
        if response.status() == StatusCode::UNAUTHORIZED && !response.headers().contains_key(WWW_AUTHENTICATE) {
            let challenge = if presented { "Bearer error=\"invalid_token\"" } else { "Bearer" };
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::endpoint::make_sync;
    use poem::EndpointExt;

    async fn challenge_for(status: StatusCode, authorization: Option<&str>) -> Option<String> {
        let endpoint = make_sync(move |_| status).map_to_response().with(Challenge);
        let mut request = Request::builder();
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        let response = endpoint.call(request.finish()).await.unwrap();
        response.headers().get(WWW_AUTHENTICATE).map(|value| value.to_str().unwrap().to_owned())
    }

    #[tokio::test]
    async fn a_401_challenges_and_names_a_presented_token_invalid() {
        assert_eq!(challenge_for(StatusCode::UNAUTHORIZED, None).await.as_deref(), Some("Bearer"));
        assert_eq!(challenge_for(StatusCode::UNAUTHORIZED, Some("Basic eDp5")).await.as_deref(), Some("Bearer"));
        let presented = challenge_for(StatusCode::UNAUTHORIZED, Some("bearer abc")).await;
        assert_eq!(presented.as_deref(), Some("Bearer error=\"invalid_token\""));
        assert_eq!(challenge_for(StatusCode::OK, Some("Bearer abc")).await, None);
    }
}

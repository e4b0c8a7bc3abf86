//! The two routes called on nearly every request of every app behind the
//! service, `GET /healthz` (probes) and `GET /v1/auth/verify` (gateways),
//! answered beside the poem-openapi router instead of through it. The
//! router splits the request, parses its query, clones the API object and
//! boxes a future per call; these two read nothing of that.
//!
//! Most of these requests never get here: [`super::lane`] answers them in
//! front of the middleware. It passes on those whose answers the
//! middleware shapes (an `Origin` under CORS, a body), and those reach
//! this endpoint, inside the middleware.
//!
//! Only the router is skipped: the middleware around it (client address, request id,
//! metrics, CORS, security headers, challenge, body limit, rate limit,
//! problems) is the same for every route. Each answer is the operation's
//! own: built by the same response types (or, for the `200` of verify, the
//! same headers written directly), named by the same operation id for the
//! metric labels ([`scope::name_operation`]). Whatever is not a plain success
//! (no bearer token, a refused one, `HEAD`) goes to the router, which
//! answers as it always did; so does `/v1/auth/verify` when no rate-limit
//! layer is around it. `tests/api/fast_path.rs` holds each answer equal to
//! the router's.

use super::middleware::rate_limit;
use super::ops::{HealthBody, HealthResponse};
use super::problem::Problem;
use super::scope;
use super::state::AppState;
use crate::core::token::Principal;
use poem::http::Method;
use poem::web::headers::authorization::Bearer;
use poem::web::headers::{Authorization, HeaderMapExt};
use poem::{Endpoint, IntoResponse, Request, Response};
use std::sync::Arc;

/// The operations, with `/healthz` and `/v1/auth/verify` answered first.
pub struct FastRoutes<O> {
    state: Arc<AppState>,
    operations: O,
    enabled: bool,
}

impl<O> FastRoutes<O> {
    /// `enabled: false` sends everything to the router, for the tests that
    /// compare the two answers.
    pub fn new(state: Arc<AppState>, operations: O, enabled: bool) -> Self {
        Self { state, operations, enabled }
    }

    /// `GET /healthz`, as the `healthz` operation answers it.
    fn healthz(&self) -> Response {
        scope::name_operation("healthz");
        HealthResponse::Ok(HealthBody::new(self.state.readiness.fallback)).into_response()
    }

    /// `GET /v1/auth/verify` for a token that verifies, as the `verify`
    /// operation answers it behind its declared `api` limit; `None` (and
    /// nothing spent) for anything else.
    async fn verify(&self, req: &Request) -> Option<Response> {
        if !rate_limit::in_layer(req) {
            return None;
        }
        let bearer = req.headers().typed_get::<Authorization<Bearer>>()?;
        let principal = self.state.auth.authenticate(bearer.token()).ok()?;
        let decision = rate_limit::spend_for_user(req, principal.user_id).await?;
        scope::name_operation("verify");
        Some(if decision.allowed {
            verified(&principal)
        } else {
            Problem::rate_limited(decision.retry_after).into_response()
        })
    }
}

/// The `200` of `verify` ([`super::wire::VerifyOk`]).
fn verified(principal: &Principal) -> Response {
    let mut response = Response::default();
    super::lane::add_principal(response.headers_mut(), principal);
    response
}

impl<O: Endpoint<Output = Response>> Endpoint for FastRoutes<O> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if self.enabled && req.method() == Method::GET {
            match req.uri().path() {
                "/healthz" => return Ok(self.healthz()),
                "/v1/auth/verify" => {
                    if let Some(response) = self.verify(&req).await {
                        return Ok(response);
                    }
                }
                _ => {}
            }
        }
        self.operations.call(req).await
    }
}

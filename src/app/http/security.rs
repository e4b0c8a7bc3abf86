//! Who may call an operation, as a parameter of the operation: a handler
//! that takes [`BearerAuth`] or [`AdminAuth`] cannot run for a caller the
//! scheme refused, and cannot forget to ask.
//!
//! Both schemes are the same `BearerAuth` entry of the OpenAPI document (same
//! name, type, format and description): the role is the service's business,
//! not the client's. This module must never load a user from storage: a
//! token is judged by its signature, claims and the revocation list alone.

use super::middleware::challenge::INSUFFICIENT_SCOPE;
use super::middleware::VerifiedBearer;
use super::problem::Problem;
use super::state::AppState;
use crate::core::token::Principal;
use crate::core::user::Role;
use poem::http::header::WWW_AUTHENTICATE;
use poem::http::HeaderValue;
use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::SecurityScheme;
use std::sync::Arc;

/// An HS256 JWT access token, sent as `Authorization: Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(rename = "BearerAuth", ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Principal);

/// An HS256 JWT access token, sent as `Authorization: Bearer <token>`.
// Registers as the same scheme as `BearerAuth`; its checker also requires
// the admin role, so a non-admin hears `403 forbidden` with the RFC 6750
// `insufficient_scope` challenge.
#[derive(SecurityScheme)]
#[oai(rename = "BearerAuth", ty = "bearer", bearer_format = "JWT", checker = "check_admin")]
pub struct AdminAuth(pub Principal);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    verify(req, &bearer.token).map_err(poem::Error::from)
}

async fn check_admin(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let principal = verify(req, &bearer.token)?;
    require_admin(principal.role).map_err(|problem| {
        let mut response = problem.into_response();
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(INSUFFICIENT_SCOPE));
        poem::Error::from_response(response)
    })?;
    Ok(principal)
}

/// The verdict on `token`: the one the rate limiter already reached for
/// this request when it has one, so a token is verified once per request.
fn verify(req: &Request, token: &str) -> Result<Principal, Problem> {
    let verdict = match req.extensions().get::<VerifiedBearer>() {
        Some(checked) if checked.token == token => checked.verdict.clone(),
        _ => {
            let state = req.data::<Arc<AppState>>().ok_or_else(Problem::internal)?;
            state.auth.authenticate(token)
        }
    };
    verdict.map_err(Problem::from)
}

fn require_admin(role: Role) -> Result<(), Problem> {
    if role == Role::Admin {
        Ok(())
    } else {
        Err(Problem::forbidden())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::http::errors::ProblemCode;
    use poem::http::StatusCode;

    #[test]
    fn only_admins_pass_the_admin_check() {
        assert!(require_admin(Role::Admin).is_ok());
        let refused = require_admin(Role::User).unwrap_err();
        assert_eq!((refused.status, refused.code), (StatusCode::FORBIDDEN, ProblemCode::Forbidden));
    }
}

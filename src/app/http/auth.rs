//! The `Auth` API: registration, sign-in, token refresh and sign-out, with
//! what each of their domain errors means on the wire.
//!
//! Register, login and refresh declare the `auth` rate-limit bucket (per
//! client network, before the body is read); the bearer routes the `api`
//! one. Handlers hold no rules: they convert wire types and call the core.

use super::errors::{
    BearerBodyErrors, BearerErrors, LoginErrors, ProblemCode, RefreshErrors, RegisterErrors, VerifyErrors,
};
use super::middleware::rate_limit::{api_bucket, auth_bucket};
use super::params::OptionalJson;
use super::problem::Problem;
use super::security::BearerAuth;
use super::state::AppState;
use super::wire::{
    Credentials, LoginRequest, LogoutRequest, NoContent, RefreshRequest, RegisterOk, TokensOk, VerifyOk,
};
use super::{ApiTags, ClientIp};
use crate::core::auth::{LoginError, LogoutError, RefreshError, RegisterError};
use crate::core::password::PasswordError;
use poem::http::StatusCode;
use poem::web::Data;
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;
use std::sync::Arc;

/// A refused password, named by the request field that carried it.
pub fn weak_password(field: &str, error: &PasswordError) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, ProblemCode::WeakPassword, format!("{field}: {error}"))
        .field(field, error.to_string())
}

impl From<RegisterError> for Problem {
    fn from(error: RegisterError) -> Self {
        match error {
            RegisterError::InvalidEmail(error) => Problem::validation("email", error.to_string()),
            RegisterError::WeakPassword(error) => weak_password("password", &error),
            RegisterError::EmailTaken => {
                Problem::new(StatusCode::CONFLICT, ProblemCode::EmailTaken, "this email address is already registered")
            }
            RegisterError::Closed => Problem::new(
                StatusCode::FORBIDDEN,
                ProblemCode::RegistrationClosed,
                "registration is closed: an administrator creates accounts",
            ),
            RegisterError::Failure(failure) => failure.into(),
        }
    }
}

impl From<LoginError> for Problem {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidEmail(error) => Problem::validation("email", error.to_string()),
            // A login that lost a race with a cut-off looks like any other
            // refused one.
            LoginError::InvalidCredentials | LoginError::CutOff => {
                Problem::new(StatusCode::UNAUTHORIZED, ProblemCode::InvalidCredentials, "invalid email or password")
            }
            LoginError::Locked { retry_after } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                ProblemCode::RateLimited,
                "too many failed logins; this account is locked from this address for a while",
            )
            .retry_after(retry_after),
            LoginError::MfaRequired { mfa_token } => super::mfa::mfa_required(&mfa_token),
            LoginError::EmailNotVerified => Problem::new(
                StatusCode::FORBIDDEN,
                ProblemCode::EmailNotVerified,
                "this account's e-mail address is not verified yet: follow the link mailed to it, \
                 or ask for a new one at /v1/auth/verify-email/resend",
            ),
            LoginError::Failure(failure) => failure.into(),
        }
    }
}

impl From<RefreshError> for Problem {
    fn from(error: RefreshError) -> Self {
        match error {
            RefreshError::Invalid => Problem::invalid_token("the refresh token is invalid"),
            RefreshError::Expired => {
                Problem::new(StatusCode::UNAUTHORIZED, ProblemCode::TokenExpired, "the refresh token has expired")
            }
            RefreshError::Revoked => {
                Problem::new(StatusCode::UNAUTHORIZED, ProblemCode::TokenRevoked, "the refresh token has been revoked")
            }
            RefreshError::Failure(failure) => failure.into(),
        }
    }
}

impl From<LogoutError> for Problem {
    fn from(error: LogoutError) -> Self {
        match error {
            LogoutError::MalformedRefreshToken => {
                Problem::validation("refresh_token", "is not a refresh token issued by this service")
            }
            LogoutError::Failure(failure) => failure.into(),
        }
    }
}

pub struct AuthApi;

#[OpenApi(prefix_path = "/v1/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Register a new account
    ///
    /// Creates an account with the `user` role. When the service runs with
    /// `PORTCULLIS_REGISTRATION=closed`, answers `403 registration_closed`:
    /// an administrator creates accounts (`POST /v1/admin/users`).
    #[oai(path = "/register", method = "post", operation_id = "register", transform = "auth_bucket")]
    async fn register(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<Credentials>,
        client_ip: Data<&ClientIp>,
    ) -> Result<RegisterOk, RegisterErrors> {
        let Credentials { email, password } = body.0;
        let user = state.auth.register(&email.0, password.0, &client_ip.0.origin()).await?;
        Ok(RegisterOk::Created(Json(user.into())))
    }

    /// Sign in
    ///
    /// Exchanges e-mail and password for an access token and a refresh token.
    /// For an account with TOTP on, a right password answers `401
    /// mfa_required` with an `mfa_token` instead: complete the sign-in
    /// with `POST /v1/auth/mfa`.
    #[oai(path = "/login", method = "post", operation_id = "login", transform = "auth_bucket")]
    async fn login(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<LoginRequest>,
        client_ip: Data<&ClientIp>,
        request: &Request,
    ) -> Result<TokensOk, LoginErrors> {
        let LoginRequest { email, password, device_token } = body.0;
        let device_token = device_token.as_ref().map(|token| token.0.as_str());
        let origin = client_ip.0.origin_with_agent(request);
        let pair = state.auth.login_from_device(&email.0, password.0, &origin, device_token).await?;
        Ok(TokensOk::Ok(Json(pair.into())))
    }

    /// Refresh the tokens
    ///
    /// Rotates the refresh token and issues a new access token. Presenting a
    /// rotated token again after the grace window revokes the session.
    #[oai(path = "/refresh", method = "post", operation_id = "refresh", transform = "auth_bucket")]
    async fn refresh(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<RefreshRequest>,
        client_ip: Data<&ClientIp>,
        request: &Request,
    ) -> Result<TokensOk, RefreshErrors> {
        let origin = client_ip.0.origin_with_agent(request);
        let pair = state.auth.refresh(&body.0.refresh_token.0, &origin).await?;
        Ok(TokensOk::Ok(Json(pair.into())))
    }

    /// Sign out
    ///
    /// Revokes this session and this access token; with a refresh token,
    /// that token's session too.
    #[oai(path = "/logout", method = "post", operation_id = "logout", transform = "api_bucket")]
    async fn logout(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: OptionalJson<LogoutRequest>,
        client_ip: Data<&ClientIp>,
    ) -> Result<NoContent, BearerBodyErrors> {
        let refresh_token = body.0.and_then(|request| request.refresh_token);
        let refresh_token = refresh_token.as_ref().map(|token| token.0.as_str());
        state.auth.logout(&auth.0, refresh_token, &client_ip.0.origin()).await?;
        Ok(NoContent::Done)
    }

    /// Sign out everywhere
    ///
    /// Revokes every session and access token of the caller.
    #[oai(path = "/logout-all", method = "post", operation_id = "logoutAll", transform = "api_bucket")]
    async fn logout_all(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        client_ip: Data<&ClientIp>,
    ) -> Result<NoContent, BearerErrors> {
        state.auth.logout_all(&auth.0, &client_ip.0.origin()).await?;
        Ok(NoContent::Done)
    }

    /// Check a bearer token
    ///
    /// For gateway forward-auth (nginx `auth_request`, Traefik ForwardAuth):
    /// 200 with `X-User-Id` and `X-User-Role` when the token is valid.
    /// Needs no database round trip.
    #[oai(path = "/verify", method = "get", operation_id = "verify", transform = "api_bucket")]
    async fn verify(&self, auth: BearerAuth) -> Result<VerifyOk, VerifyErrors> {
        Ok(VerifyOk::Valid(auth.0.user_id.to_string(), auth.0.role.as_str().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::auth::ServiceFailure;
    use std::time::Duration;

    #[test]
    fn each_register_error_has_one_status_and_code() {
        let taken = Problem::from(RegisterError::EmailTaken);
        assert_eq!((taken.status, taken.code), (StatusCode::CONFLICT, ProblemCode::EmailTaken));
        let busy = Problem::from(RegisterError::Failure(ServiceFailure::Busy { retry_after: Duration::from_secs(2) }));
        assert_eq!((busy.status, busy.retry_after_seconds()), (StatusCode::SERVICE_UNAVAILABLE, Some(2)));
    }

    #[test]
    fn a_lockout_is_rate_limited_with_its_wait() {
        let locked = Problem::from(LoginError::Locked { retry_after: Duration::from_secs(90) });
        assert_eq!((locked.status, locked.code), (StatusCode::TOO_MANY_REQUESTS, ProblemCode::RateLimited));
        assert_eq!(locked.retry_after_seconds(), Some(90));
        let wrong = Problem::from(LoginError::InvalidCredentials);
        assert_eq!((wrong.status, wrong.detail.as_str()), (StatusCode::UNAUTHORIZED, "invalid email or password"));
    }

    #[test]
    fn refresh_and_logout_errors_name_what_is_wrong() {
        assert_eq!(Problem::from(RefreshError::Invalid).code, ProblemCode::InvalidToken);
        assert_eq!(Problem::from(RefreshError::Expired).code, ProblemCode::TokenExpired);
        assert_eq!(Problem::from(RefreshError::Revoked).code, ProblemCode::TokenRevoked);
        let malformed = Problem::from(LogoutError::MalformedRefreshToken);
        assert_eq!(
            (malformed.status, malformed.errors[0].field.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "refresh_token")
        );
    }
}

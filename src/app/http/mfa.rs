//! The TOTP second factor on the wire: enrolment, confirmation and
//! disabling for the signed-in user, the sign-in step that redeems an
//! `mfa_token`, and an admin's reset; with what their domain errors mean.
//!
//! Enrolment and confirmation declare the `api` bucket; the routes that
//! judge a code a guesser could try (sign-in and disabling) the `auth` one,
//! on top of the failed-login lockout they count towards.

use super::errors::{AdminUserErrors, MfaErrors, MfaLoginErrors, ProblemCode};
use super::middleware::rate_limit::{api_bucket, auth_bucket};
use super::problem::Problem;
use super::security::{AdminAuth, BearerAuth};
use super::state::AppState;
use super::text::Text;
use super::wire::{NoContent, TokensOk};
use super::{ApiTags, ClientIp};
use crate::core::admin::AdminError;
use crate::core::auth::{LoginError, MfaError, MfaLoginError};
use crate::core::mfa::SecondFactor;
use crate::core::user::UserId;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use secrecy::ExposeSecret as _;
use std::sync::Arc;
use uuid::Uuid;

impl From<MfaError> for Problem {
    fn from(error: MfaError) -> Self {
        match error {
            MfaError::Unavailable => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ProblemCode::MfaUnavailable,
                "no PORTCULLIS_MFA_KEY is configured, so second factors cannot be stored",
            ),
            MfaError::AlreadyEnabled => {
                Problem::new(StatusCode::CONFLICT, ProblemCode::MfaAlreadyEnabled, "TOTP is already enabled")
            }
            MfaError::NotEnabled => {
                Problem::new(StatusCode::CONFLICT, ProblemCode::MfaNotEnabled, "TOTP is not enabled or enrolled")
            }
            MfaError::InvalidCode => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, ProblemCode::InvalidMfaCode, "the code is wrong or used")
                    .field("code", "wrong, expired or already used")
            }
            MfaError::Locked { retry_after } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                ProblemCode::RateLimited,
                "too many failed attempts; this account is locked from this address for a while",
            )
            .retry_after(retry_after),
            MfaError::UserGone => {
                Problem::new(StatusCode::UNAUTHORIZED, ProblemCode::TokenRevoked, "the user no longer exists")
            }
            MfaError::Failure(failure) => failure.into(),
        }
    }
}

impl From<MfaLoginError> for Problem {
    fn from(error: MfaLoginError) -> Self {
        match error {
            MfaLoginError::InvalidToken => Problem::invalid_token(
                "the mfa_token is unknown, expired, used, or from another network; sign in again",
            ),
            MfaLoginError::InvalidCode => {
                Problem::new(StatusCode::UNAUTHORIZED, ProblemCode::InvalidMfaCode, "the code is wrong or used")
            }
            MfaLoginError::Locked { retry_after } => Problem::from(LoginError::Locked { retry_after }),
            MfaLoginError::Failure(failure) => failure.into(),
        }
    }
}

/// A new TOTP secret, pending until a code confirms it.
#[derive(Object, Debug)]
#[oai(rename = "TotpEnrolment")]
pub struct TotpEnrolmentView {
    /// The secret in base32 (RFC 4648, unpadded), for typing into an app.
    pub secret: String,
    /// `otpauth://totp/…` with issuer, account, SHA1, 6 digits, 30 s: for a QR code.
    pub otpauth_uri: String,
}

/// The recovery codes: shown this once, each usable once instead of a code.
#[derive(Object, Debug)]
#[oai(rename = "RecoveryCodes")]
pub struct RecoveryCodesView {
    pub recovery_codes: Vec<String>,
}

/// A code from the authenticator app.
#[derive(Object)]
#[oai(deny_unknown_fields, example)]
pub struct TotpCode {
    /// Six digits.
    pub code: Text,
}

impl Example for TotpCode {
    fn example() -> Self {
        Self { code: "492039".into() }
    }
}

/// A current code, or one unused recovery code: exactly one of them
/// (`null` is the same as leaving the field out).
#[derive(Object)]
#[oai(deny_unknown_fields, example)]
pub struct SecondFactorProof {
    /// Six digits from the authenticator app.
    #[oai(nullable, skip_serializing_if_is_none)]
    pub code: Option<Text>,
    /// One of the recovery codes returned at confirmation.
    #[oai(nullable, skip_serializing_if_is_none)]
    pub recovery_code: Option<Text>,
}

impl Example for SecondFactorProof {
    fn example() -> Self {
        Self { code: Some("492039".into()), recovery_code: None }
    }
}

/// The `mfa_token` a login answered with, and the second factor.
#[derive(Object)]
#[oai(deny_unknown_fields, example)]
pub struct MfaLoginRequest {
    pub mfa_token: Text,
    /// Six digits from the authenticator app; or give `recovery_code`.
    #[oai(nullable, skip_serializing_if_is_none)]
    pub code: Option<Text>,
    /// One of the recovery codes; each works once.
    #[oai(nullable, skip_serializing_if_is_none)]
    pub recovery_code: Option<Text>,
}

impl Example for MfaLoginRequest {
    fn example() -> Self {
        Self {
            mfa_token: "q4Zs0dVhYkq1a9W9o1p3m8Gd2bJx7nXyT6cRfLuE2sA".into(),
            code: Some("492039".into()),
            recovery_code: None,
        }
    }
}

/// Exactly one of a code and a recovery code.
fn proof<'a>(code: Option<&'a Text>, recovery_code: Option<&'a Text>) -> Result<SecondFactor<'a>, Problem> {
    match (code, recovery_code) {
        (Some(code), None) => Ok(SecondFactor::Code(&code.0)),
        (None, Some(recovery)) => Ok(SecondFactor::RecoveryCode(&recovery.0)),
        _ => Err(Problem::validation("code", "give exactly one of `code` and `recovery_code`")),
    }
}

#[derive(ApiResponse)]
pub enum EnrolmentOk {
    /// The pending enrolment: add it to an app, then confirm with a code.
    #[oai(status = 201)]
    Created(Json<TotpEnrolmentView>),
}

#[derive(ApiResponse)]
pub enum RecoveryCodesOk {
    /// TOTP is on; the recovery codes, shown this once.
    #[oai(status = 200)]
    Ok(Json<RecoveryCodesView>),
}

pub struct MfaApi;

#[OpenApi]
impl MfaApi {
    /// Start a TOTP enrolment
    ///
    /// Returns a new secret and its `otpauth://` URI. Nothing changes at
    /// sign-in until a code from the app confirms it; enrolling again
    /// before that replaces the pending secret.
    #[oai(
        path = "/v1/users/me/mfa/totp",
        method = "post",
        operation_id = "enrolTotp",
        tag = "ApiTags::Users",
        transform = "api_bucket"
    )]
    async fn enrol(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        client_ip: Data<&ClientIp>,
    ) -> Result<EnrolmentOk, MfaErrors> {
        let enrolment = state.auth.enrol_totp(&auth.0, &client_ip.0.origin()).await?;
        Ok(EnrolmentOk::Created(Json(TotpEnrolmentView {
            secret: enrolment.secret,
            otpauth_uri: enrolment.otpauth_uri,
        })))
    }

    /// Turn TOTP on
    ///
    /// Confirms the pending enrolment with a current code from the app.
    /// From now on a login answers `401 mfa_required` with an `mfa_token`
    /// for `POST /v1/auth/mfa`. Returns ten single-use recovery codes.
    #[oai(
        path = "/v1/users/me/mfa/totp/confirm",
        method = "post",
        operation_id = "confirmTotp",
        tag = "ApiTags::Users",
        transform = "api_bucket"
    )]
    async fn confirm(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: Json<TotpCode>,
        client_ip: Data<&ClientIp>,
    ) -> Result<RecoveryCodesOk, MfaErrors> {
        let codes = state.auth.confirm_totp(&auth.0, &body.0.code.0, &client_ip.0.origin()).await?;
        Ok(RecoveryCodesOk::Ok(Json(RecoveryCodesView { recovery_codes: codes })))
    }

    /// Turn TOTP off
    ///
    /// Needs a current code or an unused recovery code (the password alone
    /// never removes the second factor); failures count towards the
    /// lockout as failed logins do. A pending enrolment is dropped without one.
    #[oai(
        path = "/v1/users/me/mfa/totp",
        method = "delete",
        operation_id = "disableTotp",
        tag = "ApiTags::Users",
        transform = "auth_bucket"
    )]
    async fn disable(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: Json<SecondFactorProof>,
        client_ip: Data<&ClientIp>,
    ) -> Result<NoContent, MfaErrors> {
        let proof = proof(body.0.code.as_ref(), body.0.recovery_code.as_ref())?;
        state.auth.disable_totp(&auth.0, proof, &client_ip.0.origin()).await?;
        Ok(NoContent::Done)
    }

    /// Complete a sign-in with a second factor
    ///
    /// Takes the `mfa_token` of a login's `401 mfa_required` answer (valid
    /// five minutes, from the same client network, once) and a code or a
    /// recovery code. A wrong code counts towards the lockout as a wrong
    /// password does; a used code is refused.
    #[oai(
        path = "/v1/auth/mfa",
        method = "post",
        operation_id = "completeMfa",
        tag = "ApiTags::Auth",
        transform = "auth_bucket"
    )]
    async fn complete(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<MfaLoginRequest>,
        client_ip: Data<&ClientIp>,
    ) -> Result<TokensOk, MfaLoginErrors> {
        let MfaLoginRequest { mfa_token, code, recovery_code } = body.0;
        let proof = proof(code.as_ref(), recovery_code.as_ref())?;
        let pair = state.auth.complete_mfa(&mfa_token.0, proof, &client_ip.0.origin()).await?;
        Ok(TokensOk::Ok(Json(pair.into())))
    }

    /// Reset a user's second factor
    ///
    /// Deletes the user's TOTP enrolment and recovery codes, for a user who
    /// lost both: they sign in with the password alone and may enrol again.
    #[oai(
        path = "/v1/admin/users/:id/mfa",
        method = "delete",
        operation_id = "resetUserMfa",
        tag = "ApiTags::Admin",
        transform = "api_bucket"
    )]
    async fn reset(
        &self,
        state: Data<&Arc<AppState>>,
        admin: AdminAuth,
        id: Path<Uuid>,
        client_ip: Data<&ClientIp>,
    ) -> Result<NoContent, AdminUserErrors> {
        let origin = client_ip.0.origin().by(admin.0.user_id);
        match state.auth.reset_mfa(UserId::from_uuid(id.0), &origin).await {
            Ok(_) => Ok(NoContent::Done),
            Err(MfaError::UserGone) => Err(AdminError::NotFound.into()),
            Err(error) => Err(Problem::from(error).into()),
        }
    }
}

/// The `401 mfa_required` answer of a login: a problem carrying the token.
pub fn mfa_required(token: &secrecy::SecretString) -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        ProblemCode::MfaRequired,
        "a second factor is required: POST the mfa_token and a code to /v1/auth/mfa",
    )
    .mfa_token(token.expose_secret())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn each_mfa_error_has_one_status_and_code() {
        let cases = [
            (Problem::from(MfaError::AlreadyEnabled), StatusCode::CONFLICT, ProblemCode::MfaAlreadyEnabled),
            (Problem::from(MfaError::NotEnabled), StatusCode::CONFLICT, ProblemCode::MfaNotEnabled),
            (Problem::from(MfaError::InvalidCode), StatusCode::UNPROCESSABLE_ENTITY, ProblemCode::InvalidMfaCode),
            (Problem::from(MfaError::Unavailable), StatusCode::SERVICE_UNAVAILABLE, ProblemCode::MfaUnavailable),
            (Problem::from(MfaLoginError::InvalidToken), StatusCode::UNAUTHORIZED, ProblemCode::InvalidToken),
            (Problem::from(MfaLoginError::InvalidCode), StatusCode::UNAUTHORIZED, ProblemCode::InvalidMfaCode),
        ];
        for (problem, status, code) in cases {
            assert_eq!((problem.status, problem.code), (status, code));
        }
        let locked = Problem::from(MfaLoginError::Locked { retry_after: Duration::from_secs(60) });
        assert_eq!((locked.code, locked.retry_after_seconds()), (ProblemCode::RateLimited, Some(60)));
    }

    #[test]
    fn exactly_one_factor_is_taken() {
        let (code, recovery) = (Text::from("123456"), Text::from("ABCD-EFGH-IJKL-MNOP"));
        assert!(matches!(proof(Some(&code), None), Ok(SecondFactor::Code("123456"))));
        assert!(matches!(proof(None, Some(&recovery)), Ok(SecondFactor::RecoveryCode(_))));
        assert_eq!(proof(Some(&code), Some(&recovery)).unwrap_err().code, ProblemCode::ValidationFailed);
        assert_eq!(proof(None, None).unwrap_err().code, ProblemCode::ValidationFailed);
    }

    #[test]
    fn the_mfa_required_problem_carries_its_token() {
        let problem = mfa_required(&secrecy::SecretString::from("t0ken".to_owned()));
        assert_eq!((problem.status, problem.code), (StatusCode::UNAUTHORIZED, ProblemCode::MfaRequired));
        assert_eq!(problem.body().0.mfa_token.as_deref(), Some("t0ken"));
    }
}

//! Mailed links over HTTP: verifying an address, asking for another
//! verification mail, and resetting a forgotten password. All four routes
//! take the `auth` rate-limit bucket (per client network).
//!
//! The two routes that send a link answer `202` with one fixed body at
//! once and do the work off the request path: whether the address has an
//! account, is over its per-address budget, or the mail server is slow,
//! nothing in the answer or its timing differs.

use super::auth::weak_password;
use super::errors::{endpoint_errors, ProblemCode};
use super::middleware::rate_limit::auth_bucket;
use super::problem::Problem;
use super::state::AppState;
use super::text::{EmailText, NewPasswordText, RefreshTokenText};
use super::wire::NoContent;
use super::{ApiTags, ClientIp};
use crate::core::account_mail::MailLinkError;
use crate::core::audit::Origin;
use crate::core::auth::AuthService;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;

impl From<MailLinkError> for Problem {
    fn from(error: MailLinkError) -> Self {
        match error {
            MailLinkError::MailDisabled => Problem::new(
                StatusCode::NOT_IMPLEMENTED,
                ProblemCode::MailDisabled,
                "this service sends no mail (PORTCULLIS_MAILER is unset), so e-mail verification and \
                 password reset are not available; ask an administrator",
            ),
            MailLinkError::InvalidToken => Problem::new(
                StatusCode::BAD_REQUEST,
                ProblemCode::InvalidToken,
                "the link is invalid, has been used, or was replaced by a newer one",
            ),
            MailLinkError::Expired => Problem::new(
                StatusCode::BAD_REQUEST,
                ProblemCode::TokenExpired,
                "the link has expired; ask for a new one",
            ),
            MailLinkError::WeakPassword(error) => weak_password("new_password", &error),
            MailLinkError::Failure(failure) => failure.into(),
        }
    }
}

endpoint_errors!(LinkRequestErrors from [MailLinkError] {
    /// Malformed JSON or a wrong type.
    400 => BadRequest,
    /// Body over 16 KiB.
    413 => PayloadTooLarge,
    /// Not an e-mail address, or an unknown field (`validation_failed`).
    422 => Unprocessable,
    /// No mailer is configured (`mail_disabled`).
    501 => NotImplemented,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
});

endpoint_errors!(LinkConfirmErrors from [MailLinkError] {
    /// Malformed JSON, a wrong type, or a link that is unknown, used or
    /// replaced (`invalid_token`) or expired (`token_expired`).
    400 => BadRequest,
    /// Body over 16 KiB.
    413 => PayloadTooLarge,
    /// Weak password (`weak_password`) or unknown field (`validation_failed`).
    422 => Unprocessable,
    /// No mailer is configured (`mail_disabled`).
    501 => NotImplemented,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Password hashing saturated or storage unavailable.
    503 => Unavailable,
});

/// An address to send a link to.
#[derive(Object)]
#[oai(deny_unknown_fields, example)]
pub struct LinkRequest {
    pub email: EmailText,
}

impl Example for LinkRequest {
    fn example() -> Self {
        Self { email: "ada@example.com".into() }
    }
}

/// The token of a verification link (after `#token=`).
#[derive(Object)]
#[oai(deny_unknown_fields, example)]
pub struct VerifyEmailRequest {
    pub token: RefreshTokenText,
}

impl Example for VerifyEmailRequest {
    fn example() -> Self {
        Self { token: "q4Zs0dVhYkq1a9W9o1p3m8Gd2bJx7nXyT6cRfLuE2sA".into() }
    }
}

/// The token of a reset link (after `#token=`) and the new password.
#[derive(Object)]
#[oai(deny_unknown_fields, example)]
pub struct PasswordResetConfirm {
    pub token: RefreshTokenText,
    /// The same rules as at registration.
    pub new_password: NewPasswordText,
}

impl Example for PasswordResetConfirm {
    fn example() -> Self {
        Self {
            token: "q4Zs0dVhYkq1a9W9o1p3m8Gd2bJx7nXyT6cRfLuE2sA".into(),
            new_password: "another-Long-unusual-phrase-77".into(),
        }
    }
}

/// The one answer to a link request, whatever became of it.
#[derive(Object)]
#[oai(rename = "LinkRequested")]
pub struct LinkRequestedView {
    /// Always the same text.
    pub detail: String,
}

const LINK_REQUESTED: &str = "if the address belongs to an account, a link is on its way";

#[derive(ApiResponse)]
pub enum AcceptedOk {
    /// Taken; the same answer for every address.
    #[oai(status = 202)]
    Accepted(Json<LinkRequestedView>),
}

fn accepted() -> AcceptedOk {
    AcceptedOk::Accepted(Json(LinkRequestedView { detail: LINK_REQUESTED.to_owned() }))
}

/// Which link a request asks for.
#[derive(Clone, Copy)]
enum LinkKind {
    Verification,
    PasswordReset,
}

/// Runs a link request off the request path, if a slot is free; a dropped
/// request is answered like any other.
fn request_link(auth: &Arc<AuthService>, kind: LinkKind, email: String, origin: Origin) -> Result<(), Problem> {
    // A malformed address is refused for what it is, the same for everyone:
    // it says nothing about which addresses have accounts.
    crate::core::email::Email::parse(&email).map_err(|error| Problem::validation("email", error.to_string()))?;
    if !auth.mail_enabled() {
        return Err(MailLinkError::MailDisabled.into());
    }
    let Some(slot) = auth.begin_mail_request() else {
        tracing::warn!("too many link requests in flight; one dropped");
        return Ok(());
    };
    let auth = auth.clone();
    tokio::spawn(async move {
        let _slot = slot;
        let result = match kind {
            LinkKind::Verification => auth.resend_verification(&email, &origin).await,
            LinkKind::PasswordReset => auth.request_password_reset(&email, &origin).await,
        };
        if let Err(error) = result {
            tracing::warn!(error = %error, "a link request failed");
        }
    });
    Ok(())
}

pub struct MailApi;

#[OpenApi(prefix_path = "/v1/auth", tag = "ApiTags::Auth")]
impl MailApi {
    /// Verify an e-mail address
    ///
    /// Takes the token of the link mailed at registration (or by
    /// `/verify-email/resend`) and marks the account's address verified.
    /// Each link works once, for 24 hours; a newer one replaces it.
    #[oai(path = "/verify-email", method = "post", operation_id = "verifyEmail", transform = "auth_bucket")]
    async fn verify_email(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<VerifyEmailRequest>,
        client_ip: Data<&ClientIp>,
    ) -> Result<NoContent, LinkConfirmErrors> {
        state.auth.verify_email(&body.0.token.0, &client_ip.0.origin()).await?;
        Ok(NoContent::Done)
    }

    /// Send another verification link
    ///
    /// Always `202` with the same body: a link goes out only when the
    /// address has an active, unverified account and has not had three
    /// links in the last hour, and the answer does not say which.
    #[oai(
        path = "/verify-email/resend",
        method = "post",
        operation_id = "resendVerification",
        transform = "auth_bucket"
    )]
    async fn resend_verification(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<LinkRequest>,
        client_ip: Data<&ClientIp>,
    ) -> Result<AcceptedOk, LinkRequestErrors> {
        request_link(&state.auth, LinkKind::Verification, body.0.email.0, client_ip.0.origin())?;
        Ok(accepted())
    }

    /// Ask for a password-reset link
    ///
    /// Always `202` with the same body, in the same time, whether or not
    /// the address has an account: the lookup and the mail happen after
    /// the answer. A link works once, for 30 minutes; a newer request or
    /// any password change voids it. At most three links an hour per
    /// address.
    #[oai(path = "/password-reset", method = "post", operation_id = "requestPasswordReset", transform = "auth_bucket")]
    async fn request_password_reset(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<LinkRequest>,
        client_ip: Data<&ClientIp>,
    ) -> Result<AcceptedOk, LinkRequestErrors> {
        request_link(&state.auth, LinkKind::PasswordReset, body.0.email.0, client_ip.0.origin())?;
        Ok(accepted())
    }

    /// Set a new password with a reset link
    ///
    /// Takes the link's token and a new password (the registration rules
    /// apply; a refused password leaves the link usable). Ends every
    /// session and access token of the account, as a password change does,
    /// and marks the address verified.
    #[oai(
        path = "/password-reset/confirm",
        method = "post",
        operation_id = "confirmPasswordReset",
        transform = "auth_bucket"
    )]
    async fn confirm_password_reset(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<PasswordResetConfirm>,
        client_ip: Data<&ClientIp>,
    ) -> Result<NoContent, LinkConfirmErrors> {
        let PasswordResetConfirm { token, new_password } = body.0;
        state.auth.confirm_password_reset(&token.0, new_password.0, &client_ip.0.origin()).await?;
        Ok(NoContent::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_link_error_has_one_status_and_code() {
        let cases = [
            (MailLinkError::MailDisabled, StatusCode::NOT_IMPLEMENTED, ProblemCode::MailDisabled),
            (MailLinkError::InvalidToken, StatusCode::BAD_REQUEST, ProblemCode::InvalidToken),
            (MailLinkError::Expired, StatusCode::BAD_REQUEST, ProblemCode::TokenExpired),
        ];
        for (error, status, code) in cases {
            let problem = Problem::from(error);
            assert_eq!((problem.status, problem.code), (status, code));
        }
    }
}

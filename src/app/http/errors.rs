//! The error side of the HTTP contract: every `code` a problem can carry,
//! and each endpoint's error response type.
//!
//! Each endpoint type lists only the statuses that endpoint can return, so
//! the OpenAPI document tells the truth, and converts from the domain errors
//! of the operations it serves, so handlers read `?`. What a domain error
//! means on the wire (status, code, detail) is said once, in a
//! `From<DomainError> for Problem` next to the API that returns it; this
//! module must never hold a handler.

use super::problem::Problem;
use crate::core::admin::AdminError;
use crate::core::auth::{
    LoginError, LogoutError, MfaError, MfaLoginError, PasswordChangeError, RefreshError, RegisterError, ServiceFailure,
};
use crate::core::token::TokenError;
use poem::http::StatusCode;
use std::time::Duration;

/// Every problem `code` the service sends: the snake_case strings of the
/// HTTP contract. A code is written out once, here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProblemCode {
    InvalidCredentials,
    EmailTaken,
    WeakPassword,
    RateLimited,
    TokenExpired,
    TokenRevoked,
    InvalidToken,
    Forbidden,
    NotFound,
    ValidationFailed,
    PayloadTooLarge,
    ServiceUnavailable,
    Internal,
    /// The last active admin cannot be demoted, disabled or deleted.
    LastAdmin,
    MethodNotAllowed,
    UnsupportedMediaType,
    /// Self-registration is closed; an admin creates accounts.
    RegistrationClosed,
    /// The password was right; the second factor is asked for next.
    MfaRequired,
    /// A TOTP code or recovery code that is wrong, expired or used.
    InvalidMfaCode,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    /// No key to seal second-factor secrets is configured.
    MfaUnavailable,
    /// Right password, but the address is unverified and the policy requires it.
    EmailNotVerified,
    /// No mailer is configured, so mailed links are not offered.
    MailDisabled,
    /// An admin's new user needs exactly one of a password and `invite: true`.
    PasswordOrInvite,
}

impl ProblemCode {
    /// Every code, for tests and documentation.
    pub const ALL: [Self; 25] = [
        Self::InvalidCredentials,
        Self::EmailTaken,
        Self::WeakPassword,
        Self::RateLimited,
        Self::TokenExpired,
        Self::TokenRevoked,
        Self::InvalidToken,
        Self::Forbidden,
        Self::NotFound,
        Self::ValidationFailed,
        Self::PayloadTooLarge,
        Self::ServiceUnavailable,
        Self::Internal,
        Self::LastAdmin,
        Self::MethodNotAllowed,
        Self::UnsupportedMediaType,
        Self::RegistrationClosed,
        Self::MfaRequired,
        Self::InvalidMfaCode,
        Self::MfaAlreadyEnabled,
        Self::MfaNotEnabled,
        Self::MfaUnavailable,
        Self::EmailNotVerified,
        Self::MailDisabled,
        Self::PasswordOrInvite,
    ];

    /// The stable wire form, as in `code` and `type` of a problem body.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::EmailTaken => "email_taken",
            Self::WeakPassword => "weak_password",
            Self::RateLimited => "rate_limited",
            Self::TokenExpired => "token_expired",
            Self::TokenRevoked => "token_revoked",
            Self::InvalidToken => "invalid_token",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::ValidationFailed => "validation_failed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::ServiceUnavailable => "service_unavailable",
            Self::Internal => "internal",
            Self::LastAdmin => "last_admin",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RegistrationClosed => "registration_closed",
            Self::MfaRequired => "mfa_required",
            Self::InvalidMfaCode => "invalid_mfa_code",
            Self::MfaAlreadyEnabled => "mfa_already_enabled",
            Self::MfaNotEnabled => "mfa_not_enabled",
            Self::MfaUnavailable => "mfa_unavailable",
            Self::EmailNotVerified => "email_not_verified",
            Self::MailDisabled => "mail_disabled",
            Self::PasswordOrInvite => "password_or_invite",
        }
    }
}

impl std::fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure no caller can fix: busy or unavailable dependencies are a
/// `503` with `Retry-After`, anything else an opaque `500` whose cause goes
/// to the log only.
impl From<ServiceFailure> for Problem {
    fn from(failure: ServiceFailure) -> Self {
        match failure {
            ServiceFailure::Busy { retry_after } => Problem::unavailable(retry_after),
            ServiceFailure::Unavailable(source) => {
                tracing::warn!(error = ?source, "dependency unavailable");
                Problem::unavailable(Duration::from_secs(1))
            }
            ServiceFailure::Unexpected(source) => {
                tracing::error!(error = ?source, "unexpected failure");
                Problem::internal()
            }
        }
    }
}

/// Why an access token was refused.
impl From<TokenError> for Problem {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Expired => {
                Problem::new(StatusCode::UNAUTHORIZED, ProblemCode::TokenExpired, "the access token has expired")
            }
            TokenError::Revoked => {
                Problem::new(StatusCode::UNAUTHORIZED, ProblemCode::TokenRevoked, "the access token has been revoked")
            }
            TokenError::Invalid => Problem::invalid_token("the access token is invalid"),
        }
    }
}

/// Declares an endpoint's error response type: the listed statuses, each
/// an `application/problem+json` body, `Retry-After` where it applies, and
/// always `500`; with a `From` for each domain error named in `from [..]`.
macro_rules! endpoint_errors {
    (
        $(#[$meta:meta])* $name:ident from [$($domain:ty),* $(,)?] {
            $( $(#[$vmeta:meta])* $status:literal => $variant:ident ),* $(,)?
        }
        $( retry { $( $(#[$rmeta:meta])* $rstatus:literal => $rvariant:ident ),* $(,)? } )?
    ) => {
        $(#[$meta])*
        #[derive(poem_openapi::ApiResponse, Debug)]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[oai(status = $status, content_type = "application/problem+json")]
                $variant(poem_openapi::payload::Json<$crate::app::http::problem::ProblemBody>),
            )*
            $($(
                $(#[$rmeta])*
                #[oai(status = $rstatus, content_type = "application/problem+json")]
                $rvariant(
                    poem_openapi::payload::Json<$crate::app::http::problem::ProblemBody>,
                    /// Seconds to wait before retrying.
                    #[oai(header = "Retry-After")] Option<u64>,
                ),
            )*)?
            /// Unexpected failure; the body carries no internal detail.
            #[oai(status = 500, content_type = "application/problem+json")]
            Internal(poem_openapi::payload::Json<$crate::app::http::problem::ProblemBody>),
        }

        impl From<$crate::app::http::problem::Problem> for $name {
            fn from(problem: $crate::app::http::problem::Problem) -> Self {
                match problem.status.as_u16() {
                    $( $status => Self::$variant(problem.body()), )*
                    $($( $rstatus => Self::$rvariant(problem.body(), problem.retry_after_seconds()), )*)?
                    500 => Self::Internal(problem.body()),
                    other => {
                        let code = problem.code.as_str();
                        tracing::error!(status = other, code, "problem status not declared for this endpoint");
                        Self::Internal($crate::app::http::problem::Problem::internal().body())
                    }
                }
            }
        }

        $(
            impl From<$domain> for $name {
                fn from(error: $domain) -> Self {
                    $crate::app::http::problem::Problem::from(error).into()
                }
            }
        )*
    };
}

pub(crate) use endpoint_errors;

endpoint_errors!(RegisterErrors from [RegisterError] {
    /// Malformed JSON or a wrong type.
    400 => BadRequest,
    /// Registration is closed (`registration_closed`): an admin creates accounts.
    403 => Forbidden,
    /// The address is already registered (`email_taken`).
    409 => Conflict,
    /// Body over 16 KiB.
    413 => PayloadTooLarge,
    /// Invalid address (`validation_failed`), weak password (`weak_password`) or unknown field.
    422 => Unprocessable,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Password hashing saturated or storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(LoginErrors from [LoginError] {
    /// Malformed JSON or a wrong type.
    400 => BadRequest,
    /// Unknown address or wrong password, alike (`invalid_credentials`); or
    /// the password was right and the account has TOTP on (`mfa_required`,
    /// with an `mfa_token` for `POST /v1/auth/mfa`).
    401 => Unauthorized,
    /// Right password, unverified address, and `PORTCULLIS_REQUIRE_VERIFIED_EMAIL` is on (`email_not_verified`).
    403 => Forbidden,
    /// Body over 16 KiB.
    413 => PayloadTooLarge,
    /// Invalid address or unknown field (`validation_failed`).
    422 => Unprocessable,
} retry {
    /// Rate limited or locked out after failed logins (`rate_limited`).
    429 => TooManyRequests,
    /// Password hashing saturated or storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(MfaLoginErrors from [MfaLoginError] {
    /// Malformed JSON or a wrong type.
    400 => BadRequest,
    /// Unknown, expired, used or foreign `mfa_token` (`invalid_token`); a
    /// wrong or used code (`invalid_mfa_code`).
    401 => Unauthorized,
    /// Body over 16 KiB.
    413 => PayloadTooLarge,
    /// Neither or both of `code` and `recovery_code`, or an unknown field (`validation_failed`).
    422 => Unprocessable,
} retry {
    /// Rate limited or locked out after failed logins (`rate_limited`).
    429 => TooManyRequests,
    /// Storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(MfaErrors from [MfaError] {
    /// Malformed JSON or a wrong type.
    400 => BadRequest,
    /// Missing, invalid, expired or revoked access token.
    401 => Unauthorized,
    /// TOTP is already on (`mfa_already_enabled`), or not enrolled (`mfa_not_enabled`).
    409 => Conflict,
    /// Body over 16 KiB.
    413 => PayloadTooLarge,
    /// A wrong or used code (`invalid_mfa_code`), or a malformed body (`validation_failed`).
    422 => Unprocessable,
} retry {
    /// Rate limited, or locked out after failed codes (`rate_limited`).
    429 => TooManyRequests,
    /// No MFA key configured (`mfa_unavailable`), or storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(RefreshErrors from [RefreshError] {
    /// Malformed JSON or a wrong type.
    400 => BadRequest,
    /// Unknown (`invalid_token`), expired (`token_expired`) or revoked/reused (`token_revoked`).
    401 => Unauthorized,
    /// Body over 16 KiB.
    413 => PayloadTooLarge,
    /// Unknown field (`validation_failed`).
    422 => Unprocessable,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(BearerBodyErrors from [LogoutError, PasswordChangeError] {
    /// Malformed JSON or a wrong type.
    400 => BadRequest,
    /// Missing, invalid, expired or revoked access token; or a wrong current password.
    401 => Unauthorized,
    /// Body over 16 KiB.
    413 => PayloadTooLarge,
    /// Validation failed (`validation_failed`, `weak_password`).
    422 => Unprocessable,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Password hashing saturated or storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(BearerErrors from [ServiceFailure] {
    /// Missing, invalid, expired or revoked access token.
    401 => Unauthorized,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(VerifyErrors from [] {
    /// Missing, invalid, expired or revoked access token.
    401 => Unauthorized,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
});

endpoint_errors!(AdminListErrors from [AdminError] {
    /// A query parameter has the wrong type.
    400 => BadRequest,
    /// Missing, invalid, expired or revoked access token.
    401 => Unauthorized,
    /// The caller is not an admin (`forbidden`).
    403 => Forbidden,
    /// `limit` outside 1..=100 or a malformed cursor (`validation_failed`).
    422 => Unprocessable,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(AdminUserErrors from [AdminError] {
    /// The id is not a UUID.
    400 => BadRequest,
    /// Missing, invalid, expired or revoked access token.
    401 => Unauthorized,
    /// The caller is not an admin (`forbidden`).
    403 => Forbidden,
    /// No such user (`not_found`).
    404 => NotFound,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(AdminChangeErrors from [AdminError] {
    /// The id is not a UUID, malformed JSON or a wrong type.
    400 => BadRequest,
    /// Missing, invalid, expired or revoked access token.
    401 => Unauthorized,
    /// The caller is not an admin (`forbidden`).
    403 => Forbidden,
    /// No such user (`not_found`).
    404 => NotFound,
    /// The last active admin cannot be demoted, disabled or deleted (`last_admin`).
    409 => Conflict,
    /// Body over 16 KiB.
    413 => PayloadTooLarge,
    /// Unknown field or a `null` value (`validation_failed`).
    422 => Unprocessable,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(AdminDeleteErrors from [AdminError] {
    /// The id is not a UUID.
    400 => BadRequest,
    /// Missing, invalid, expired or revoked access token.
    401 => Unauthorized,
    /// The caller is not an admin (`forbidden`).
    403 => Forbidden,
    /// No such user (`not_found`).
    404 => NotFound,
    /// The last active admin cannot be deleted (`last_admin`).
    409 => Conflict,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Storage unavailable.
    503 => Unavailable,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case_words() {
        let mut seen = std::collections::HashSet::new();
        for code in ProblemCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{text}");
            assert_eq!(code.to_string(), text);
        }
    }

    #[test]
    fn a_status_the_endpoint_does_not_declare_becomes_an_opaque_500() {
        let problem = Problem::new(StatusCode::CONFLICT, ProblemCode::EmailTaken, "not here");
        assert!(matches!(VerifyErrors::from(problem), VerifyErrors::Internal(_)));
        let refused = VerifyErrors::from(Problem::rate_limited(Duration::from_millis(1_500)));
        assert!(matches!(refused, VerifyErrors::TooManyRequests(_, Some(2))));
    }

    #[test]
    fn failures_never_reach_the_body() {
        let failure = ServiceFailure::Unexpected(anyhow::anyhow!("SELECT secret FROM users"));
        let problem = Problem::from(failure);
        assert_eq!((problem.status, problem.code), (StatusCode::INTERNAL_SERVER_ERROR, ProblemCode::Internal));
        assert!(!problem.detail.contains("SELECT"));
        let busy = Problem::from(ServiceFailure::Busy { retry_after: Duration::from_secs(3) });
        assert_eq!((busy.code, busy.retry_after_seconds()), (ProblemCode::ServiceUnavailable, Some(3)));
        assert_eq!(Problem::from(TokenError::Expired).code, ProblemCode::TokenExpired);
    }
}

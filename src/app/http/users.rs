//! The `Users` API: the signed-in user's own account, with what its domain
//! errors mean on the wire. Routes declare the `api` rate-limit bucket,
//! except the password change: it runs bcrypt, so it is in the `auth` one.

use super::auth::weak_password;
use super::errors::{BearerBodyErrors, BearerErrors, ProblemCode};
use super::middleware::rate_limit::{api_bucket, auth_bucket};
use super::problem::Problem;
use super::security::BearerAuth;
use super::state::AppState;
use super::wire::{NoContent, PasswordChange, UserOk};
use super::{ApiTags, ClientIp};
use crate::core::auth::PasswordChangeError;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;
use std::sync::Arc;
use std::time::Duration;

/// A valid token whose user no longer exists.
fn user_gone() -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, ProblemCode::TokenRevoked, "the user no longer exists")
}

impl From<PasswordChangeError> for Problem {
    fn from(error: PasswordChangeError) -> Self {
        match error {
            PasswordChangeError::InvalidCredentials => {
                Problem::new(StatusCode::UNAUTHORIZED, ProblemCode::InvalidCredentials, "the current password is wrong")
            }
            PasswordChangeError::WeakPassword(error) => weak_password("new_password", &error),
            PasswordChangeError::UserGone => user_gone(),
            PasswordChangeError::Locked { retry_after } => Problem::rate_limited(retry_after),
            // The user's own earlier changes are still hashing.
            PasswordChangeError::Busy => Problem::rate_limited(Duration::from_secs(1)),
            PasswordChangeError::Failure(failure) => failure.into(),
        }
    }
}

pub struct UsersApi;

#[OpenApi(prefix_path = "/v1/users", tag = "ApiTags::Users")]
impl UsersApi {
    /// The signed-in user
    #[oai(path = "/me", method = "get", operation_id = "getMe", transform = "api_bucket")]
    async fn me(&self, state: Data<&Arc<AppState>>, auth: BearerAuth) -> Result<UserOk, BearerErrors> {
        let user = state.auth.current_user(&auth.0).await?.ok_or_else(user_gone)?;
        Ok(UserOk::Ok(Json(user.into())))
    }

    /// Change the password
    ///
    /// Keeps this session; ends every other session and every access token
    /// issued before the change (refresh to get a new one).
    /// The current password is checked like a login's: wrong ones count
    /// towards the lockout, and a locked account or address gets `429`. At
    /// most two password operations per user run at once; more get `429`.
    #[oai(path = "/me/password", method = "put", operation_id = "changePassword", transform = "auth_bucket")]
    async fn change_password(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        client_ip: Data<&ClientIp>,
        body: Json<PasswordChange>,
    ) -> Result<NoContent, BearerBodyErrors> {
        let PasswordChange { current_password, new_password } = body.0;
        state.auth.change_password(&auth.0, current_password.0, new_password.0, &client_ip.0.origin()).await?;
        Ok(NoContent::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::password::PasswordError;

    #[test]
    fn a_wrong_current_password_is_invalid_credentials() {
        let wrong = Problem::from(PasswordChangeError::InvalidCredentials);
        assert_eq!((wrong.status, wrong.code), (StatusCode::UNAUTHORIZED, ProblemCode::InvalidCredentials));
        assert_eq!(Problem::from(PasswordChangeError::UserGone).code, ProblemCode::TokenRevoked);
    }

    #[test]
    fn a_weak_new_password_names_the_new_password_field() {
        let weak = Problem::from(PasswordChangeError::WeakPassword(PasswordError::TooShort));
        assert_eq!((weak.code, weak.errors[0].field.as_str()), (ProblemCode::WeakPassword, "new_password"));
    }
}

//! The `Admin` API: user administration. Every handler takes [`AdminAuth`],
//! so none runs for a caller without the admin role, and declares the `api`
//! rate-limit bucket.

use super::errors::{
    endpoint_errors, AdminChangeErrors, AdminDeleteErrors, AdminListErrors, AdminUserErrors, ProblemCode,
};
use super::middleware::rate_limit::api_bucket;
use super::params::{Cursor, PageSize};
use super::problem::Problem;
use super::security::AdminAuth;
use super::state::AppState;
use super::wire::{NewUser, NoContent, RegisterOk, UserOk, UserPageOk, UserPageView, UserPatch, UserView};
use super::{ApiTags, ClientIp};
use crate::core::admin::AdminError;
use crate::core::auth::RegisterError;
use crate::core::user::{Role, UserChange, UserId, UserStatus};
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::OpenApi;
use std::sync::Arc;
use uuid::Uuid;

impl From<AdminError> for Problem {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::NotFound => Problem::not_found("no user has this id"),
            AdminError::LastAdmin => Problem::new(
                StatusCode::CONFLICT,
                ProblemCode::LastAdmin,
                "the last active admin cannot be demoted, disabled or deleted",
            ),
            AdminError::WeakPassword(error) => super::auth::weak_password("password", &error),
            AdminError::Failure(failure) => failure.into(),
        }
    }
}

/// An omitted field is no change; `null` is refused, as the schema says
/// (an `Option` would quietly take `null` for "omitted").
fn patch_field<T>(name: &str, field: MaybeUndefined<T>) -> Result<Option<T>, Problem> {
    match field {
        MaybeUndefined::Null => Err(Problem::validation(name, "must not be null; omit it to leave it unchanged")),
        other => Ok(other.take()),
    }
}

endpoint_errors!(AdminCreateErrors from [RegisterError] {
    /// Malformed JSON or a wrong type.
    400 => BadRequest,
    /// Missing, invalid, expired or revoked access token.
    401 => Unauthorized,
    /// The caller is not an admin (`forbidden`).
    403 => Forbidden,
    /// The address is already registered (`email_taken`).
    409 => Conflict,
    /// Body over 16 KiB.
    413 => PayloadTooLarge,
    /// Invalid address (`validation_failed`), weak password (`weak_password`), both or neither of
    /// a password and `invite: true` (`password_or_invite`), or an unknown field.
    422 => Unprocessable,
    /// An invitation was asked for but no mailer is configured (`mail_disabled`); nothing is created.
    501 => NotImplemented,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Password hashing saturated or storage unavailable.
    503 => Unavailable,
});

/// A new user with both a password and `invite: true`, or neither.
fn password_or_invite(both: bool) -> Problem {
    let detail = if both {
        "give a password or invite: true, not both: an invited user chooses the password"
    } else {
        "give the first password, or invite: true to mail an invitation instead"
    };
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, ProblemCode::PasswordOrInvite, detail)
        .field(if both { "invite" } else { "password" }, detail)
}

pub struct AdminApi;

#[OpenApi(prefix_path = "/v1/admin/users", tag = "ApiTags::Admin")]
impl AdminApi {
    /// List users
    ///
    /// Keyset pagination in creation order: pass `next_cursor` as `cursor`.
    #[oai(path = "/", method = "get", operation_id = "listUsers", transform = "api_bucket")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        _admin: AdminAuth,
        /// Page size, 1..=100 (default 50).
        limit: Query<Option<PageSize>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<Cursor>>,
    ) -> Result<UserPageOk, AdminListErrors> {
        let limit = PageSize::resolve(limit.0)?;
        let cursor = Cursor::resolve(cursor.0)?;
        let page = state.auth.list_users(limit, cursor).await?;
        Ok(UserPageOk::Ok(Json(UserPageView {
            items: page.items.into_iter().map(UserView::from).collect(),
            next_cursor: page.next_cursor.map(|id| id.to_string()),
        })))
    }

    /// Create a user
    ///
    /// Creates an account with the given role (`user` by default), whether
    /// or not self-registration is open, either with a first password (the
    /// registration rules apply) or, with `invite: true` and no password,
    /// without a usable password: the address is then mailed an invitation
    /// link (valid 24 hours) whose token, confirmed through
    /// `POST /v1/auth/password-reset/confirm`, sets the password and marks
    /// the address verified. Audited as `admin_user_created` (detail
    /// `invited` for an invitation).
    #[oai(path = "/", method = "post", operation_id = "createUser", transform = "api_bucket")]
    async fn create(
        &self,
        state: Data<&Arc<AppState>>,
        admin: AdminAuth,
        body: Json<NewUser>,
        client_ip: Data<&ClientIp>,
    ) -> Result<RegisterOk, AdminCreateErrors> {
        let NewUser { email, password, role, invite } = body.0;
        let role = role.map_or(Role::User, Role::from);
        let origin = client_ip.0.origin().by(admin.0.user_id);
        let user = match (password, invite.unwrap_or(false)) {
            (Some(password), false) => state.auth.create_account(&email.0, password.0, role, &origin).await?,
            (None, true) => state.auth.invite_account(&email.0, role, &origin).await?,
            (password, _) => return Err(password_or_invite(password.is_some()).into()),
        };
        Ok(RegisterOk::Created(Json(user.into())))
    }

    /// Get a user
    #[oai(path = "/:id", method = "get", operation_id = "getUser", transform = "api_bucket")]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        _admin: AdminAuth,
        id: Path<Uuid>,
    ) -> Result<UserOk, AdminUserErrors> {
        let user = state.auth.get_user(UserId::from_uuid(id.0)).await?;
        Ok(UserOk::Ok(Json(user.into())))
    }

    /// Change a user's role or status
    ///
    /// Disabling revokes the user's sessions. The last active admin cannot
    /// be demoted or disabled.
    #[oai(path = "/:id", method = "patch", operation_id = "updateUser", transform = "api_bucket")]
    async fn update(
        &self,
        state: Data<&Arc<AppState>>,
        admin: AdminAuth,
        id: Path<Uuid>,
        body: Json<UserPatch>,
        client_ip: Data<&ClientIp>,
    ) -> Result<UserOk, AdminChangeErrors> {
        let UserPatch { role, status } = body.0;
        let change = UserChange {
            role: patch_field("role", role)?.map(Role::from),
            status: patch_field("status", status)?.map(UserStatus::from),
        };
        let origin = client_ip.0.origin().by(admin.0.user_id);
        let user = state.auth.update_user(UserId::from_uuid(id.0), change, &origin).await?;
        Ok(UserOk::Ok(Json(user.into())))
    }

    /// Clear a user's lockout
    ///
    /// Forgets the failed logins of the account, from every address.
    #[oai(path = "/:id/unlock", method = "post", operation_id = "unlockUser", transform = "api_bucket")]
    async fn unlock(
        &self,
        state: Data<&Arc<AppState>>,
        admin: AdminAuth,
        id: Path<Uuid>,
        client_ip: Data<&ClientIp>,
    ) -> Result<NoContent, AdminUserErrors> {
        let origin = client_ip.0.origin().by(admin.0.user_id);
        state.auth.unlock_user(UserId::from_uuid(id.0), &origin).await?;
        Ok(NoContent::Done)
    }

    /// Delete a user
    ///
    /// Revokes the user's sessions. The last active admin cannot be deleted.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteUser", transform = "api_bucket")]
    async fn delete(
        &self,
        state: Data<&Arc<AppState>>,
        admin: AdminAuth,
        id: Path<Uuid>,
        client_ip: Data<&ClientIp>,
    ) -> Result<NoContent, AdminDeleteErrors> {
        let origin = client_ip.0.origin().by(admin.0.user_id);
        state.auth.delete_user(UserId::from_uuid(id.0), &origin).await?;
        Ok(NoContent::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_admin_is_a_conflict_with_its_own_code() {
        let last = Problem::from(AdminError::LastAdmin);
        assert_eq!((last.status, last.code), (StatusCode::CONFLICT, ProblemCode::LastAdmin));
        assert_eq!(Problem::from(AdminError::NotFound).status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn null_is_refused_and_absence_is_no_change() {
        assert_eq!(patch_field::<u8>("role", MaybeUndefined::Undefined).unwrap(), None);
        assert_eq!(patch_field("role", MaybeUndefined::Value(1)).unwrap(), Some(1));
        assert_eq!(patch_field::<u8>("status", MaybeUndefined::Null).unwrap_err().errors[0].field, "status");
    }
}

//! The sessions a user can see and end: `/v1/users/me/sessions` for the
//! caller's own, `/v1/admin/users/{id}/sessions` for an admin. Routes
//! declare the `api` rate-limit bucket. A session id that is not the
//! user's is a `404`, like one that never was: nothing tells them apart.

use super::errors::{endpoint_errors, AdminUserErrors, ProblemCode};
use super::middleware::rate_limit::api_bucket;
use super::params::{Cursor, PageSize};
use super::problem::Problem;
use super::security::{AdminAuth, BearerAuth};
use super::state::AppState;
use super::wire::{timestamp, NoContent};
use super::{ApiTags, ClientIp};
use crate::core::admin::AdminError;
use crate::core::auth::ServiceFailure;
use crate::core::session::SessionId;
use crate::core::session_list::{EndSessionError, SessionPage};
use crate::core::user::UserId;
use crate::ports::SessionRecord;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// One signed-in session: a sign-in and the refreshes that carried it on.
#[derive(Object, Debug)]
#[oai(rename = "Session")]
pub struct SessionView {
    /// The `sid` claim of the session's access tokens.
    pub id: Uuid,
    /// The sign-in.
    pub created_at: OffsetDateTime,
    /// The sign-in or the latest refresh (using an access token does not count).
    pub last_used_at: OffsetDateTime,
    /// The client address at the last use, as the service resolved it.
    #[oai(skip_serializing_if_is_none)]
    pub ip: Option<String>,
    /// The `User-Agent` at the last use, at most 256 bytes; informational
    /// only, since a client may send anything.
    #[oai(skip_serializing_if_is_none)]
    pub user_agent: Option<String>,
    /// Whether this is the session of the access token that asked.
    pub current: bool,
}

/// One page of live sessions, newest first.
#[derive(Object, Debug)]
#[oai(rename = "SessionPage")]
pub struct SessionPageView {
    pub items: Vec<SessionView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

impl SessionView {
    /// `session` as the caller of session `current` sees it.
    fn new(session: SessionRecord, current: SessionId) -> Self {
        Self {
            id: session.id.as_uuid(),
            created_at: timestamp(session.created_at.seconds()),
            last_used_at: timestamp(session.last_use.at.seconds()),
            ip: session.last_use.ip.map(|ip| ip.to_string()),
            user_agent: session.last_use.user_agent.map(|agent| agent.as_str().to_owned()),
            current: session.id == current,
        }
    }
}

impl SessionPageView {
    fn new(page: SessionPage, current: SessionId) -> Self {
        let items = page.items.into_iter().map(|session| SessionView::new(session, current)).collect();
        Self { items, next_cursor: page.next_cursor.map(|id| id.to_string()) }
    }
}

#[derive(ApiResponse)]
pub enum SessionOk {
    /// The session.
    #[oai(status = 200)]
    Ok(Json<SessionView>),
}

#[derive(ApiResponse)]
pub enum SessionPageOk {
    /// A page of sessions.
    #[oai(status = 200)]
    Ok(Json<SessionPageView>),
}

impl From<EndSessionError> for Problem {
    fn from(error: EndSessionError) -> Self {
        match error {
            EndSessionError::NotFound => {
                Problem::new(StatusCode::NOT_FOUND, ProblemCode::NotFound, "you have no live session with this id")
            }
            EndSessionError::Failure(failure) => failure.into(),
        }
    }
}

endpoint_errors!(SessionListErrors from [ServiceFailure] {
    /// A query parameter has the wrong type.
    400 => BadRequest,
    /// Missing, invalid, expired or revoked access token.
    401 => Unauthorized,
    /// `limit` outside 1..=100 or a malformed cursor (`validation_failed`).
    422 => Unprocessable,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(SessionEndErrors from [EndSessionError] {
    /// The id is not a UUID.
    400 => BadRequest,
    /// Missing, invalid, expired or revoked access token.
    401 => Unauthorized,
    /// No live session of the caller has this id (`not_found`).
    404 => NotFound,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(AdminSessionListErrors from [AdminError] {
    /// The id is not a UUID, or a query parameter has the wrong type.
    400 => BadRequest,
    /// Missing, invalid, expired or revoked access token.
    401 => Unauthorized,
    /// The caller is not an admin (`forbidden`).
    403 => Forbidden,
    /// No such user (`not_found`).
    404 => NotFound,
    /// `limit` outside 1..=100 or a malformed cursor (`validation_failed`).
    422 => Unprocessable,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Storage unavailable.
    503 => Unavailable,
});

pub struct SessionsApi;

#[OpenApi(prefix_path = "/v1/users/me/sessions", tag = "ApiTags::Users")]
impl SessionsApi {
    /// List my sessions
    ///
    /// The caller's live sessions, newest first, each with when it began,
    /// when it was last used (signed in or refreshed) and from which
    /// address and user agent; `current` marks the caller's own. Keyset
    /// pagination: pass `next_cursor` as `cursor`.
    #[oai(path = "/", method = "get", operation_id = "listMySessions", transform = "api_bucket")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// Page size, 1..=100 (default 50).
        limit: Query<Option<PageSize>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<Cursor>>,
    ) -> Result<SessionPageOk, SessionListErrors> {
        let limit = PageSize::resolve(limit.0)?;
        let cursor = Cursor::resolve_session(cursor.0)?;
        let page = state.auth.list_sessions(auth.0.user_id, limit, cursor).await?;
        Ok(SessionPageOk::Ok(Json(SessionPageView::new(page, auth.0.session_id))))
    }

    /// End one of my sessions
    ///
    /// As exact as a logout of that session: its refresh tokens and access
    /// tokens are refused at once, on every replica. Ending the current
    /// session signs the caller out. Another user's session id is a `404`.
    #[oai(path = "/:id", method = "delete", operation_id = "endMySession", transform = "api_bucket")]
    async fn end(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
        client_ip: Data<&ClientIp>,
    ) -> Result<NoContent, SessionEndErrors> {
        state.auth.end_own_session(&auth.0, SessionId::from_uuid(id.0), &client_ip.0.origin()).await?;
        Ok(NoContent::Done)
    }
}

pub struct AdminSessionsApi;

#[OpenApi(prefix_path = "/v1/admin/users", tag = "ApiTags::Admin")]
impl AdminSessionsApi {
    /// List a user's sessions
    ///
    /// The user's live sessions, newest first, as the user sees them.
    #[oai(path = "/:id/sessions", method = "get", operation_id = "listUserSessions", transform = "api_bucket")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        admin: AdminAuth,
        id: Path<Uuid>,
        /// Page size, 1..=100 (default 50).
        limit: Query<Option<PageSize>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<Cursor>>,
    ) -> Result<SessionPageOk, AdminSessionListErrors> {
        let limit = PageSize::resolve(limit.0)?;
        let cursor = Cursor::resolve_session(cursor.0)?;
        let page = state.auth.admin_list_sessions(UserId::from_uuid(id.0), limit, cursor).await?;
        Ok(SessionPageOk::Ok(Json(SessionPageView::new(page, admin.0.session_id))))
    }

    /// End all of a user's sessions
    ///
    /// Ends every session and access token of the user, as a logout
    /// everywhere does; audited as `admin_sessions_revoked`.
    #[oai(path = "/:id/sessions", method = "delete", operation_id = "endUserSessions", transform = "api_bucket")]
    async fn end_all(
        &self,
        state: Data<&Arc<AppState>>,
        admin: AdminAuth,
        id: Path<Uuid>,
        client_ip: Data<&ClientIp>,
    ) -> Result<NoContent, AdminUserErrors> {
        let origin = client_ip.0.origin().by(admin.0.user_id);
        state.auth.admin_end_all_sessions(UserId::from_uuid(id.0), &origin).await?;
        Ok(NoContent::Done)
    }

    /// Get one of a user's sessions
    ///
    /// A session of the user that has not been ended. A session of another
    /// user is a `404`.
    #[oai(path = "/:id/sessions/:sid", method = "get", operation_id = "getUserSession", transform = "api_bucket")]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        admin: AdminAuth,
        id: Path<Uuid>,
        sid: Path<Uuid>,
    ) -> Result<SessionOk, AdminUserErrors> {
        let session = state.auth.admin_get_session(UserId::from_uuid(id.0), SessionId::from_uuid(sid.0)).await?;
        Ok(SessionOk::Ok(Json(SessionView::new(session, admin.0.session_id))))
    }

    /// End one of a user's sessions
    ///
    /// As exact as the user's own logout of it; audited as
    /// `admin_sessions_revoked`. A session of another user is a `404`.
    #[oai(path = "/:id/sessions/:sid", method = "delete", operation_id = "endUserSession", transform = "api_bucket")]
    async fn end(
        &self,
        state: Data<&Arc<AppState>>,
        admin: AdminAuth,
        id: Path<Uuid>,
        sid: Path<Uuid>,
        client_ip: Data<&ClientIp>,
    ) -> Result<NoContent, AdminUserErrors> {
        let origin = client_ip.0.origin().by(admin.0.user_id);
        let (user, session) = (UserId::from_uuid(id.0), SessionId::from_uuid(sid.0));
        state.auth.admin_end_session(user, session, &origin).await?;
        Ok(NoContent::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_session_is_not_found() {
        let missing = Problem::from(EndSessionError::NotFound);
        assert_eq!((missing.status, missing.code), (StatusCode::NOT_FOUND, ProblemCode::NotFound));
    }
}

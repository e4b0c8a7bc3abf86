//! The audit trail over HTTP: `GET /v1/admin/audit`, for admins only, newest
//! first, with an opaque keyset cursor and filters by user, type and time.
//! The query parameters are read as text and judged here, so a bad one is a
//! `422 validation_failed` naming it.

use super::audit_params::{AuditCursor, AuditTypeParam, DateTimeParam, UserIdParam};
use super::errors::AdminListErrors;
use super::middleware::rate_limit::api_bucket;
use super::params::PageSize;
use super::problem::Problem;
use super::security::AdminAuth;
use super::state::AppState;
use super::ApiTags;
use crate::core::audit::{AuditEvent, AuditId, AuditQuery, AuditType};
use crate::core::user::{UnixSeconds, UserId};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::collections::BTreeMap;
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

/// One audit event.
#[derive(Object, Debug, PartialEq, Eq)]
#[oai(rename = "AuditEvent")]
pub struct AuditEventView {
    pub id: Uuid,
    pub at: OffsetDateTime,
    /// `user:<id>`, `cli:<command line>`, `anonymous` or `system`.
    pub actor: String,
    /// The account the event is about.
    #[oai(skip_serializing_if_is_none)]
    pub subject: Option<Uuid>,
    /// The event type, e.g. `login_failed`, `admin_user_disabled`.
    #[oai(rename = "type")]
    pub kind: String,
    /// The client address, for events caused by an HTTP request.
    #[oai(skip_serializing_if_is_none)]
    pub ip: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub request_id: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    /// Short facts about the event; never a secret.
    pub details: BTreeMap<String, String>,
}

impl From<AuditEvent> for AuditEventView {
    fn from(event: AuditEvent) -> Self {
        Self {
            id: event.id.as_uuid(),
            at: OffsetDateTime::from_unix_timestamp(event.at.seconds()).unwrap_or(OffsetDateTime::UNIX_EPOCH),
            actor: event.actor.encode(),
            subject: event.subject.map(|id| id.as_uuid()),
            kind: event.kind.as_str().to_owned(),
            ip: event.ip.map(|ip| ip.to_string()),
            request_id: event.request_id,
            outcome: event.outcome.as_str().to_owned(),
            details: event.details,
        }
    }
}

/// One page of the audit trail, newest first.
#[derive(Object)]
#[oai(rename = "AuditPage")]
pub struct AuditPageView {
    pub items: Vec<AuditEventView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum AuditPageOk {
    /// A page of audit events.
    #[oai(status = 200)]
    Ok(Json<AuditPageView>),
}

/// The cursor a page hands out: opaque to clients.
fn encode_cursor(id: AuditId) -> String {
    URL_SAFE_NO_PAD.encode(id.as_uuid().as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<AuditId, Problem> {
    let refused = || Problem::validation("cursor", "is not a cursor from a previous page");
    // 16 bytes are 22 characters; anything longer is refused unread.
    if cursor.len() != 22 {
        return Err(refused());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| refused())?;
    let bytes: [u8; 16] = bytes.try_into().map_err(|_| refused())?;
    Ok(AuditId::from_uuid(Uuid::from_bytes(bytes)))
}

fn instant(field: &str, value: Option<&str>) -> Result<Option<UnixSeconds>, Problem> {
    value
        .map(|value| {
            OffsetDateTime::parse(value, &Rfc3339)
                .map(|at| UnixSeconds::new(at.unix_timestamp()))
                .map_err(|_| Problem::validation(field, "must be an RFC 3339 date-time, e.g. 2026-01-31T09:00:00Z"))
        })
        .transpose()
}

/// The query the parameters ask for.
fn query(
    limit: Option<PageSize>,
    cursor: Option<&str>,
    user: Option<&str>,
    kind: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<AuditQuery, Problem> {
    let query = AuditQuery {
        limit: PageSize::resolve(limit)?,
        before: cursor.map(decode_cursor).transpose()?,
        user: user
            .map(|user| user.parse::<UserId>().map_err(|_| Problem::validation("user", "must be a user id (UUID)")))
            .transpose()?,
        kind: kind
            .map(|kind| kind.parse::<AuditType>().map_err(|_| Problem::validation("type", "is not an event type")))
            .transpose()?,
        since: instant("since", since)?,
        until: instant("until", until)?,
    };
    Ok(query)
}

pub struct AuditApi;

#[OpenApi(prefix_path = "/v1/admin", tag = "ApiTags::Admin")]
impl AuditApi {
    /// List audit events
    ///
    /// Newest first. Keyset pagination: pass `next_cursor` as `cursor`.
    #[oai(path = "/audit", method = "get", operation_id = "listAuditEvents", transform = "api_bucket")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        _admin: AdminAuth,
        /// Page size, 1..=100 (default 50).
        limit: Query<Option<PageSize>>,
        /// `next_cursor` of the previous page (opaque).
        cursor: Query<Option<AuditCursor>>,
        /// Only events by or about this user id.
        user: Query<Option<UserIdParam>>,
        /// Only events of this type (e.g. `login_failed`).
        #[oai(name = "type")]
        kind: Query<Option<AuditTypeParam>>,
        /// Only events at or after this RFC 3339 date-time.
        since: Query<Option<DateTimeParam>>,
        /// Only events at or before this RFC 3339 date-time; a range that
        /// ends before it starts is an empty page.
        until: Query<Option<DateTimeParam>>,
    ) -> Result<AuditPageOk, AdminListErrors> {
        let query = query(
            limit.0,
            cursor.0.as_ref().map(|c| c.0.as_str()),
            user.0.as_ref().map(|u| u.0.as_str()),
            kind.0.as_ref().map(|k| k.0.as_str()),
            since.0.as_ref().map(|s| s.0.as_str()),
            until.0.as_ref().map(|u| u.0.as_str()),
        )?;
        let page = state.auth.audit_trail(query).await?;
        Ok(AuditPageOk::Ok(Json(AuditPageView {
            items: page.items.into_iter().map(AuditEventView::from).collect(),
            next_cursor: page.next_cursor.map(encode_cursor),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_hostile_ones_name_the_field() {
        let id = AuditId::from_uuid(Uuid::now_v7());
        assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
        for bad in ["", "x", &"A".repeat(22 * 1000), "!!!!!!!!!!!!!!!!!!!!!!", &"A".repeat(23)] {
            assert_eq!(decode_cursor(bad).unwrap_err().errors[0].field, "cursor", "{bad:.30}");
        }
    }

    #[test]
    fn each_bad_parameter_is_named() {
        let bad =
            |user, kind, since, until| query(None, None, user, kind, since, until).unwrap_err().errors[0].field.clone();
        assert_eq!(bad(Some("nobody"), None, None, None), "user");
        assert_eq!(bad(None, Some("LOGIN"), None, None), "type");
        assert_eq!(bad(None, None, Some("yesterday"), None), "since");
        assert_eq!(bad(None, None, None, Some("2026-13-01T00:00:00Z")), "until");
        // A range that ends before it starts is valid and simply empty.
        assert!(query(None, None, None, None, Some("2026-01-02T00:00:00Z"), Some("2026-01-01T00:00:00Z")).is_ok());
        let fine = query(None, None, None, Some("login_failed"), Some("2026-01-01T00:00:00+01:00"), None).unwrap();
        assert_eq!(
            (fine.kind, fine.since.map(UnixSeconds::seconds)),
            (Some(AuditType::LoginFailed), Some(1_767_222_000))
        );
        assert_eq!(fine.limit, 50);
    }
}

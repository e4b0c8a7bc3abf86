//! The audit trail in PostgreSQL. Events that record a change are inserted
//! by the change's own transaction through [`insert_events`]; the rest, the
//! pages and the purge go through [`AuditLog`].

use super::{repo_error, PostgresStore};
use crate::adapters::sql::{actor_filter, audit_columns, audit_page_query, details_json, StoredAuditEvent};
use crate::core::audit::{AuditEvent, AuditQuery, AuditType};
use crate::core::user::UnixSeconds;
use crate::ports::{AuditLog, RepoError};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _};

/// Inserts `events` inside the caller's transaction.
pub(super) async fn insert_events(connection: &mut PgConnection, events: &[AuditEvent]) -> Result<(), RepoError> {
    for event in events {
        sqlx::query(concat!(
            "INSERT INTO audit_events (",
            audit_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)"
        ))
        .bind(event.id.as_uuid())
        .bind(event.at.seconds())
        .bind(event.actor.encode())
        .bind(event.subject.map(|id| id.as_uuid()))
        .bind(event.kind.as_str())
        .bind(event.ip.map(|ip| ip.to_string()))
        .bind(event.request_id.as_deref())
        .bind(event.outcome.as_str())
        .bind(details_json(event))
        .execute(&mut *connection)
        .await
        .map_err(repo_error)?;
    }
    Ok(())
}

fn event_from_row(row: &PgRow) -> Result<AuditEvent, RepoError> {
    StoredAuditEvent {
        id: row.try_get("id").map_err(repo_error)?,
        at: row.try_get("at").map_err(repo_error)?,
        actor: row.try_get("actor").map_err(repo_error)?,
        subject: row.try_get("subject").map_err(repo_error)?,
        kind: row.try_get("type").map_err(repo_error)?,
        ip: row.try_get("ip").map_err(repo_error)?,
        request_id: row.try_get("request_id").map_err(repo_error)?,
        outcome: row.try_get("outcome").map_err(repo_error)?,
        details: row.try_get("details_text").map_err(repo_error)?,
    }
    .parse()
}

#[async_trait]
impl AuditLog for PostgresStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), RepoError> {
        let mut connection = self.pool.acquire().await.map_err(repo_error)?;
        insert_events(&mut connection, std::slice::from_ref(event)).await
    }

    async fn page(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, RepoError> {
        // The JSON as text, so no JSON feature of sqlx is needed; typed
        // parameters, since a bare `$n IS NULL` leaves their type unknown.
        let sql = audit_page_query!("$1::uuid", "$2::uuid", "$3::text", "$4::text", "$5::bigint", "$6::bigint", "$7")
            .replacen(" FROM audit_events", ", details::text AS details_text FROM audit_events", 1);
        sqlx::query(&sql)
            .bind(query.before.map(|id| id.as_uuid()))
            .bind(query.user.map(|id| id.as_uuid()))
            .bind(actor_filter(query))
            .bind(query.kind.map(AuditType::as_str))
            .bind(query.since.map(UnixSeconds::seconds))
            .bind(query.until.map(UnixSeconds::seconds))
            .bind(i64::from(query.limit))
            .fetch_all(&self.pool)
            .await
            .map_err(repo_error)?
            .iter()
            .map(event_from_row)
            .collect()
    }

    async fn purge_before(&self, before: UnixSeconds) -> Result<u64, RepoError> {
        let purged = sqlx::query("DELETE FROM audit_events WHERE at < $1")
            .bind(before.seconds())
            .execute(&self.pool)
            .await
            .map_err(repo_error)?
            .rows_affected();
        Ok(purged)
    }
}

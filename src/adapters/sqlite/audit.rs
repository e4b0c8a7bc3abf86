//! The audit trail in SQLite. Events that record a change are inserted by
//! the change's own transaction through [`insert_events`]; the rest, the
//! pages and the purge go through [`AuditLog`].

use super::{repo_error, SqliteStore};
use crate::adapters::sql::{actor_filter, audit_columns, audit_page_query, corrupt, details_json, StoredAuditEvent};
use crate::core::audit::{AuditEvent, AuditQuery, AuditType};
use crate::core::user::UnixSeconds;
use crate::ports::{AuditLog, RepoError};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row as _, SqliteConnection};

/// Inserts `events` inside the caller's transaction.
pub(super) async fn insert_events(connection: &mut SqliteConnection, events: &[AuditEvent]) -> Result<(), RepoError> {
    for event in events {
        sqlx::query(concat!(
            "INSERT INTO audit_events (",
            audit_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ))
        .bind(event.id.to_string())
        .bind(event.at.seconds())
        .bind(event.actor.encode())
        .bind(event.subject.map(|id| id.to_string()))
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

fn event_from_row(row: &SqliteRow) -> Result<AuditEvent, RepoError> {
    let id: String = row.try_get("id").map_err(repo_error)?;
    let subject: Option<String> = row.try_get("subject").map_err(repo_error)?;
    StoredAuditEvent {
        id: id.parse().map_err(|e| corrupt("audit id", e))?,
        at: row.try_get("at").map_err(repo_error)?,
        actor: row.try_get("actor").map_err(repo_error)?,
        subject: subject.map(|id| id.parse()).transpose().map_err(|e| corrupt("audit subject", e))?,
        kind: row.try_get("type").map_err(repo_error)?,
        ip: row.try_get("ip").map_err(repo_error)?,
        request_id: row.try_get("request_id").map_err(repo_error)?,
        outcome: row.try_get("outcome").map_err(repo_error)?,
        details: row.try_get("details").map_err(repo_error)?,
    }
    .parse()
}

#[async_trait]
impl AuditLog for SqliteStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), RepoError> {
        let mut connection = self.pool.acquire().await.map_err(repo_error)?;
        insert_events(&mut connection, std::slice::from_ref(event)).await
    }

    async fn page(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, RepoError> {
        sqlx::query(audit_page_query!("?1", "?2", "?3", "?4", "?5", "?6", "?7"))
            .bind(query.before.map(|id| id.to_string()))
            .bind(query.user.map(|id| id.to_string()))
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
        let purged = sqlx::query("DELETE FROM audit_events WHERE at < ?1")
            .bind(before.seconds())
            .execute(&self.pool)
            .await
            .map_err(repo_error)?
            .rows_affected();
        Ok(purged)
    }
}

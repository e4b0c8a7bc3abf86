//! Revocations in PostgreSQL: one row per subject, merged by an upsert
//! that never shortens an entry nor lets an earlier cut-off replace a later
//! one; the store's own clock stamps each write for the feed.

use super::{repo_error, PostgresStore};
use crate::adapters::sql::{revocation, revocation_columns};
use crate::core::revocation::Revocation;
use crate::core::user::UnixSeconds;
use crate::ports::{RepoError, RevocationStore};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::Row as _;
use uuid::Uuid;

/// Reads a row of [`revocation_columns!`](crate::adapters::sql::revocation_columns).
fn revocation_from_row(row: &PgRow) -> Result<Revocation, RepoError> {
    let kind: String = row.try_get("kind").map_err(repo_error)?;
    let subject: Uuid = row.try_get("subject").map_err(repo_error)?;
    let cutoff: Option<i64> = row.try_get("cutoff").map_err(repo_error)?;
    revocation(&kind, subject, cutoff, UnixSeconds::new(row.try_get("until").map_err(repo_error)?))
}

#[async_trait]
impl RevocationStore for PostgresStore {
    async fn record(&self, revocation: &Revocation) -> Result<(), RepoError> {
        let (kind, subject, cutoff) = (revocation.kind(), revocation.subject(), revocation.cutoff());
        // The same merge as the in-memory view: an earlier cut-off never
        // replaces a later one, and no entry is ever shortened. The upsert
        // locks the conflicting row, so racing records merge one by one.
        sqlx::query(
            "INSERT INTO revocations (kind, subject, cutoff, until, recorded_at) \
             VALUES ($1, $2, $3, $4, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) \
             ON CONFLICT (kind, subject) DO UPDATE \
             SET cutoff = excluded.cutoff, until = GREATEST(revocations.until, excluded.until), \
                 recorded_at = excluded.recorded_at \
             WHERE excluded.cutoff IS NULL OR excluded.cutoff >= revocations.cutoff",
        )
        .bind(kind)
        .bind(subject)
        .bind(cutoff)
        .bind(revocation.until().seconds())
        .execute(&self.pool)
        .await
        .map_err(repo_error)?;
        Ok(())
    }

    async fn recorded_since(&self, since: i64, now: UnixSeconds) -> Result<(Vec<Revocation>, i64), RepoError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            revocation_columns!(),
            " FROM revocations WHERE recorded_at >= $1 AND until > $2"
        ))
        .bind(since)
        .bind(now.seconds())
        .fetch_all(&self.pool)
        .await
        .map_err(repo_error)?;
        let mut latest = since;
        let mut revocations = Vec::with_capacity(rows.len());
        for row in &rows {
            latest = latest.max(row.try_get::<i64, _>("recorded_at").map_err(repo_error)?);
            revocations.push(revocation_from_row(row)?);
        }
        Ok((revocations, latest))
    }

    async fn purge(&self, now: UnixSeconds) -> Result<u64, RepoError> {
        let purged = sqlx::query("DELETE FROM revocations WHERE until <= $1")
            .bind(now.seconds())
            .execute(&self.pool)
            .await
            .map_err(repo_error)?
            .rows_affected();
        Ok(purged)
    }
}

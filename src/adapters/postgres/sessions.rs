//! Sessions and refresh tokens in PostgreSQL. Rotation is a conditional
//! `UPDATE` of the parent: under READ COMMITTED a racing rotation waits for
//! the row lock, re-reads, and matches nothing, so exactly one wins.

use super::audit::insert_events;
use super::{repo_error, PostgresStore};
use crate::adapters::sql::{refresh_token_columns, session_columns, session_use, token_hash};
use crate::core::audit::AuditEvent;
use crate::core::refresh::TokenHash;
use crate::core::session::{SessionId, SessionUse};
use crate::core::user::{CredentialEpoch, UnixSeconds, UserId};
use crate::ports::{RefreshRecord, RepoError, RotateOutcome, SessionRecord, SessionRepo};
use anyhow::anyhow;
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, Row as _};
use uuid::Uuid;

fn session_from_row(row: &PgRow) -> Result<SessionRecord, RepoError> {
    Ok(SessionRecord {
        id: SessionId::from_uuid(row.try_get("id").map_err(repo_error)?),
        user_id: UserId::from_uuid(row.try_get("user_id").map_err(repo_error)?),
        created_at: UnixSeconds::new(row.try_get("created_at").map_err(repo_error)?),
        revoked_at: row.try_get::<Option<i64>, _>("revoked_at").map_err(repo_error)?.map(UnixSeconds::new),
        credential_epoch: CredentialEpoch::new(row.try_get("credential_epoch").map_err(repo_error)?),
        last_use: session_use(
            row.try_get("last_used_at").map_err(repo_error)?,
            row.try_get::<Option<String>, _>("last_ip").map_err(repo_error)?.as_deref(),
            row.try_get::<Option<String>, _>("last_user_agent").map_err(repo_error)?.as_deref(),
        )?,
    })
}

/// Whether `user` is active in `epoch` and, when named, `session` is live
/// in it too. `FOR SHARE` holds the user row until the caller's transaction
/// ends, so a cut-off (which updates that row first) waits for the write
/// this check guards, or, if it came first, is what this check reads.
async fn epoch_holds(
    connection: &mut sqlx::PgConnection,
    user: UserId,
    session: Option<SessionId>,
    epoch: CredentialEpoch,
) -> Result<bool, RepoError> {
    let user_holds =
        sqlx::query("SELECT 1 FROM users WHERE id = $1 AND status = 'active' AND credential_epoch = $2 FOR SHARE")
            .bind(user.as_uuid())
            .bind(epoch.value())
            .fetch_optional(&mut *connection)
            .await
            .map_err(repo_error)?
            .is_some();
    let Some(session) = session.filter(|_| user_holds) else { return Ok(user_holds) };
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sessions \
         WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND credential_epoch = $3)",
    )
    .bind(session.as_uuid())
    .bind(user.as_uuid())
    .bind(epoch.value())
    .fetch_one(&mut *connection)
    .await
    .map_err(repo_error)
}

fn refresh_token_from_row(row: &PgRow) -> Result<RefreshRecord, RepoError> {
    let stored_hash: Vec<u8> = row.try_get("token_hash").map_err(repo_error)?;
    Ok(RefreshRecord {
        token_hash: token_hash(&stored_hash)?,
        session_id: SessionId::from_uuid(row.try_get("session_id").map_err(repo_error)?),
        user_id: UserId::from_uuid(row.try_get("user_id").map_err(repo_error)?),
        issued_at: UnixSeconds::new(row.try_get("issued_at").map_err(repo_error)?),
        expires_at: UnixSeconds::new(row.try_get("expires_at").map_err(repo_error)?),
        rotated_at: row.try_get::<Option<i64>, _>("rotated_at").map_err(repo_error)?.map(UnixSeconds::new),
    })
}

async fn insert_refresh_token<'e>(executor: impl PgExecutor<'e>, record: &RefreshRecord) -> Result<(), RepoError> {
    sqlx::query(concat!("INSERT INTO refresh_tokens (", refresh_token_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6)"))
        .bind(record.token_hash.as_slice())
        .bind(record.session_id.as_uuid())
        .bind(record.user_id.as_uuid())
        .bind(record.issued_at.seconds())
        .bind(record.expires_at.seconds())
        .bind(record.rotated_at.map(UnixSeconds::seconds))
        .execute(executor)
        .await
        .map_err(repo_error)?;
    Ok(())
}

#[async_trait]
impl SessionRepo for PostgresStore {
    async fn create(
        &self,
        session: &SessionRecord,
        first: &RefreshRecord,
        audit: &[AuditEvent],
    ) -> Result<bool, RepoError> {
        let mut transaction = self.pool.begin().await.map_err(repo_error)?;
        if !epoch_holds(&mut transaction, session.user_id, None, session.credential_epoch).await? {
            return Ok(false);
        }
        sqlx::query(concat!("INSERT INTO sessions (", session_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
            .bind(session.id.as_uuid())
            .bind(session.user_id.as_uuid())
            .bind(session.created_at.seconds())
            .bind(session.revoked_at.map(UnixSeconds::seconds))
            .bind(session.credential_epoch.value())
            .bind(session.last_use.at.seconds())
            .bind(session.last_use.ip.map(|ip| ip.to_string()))
            .bind(session.last_use.user_agent.as_ref().map(|agent| agent.as_str().to_owned()))
            .execute(&mut *transaction)
            .await
            .map_err(repo_error)?;
        insert_refresh_token(&mut *transaction, first).await?;
        insert_events(&mut transaction, audit).await?;
        transaction.commit().await.map_err(repo_error)?;
        Ok(true)
    }

    async fn session(&self, id: SessionId) -> Result<Option<SessionRecord>, RepoError> {
        sqlx::query(concat!("SELECT ", session_columns!(), " FROM sessions WHERE id = $1"))
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(repo_error)?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    async fn refresh_token(&self, hash: &TokenHash) -> Result<Option<RefreshRecord>, RepoError> {
        sqlx::query(concat!("SELECT ", refresh_token_columns!(), " FROM refresh_tokens WHERE token_hash = $1"))
            .bind(hash.as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(repo_error)?
            .as_ref()
            .map(refresh_token_from_row)
            .transpose()
    }

    async fn rotate(
        &self,
        parent: &TokenHash,
        child: &RefreshRecord,
        epoch: CredentialEpoch,
        now: UnixSeconds,
    ) -> Result<RotateOutcome, RepoError> {
        let mut transaction = self.pool.begin().await.map_err(repo_error)?;
        if !epoch_holds(&mut transaction, child.user_id, Some(child.session_id), epoch).await? {
            return Ok(RotateOutcome::Refused);
        }
        // A racing rotation holds the parent's row lock until it commits;
        // this UPDATE then re-reads the row, finds `rotated_at` set and
        // matches nothing. So exactly one racer marks it.
        let marked = sqlx::query(
            "UPDATE refresh_tokens SET rotated_at = $1 \
             WHERE token_hash = $2 AND rotated_at IS NULL",
        )
        .bind(now.seconds())
        .bind(parent.as_slice())
        .execute(&mut *transaction)
        .await
        .map_err(repo_error)?
        .rows_affected();
        if marked == 0 {
            // A new statement, so a new snapshot: it sees the winner's commit.
            let rotated_at: Option<Option<i64>> =
                sqlx::query_scalar("SELECT rotated_at FROM refresh_tokens WHERE token_hash = $1")
                    .bind(parent.as_slice())
                    .fetch_optional(&mut *transaction)
                    .await
                    .map_err(repo_error)?;
            return match rotated_at {
                Some(Some(at)) => Ok(RotateOutcome::AlreadyRotated { at: UnixSeconds::new(at) }),
                _ => Err(RepoError::Unexpected(anyhow!("the refresh token to rotate is not stored"))),
            };
        }
        insert_refresh_token(&mut *transaction, child).await?;
        transaction.commit().await.map_err(repo_error)?;
        Ok(RotateOutcome::Rotated)
    }

    async fn ensure_refresh_token(&self, child: &RefreshRecord, epoch: CredentialEpoch) -> Result<bool, RepoError> {
        let mut transaction = self.pool.begin().await.map_err(repo_error)?;
        if !epoch_holds(&mut transaction, child.user_id, Some(child.session_id), epoch).await? {
            return Ok(false);
        }
        sqlx::query(concat!(
            "INSERT INTO refresh_tokens (",
            refresh_token_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token_hash) DO NOTHING"
        ))
        .bind(child.token_hash.as_slice())
        .bind(child.session_id.as_uuid())
        .bind(child.user_id.as_uuid())
        .bind(child.issued_at.seconds())
        .bind(child.expires_at.seconds())
        .bind(child.rotated_at.map(UnixSeconds::seconds))
        .execute(&mut *transaction)
        .await
        .map_err(repo_error)?;
        transaction.commit().await.map_err(repo_error)?;
        Ok(true)
    }

    async fn revoke(&self, id: SessionId, now: UnixSeconds, audit: &[AuditEvent]) -> Result<bool, RepoError> {
        let mut transaction = self.pool.begin().await.map_err(repo_error)?;
        let revoked = sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now.seconds())
            .bind(id.as_uuid())
            .execute(&mut *transaction)
            .await
            .map_err(repo_error)?
            .rows_affected();
        insert_events(&mut transaction, audit).await?;
        transaction.commit().await.map_err(repo_error)?;
        Ok(revoked > 0)
    }

    async fn revoke_all(
        &self,
        user: UserId,
        except: Option<SessionId>,
        now: UnixSeconds,
    ) -> Result<Vec<SessionId>, RepoError> {
        sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $1 \
             WHERE user_id = $2 AND revoked_at IS NULL AND ($3::uuid IS NULL OR id <> $3) \
             RETURNING id",
        )
        .bind(now.seconds())
        .bind(user.as_uuid())
        .bind(except.map(|id| id.as_uuid()))
        .fetch_all(&self.pool)
        .await
        .map_err(repo_error)
        .map(|ids: Vec<Uuid>| ids.into_iter().map(SessionId::from_uuid).collect())
    }

    async fn list(
        &self,
        user: UserId,
        now: UnixSeconds,
        before: Option<SessionId>,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, RepoError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions s WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id < $2) \
             AND EXISTS (SELECT 1 FROM refresh_tokens t \
                 WHERE t.session_id = s.id AND t.user_id = s.user_id AND t.expires_at > $3) \
             ORDER BY id DESC LIMIT $4"
        ))
        .bind(user.as_uuid())
        .bind(before.map(|id| id.as_uuid()))
        .bind(now.seconds())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(repo_error)?;
        rows.iter().map(session_from_row).collect()
    }

    async fn end(
        &self,
        user: UserId,
        id: SessionId,
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<bool, RepoError> {
        let mut transaction = self.pool.begin().await.map_err(repo_error)?;
        let ended =
            sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL")
                .bind(now.seconds())
                .bind(id.as_uuid())
                .bind(user.as_uuid())
                .execute(&mut *transaction)
                .await
                .map_err(repo_error)?
                .rows_affected();
        if ended == 0 {
            return Ok(false);
        }
        insert_events(&mut transaction, audit).await?;
        transaction.commit().await.map_err(repo_error)?;
        Ok(true)
    }

    async fn record_use(&self, id: SessionId, used: &SessionUse) -> Result<(), RepoError> {
        sqlx::query("UPDATE sessions SET last_used_at = $1, last_ip = $2, last_user_agent = $3 WHERE id = $4")
            .bind(used.at.seconds())
            .bind(used.ip.map(|ip| ip.to_string()))
            .bind(used.user_agent.as_ref().map(|agent| agent.as_str().to_owned()))
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(repo_error)?;
        Ok(())
    }

    async fn purge_expired(&self, now: UnixSeconds) -> Result<u64, RepoError> {
        let purged = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
            .bind(now.seconds())
            .execute(&self.pool)
            .await
            .map_err(repo_error)?
            .rows_affected();
        Ok(purged)
    }
}

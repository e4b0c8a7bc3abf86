//! Second factors in PostgreSQL. Each compare-and-set is one conditional
//! statement (`UPDATE … WHERE last_step < $2`, `DELETE … WHERE …`): at READ
//! COMMITTED a racing writer waits for the row lock and re-checks the
//! condition, so only one wins. The writes that carry audit events run in
//! one transaction with them.

use super::audit::insert_events;
use super::{repo_error, PostgresStore};
use crate::adapters::sql::token_hash;
use crate::core::audit::AuditEvent;
use crate::core::refresh::TokenHash;
use crate::core::session::SessionId;
use crate::core::user::{UnixSeconds, UserId};
use crate::ports::{MfaChallenge, MfaRepo, RepoError, TotpRecord};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::Row as _;

fn totp_from_row(row: &PgRow) -> Result<TotpRecord, RepoError> {
    let user_id: uuid::Uuid = row.try_get("user_id").map_err(repo_error)?;
    Ok(TotpRecord {
        user_id: UserId::from_uuid(user_id),
        sealed_secret: row.try_get("sealed_secret").map_err(repo_error)?,
        created_at: UnixSeconds::new(row.try_get("created_at").map_err(repo_error)?),
        confirmed_at: row.try_get::<Option<i64>, _>("confirmed_at").map_err(repo_error)?.map(UnixSeconds::new),
        last_step: row.try_get("last_step").map_err(repo_error)?,
    })
}

#[async_trait]
impl MfaRepo for PostgresStore {
    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>, RepoError> {
        sqlx::query(
            "SELECT user_id, sealed_secret, created_at, confirmed_at, last_step FROM totp_enrolments WHERE user_id = $1",
        )
        .bind(user.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(repo_error)?
        .as_ref()
        .map(totp_from_row)
        .transpose()
    }

    async fn begin_totp(&self, record: &TotpRecord, audit: &[AuditEvent]) -> Result<bool, RepoError> {
        let mut transaction = self.pool.begin().await.map_err(repo_error)?;
        let stored = sqlx::query(
            "INSERT INTO totp_enrolments (user_id, sealed_secret, created_at, confirmed_at, last_step) \
             VALUES ($1, $2, $3, NULL, NULL) \
             ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, \
             created_at = excluded.created_at, last_step = NULL \
             WHERE totp_enrolments.confirmed_at IS NULL",
        )
        .bind(record.user_id.as_uuid())
        .bind(&record.sealed_secret)
        .bind(record.created_at.seconds())
        .execute(&mut *transaction)
        .await
        .map_err(repo_error)?
        .rows_affected()
            == 1;
        if stored {
            insert_events(&mut transaction, audit).await?;
        }
        transaction.commit().await.map_err(repo_error)?;
        Ok(stored)
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        sealed: &[u8],
        step: i64,
        recovery: &[TokenHash],
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<bool, RepoError> {
        let mut transaction = self.pool.begin().await.map_err(repo_error)?;
        let confirmed = sqlx::query(
            "UPDATE totp_enrolments SET confirmed_at = $3, last_step = $4 \
             WHERE user_id = $1 AND sealed_secret = $2 AND confirmed_at IS NULL",
        )
        .bind(user.as_uuid())
        .bind(sealed)
        .bind(now.seconds())
        .bind(step)
        .execute(&mut *transaction)
        .await
        .map_err(repo_error)?
        .rows_affected()
            == 1;
        if !confirmed {
            return Ok(false);
        }
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user.as_uuid())
            .execute(&mut *transaction)
            .await
            .map_err(repo_error)?;
        for code in recovery {
            sqlx::query("INSERT INTO recovery_codes (code_hash, user_id, used_at) VALUES ($1, $2, NULL)")
                .bind(code.as_slice())
                .bind(user.as_uuid())
                .execute(&mut *transaction)
                .await
                .map_err(repo_error)?;
        }
        insert_events(&mut transaction, audit).await?;
        transaction.commit().await.map_err(repo_error)?;
        Ok(true)
    }

    async fn accept_step(&self, user: UserId, step: i64) -> Result<bool, RepoError> {
        let updated = sqlx::query(
            "UPDATE totp_enrolments SET last_step = $2 \
             WHERE user_id = $1 AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < $2)",
        )
        .bind(user.as_uuid())
        .bind(step)
        .execute(&self.pool)
        .await
        .map_err(repo_error)?;
        Ok(updated.rows_affected() == 1)
    }

    async fn use_recovery_code(&self, user: UserId, code: &TokenHash, now: UnixSeconds) -> Result<bool, RepoError> {
        let updated = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 WHERE code_hash = $1 AND user_id = $2 AND used_at IS NULL",
        )
        .bind(code.as_slice())
        .bind(user.as_uuid())
        .bind(now.seconds())
        .execute(&self.pool)
        .await
        .map_err(repo_error)?;
        Ok(updated.rows_affected() == 1)
    }

    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, RepoError> {
        let left: i64 =
            sqlx::query_scalar("SELECT COUNT(*)::bigint FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
                .bind(user.as_uuid())
                .fetch_one(&self.pool)
                .await
                .map_err(repo_error)?;
        Ok(u32::try_from(left).unwrap_or(u32::MAX))
    }

    async fn remove_totp(&self, user: UserId, audit: &[AuditEvent]) -> Result<bool, RepoError> {
        let mut transaction = self.pool.begin().await.map_err(repo_error)?;
        let removed = sqlx::query("DELETE FROM totp_enrolments WHERE user_id = $1")
            .bind(user.as_uuid())
            .execute(&mut *transaction)
            .await
            .map_err(repo_error)?
            .rows_affected()
            == 1;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user.as_uuid())
            .execute(&mut *transaction)
            .await
            .map_err(repo_error)?;
        if removed {
            insert_events(&mut transaction, audit).await?;
        }
        transaction.commit().await.map_err(repo_error)?;
        Ok(removed)
    }

    async fn any_confirmed(&self) -> Result<bool, RepoError> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM totp_enrolments WHERE confirmed_at IS NOT NULL)")
            .fetch_one(&self.pool)
            .await
            .map_err(repo_error)
    }

    async fn create_challenge(&self, challenge: &MfaChallenge) -> Result<(), RepoError> {
        sqlx::query(
            "INSERT INTO mfa_challenges (token_hash, user_id, account, network, expires_at, reserved) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(challenge.token_hash.as_slice())
        .bind(challenge.user_id.as_uuid())
        .bind(&challenge.account)
        .bind(&challenge.network)
        .bind(challenge.expires_at.seconds())
        .bind(challenge.reserved)
        .execute(&self.pool)
        .await
        .map_err(repo_error)?;
        Ok(())
    }

    async fn challenge(&self, hash: &TokenHash, now: UnixSeconds) -> Result<Option<MfaChallenge>, RepoError> {
        let row = sqlx::query(
            "SELECT token_hash, user_id, account, network, expires_at, reserved FROM mfa_challenges \
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(hash.as_slice())
        .bind(now.seconds())
        .fetch_optional(&self.pool)
        .await
        .map_err(repo_error)?;
        let Some(row) = row else { return Ok(None) };
        let stored_hash: Vec<u8> = row.try_get("token_hash").map_err(repo_error)?;
        let user_id: uuid::Uuid = row.try_get("user_id").map_err(repo_error)?;
        Ok(Some(MfaChallenge {
            token_hash: token_hash(&stored_hash)?,
            user_id: UserId::from_uuid(user_id),
            account: row.try_get("account").map_err(repo_error)?,
            network: row.try_get("network").map_err(repo_error)?,
            expires_at: UnixSeconds::new(row.try_get("expires_at").map_err(repo_error)?),
            reserved: row.try_get("reserved").map_err(repo_error)?,
        }))
    }

    async fn take_challenge(&self, token_hash: &TokenHash, now: UnixSeconds) -> Result<bool, RepoError> {
        let deleted = sqlx::query("DELETE FROM mfa_challenges WHERE token_hash = $1 AND expires_at > $2")
            .bind(token_hash.as_slice())
            .bind(now.seconds())
            .execute(&self.pool)
            .await
            .map_err(repo_error)?;
        Ok(deleted.rows_affected() == 1)
    }

    async fn spend_reservation(&self, hash: &TokenHash) -> Result<bool, RepoError> {
        let updated =
            sqlx::query("UPDATE mfa_challenges SET reserved = false WHERE token_hash = $1 AND reserved = true")
                .bind(hash.as_slice())
                .execute(&self.pool)
                .await
                .map_err(repo_error)?;
        Ok(updated.rows_affected() == 1)
    }

    async fn mark_session(&self, session: SessionId) -> Result<(), RepoError> {
        sqlx::query("INSERT INTO mfa_sessions (session_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(session.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(repo_error)?;
        Ok(())
    }

    async fn session_marked(&self, session: SessionId) -> Result<bool, RepoError> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM mfa_sessions WHERE session_id = $1)")
            .bind(session.as_uuid())
            .fetch_one(&self.pool)
            .await
            .map_err(repo_error)
    }

    async fn purge_challenges(&self, now: UnixSeconds) -> Result<u64, RepoError> {
        let purged = sqlx::query("DELETE FROM mfa_challenges WHERE expires_at <= $1")
            .bind(now.seconds())
            .execute(&self.pool)
            .await
            .map_err(repo_error)?;
        Ok(purged.rows_affected())
    }
}

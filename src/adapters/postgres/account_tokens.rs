//! One-time account tokens in PostgreSQL. Taking a token is one
//! `DELETE … RETURNING`: a racing delete waits for the row lock and then
//! matches nothing, so exactly one use gets it. Issuing replaces the
//! user's older token of the purpose in the same transaction, under the
//! user's row lock.

use super::audit::insert_events;
use super::{repo_error, PostgresStore};
use crate::adapters::sql::{corrupt, token_hash};
use crate::core::audit::AuditEvent;
use crate::core::mail::{AccountTokenRecord, TokenPurpose};
use crate::core::refresh::TokenHash;
use crate::core::user::{CredentialEpoch, UnixSeconds, UserId};
use crate::ports::{AccountTokenRepo, RepoError};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::Row as _;

const COLUMNS: &str = "token_hash, user_id, purpose, credential_epoch, expires_at";

fn record_from_row(row: &PgRow) -> Result<AccountTokenRecord, RepoError> {
    let hash: Vec<u8> = row.try_get("token_hash").map_err(repo_error)?;
    let purpose: String = row.try_get("purpose").map_err(repo_error)?;
    Ok(AccountTokenRecord {
        token_hash: token_hash(&hash)?,
        user_id: UserId::from_uuid(row.try_get("user_id").map_err(repo_error)?),
        purpose: purpose.parse().map_err(|e| corrupt("token purpose", e))?,
        credential_epoch: CredentialEpoch::new(row.try_get("credential_epoch").map_err(repo_error)?),
        expires_at: UnixSeconds::new(row.try_get("expires_at").map_err(repo_error)?),
    })
}

#[async_trait]
impl AccountTokenRepo for PostgresStore {
    async fn issue_account_token(&self, record: &AccountTokenRecord, audit: &[AuditEvent]) -> Result<(), RepoError> {
        let mut transaction = self.pool.begin().await.map_err(repo_error)?;
        // The user's row lock orders racing requests of one user, so the
        // later one's delete sees the earlier one's token.
        sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
            .bind(record.user_id.as_uuid())
            .execute(&mut *transaction)
            .await
            .map_err(repo_error)?;
        sqlx::query("DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2")
            .bind(record.user_id.as_uuid())
            .bind(record.purpose.as_str())
            .execute(&mut *transaction)
            .await
            .map_err(repo_error)?;
        sqlx::query(&format!("INSERT INTO account_tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5)"))
            .bind(record.token_hash.as_slice())
            .bind(record.user_id.as_uuid())
            .bind(record.purpose.as_str())
            .bind(record.credential_epoch.value())
            .bind(record.expires_at.seconds())
            .execute(&mut *transaction)
            .await
            .map_err(repo_error)?;
        insert_events(&mut transaction, audit).await?;
        transaction.commit().await.map_err(repo_error)
    }

    async fn find_account_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
    ) -> Result<Option<AccountTokenRecord>, RepoError> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM account_tokens WHERE token_hash = $1 AND purpose = $2"))
            .bind(hash.as_slice())
            .bind(purpose.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(repo_error)?
            .as_ref()
            .map(record_from_row)
            .transpose()
    }

    async fn take_account_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
    ) -> Result<Option<AccountTokenRecord>, RepoError> {
        let row = sqlx::query(&format!(
            "DELETE FROM account_tokens WHERE token_hash = $1 AND purpose = $2 RETURNING {COLUMNS}"
        ))
        .bind(hash.as_slice())
        .bind(purpose.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(repo_error)?;
        row.as_ref().map(record_from_row).transpose()
    }

    async fn mark_email_verified(
        &self,
        user: UserId,
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<bool, RepoError> {
        let mut transaction = self.pool.begin().await.map_err(repo_error)?;
        let marked = sqlx::query("UPDATE users SET email_verified = true, updated_at = $1 WHERE id = $2")
            .bind(now.seconds())
            .bind(user.as_uuid())
            .execute(&mut *transaction)
            .await
            .map_err(repo_error)?
            .rows_affected()
            > 0;
        if marked {
            insert_events(&mut transaction, audit).await?;
        }
        transaction.commit().await.map_err(repo_error)?;
        Ok(marked)
    }

    async fn purge_account_tokens(&self, now: UnixSeconds) -> Result<u64, RepoError> {
        let purged = sqlx::query("DELETE FROM account_tokens WHERE expires_at <= $1")
            .bind(now.seconds())
            .execute(&self.pool)
            .await
            .map_err(repo_error)?
            .rows_affected();
        Ok(purged)
    }
}

//! One-time account tokens in SQLite. Taking a token is one
//! `DELETE … RETURNING`, so of racing uses exactly one gets it; issuing
//! replaces the user's older token of the purpose in the same transaction.

use super::audit::insert_events;
use super::{repo_error, SqliteStore};
use crate::adapters::sql::{corrupt, token_hash};
use crate::core::audit::AuditEvent;
use crate::core::mail::{AccountTokenRecord, TokenPurpose};
use crate::core::refresh::TokenHash;
use crate::core::user::{CredentialEpoch, UnixSeconds, UserId};
use crate::ports::{AccountTokenRepo, RepoError};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::Row as _;

const COLUMNS: &str = "token_hash, user_id, purpose, credential_epoch, expires_at";

fn record_from_row(row: &SqliteRow) -> Result<AccountTokenRecord, RepoError> {
    let hash: Vec<u8> = row.try_get("token_hash").map_err(repo_error)?;
    let user_id: String = row.try_get("user_id").map_err(repo_error)?;
    let purpose: String = row.try_get("purpose").map_err(repo_error)?;
    Ok(AccountTokenRecord {
        token_hash: token_hash(&hash)?,
        user_id: user_id.parse().map_err(|e| corrupt("user id", e))?,
        purpose: purpose.parse().map_err(|e| corrupt("token purpose", e))?,
        credential_epoch: CredentialEpoch::new(row.try_get("credential_epoch").map_err(repo_error)?),
        expires_at: UnixSeconds::new(row.try_get("expires_at").map_err(repo_error)?),
    })
}

#[async_trait]
impl AccountTokenRepo for SqliteStore {
    async fn issue_account_token(&self, record: &AccountTokenRecord, audit: &[AuditEvent]) -> Result<(), RepoError> {
        let mut transaction = self.begin_write().await?;
        sqlx::query("DELETE FROM account_tokens WHERE user_id = ?1 AND purpose = ?2")
            .bind(record.user_id.to_string())
            .bind(record.purpose.as_str())
            .execute(&mut *transaction)
            .await
            .map_err(repo_error)?;
        sqlx::query(&format!("INSERT INTO account_tokens ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"))
            .bind(record.token_hash.as_slice())
            .bind(record.user_id.to_string())
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
        sqlx::query(&format!("SELECT {COLUMNS} FROM account_tokens WHERE token_hash = ?1 AND purpose = ?2"))
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
        let mut transaction = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "DELETE FROM account_tokens WHERE token_hash = ?1 AND purpose = ?2 RETURNING {COLUMNS}"
        ))
        .bind(hash.as_slice())
        .bind(purpose.as_str())
        .fetch_optional(&mut *transaction)
        .await
        .map_err(repo_error)?;
        transaction.commit().await.map_err(repo_error)?;
        row.as_ref().map(record_from_row).transpose()
    }

    async fn mark_email_verified(
        &self,
        user: UserId,
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<bool, RepoError> {
        let mut transaction = self.begin_write().await?;
        let marked = sqlx::query("UPDATE users SET email_verified = 1, updated_at = ?1 WHERE id = ?2")
            .bind(now.seconds())
            .bind(user.to_string())
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
        let mut transaction = self.begin_write().await?;
        let purged = sqlx::query("DELETE FROM account_tokens WHERE expires_at <= ?1")
            .bind(now.seconds())
            .execute(&mut *transaction)
            .await
            .map_err(repo_error)?
            .rows_affected();
        transaction.commit().await.map_err(repo_error)?;
        Ok(purged)
    }
}

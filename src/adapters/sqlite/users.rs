//! Users in SQLite. The last-admin rule holds because its check and its
//! write share one `BEGIN IMMEDIATE` transaction; so does advancing the
//! credential epoch with ending or moving on the user's sessions, and
//! SQLite's single writer orders it against every session write.

use super::audit::insert_events;
use super::{repo_error, SqliteStore};
use crate::adapters::sql::{corrupt, insert_user_error, select_users, user_columns, StoredUser};
use crate::core::audit::AuditEvent;
use crate::core::email::Email;
use crate::core::password::PasswordHash;
use crate::core::session::EndSessions;
use crate::core::user::{CredentialEpoch, Role, UnixSeconds, User, UserChange, UserId, UserStatus};
use crate::ports::{RepoError, UserInsertError, UserRepo, UserUpdateError};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row as _, SqliteConnection, SqliteExecutor};

/// Reads a row of [`user_columns!`](crate::adapters::sql::user_columns).
fn user_from_row(row: &SqliteRow) -> Result<User, RepoError> {
    let id: String = row.try_get("id").map_err(repo_error)?;
    StoredUser {
        id: id.parse().map_err(|e| corrupt("user id", e))?,
        email: row.try_get("email").map_err(repo_error)?,
        password_hash: row.try_get("password_hash").map_err(repo_error)?,
        role: row.try_get("role").map_err(repo_error)?,
        status: row.try_get("status").map_err(repo_error)?,
        created_at: UnixSeconds::new(row.try_get("created_at").map_err(repo_error)?),
        updated_at: UnixSeconds::new(row.try_get("updated_at").map_err(repo_error)?),
        credential_epoch: row.try_get("credential_epoch").map_err(repo_error)?,
        email_verified: row.try_get("email_verified").map_err(repo_error)?,
    }
    .parse()
}

async fn fetch_user<'e>(executor: impl SqliteExecutor<'e>, id: UserId) -> Result<Option<User>, RepoError> {
    sqlx::query(select_users!("WHERE id = ?1"))
        .bind(id.to_string())
        .fetch_optional(executor)
        .await
        .map_err(repo_error)?
        .as_ref()
        .map(user_from_row)
        .transpose()
}

async fn other_active_admin_exists<'e>(executor: impl SqliteExecutor<'e>, except: UserId) -> Result<bool, RepoError> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users \
         WHERE role = ?1 AND status = ?2 AND id <> ?3)",
    )
    .bind(Role::Admin.as_str())
    .bind(UserStatus::Active.as_str())
    .bind(except.to_string())
    .fetch_one(executor)
    .await
    .map_err(repo_error)
}

/// Advances `id`'s epoch inside the caller's write transaction, ends the
/// sessions `ends` names and moves the user's other live sessions of the old
/// epoch on; `None` for an unknown id.
async fn advance_epoch_within(
    connection: &mut SqliteConnection,
    id: UserId,
    ends: EndSessions,
    now: UnixSeconds,
) -> Result<Option<CredentialEpoch>, RepoError> {
    let advanced: Option<i64> = sqlx::query_scalar(
        "UPDATE users SET credential_epoch = credential_epoch + 1, updated_at = ?1 \
         WHERE id = ?2 RETURNING credential_epoch",
    )
    .bind(now.seconds())
    .bind(id.to_string())
    .fetch_optional(&mut *connection)
    .await
    .map_err(repo_error)?;
    let Some(new) = advanced else { return Ok(None) };
    let keep = match ends {
        EndSessions::None => None,
        EndSessions::All => Some(None),
        EndSessions::AllBut(keep) => Some(Some(keep.to_string())),
    };
    if let Some(keep) = keep {
        sqlx::query(
            "UPDATE sessions SET revoked_at = ?1 \
             WHERE user_id = ?2 AND revoked_at IS NULL AND (?3 IS NULL OR id <> ?3)",
        )
        .bind(now.seconds())
        .bind(id.to_string())
        .bind(keep)
        .execute(&mut *connection)
        .await
        .map_err(repo_error)?;
    }
    sqlx::query(
        "UPDATE sessions SET credential_epoch = ?1 \
         WHERE user_id = ?2 AND revoked_at IS NULL AND credential_epoch = ?3",
    )
    .bind(new)
    .bind(id.to_string())
    .bind(new - 1)
    .execute(&mut *connection)
    .await
    .map_err(repo_error)?;
    Ok(Some(CredentialEpoch::new(new)))
}

#[async_trait]
impl UserRepo for SqliteStore {
    async fn insert(&self, user: &User, audit: &[AuditEvent]) -> Result<(), UserInsertError> {
        let mut transaction = self.begin_write().await?;
        sqlx::query(concat!("INSERT INTO users (", user_columns!(), ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"))
            .bind(user.id.to_string())
            .bind(user.email.as_str())
            .bind(user.password_hash.as_str())
            .bind(user.role.as_str())
            .bind(user.status.as_str())
            .bind(user.created_at.seconds())
            .bind(user.updated_at.seconds())
            .bind(user.credential_epoch.value())
            .bind(user.email_verified)
            .execute(&mut *transaction)
            .await
            .map_err(|error| insert_user_error(error, repo_error))?;
        insert_events(&mut transaction, audit).await?;
        transaction.commit().await.map_err(repo_error)?;
        Ok(())
    }

    async fn by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        sqlx::query(select_users!("WHERE email = ?1"))
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(repo_error)?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn by_id(&self, id: UserId) -> Result<Option<User>, RepoError> {
        fetch_user(&self.pool, id).await
    }

    async fn list(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>, RepoError> {
        sqlx::query(select_users!("WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2"))
            .bind(after.map(|id| id.to_string()))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(repo_error)?
            .iter()
            .map(user_from_row)
            .collect()
    }

    async fn set_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        ends: EndSessions,
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<Option<CredentialEpoch>, RepoError> {
        let mut transaction = self.begin_write().await?;
        sqlx::query("UPDATE users SET password_hash = ?1 WHERE id = ?2")
            .bind(hash.as_str())
            .bind(id.to_string())
            .execute(&mut *transaction)
            .await
            .map_err(repo_error)?;
        let epoch = advance_epoch_within(&mut transaction, id, ends, now).await?;
        if epoch.is_some() {
            insert_events(&mut transaction, audit).await?;
        }
        transaction.commit().await.map_err(repo_error)?;
        Ok(epoch)
    }

    async fn advance_epoch(
        &self,
        id: UserId,
        ends: EndSessions,
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<Option<CredentialEpoch>, RepoError> {
        let mut transaction = self.begin_write().await?;
        let epoch = advance_epoch_within(&mut transaction, id, ends, now).await?;
        if epoch.is_some() {
            insert_events(&mut transaction, audit).await?;
        }
        transaction.commit().await.map_err(repo_error)?;
        Ok(epoch)
    }

    async fn update(
        &self,
        id: UserId,
        change: UserChange,
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<User, UserUpdateError> {
        let mut transaction = self.begin_write().await?;
        let current = fetch_user(&mut *transaction, id).await?.ok_or(UserUpdateError::NotFound)?;
        if change.demotes(&current) && !other_active_admin_exists(&mut *transaction, id).await? {
            return Err(UserUpdateError::LastAdmin);
        }
        let mut updated = User {
            role: change.role.unwrap_or(current.role),
            status: change.status.unwrap_or(current.status),
            updated_at: now,
            ..current
        };
        sqlx::query("UPDATE users SET role = ?1, status = ?2, updated_at = ?3 WHERE id = ?4")
            .bind(updated.role.as_str())
            .bind(updated.status.as_str())
            .bind(now.seconds())
            .bind(id.to_string())
            .execute(&mut *transaction)
            .await
            .map_err(repo_error)?;
        if change.role.is_some() || change.status.is_some() {
            let ends = if updated.status == UserStatus::Active { EndSessions::None } else { EndSessions::All };
            let epoch = advance_epoch_within(&mut transaction, id, ends, now).await?;
            updated.credential_epoch = epoch.ok_or(UserUpdateError::NotFound)?;
        }
        insert_events(&mut transaction, audit).await?;
        transaction.commit().await.map_err(repo_error)?;
        Ok(updated)
    }

    async fn delete(&self, id: UserId, audit: &[AuditEvent]) -> Result<(), UserUpdateError> {
        let mut transaction = self.begin_write().await?;
        let current = fetch_user(&mut *transaction, id).await?.ok_or(UserUpdateError::NotFound)?;
        if current.is_active_admin() && !other_active_admin_exists(&mut *transaction, id).await? {
            return Err(UserUpdateError::LastAdmin);
        }
        // Sessions and refresh tokens go with the user (ON DELETE CASCADE).
        sqlx::query("DELETE FROM users WHERE id = ?1")
            .bind(id.to_string())
            .execute(&mut *transaction)
            .await
            .map_err(repo_error)?;
        insert_events(&mut transaction, audit).await?;
        transaction.commit().await.map_err(repo_error)?;
        Ok(())
    }

    async fn replace_hash(
        &self,
        id: UserId,
        old: &PasswordHash,
        new: &PasswordHash,
        audit: &[AuditEvent],
    ) -> Result<bool, RepoError> {
        let mut transaction = self.begin_write().await?;
        let replaced = sqlx::query("UPDATE users SET password_hash = ?1 WHERE id = ?2 AND password_hash = ?3")
            .bind(new.as_str())
            .bind(id.to_string())
            .bind(old.as_str())
            .execute(&mut *transaction)
            .await
            .map_err(repo_error)?
            .rows_affected()
            > 0;
        if replaced {
            insert_events(&mut transaction, audit).await?;
        }
        transaction.commit().await.map_err(repo_error)?;
        Ok(replaced)
    }

    async fn has_active_admin(&self) -> Result<bool, RepoError> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE role = ?1 AND status = ?2)")
            .bind(Role::Admin.as_str())
            .bind(UserStatus::Active.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(repo_error)
    }

    async fn ping(&self) -> Result<(), RepoError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(repo_error)?;
        Ok(())
    }
}

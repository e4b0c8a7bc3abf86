//! Users in PostgreSQL. E-mails are unique through an index on
//! `lower(email)`; the last-admin rule holds because every change of a
//! role or status, and every deletion, takes one advisory lock for its
//! transaction.

use super::audit::insert_events;
use super::{repo_error, PostgresStore};
use crate::adapters::sql::{insert_user_error, select_users, user_columns, StoredUser};
use crate::core::audit::AuditEvent;
use crate::core::email::Email;
use crate::core::password::PasswordHash;
use crate::core::session::EndSessions;
use crate::core::user::{CredentialEpoch, UnixSeconds, User, UserChange, UserId, UserStatus};
use crate::ports::{RepoError, UserInsertError, UserRepo, UserUpdateError};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgExecutor, Row as _};

/// The advisory lock every change of a user's role or status, and every
/// deletion, holds for its transaction. It is a pair of `int4` keys, which
/// PostgreSQL keeps apart from the single `bigint` keys sqlx's migrator
/// locks with; the first key spells "PCLS".
const ADMIN_CHANGES_LOCK: (i32, i32) = (0x5043_4C53, 1);

/// Reads a row of [`user_columns!`](crate::adapters::sql::user_columns).
fn user_from_row(row: &PgRow) -> Result<User, RepoError> {
    StoredUser {
        id: UserId::from_uuid(row.try_get("id").map_err(repo_error)?),
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

async fn fetch_user<'e>(executor: impl PgExecutor<'e>, id: UserId) -> Result<Option<User>, RepoError> {
    sqlx::query(select_users!("WHERE id = $1"))
        .bind(id.as_uuid())
        .fetch_optional(executor)
        .await
        .map_err(repo_error)?
        .as_ref()
        .map(user_from_row)
        .transpose()
}

async fn other_active_admin_exists<'e>(executor: impl PgExecutor<'e>, except: UserId) -> Result<bool, RepoError> {
    // Literal role and status, not parameters, so the planner can match
    // the partial index `users_active_admins`.
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users \
         WHERE role = 'admin' AND status = 'active' AND id <> $1)",
    )
    .bind(except.as_uuid())
    .fetch_one(executor)
    .await
    .map_err(repo_error)
}

/// Advances `id`'s epoch inside the caller's transaction, ends the sessions
/// `ends` names and moves the user's other live sessions of the old epoch
/// on; `None` for an unknown id. The `UPDATE` takes the user row's lock:
/// session writes hold it shared (`FOR SHARE`) while they check the epoch,
/// so each of them commits wholly before this or sees its result.
async fn advance_epoch_within(
    connection: &mut PgConnection,
    id: UserId,
    ends: EndSessions,
    now: UnixSeconds,
) -> Result<Option<CredentialEpoch>, RepoError> {
    let advanced: Option<i64> = sqlx::query_scalar(
        "UPDATE users SET credential_epoch = credential_epoch + 1, updated_at = $1 \
         WHERE id = $2 RETURNING credential_epoch",
    )
    .bind(now.seconds())
    .bind(id.as_uuid())
    .fetch_optional(&mut *connection)
    .await
    .map_err(repo_error)?;
    let Some(new) = advanced else { return Ok(None) };
    let keep = match ends {
        EndSessions::None => None,
        EndSessions::All => Some(None),
        EndSessions::AllBut(keep) => Some(Some(keep.as_uuid())),
    };
    if let Some(keep) = keep {
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 \
             WHERE user_id = $2 AND revoked_at IS NULL AND ($3::uuid IS NULL OR id <> $3)",
        )
        .bind(now.seconds())
        .bind(id.as_uuid())
        .bind(keep)
        .execute(&mut *connection)
        .await
        .map_err(repo_error)?;
    }
    sqlx::query(
        "UPDATE sessions SET credential_epoch = $1 \
         WHERE user_id = $2 AND revoked_at IS NULL AND credential_epoch = $3",
    )
    .bind(new)
    .bind(id.as_uuid())
    .bind(new - 1)
    .execute(&mut *connection)
    .await
    .map_err(repo_error)?;
    Ok(Some(CredentialEpoch::new(new)))
}

impl PostgresStore {
    /// Starts a transaction that changes a user's role or status, or
    /// deletes one, after every other such transaction has ended.
    ///
    /// Under READ COMMITTED, two admins demoting each other could each see
    /// the other still active and both succeed. Holding one advisory lock
    /// for the whole transaction makes these changes take turns, and each
    /// reads only after the previous one committed. Inserts and password
    /// changes need not take it: an insert can only add an admin, and a
    /// password change touches neither role nor status.
    pub(super) async fn begin_admin_change(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, RepoError> {
        let mut transaction = self.pool.begin().await.map_err(repo_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(ADMIN_CHANGES_LOCK.0)
            .bind(ADMIN_CHANGES_LOCK.1)
            .execute(&mut *transaction)
            .await
            .map_err(repo_error)?;
        Ok(transaction)
    }
}

#[async_trait]
impl UserRepo for PostgresStore {
    async fn insert(&self, user: &User, audit: &[AuditEvent]) -> Result<(), UserInsertError> {
        let mut transaction = self.pool.begin().await.map_err(repo_error)?;
        sqlx::query(concat!("INSERT INTO users (", user_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
            .bind(user.id.as_uuid())
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
        // `lower(...)` on both sides so the lookup uses the unique index.
        sqlx::query(select_users!("WHERE lower(email) = lower($1)"))
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
        // Two statements rather than `$1 IS NULL OR id > $1`, so the planner
        // always sees a plain range on the primary key.
        let query = match after {
            Some(after) => sqlx::query(select_users!("WHERE id > $1 ORDER BY id LIMIT $2")).bind(after.as_uuid()),
            None => sqlx::query(select_users!("ORDER BY id LIMIT $1")),
        };
        query
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
        let mut transaction = self.pool.begin().await.map_err(repo_error)?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash.as_str())
            .bind(id.as_uuid())
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
        let mut transaction = self.pool.begin().await.map_err(repo_error)?;
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
        let mut transaction = self.begin_admin_change().await?;
        let current = fetch_user(&mut *transaction, id).await?.ok_or(UserUpdateError::NotFound)?;
        if change.demotes(&current) && !other_active_admin_exists(&mut *transaction, id).await? {
            return Err(UserUpdateError::LastAdmin);
        }
        // RETURNING, so a password changed meanwhile is not reported stale.
        let row = sqlx::query(concat!(
            "UPDATE users SET role = $1, status = $2, updated_at = $3 WHERE id = $4 RETURNING ",
            user_columns!()
        ))
        .bind(change.role.unwrap_or(current.role).as_str())
        .bind(change.status.unwrap_or(current.status).as_str())
        .bind(now.seconds())
        .bind(id.as_uuid())
        .fetch_one(&mut *transaction)
        .await
        .map_err(repo_error)?;
        let mut updated = user_from_row(&row)?;
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
        let mut transaction = self.begin_admin_change().await?;
        let current = fetch_user(&mut *transaction, id).await?.ok_or(UserUpdateError::NotFound)?;
        if current.is_active_admin() && !other_active_admin_exists(&mut *transaction, id).await? {
            return Err(UserUpdateError::LastAdmin);
        }
        // Sessions and refresh tokens go with the user (ON DELETE CASCADE).
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.as_uuid())
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
        let mut transaction = self.pool.begin().await.map_err(repo_error)?;
        // One conditional UPDATE: the row lock it takes orders it against a
        // concurrent password change, whose new hash then fails the check.
        let replaced = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
            .bind(new.as_str())
            .bind(id.as_uuid())
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
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND status = 'active')")
            .fetch_one(&self.pool)
            .await
            .map_err(repo_error)
    }

    async fn ping(&self) -> Result<(), RepoError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(repo_error)?;
        Ok(())
    }
}

//! SQLite storage for users, sessions, refresh tokens and revocations,
//! through sqlx.
//!
//! For a single replica: one file on local disk, in WAL mode so reads do
//! not wait for writes. Every read-check-write runs in a `BEGIN IMMEDIATE`
//! transaction, which takes SQLite's one write lock up front, so the check
//! and the write cannot be separated by another writer.
//!
//! No sqlx type may leave this module: driver errors become [`RepoError`]
//! (or [`UserInsertError::EmailTaken`] for a duplicate address) here. The
//! database URL never appears in an error or a log line.

use crate::core::email::Email;
use crate::core::password::PasswordHash;
use crate::core::refresh::TokenHash;
use crate::core::revocation::Revocation;
use crate::core::session::SessionId;
use crate::core::user::{Role, UnixSeconds, User, UserChange, UserId, UserStatus};
use crate::ports::{
    RefreshRecord, RepoError, RevocationStore, RotateOutcome, SchemaStatus, SessionRecord, SessionRepo,
    UserInsertError, UserRepo, UserUpdateError,
};
use anyhow::{anyhow, Context as _};
use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{Row as _, SqliteExecutor};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

/// The schema, compiled into the binary so a deployment cannot run against
/// migrations other than the ones it was built with.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another connection's write lock before
/// giving up with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite's primary result codes for "another connection holds the lock"
/// (`SQLITE_BUSY`) and "a table is locked" (`SQLITE_LOCKED`); the low byte of
/// an extended code is its primary code.
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;

/// Users, sessions, refresh tokens and revocations in one SQLite database.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

/// Opens (creating it if needed) the database at `url` and brings its
/// schema up to date.
///
/// `url` is `sqlite:PATH`, `sqlite://PATH` or `sqlite::memory:`. The parent
/// directory of a file is created if missing. An in-memory database lives in
/// a single connection that is never closed, so every query sees the same
/// data and it lasts as long as the store.
///
/// # Errors
/// When the URL cannot be parsed, the directory cannot be created, the
/// database cannot be opened or a migration fails. The messages never
/// contain the URL.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<SqliteStore> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|_| anyhow!("the SQLite database URL is malformed"))?
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    let pool = if is_in_memory(url) {
        SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
    } else {
        create_parent_directory(options.get_filename())?;
        SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options.journal_mode(SqliteJournalMode::Wal))
            .await
    }
    .context("could not open the SQLite database")?;
    MIGRATOR.run(&pool).await.context("could not migrate the SQLite database")?;
    Ok(SqliteStore { pool })
}

/// Whether `url` names a database that lives only in memory, in any of the
/// spellings sqlx accepts.
fn is_in_memory(url: &str) -> bool {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:" || params.split('&').any(|param| param == "mode=memory")
}

fn create_parent_directory(database: &Path) -> anyhow::Result<()> {
    match database.parent() {
        Some(directory) if !directory.as_os_str().is_empty() && !directory.exists() => {
            std::fs::create_dir_all(directory).context("could not create the directory for the SQLite database")
        }
        _ => Ok(()),
    }
}

#[async_trait]
impl SchemaStatus for SqliteStore {
    /// Whether every migration compiled into this binary has been applied
    /// (another replica may have run newer ones; that is its business).
    async fn migrations_current(&self) -> Result<bool, RepoError> {
        let Some(latest) = MIGRATOR
            .iter()
            .filter(|migration| migration.migration_type.is_up_migration())
            .map(|migration| migration.version)
            .max()
        else {
            return Ok(true);
        };
        let table_exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master \
             WHERE type = 'table' AND name = '_sqlx_migrations')",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(repo_error)?;
        if !table_exists {
            return Ok(false);
        }
        let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(repo_error)?;
        Ok(applied.is_some_and(|applied| applied >= latest))
    }
}

/// Sorts a driver error into the port's two kinds: worth retrying later, or not.
fn repo_error(error: sqlx::Error) -> RepoError {
    let transient = match &error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => database
            .code()
            .and_then(|code| code.parse::<i64>().ok())
            .is_some_and(|code| matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED)),
        _ => false,
    };
    let error = anyhow::Error::new(error);
    if transient {
        RepoError::Unavailable(error)
    } else {
        RepoError::Unexpected(error)
    }
}

/// A stored value this code cannot have written: the database was changed
/// behind its back.
fn corrupt(column: &'static str, error: impl Into<anyhow::Error>) -> RepoError {
    RepoError::Unexpected(error.into().context(format!("stored {column} is not valid")))
}

fn is_email_taken(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|database| database.is_unique_violation() && database.message().contains("users.email"))
}

/// The user columns, in the order [`user_from_row`] reads them.
macro_rules! select_users {
    ($rest:literal) => {
        concat!("SELECT id, email, password_hash, role, status, created_at, updated_at FROM users ", $rest)
    };
}

fn user_from_row(row: &SqliteRow) -> Result<User, RepoError> {
    let id: String = row.try_get("id").map_err(repo_error)?;
    let email: String = row.try_get("email").map_err(repo_error)?;
    let role: String = row.try_get("role").map_err(repo_error)?;
    let status: String = row.try_get("status").map_err(repo_error)?;
    Ok(User {
        id: id.parse().map_err(|e| corrupt("user id", e))?,
        email: Email::parse(&email).map_err(|e| corrupt("email", e))?,
        password_hash: PasswordHash::new(row.try_get::<String, _>("password_hash").map_err(repo_error)?),
        role: role.parse::<Role>().map_err(|e| corrupt("role", e))?,
        status: status.parse::<UserStatus>().map_err(|e| corrupt("status", e))?,
        created_at: row.try_get("created_at").map_err(repo_error)?,
        updated_at: row.try_get("updated_at").map_err(repo_error)?,
    })
}

fn session_from_row(row: &SqliteRow) -> Result<SessionRecord, RepoError> {
    let id: String = row.try_get("id").map_err(repo_error)?;
    let user_id: String = row.try_get("user_id").map_err(repo_error)?;
    Ok(SessionRecord {
        id: id.parse().map_err(|e| corrupt("session id", e))?,
        user_id: user_id.parse().map_err(|e| corrupt("user id", e))?,
        created_at: row.try_get("created_at").map_err(repo_error)?,
        revoked_at: row.try_get("revoked_at").map_err(repo_error)?,
    })
}

fn refresh_token_from_row(row: &SqliteRow) -> Result<RefreshRecord, RepoError> {
    let token_hash: Vec<u8> = row.try_get("token_hash").map_err(repo_error)?;
    let session_id: String = row.try_get("session_id").map_err(repo_error)?;
    let user_id: String = row.try_get("user_id").map_err(repo_error)?;
    Ok(RefreshRecord {
        token_hash: TokenHash::try_from(token_hash.as_slice()).map_err(|e| corrupt("refresh token hash", e))?,
        session_id: session_id.parse().map_err(|e| corrupt("session id", e))?,
        user_id: user_id.parse().map_err(|e| corrupt("user id", e))?,
        issued_at: row.try_get("issued_at").map_err(repo_error)?,
        expires_at: row.try_get("expires_at").map_err(repo_error)?,
        rotated_at: row.try_get("rotated_at").map_err(repo_error)?,
    })
}

/// How a revocation is keyed in the `revocations` table.
fn revocation_from_row(row: &SqliteRow) -> Result<Revocation, RepoError> {
    let kind: String = row.try_get("kind").map_err(repo_error)?;
    let subject: String = row.try_get("subject").map_err(repo_error)?;
    let cutoff: Option<UnixSeconds> = row.try_get("cutoff").map_err(repo_error)?;
    let until: UnixSeconds = row.try_get("until").map_err(repo_error)?;
    let subject = Uuid::parse_str(&subject).map_err(|e| corrupt("revocation subject", e))?;
    Revocation::from_parts(&kind, subject, cutoff, until)
        .ok_or_else(|| corrupt("revocation", anyhow!("kind {kind:?} with cut-off {cutoff:?}")))
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

async fn insert_refresh_token<'e>(executor: impl SqliteExecutor<'e>, record: &RefreshRecord) -> Result<(), RepoError> {
    sqlx::query(
        "INSERT INTO refresh_tokens \
         (token_hash, session_id, user_id, issued_at, expires_at, rotated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(record.token_hash.as_slice())
    .bind(record.session_id.to_string())
    .bind(record.user_id.to_string())
    .bind(record.issued_at)
    .bind(record.expires_at)
    .bind(record.rotated_at)
    .execute(executor)
    .await
    .map_err(repo_error)?;
    Ok(())
}

impl SqliteStore {
    /// Starts a transaction that holds the write lock from its first
    /// statement, so what it reads cannot change before it writes.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, RepoError> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(repo_error)
    }
}

#[async_trait]
impl UserRepo for SqliteStore {
    async fn insert(&self, user: &User) -> Result<(), UserInsertError> {
        sqlx::query(
            "INSERT INTO users \
             (id, email, password_hash, role, status, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(user.id.to_string())
        .bind(user.email.as_str())
        .bind(user.password_hash.as_str())
        .bind(user.role.as_str())
        .bind(user.status.as_str())
        .bind(user.created_at)
        .bind(user.updated_at)
        .execute(&self.pool)
        .await
        .map_err(|error| {
            if is_email_taken(&error) {
                UserInsertError::EmailTaken
            } else {
                repo_error(error).into()
            }
        })?;
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

    async fn set_password(&self, id: UserId, hash: &PasswordHash, now: UnixSeconds) -> Result<(), RepoError> {
        sqlx::query("UPDATE users SET password_hash = ?1, updated_at = ?2 WHERE id = ?3")
            .bind(hash.as_str())
            .bind(now)
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(repo_error)?;
        Ok(())
    }

    async fn update(&self, id: UserId, change: UserChange, now: UnixSeconds) -> Result<User, UserUpdateError> {
        let mut transaction = self.begin_write().await?;
        let current = fetch_user(&mut *transaction, id).await?.ok_or(UserUpdateError::NotFound)?;
        if change.demotes(&current) && !other_active_admin_exists(&mut *transaction, id).await? {
            return Err(UserUpdateError::LastAdmin);
        }
        let updated = User {
            role: change.role.unwrap_or(current.role),
            status: change.status.unwrap_or(current.status),
            updated_at: now,
            ..current
        };
        sqlx::query("UPDATE users SET role = ?1, status = ?2, updated_at = ?3 WHERE id = ?4")
            .bind(updated.role.as_str())
            .bind(updated.status.as_str())
            .bind(now)
            .bind(id.to_string())
            .execute(&mut *transaction)
            .await
            .map_err(repo_error)?;
        transaction.commit().await.map_err(repo_error)?;
        Ok(updated)
    }

    async fn delete(&self, id: UserId) -> Result<(), UserUpdateError> {
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
        transaction.commit().await.map_err(repo_error)?;
        Ok(())
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

#[async_trait]
impl SessionRepo for SqliteStore {
    async fn create(&self, session: &SessionRecord, first: &RefreshRecord) -> Result<(), RepoError> {
        let mut transaction = self.begin_write().await?;
        sqlx::query("INSERT INTO sessions (id, user_id, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4)")
            .bind(session.id.to_string())
            .bind(session.user_id.to_string())
            .bind(session.created_at)
            .bind(session.revoked_at)
            .execute(&mut *transaction)
            .await
            .map_err(repo_error)?;
        insert_refresh_token(&mut *transaction, first).await?;
        transaction.commit().await.map_err(repo_error)
    }

    async fn session(&self, id: SessionId) -> Result<Option<SessionRecord>, RepoError> {
        sqlx::query("SELECT id, user_id, created_at, revoked_at FROM sessions WHERE id = ?1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(repo_error)?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    async fn refresh_token(&self, hash: &TokenHash) -> Result<Option<RefreshRecord>, RepoError> {
        sqlx::query(
            "SELECT token_hash, session_id, user_id, issued_at, expires_at, rotated_at \
             FROM refresh_tokens WHERE token_hash = ?1",
        )
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
        now: UnixSeconds,
    ) -> Result<RotateOutcome, RepoError> {
        let mut transaction = self.begin_write().await?;
        let marked = sqlx::query(
            "UPDATE refresh_tokens SET rotated_at = ?1 \
             WHERE token_hash = ?2 AND rotated_at IS NULL",
        )
        .bind(now)
        .bind(parent.as_slice())
        .execute(&mut *transaction)
        .await
        .map_err(repo_error)?
        .rows_affected();
        if marked == 0 {
            let rotated_at: Option<Option<UnixSeconds>> =
                sqlx::query_scalar("SELECT rotated_at FROM refresh_tokens WHERE token_hash = ?1")
                    .bind(parent.as_slice())
                    .fetch_optional(&mut *transaction)
                    .await
                    .map_err(repo_error)?;
            return match rotated_at {
                Some(Some(at)) => Ok(RotateOutcome::AlreadyRotated { at }),
                _ => Err(RepoError::Unexpected(anyhow!("the refresh token to rotate is not stored"))),
            };
        }
        insert_refresh_token(&mut *transaction, child).await?;
        transaction.commit().await.map_err(repo_error)?;
        Ok(RotateOutcome::Rotated)
    }

    async fn ensure_refresh_token(&self, child: &RefreshRecord) -> Result<(), RepoError> {
        sqlx::query(
            "INSERT INTO refresh_tokens \
             (token_hash, session_id, user_id, issued_at, expires_at, rotated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(child.token_hash.as_slice())
        .bind(child.session_id.to_string())
        .bind(child.user_id.to_string())
        .bind(child.issued_at)
        .bind(child.expires_at)
        .bind(child.rotated_at)
        .execute(&self.pool)
        .await
        .map_err(repo_error)?;
        Ok(())
    }

    async fn revoke(&self, id: SessionId, now: UnixSeconds) -> Result<bool, RepoError> {
        let revoked = sqlx::query("UPDATE sessions SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(repo_error)?
            .rows_affected();
        Ok(revoked > 0)
    }

    async fn revoke_all(
        &self,
        user: UserId,
        except: Option<SessionId>,
        now: UnixSeconds,
    ) -> Result<Vec<SessionId>, RepoError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = ?1 \
             WHERE user_id = ?2 AND revoked_at IS NULL AND (?3 IS NULL OR id <> ?3) \
             RETURNING id",
        )
        .bind(now)
        .bind(user.to_string())
        .bind(except.map(|id| id.to_string()))
        .fetch_all(&self.pool)
        .await
        .map_err(repo_error)?;
        ids.iter().map(|id| id.parse().map_err(|e| corrupt("session id", e))).collect()
    }

    async fn purge_expired(&self, now: UnixSeconds) -> Result<u64, RepoError> {
        let purged = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < ?1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(repo_error)?
            .rows_affected();
        Ok(purged)
    }
}

#[async_trait]
impl RevocationStore for SqliteStore {
    async fn record(&self, revocation: &Revocation) -> Result<(), RepoError> {
        let (kind, subject, cutoff) = (revocation.kind(), revocation.subject(), revocation.cutoff());
        // The same merge as the in-memory view: an earlier cut-off never
        // replaces a later one, and no entry is ever shortened.
        sqlx::query(
            "INSERT INTO revocations (kind, subject, cutoff, until, recorded_at) \
             VALUES (?1, ?2, ?3, ?4, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) \
             ON CONFLICT (kind, subject) DO UPDATE \
             SET cutoff = excluded.cutoff, until = MAX(revocations.until, excluded.until), \
                 recorded_at = excluded.recorded_at \
             WHERE excluded.cutoff IS NULL OR excluded.cutoff >= revocations.cutoff",
        )
        .bind(kind)
        .bind(subject.to_string())
        .bind(cutoff)
        .bind(revocation.until())
        .execute(&self.pool)
        .await
        .map_err(repo_error)?;
        Ok(())
    }

    async fn recorded_since(&self, since: i64, now: UnixSeconds) -> Result<(Vec<Revocation>, i64), RepoError> {
        let rows = sqlx::query(
            "SELECT kind, subject, cutoff, until, recorded_at FROM revocations WHERE recorded_at >= ?1 AND until > ?2",
        )
        .bind(since)
        .bind(now)
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
        let purged = sqlx::query("DELETE FROM revocations WHERE until <= ?1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(repo_error)?
            .rows_affected();
        Ok(purged)
    }
}

#[cfg(test)]
mod tests {
    use super::{connect, is_in_memory, SqliteStore};
    use crate::adapters::contract;
    use crate::ports::SchemaStatus;
    use std::sync::Arc;
    use tempfile::TempDir;

    /// A fresh database file in its own directory, removed when the
    /// directory is dropped.
    async fn fresh_store() -> (SqliteStore, TempDir) {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", directory.path().join("portcullis.db").display());
        let store = connect(&url, 4).await.expect("a fresh SQLite database");
        (store, directory)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_store_keeps_the_users_contract() {
        let (store, _directory) = fresh_store().await;
        contract::users_contract(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_store_keeps_the_sessions_contract() {
        let (store, _directory) = fresh_store().await;
        let store = Arc::new(store);
        contract::sessions_contract(store.as_ref(), store.clone()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_store_keeps_the_revocations_contract() {
        let (store, _directory) = fresh_store().await;
        contract::revocations_contract(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn an_in_memory_database_keeps_the_contract_too() {
        let store = Arc::new(connect("sqlite::memory:", 8).await.expect("an in-memory database"));
        assert!(store.migrations_current().await.expect("migrations readable"));
        contract::users_contract(store.as_ref()).await;
        let store = Arc::new(connect("sqlite::memory:", 8).await.expect("an in-memory database"));
        contract::sessions_contract(store.as_ref(), store.clone()).await;
        contract::revocations_contract(store.as_ref()).await;
    }

    #[tokio::test]
    async fn migrations_are_current_after_connecting() {
        let (store, _directory) = fresh_store().await;
        assert!(store.migrations_current().await.expect("migrations readable"));
    }

    #[tokio::test]
    async fn connecting_twice_to_the_same_file_is_fine() {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite:{}", directory.path().join("twice.db").display());
        let first = connect(&url, 2).await.expect("the first connection");
        let second = connect(&url, 2).await.expect("the second connection");
        assert!(first.migrations_current().await.expect("migrations readable"));
        assert!(second.migrations_current().await.expect("migrations readable"));
    }

    #[tokio::test]
    async fn missing_parent_directories_are_created() {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let path = directory.path().join("nested/deeper/portcullis.db");
        let store = connect(&format!("sqlite://{}", path.display()), 2).await.expect("a database in a new directory");
        assert!(path.exists());
        assert!(store.migrations_current().await.expect("migrations readable"));
    }

    #[tokio::test]
    async fn open_errors_do_not_reveal_the_url() {
        let directory = tempfile::tempdir().expect("a temporary directory");
        // A directory where the file should be: SQLite cannot open it.
        let path = directory.path().join("secret-name");
        std::fs::create_dir(&path).expect("a directory");
        let error = connect(&format!("sqlite:{}", path.display()), 1).await.err().expect("opening a directory fails");
        assert!(!format!("{error:#}").contains("secret-name"), "{error:#}");
    }

    #[test]
    fn in_memory_urls_are_recognised() {
        assert!(is_in_memory("sqlite::memory:"));
        assert!(is_in_memory("sqlite://:memory:"));
        assert!(is_in_memory("sqlite://?mode=memory&cache=shared"));
        assert!(!is_in_memory("sqlite:./data/portcullis.db"));
        assert!(!is_in_memory("sqlite://./data/portcullis.db?mode=rwc"));
    }
}

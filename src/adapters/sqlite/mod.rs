//! SQLite storage for users, sessions, refresh tokens and revocations,
//! through sqlx.
//!
//! For a single replica: one file on local disk, in WAL mode so reads do
//! not wait for writes. Every read-check-write runs in a `BEGIN IMMEDIATE`
//! transaction, which takes SQLite's one write lock up front, so the check
//! and the write cannot be separated by another writer.
//!
//! One module per port: [`users`], [`sessions`], [`revocations`],
//! [`audit`], [`mfa`]; what
//! they share with the PostgreSQL adapter is in [`super::sql`].
//!
//! No sqlx type may leave this module: driver errors become [`RepoError`]
//! (or [`crate::ports::UserInsertError::EmailTaken`] for a duplicate
//! address) here. The database URL never appears in an error or a log
//! line.

mod account_tokens;
mod audit;
mod mfa;
mod revocations;
mod sessions;
mod users;

use crate::ports::{PoolStatus, PoolUsage, RepoError, SchemaStatus};
use anyhow::{anyhow, Context as _};
use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Connection as _, TransactionManager as _};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

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
    pub(super) pool: SqlitePool,
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
            .after_release(released_clean)
            .connect_with(options)
            .await
    } else {
        create_parent_directory(options.get_filename())?;
        SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .after_release(released_clean)
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

impl PoolStatus for SqliteStore {
    fn pool_usage(&self) -> PoolUsage {
        super::sql::pool_usage(&self.pool)
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
pub(super) fn repo_error(error: sqlx::Error) -> RepoError {
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

impl SqliteStore {
    /// Starts a transaction that holds the write lock from its first
    /// statement, so what it reads cannot change before it writes.
    ///
    /// Begun in a task of its own, which runs to the end even when the
    /// caller is dropped: sqlx's SQLite driver counts a custom `BEGIN` as
    /// open before it checks it, and a caller dropped between the two left
    /// no transaction to roll back, so the connection went back to the pool
    /// holding the write lock. A transaction begun for a caller that is gone
    /// now drops in the task, which rolls it back.
    pub(super) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, RepoError> {
        let pool = self.pool.clone();
        match tokio::spawn(async move { pool.begin_with("BEGIN IMMEDIATE").await }).await {
            Ok(begun) => begun.map_err(repo_error),
            Err(failed) => Err(RepoError::Unexpected(anyhow::Error::new(failed).context("beginning a transaction"))),
        }
    }
}

/// Whether a connection coming back to the pool may be lent again: only
/// with no transaction open. A transaction dropped by its owner is rolled
/// back by a command its connection may not have run yet; one still open
/// once it has (a rollback that failed) is rolled back here, and a
/// connection that cannot be is closed rather than lent out holding
/// SQLite's one write lock.
fn released_clean(
    connection: &mut sqlx::SqliteConnection,
    _: sqlx::pool::PoolConnectionMetadata,
) -> Pin<Box<dyn Future<Output = Result<bool, sqlx::Error>> + Send + '_>> {
    type Transactions = <sqlx::Sqlite as sqlx::Database>::TransactionManager;
    Box::pin(async move {
        if Transactions::get_transaction_depth(connection) == 0 {
            return Ok(true);
        }
        // Runs after every command already queued, the rollback included.
        connection.ping().await?;
        if Transactions::get_transaction_depth(connection) > 0 {
            tracing::warn!("a pooled SQLite connection came back inside a transaction; rolling it back");
            while Transactions::get_transaction_depth(connection) > 0 {
                Transactions::rollback(connection).await?;
            }
        }
        Ok(true)
    })
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
    async fn sqlite_store_survives_abandoned_writes() {
        let (store, _directory) = fresh_store().await;
        contract::abandoned_writes_contract(Arc::new(store)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_store_keeps_the_sessions_contract() {
        let (store, _directory) = fresh_store().await;
        let store = Arc::new(store);
        contract::sessions_contract(store.as_ref(), store.clone()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_store_keeps_the_account_tokens_contract() {
        let (store, _directory) = fresh_store().await;
        contract::account_tokens_contract(Arc::new(store)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_store_keeps_the_audit_contract() {
        let (store, _directory) = fresh_store().await;
        contract::audit_contract(&store, &store, &store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_store_keeps_the_mfa_contract() {
        let (store, _directory) = fresh_store().await;
        let store = Arc::new(store);
        contract::mfa_contract(store.as_ref(), store.as_ref(), store.clone()).await;
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
        let store = Arc::new(connect("sqlite::memory:", 8).await.expect("an in-memory database"));
        contract::abandoned_writes_contract(store).await;
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

//! PostgreSQL storage for users, sessions, refresh tokens and revocations,
//! through sqlx.
//!
//! For several replicas sharing one database. Transactions run at
//! PostgreSQL's default READ COMMITTED, so every read-check-write says how
//! it stays atomic: a unique index for e-mails, a conditional `UPDATE` for
//! rotation, and one transaction-scoped advisory lock for the last-admin
//! rule. Migrations run under sqlx's own advisory lock, so replicas that
//! start together apply them once.
//!
//! One module per port: [`users`], [`sessions`], [`revocations`],
//! [`audit`], [`mfa`]; what they share with the SQLite adapter is in [`super::sql`].
//!
//! No sqlx type may leave this module: driver errors become [`RepoError`]
//! (or [`crate::ports::UserInsertError::EmailTaken`] for a duplicate
//! address) here. The database URL appears in an error only with its
//! password masked.

mod account_tokens;
mod audit;
mod mfa;
mod revocations;
mod sessions;
mod users;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;

use crate::ports::{PoolStatus, PoolUsage, RepoError, SchemaStatus};
use crate::redact::redact_url;
use anyhow::{anyhow, Context as _};
use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::Connection as _;
use std::str::FromStr;
use std::time::Duration;
use tokio::time::Instant;

/// The schema, compiled into the binary so a deployment cannot run against
/// migrations other than the ones it was built with.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The first pause between attempts to reach the server, doubled after
/// each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Users, sessions, refresh tokens and revocations in one PostgreSQL
/// database.
#[derive(Clone)]
pub struct PostgresStore {
    pub(super) pool: PgPool,
}

/// How [`connect`] sizes its pool and how long it waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostgresOptions {
    /// The most connections the pool opens.
    pub max_connections: u32,
    /// The connections the pool keeps open even when idle.
    pub min_connections: u32,
    /// How long a request waits for a connection before it fails with
    /// [`RepoError::Unavailable`]: short, so a lost database turns into
    /// quick 503s rather than requests that hang.
    pub acquire_timeout: Duration,
    /// How long [`connect`] keeps trying to reach the server at start,
    /// while it may still be starting up itself.
    pub connect_deadline: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(3),
            connect_deadline: Duration::from_secs(30),
        }
    }
}

/// Connects to the database at `url` and brings its schema up to date.
///
/// Connection-level failures (refused, unreachable, the server starting or
/// shutting down) are retried with exponential backoff, from 100 ms up to
/// 2 s between attempts, until `options.connect_deadline` has passed; any
/// other refusal, such as a wrong password or an unknown database, will not
/// heal by waiting and fails at once, and so does a TLS failure (a refused
/// certificate, a server without TLS under `sslmode=require`), with a
/// message that says it is about TLS. Several replicas may call this at the
/// same time: sqlx's migrator holds an advisory lock while it migrates, so
/// each migration is applied once.
///
/// The returned pool tests each connection before handing it out, so once
/// the server is back after an outage the pool replaces its dead
/// connections by itself.
///
/// # Errors
/// When the URL cannot be parsed, the server cannot be reached in time,
/// refuses the connection, or a migration fails. Messages name the URL as
/// `DATABASE_URL` with its password masked.
pub async fn connect(url: &str, options: PostgresOptions) -> anyhow::Result<PostgresStore> {
    crate::adapters::tls::install_crypto_provider();
    let connect_options =
        PgConnectOptions::from_str(url).map_err(|_| anyhow!("DATABASE_URL is not a valid Postgres URL"))?;
    let redacted = redact_url(url);
    let deadline = Instant::now() + options.connect_deadline;
    reach(&connect_options, &options, deadline, &redacted).await?;
    let pool = pool_options(&options)
        .connect_with(connect_options)
        .await
        .with_context(|| format!("could not open a connection pool to Postgres at DATABASE_URL={redacted}"))?;
    if let Err(error) = MIGRATOR.run(&pool).await {
        // A failed migration leaves the migrator's session lock on a pooled
        // connection; closing the pool releases it for the other replicas.
        pool.close().await;
        return Err(anyhow::Error::new(error)
            .context(format!("could not migrate the Postgres database at DATABASE_URL={redacted}")));
    }
    Ok(PostgresStore { pool })
}

/// The pool's settings: a short acquire timeout, and a test of every
/// connection before use so one the server dropped is replaced, not used.
fn pool_options(options: &PostgresOptions) -> PgPoolOptions {
    let max_connections = options.max_connections.max(1);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(options.min_connections.min(max_connections))
        .acquire_timeout(options.acquire_timeout)
        .test_before_acquire(true)
}

/// Waits until the server accepts a connection, retrying connection-level
/// failures with exponential backoff until `deadline`.
///
/// It opens plain connections rather than a pool, whose own retries would
/// hide the cause (connection refused, host unknown) behind a timeout.
async fn reach(
    connect_options: &PgConnectOptions,
    options: &PostgresOptions,
    deadline: Instant,
    redacted: &str,
) -> anyhow::Result<()> {
    let mut backoff = FIRST_BACKOFF;
    loop {
        // A dropped SYN must not use up the whole deadline in one attempt.
        let attempt_time = deadline.saturating_duration_since(Instant::now()).min(options.acquire_timeout);
        let error = match tokio::time::timeout(attempt_time, PgConnection::connect_with(connect_options)).await {
            Ok(Ok(connection)) => {
                // Closing politely is a courtesy; the pool opens its own.
                let _ = connection.close().await;
                return Ok(());
            }
            Ok(Err(error)) if is_tls_failure(&error) => {
                return Err(anyhow::Error::new(error).context(format!(
                    "TLS to Postgres at DATABASE_URL={redacted} failed: the server's certificate was refused or \
                     the handshake broke off. Check `sslmode` and `sslrootcert` in DATABASE_URL (the CA that \
                     signed the server's certificate, and for verify-full the host name it was issued to)"
                )));
            }
            Ok(Err(error)) if !is_connection_failure(&error) => {
                return Err(anyhow::Error::new(error)
                    .context(format!("Postgres at DATABASE_URL={redacted} refused the connection")));
            }
            Ok(Err(error)) => anyhow::Error::new(error),
            Err(_) => anyhow!("no answer within {attempt_time:?}"),
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(error.context(format!(
                "could not reach Postgres at DATABASE_URL={redacted} within {:?}",
                options.connect_deadline
            )));
        }
        tracing::warn!(error = %format!("{error:#}"), retry_in = ?backoff, "Postgres is not reachable yet");
        tokio::time::sleep(backoff.min(remaining)).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

impl PoolStatus for PostgresStore {
    fn pool_usage(&self) -> PoolUsage {
        super::sql::pool_usage(&self.pool)
    }
}

#[async_trait]
impl SchemaStatus for PostgresStore {
    /// Whether every migration compiled into this binary has been applied
    /// (another replica may have run newer ones; that is its business).
    async fn migrations_current(&self) -> Result<bool, RepoError> {
        let table_exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(repo_error)?;
        if !table_exists {
            return Ok(false);
        }
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.pool)
            .await
            .map_err(repo_error)?;
        Ok(MIGRATOR
            .iter()
            .filter(|migration| migration.migration_type.is_up_migration())
            .all(|migration| applied.contains(&migration.version)))
    }
}

/// Whether `error` is about TLS: a refused certificate, or a server that
/// will not speak TLS when `sslmode` requires it. Waiting does not heal it.
fn is_tls_failure(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Tls(_)) || crate::adapters::tls::is_tls_failure(error)
}

/// Whether `error` says the server could not be reached or the connection
/// was lost, rather than that the statement itself failed.
fn is_connection_failure(error: &sqlx::Error) -> bool {
    match error {
        // A connection cut mid-message surfaces as a protocol error
        // (an unexpected end of the stream), not as I/O.
        sqlx::Error::Io(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => database.code().is_some_and(|code| is_connection_sqlstate(&code)),
        _ => false,
    }
}

/// SQLSTATE class 08 (connection exception) and 57P01–57P05 (the server is
/// shutting down, crashed, starting up, dropped the database, or closed an
/// idle session).
fn is_connection_sqlstate(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P0")
}

/// Sorts a driver error into the port's two kinds: worth retrying later, or not.
pub(super) fn repo_error(error: sqlx::Error) -> RepoError {
    let transient = is_connection_failure(&error);
    let error = anyhow::Error::new(error);
    if transient {
        RepoError::Unavailable(error)
    } else {
        RepoError::Unexpected(error)
    }
}

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
//! No sqlx type may leave this module: driver errors become [`RepoError`]
//! (or [`UserInsertError::EmailTaken`] for a duplicate address) here. The
//! database URL appears in an error only with its password masked.

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
use crate::redact::redact_url;
use anyhow::{anyhow, Context as _};
use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection as _, PgExecutor, Row as _};
use std::str::FromStr;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// The schema, compiled into the binary so a deployment cannot run against
/// migrations other than the ones it was built with.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The first pause between attempts to reach the server, doubled after
/// each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// SQLSTATE `unique_violation`.
const UNIQUE_VIOLATION: &str = "23505";

/// The unique index on `lower(email)` (see the migration): a violation of
/// it, and only of it, means the address is taken.
const EMAIL_INDEX: &str = "users_email_unique";

/// The advisory lock every change of a user's role or status, and every
/// deletion, holds for its transaction. It is a pair of `int4` keys, which
/// PostgreSQL keeps apart from the single `bigint` keys sqlx's migrator
/// locks with; the first key spells "PCLS".
const ADMIN_CHANGES_LOCK: (i32, i32) = (0x5043_4C53, 1);

/// Users, sessions, refresh tokens and revocations in one PostgreSQL
/// database.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
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
/// heal by waiting and fails at once. Several replicas may call this at the
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

/// Whether `error` says the server could not be reached or the connection
/// was lost, rather than that the statement itself failed.
fn is_connection_failure(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
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
fn repo_error(error: sqlx::Error) -> RepoError {
    let transient = is_connection_failure(&error);
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
    error.as_database_error().is_some_and(|database| {
        database.code().as_deref() == Some(UNIQUE_VIOLATION) && database.constraint() == Some(EMAIL_INDEX)
    })
}

/// The user columns, in the order [`user_from_row`] reads them.
macro_rules! user_columns {
    () => {
        "id, email, password_hash, role, status, created_at, updated_at"
    };
}

macro_rules! select_users {
    ($rest:literal) => {
        concat!("SELECT ", user_columns!(), " FROM users ", $rest)
    };
}

fn user_from_row(row: &PgRow) -> Result<User, RepoError> {
    let email: String = row.try_get("email").map_err(repo_error)?;
    let role: String = row.try_get("role").map_err(repo_error)?;
    let status: String = row.try_get("status").map_err(repo_error)?;
    Ok(User {
        id: UserId::from_uuid(row.try_get("id").map_err(repo_error)?),
        email: Email::parse(&email).map_err(|e| corrupt("email", e))?,
        password_hash: PasswordHash::new(row.try_get::<String, _>("password_hash").map_err(repo_error)?),
        role: role.parse::<Role>().map_err(|e| corrupt("role", e))?,
        status: status.parse::<UserStatus>().map_err(|e| corrupt("status", e))?,
        created_at: row.try_get("created_at").map_err(repo_error)?,
        updated_at: row.try_get("updated_at").map_err(repo_error)?,
    })
}

fn session_from_row(row: &PgRow) -> Result<SessionRecord, RepoError> {
    Ok(SessionRecord {
        id: SessionId::from_uuid(row.try_get("id").map_err(repo_error)?),
        user_id: UserId::from_uuid(row.try_get("user_id").map_err(repo_error)?),
        created_at: row.try_get("created_at").map_err(repo_error)?,
        revoked_at: row.try_get("revoked_at").map_err(repo_error)?,
    })
}

fn refresh_token_from_row(row: &PgRow) -> Result<RefreshRecord, RepoError> {
    let token_hash: Vec<u8> = row.try_get("token_hash").map_err(repo_error)?;
    Ok(RefreshRecord {
        token_hash: TokenHash::try_from(token_hash.as_slice()).map_err(|e| corrupt("refresh token hash", e))?,
        session_id: SessionId::from_uuid(row.try_get("session_id").map_err(repo_error)?),
        user_id: UserId::from_uuid(row.try_get("user_id").map_err(repo_error)?),
        issued_at: row.try_get("issued_at").map_err(repo_error)?,
        expires_at: row.try_get("expires_at").map_err(repo_error)?,
        rotated_at: row.try_get("rotated_at").map_err(repo_error)?,
    })
}

/// How a revocation is keyed in the `revocations` table.
fn revocation_from_row(row: &PgRow) -> Result<Revocation, RepoError> {
    let kind: String = row.try_get("kind").map_err(repo_error)?;
    let subject: Uuid = row.try_get("subject").map_err(repo_error)?;
    let cutoff: Option<UnixSeconds> = row.try_get("cutoff").map_err(repo_error)?;
    let until: UnixSeconds = row.try_get("until").map_err(repo_error)?;
    Revocation::from_parts(&kind, subject, cutoff, until)
        .ok_or_else(|| corrupt("revocation", anyhow!("kind {kind:?} with cut-off {cutoff:?}")))
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

async fn insert_refresh_token<'e>(executor: impl PgExecutor<'e>, record: &RefreshRecord) -> Result<(), RepoError> {
    sqlx::query(
        "INSERT INTO refresh_tokens \
         (token_hash, session_id, user_id, issued_at, expires_at, rotated_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(record.token_hash.as_slice())
    .bind(record.session_id.as_uuid())
    .bind(record.user_id.as_uuid())
    .bind(record.issued_at)
    .bind(record.expires_at)
    .bind(record.rotated_at)
    .execute(executor)
    .await
    .map_err(repo_error)?;
    Ok(())
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
    async fn begin_admin_change(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, RepoError> {
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
    async fn insert(&self, user: &User) -> Result<(), UserInsertError> {
        sqlx::query(
            "INSERT INTO users \
             (id, email, password_hash, role, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(user.id.as_uuid())
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

    async fn set_password(&self, id: UserId, hash: &PasswordHash, now: UnixSeconds) -> Result<(), RepoError> {
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(hash.as_str())
            .bind(now)
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(repo_error)?;
        Ok(())
    }

    async fn update(&self, id: UserId, change: UserChange, now: UnixSeconds) -> Result<User, UserUpdateError> {
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
        .bind(now)
        .bind(id.as_uuid())
        .fetch_one(&mut *transaction)
        .await
        .map_err(repo_error)?;
        let updated = user_from_row(&row)?;
        transaction.commit().await.map_err(repo_error)?;
        Ok(updated)
    }

    async fn delete(&self, id: UserId) -> Result<(), UserUpdateError> {
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
        transaction.commit().await.map_err(repo_error)?;
        Ok(())
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

#[async_trait]
impl SessionRepo for PostgresStore {
    async fn create(&self, session: &SessionRecord, first: &RefreshRecord) -> Result<(), RepoError> {
        let mut transaction = self.pool.begin().await.map_err(repo_error)?;
        sqlx::query("INSERT INTO sessions (id, user_id, created_at, revoked_at) VALUES ($1, $2, $3, $4)")
            .bind(session.id.as_uuid())
            .bind(session.user_id.as_uuid())
            .bind(session.created_at)
            .bind(session.revoked_at)
            .execute(&mut *transaction)
            .await
            .map_err(repo_error)?;
        insert_refresh_token(&mut *transaction, first).await?;
        transaction.commit().await.map_err(repo_error)
    }

    async fn session(&self, id: SessionId) -> Result<Option<SessionRecord>, RepoError> {
        sqlx::query("SELECT id, user_id, created_at, revoked_at FROM sessions WHERE id = $1")
            .bind(id.as_uuid())
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
             FROM refresh_tokens WHERE token_hash = $1",
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
        let mut transaction = self.pool.begin().await.map_err(repo_error)?;
        // A racing rotation holds the parent's row lock until it commits;
        // this UPDATE then re-reads the row, finds `rotated_at` set and
        // matches nothing. So exactly one racer marks it.
        let marked = sqlx::query(
            "UPDATE refresh_tokens SET rotated_at = $1 \
             WHERE token_hash = $2 AND rotated_at IS NULL",
        )
        .bind(now)
        .bind(parent.as_slice())
        .execute(&mut *transaction)
        .await
        .map_err(repo_error)?
        .rows_affected();
        if marked == 0 {
            // A new statement, so a new snapshot: it sees the winner's commit.
            let rotated_at: Option<Option<UnixSeconds>> =
                sqlx::query_scalar("SELECT rotated_at FROM refresh_tokens WHERE token_hash = $1")
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
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(child.token_hash.as_slice())
        .bind(child.session_id.as_uuid())
        .bind(child.user_id.as_uuid())
        .bind(child.issued_at)
        .bind(child.expires_at)
        .bind(child.rotated_at)
        .execute(&self.pool)
        .await
        .map_err(repo_error)?;
        Ok(())
    }

    async fn revoke(&self, id: SessionId, now: UnixSeconds) -> Result<bool, RepoError> {
        let revoked = sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id.as_uuid())
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
        sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $1 \
             WHERE user_id = $2 AND revoked_at IS NULL AND ($3::uuid IS NULL OR id <> $3) \
             RETURNING id",
        )
        .bind(now)
        .bind(user.as_uuid())
        .bind(except.map(|id| id.as_uuid()))
        .fetch_all(&self.pool)
        .await
        .map_err(repo_error)
        .map(|ids: Vec<Uuid>| ids.into_iter().map(SessionId::from_uuid).collect())
    }

    async fn purge_expired(&self, now: UnixSeconds) -> Result<u64, RepoError> {
        let purged = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(repo_error)?
            .rows_affected();
        Ok(purged)
    }
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
        .bind(revocation.until())
        .execute(&self.pool)
        .await
        .map_err(repo_error)?;
        Ok(())
    }

    async fn recorded_since(&self, since: i64, now: UnixSeconds) -> Result<(Vec<Revocation>, i64), RepoError> {
        let rows = sqlx::query(
            "SELECT kind, subject, cutoff, until, recorded_at FROM revocations WHERE recorded_at >= $1 AND until > $2",
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
        let purged = sqlx::query("DELETE FROM revocations WHERE until <= $1")
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
    use super::{connect, is_connection_sqlstate, pool_options, PostgresOptions, PostgresStore, MIGRATOR};
    use crate::adapters::contract;
    use crate::core::email::Email;
    use crate::core::password::PasswordHash;
    use crate::core::user::{Role, User, UserId, UserStatus};
    use crate::ports::{RepoError, SchemaStatus, UserInsertError, UserRepo};
    use crate::testing::fresh_database;
    use sqlx::postgres::PgConnectOptions;
    use sqlx::{Connection as _, PgConnection};
    use std::str::FromStr;
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use uuid::Uuid;

    fn test_options() -> PostgresOptions {
        PostgresOptions {
            max_connections: 8,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            connect_deadline: Duration::from_secs(10),
        }
    }

    /// Returns early from the test when no server is configured; the
    /// helper has already said why.
    macro_rules! fresh_store {
        () => {{
            let Some((url, guard)) = fresh_database().await else { return };
            let store = connect(&url, test_options()).await.expect("a fresh Postgres database");
            (store, url, guard)
        }};
    }

    fn user(email: &str) -> User {
        User {
            id: UserId::from_uuid(Uuid::now_v7()),
            email: Email::parse(email).expect("a valid test address"),
            password_hash: PasswordHash::new("$2b$04$abcdefghijklmnopqrstuuK6fGdYsY7S8mLyXbbPj2xDnhR7ABCDe"),
            role: Role::User,
            status: UserStatus::Active,
            created_at: 1_700_000_000,
            updated_at: 1_700_000_000,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_store_keeps_the_users_contract() {
        let (store, _url, _guard) = fresh_store!();
        contract::users_contract(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_store_keeps_the_sessions_contract() {
        let (store, _url, _guard) = fresh_store!();
        let store = Arc::new(store);
        contract::sessions_contract(store.as_ref(), store.clone()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_store_keeps_the_revocations_contract() {
        let (store, _url, _guard) = fresh_store!();
        contract::revocations_contract(&store).await;
    }

    #[tokio::test]
    async fn migrations_are_current_after_connecting_and_not_before() {
        let Some((url, _guard)) = fresh_database().await else { return };
        let options = PgConnectOptions::from_str(&url).expect("a valid URL");
        let unmigrated = PostgresStore { pool: pool_options(&test_options()).connect_lazy_with(options) };
        assert!(!unmigrated.migrations_current().await.expect("migrations readable"));

        let store = connect(&url, test_options()).await.expect("a fresh Postgres database");
        assert!(store.migrations_current().await.expect("migrations readable"));
        assert!(unmigrated.migrations_current().await.expect("migrations readable"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn replicas_starting_together_migrate_once() {
        const REPLICAS: usize = 4;
        let Some((url, _guard)) = fresh_database().await else { return };
        let replicas: Vec<_> = (0..REPLICAS)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { connect(&url, test_options()).await })
            })
            .collect();
        let mut stores = Vec::with_capacity(REPLICAS);
        for replica in replicas {
            stores.push(replica.await.expect("the replica's task finishes").expect("every replica connects"));
        }
        for store in &stores {
            assert!(store.migrations_current().await.expect("migrations readable"));
        }
        let applied: Vec<(i64, i64)> =
            sqlx::query_as("SELECT version, count(*) FROM _sqlx_migrations GROUP BY version ORDER BY version")
                .fetch_all(&stores[0].pool)
                .await
                .expect("the migrations table is readable");
        let embedded: Vec<(i64, i64)> = MIGRATOR.iter().map(|migration| (migration.version, 1)).collect();
        assert_eq!(applied, embedded, "each migration is applied exactly once");
        // And the schema is whole: the users table answers.
        stores[1].ping().await.expect("the store answers");
        assert!(stores[2].list(None, 1).await.expect("the users table exists").is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_registrations_of_one_email_end_in_one_insert() {
        const ROUNDS: usize = 10;
        let (store, _url, _guard) = fresh_store!();
        let store = Arc::new(store);
        for round in 0..ROUNDS {
            let address = format!("racer{round}@example.com");
            let barrier = Arc::new(tokio::sync::Barrier::new(2));
            let racers: Vec<_> = (0..2)
                .map(|_| {
                    let (store, barrier, racer) = (Arc::clone(&store), Arc::clone(&barrier), user(&address));
                    tokio::spawn(async move {
                        barrier.wait().await;
                        store.insert(&racer).await
                    })
                })
                .collect();
            let mut results = Vec::with_capacity(2);
            for racer in racers {
                results.push(racer.await.expect("the racing task finishes"));
            }
            let inserted = results.iter().filter(|result| result.is_ok()).count();
            let taken = results.iter().filter(|result| matches!(result, Err(UserInsertError::EmailTaken))).count();
            assert_eq!((inserted, taken), (1, 1), "one insert and one EmailTaken: {results:?}");
        }
        assert_eq!(store.list(None, 100).await.expect("storage answers").len(), ROUNDS);
    }

    #[tokio::test]
    async fn the_database_refuses_an_address_differing_only_in_case() {
        let (store, _url, _guard) = fresh_store!();
        // Written by other means than the adapter, so not normalised.
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, role, status, created_at, updated_at) \
             VALUES ($1, 'Mixed@Example.COM', 'x', 'user', 'active', 0, 0)",
        )
        .bind(Uuid::now_v7())
        .execute(&store.pool)
        .await
        .expect("a raw insert");
        let result = store.insert(&user("mixed@example.com")).await;
        assert!(matches!(result, Err(UserInsertError::EmailTaken)), "{result:?}");
    }

    #[tokio::test]
    async fn other_unique_violations_are_not_email_taken() {
        let (store, _url, _guard) = fresh_store!();
        let first = user("first@example.com");
        store.insert(&first).await.expect("the first user is stored");
        let same_id = User { email: Email::parse("second@example.com").expect("a valid address"), ..first };
        let result = store.insert(&same_id).await;
        assert!(matches!(result, Err(UserInsertError::Repo(RepoError::Unexpected(_)))), "{result:?}");
    }

    #[tokio::test]
    async fn the_pool_replaces_connections_the_server_dropped() {
        let (store, url, _guard) = fresh_store!();
        store.ping().await.expect("the store answers");
        let mut admin = PgConnection::connect(&url).await.expect("a second connection");
        let terminated: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut admin)
        .await
        .expect("backends terminated");
        assert!(!terminated.is_empty(), "the pool held a connection");
        store.ping().await.expect("the pool reconnects by itself");
        admin.close().await.expect("closed");
    }

    #[tokio::test]
    async fn a_closed_pool_is_unavailable() {
        let (store, _url, _guard) = fresh_store!();
        store.pool.close().await;
        let result = store.ping().await;
        assert!(matches!(result, Err(RepoError::Unavailable(_))), "{result:?}");
        let result = store.by_id(UserId::from_uuid(Uuid::now_v7())).await;
        assert!(matches!(result, Err(RepoError::Unavailable(_))), "{result:?}");
    }

    #[tokio::test]
    async fn a_lost_server_fails_requests_fast_as_unavailable() {
        // Nothing listens on port 1: as if the database went away.
        let options = PgConnectOptions::from_str("postgres://app@127.0.0.1:1/auth").expect("a valid URL");
        let acquire_timeout = Duration::from_millis(300);
        let store = PostgresStore {
            pool: pool_options(&PostgresOptions { acquire_timeout, ..test_options() }).connect_lazy_with(options),
        };
        let started = Instant::now();
        let result = store.ping().await;
        assert!(matches!(result, Err(RepoError::Unavailable(_))), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "failed fast: {:?}", started.elapsed());
        let result = store.has_active_admin().await;
        assert!(matches!(result, Err(RepoError::Unavailable(_))), "{result:?}");
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_after_the_deadline_without_revealing_the_password() {
        let deadline = Duration::from_secs(1);
        let options = PostgresOptions { connect_deadline: deadline, ..test_options() };
        let started = Instant::now();
        let error = connect("postgres://app:hunter2-secret@127.0.0.1:1/auth", options)
            .await
            .err()
            .expect("nothing listens on port 1");
        let elapsed = started.elapsed();
        let message = format!("{error:#}");
        assert!(elapsed >= deadline, "kept trying until the deadline: {elapsed:?}");
        assert!(elapsed < deadline + Duration::from_secs(3), "gave up soon after it: {elapsed:?}");
        assert!(message.contains("DATABASE_URL=postgres://app:***@127.0.0.1:1/auth"), "{message}");
        assert!(message.contains("within 1s"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(!format!("{error:?}").contains("hunter2"), "{error:?}");
    }

    #[tokio::test]
    async fn a_malformed_url_is_refused_without_echoing_it() {
        let error = connect("postgres://app:hunter2-secret@db:notaport/auth", test_options())
            .await
            .err()
            .expect("the port is not a number");
        assert!(!format!("{error:#}").contains("hunter2"), "{error:#}");
    }

    #[test]
    fn connection_sqlstates_are_told_from_the_rest() {
        for code in ["08000", "08001", "08003", "08006", "08P01", "57P01", "57P02", "57P03", "57P04", "57P05"] {
            assert!(is_connection_sqlstate(code), "{code} is a connection failure");
        }
        for code in ["23505", "23503", "40001", "40P01", "57014", "42P01", "28P01", "3D000"] {
            assert!(!is_connection_sqlstate(code), "{code} is not a connection failure");
        }
    }
}

//! What the SQLite and PostgreSQL adapters truly share: the column lists
//! their queries name, the parsing of stored values into domain types, and
//! the mapping of a unique-constraint violation to the domain error it
//! means.
//!
//! Everything here is dialect-free. Placeholders, transactions, locking and
//! the sorting of driver errors into retryable or not stay in each adapter;
//! a query only one dialect understands must never move here, and no sqlx
//! type may leave the adapters through it.

use crate::core::audit::{Actor, AuditEvent, AuditId, AuditQuery};
use crate::core::email::Email;
use crate::core::password::PasswordHash;
use crate::core::refresh::TokenHash;
use crate::core::revocation::Revocation;
use crate::core::user::{CredentialEpoch, Role, UnixSeconds, User, UserId, UserStatus};
use crate::ports::{PoolUsage, RepoError, UserInsertError};
use anyhow::anyhow;
use uuid::Uuid;

/// The user columns, in the order [`StoredUser`] lists them.
macro_rules! user_columns {
    () => {
        "id, email, password_hash, role, status, created_at, updated_at, credential_epoch, email_verified"
    };
}

/// `SELECT` of every user column from `users`, followed by `$rest`.
macro_rules! select_users {
    ($rest:literal) => {
        concat!("SELECT ", $crate::adapters::sql::user_columns!(), " FROM users ", $rest)
    };
}

/// The session columns.
macro_rules! session_columns {
    () => {
        "id, user_id, created_at, revoked_at, credential_epoch, last_used_at, last_ip, last_user_agent"
    };
}

/// The refresh-token columns.
macro_rules! refresh_token_columns {
    () => {
        "token_hash, session_id, user_id, issued_at, expires_at, rotated_at"
    };
}

/// The revocation columns; `recorded_at` is the store's own clock, in
/// milliseconds, and positions the revocation feed.
macro_rules! revocation_columns {
    () => {
        "kind, subject, cutoff, until, recorded_at"
    };
}

/// The audit-event columns, in the order [`StoredAuditEvent`] lists them.
macro_rules! audit_columns {
    () => {
        "id, at, actor, subject, type, ip, request_id, outcome, details"
    };
}

/// The filters of a page of the audit trail, newest first. Parameters, in
/// order: the cursor, the user (as subject), the user (as actor), the
/// type, since, until, the limit. `$p` turns a number into the dialect's
/// placeholder.
macro_rules! audit_page_query {
    ($p1:literal, $p2:literal, $p3:literal, $p4:literal, $p5:literal, $p6:literal, $p7:literal) => {
        concat!(
            "SELECT ",
            $crate::adapters::sql::audit_columns!(),
            " FROM audit_events WHERE ",
            "(",
            $p1,
            " IS NULL OR id < ",
            $p1,
            ") ",
            "AND (",
            $p2,
            " IS NULL OR subject = ",
            $p2,
            " OR actor = ",
            $p3,
            ") ",
            "AND (",
            $p4,
            " IS NULL OR type = ",
            $p4,
            ") ",
            "AND (",
            $p5,
            " IS NULL OR at >= ",
            $p5,
            ") ",
            "AND (",
            $p6,
            " IS NULL OR at <= ",
            $p6,
            ") ",
            "ORDER BY id DESC LIMIT ",
            $p7
        )
    };
}

pub(crate) use {
    audit_columns, audit_page_query, refresh_token_columns, revocation_columns, select_users, session_columns,
    user_columns,
};

/// The unique index on `lower(email)`, as PostgreSQL names it in a
/// violation (see the migration): a violation of it, and only of it, means
/// the address is taken.
const EMAIL_INDEX: &str = "users_email_unique";

/// SQLite names no constraint; its message ends with the column instead
/// (`UNIQUE constraint failed: users.email`).
const EMAIL_COLUMN: &str = "users.email";

/// A stored value this code cannot have written: the database was changed
/// behind its back.
pub(crate) fn corrupt(column: &'static str, error: impl Into<anyhow::Error>) -> RepoError {
    RepoError::Unexpected(error.into().context(format!("stored {column} is not valid")))
}

/// The error of a failed user insert: [`UserInsertError::EmailTaken`] when
/// the address's unique constraint refused it, else what `repo_error` says.
pub(crate) fn insert_user_error(error: sqlx::Error, repo_error: fn(sqlx::Error) -> RepoError) -> UserInsertError {
    if is_email_taken(&error) {
        UserInsertError::EmailTaken
    } else {
        repo_error(error).into()
    }
}

fn is_email_taken(error: &sqlx::Error) -> bool {
    error.as_database_error().is_some_and(|database| {
        database.is_unique_violation()
            && match database.constraint() {
                Some(constraint) => constraint == EMAIL_INDEX,
                None => database.message().contains(EMAIL_COLUMN),
            }
    })
}

/// A user row as read, before its values are parsed; each adapter decodes
/// the id its own way.
pub(crate) struct StoredUser {
    pub id: UserId,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub status: String,
    pub created_at: UnixSeconds,
    pub updated_at: UnixSeconds,
    pub credential_epoch: i64,
    pub email_verified: bool,
}

impl StoredUser {
    /// # Errors
    /// [`RepoError::Unexpected`] when a stored value is not one this code
    /// writes.
    pub(crate) fn parse(self) -> Result<User, RepoError> {
        Ok(User {
            id: self.id,
            email: Email::parse(&self.email).map_err(|e| corrupt("email", e))?,
            password_hash: PasswordHash::new(self.password_hash),
            role: self.role.parse::<Role>().map_err(|e| corrupt("role", e))?,
            status: self.status.parse::<UserStatus>().map_err(|e| corrupt("status", e))?,
            created_at: self.created_at,
            updated_at: self.updated_at,
            credential_epoch: CredentialEpoch::new(self.credential_epoch),
            email_verified: self.email_verified,
        })
    }
}

/// A stored refresh-token hash.
///
/// # Errors
/// [`RepoError::Unexpected`] when it is not 32 bytes.
pub(crate) fn token_hash(bytes: &[u8]) -> Result<TokenHash, RepoError> {
    TokenHash::try_from(bytes).map_err(|e| corrupt("refresh token hash", e))
}

/// A session's last use from its stored columns: the instant, the client
/// address as text and the user agent (bounded again as it is read).
///
/// # Errors
/// [`RepoError::Unexpected`] for an address this code never writes.
pub(crate) fn session_use(
    at: i64,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> Result<crate::core::session::SessionUse, RepoError> {
    Ok(crate::core::session::SessionUse {
        at: UnixSeconds::new(at),
        ip: ip.map(str::parse).transpose().map_err(|e| corrupt("session address", e))?,
        user_agent: user_agent.and_then(crate::core::session::UserAgent::from_header),
    })
}

/// A revocation from its stored parts.
///
/// # Errors
/// [`RepoError::Unexpected`] for a kind or a cut-off this code never writes.
pub(crate) fn revocation(
    kind: &str,
    subject: Uuid,
    cutoff: Option<i64>,
    until: UnixSeconds,
) -> Result<Revocation, RepoError> {
    Revocation::from_parts(kind, subject, cutoff, until)
        .ok_or_else(|| corrupt("revocation", anyhow!("kind {kind:?} with cut-off {cutoff:?}")))
}

/// How `pool`'s connections are used now: idle, busy, and the cap.
pub(super) fn pool_usage<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> PoolUsage {
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
    PoolUsage { idle, in_use: pool.size().saturating_sub(idle), max: pool.options().get_max_connections() }
}

/// An audit event's details as stored: a JSON object of strings.
pub(crate) fn details_json(event: &AuditEvent) -> String {
    serde_json::to_string(&event.details).unwrap_or_else(|_| "{}".to_owned())
}

/// The actor a user filter matches, in its stored form.
pub(crate) fn actor_filter(query: &AuditQuery) -> Option<String> {
    query.user.map(|user| Actor::User(user).encode())
}

/// An audit-event row as read, before its values are parsed.
pub(crate) struct StoredAuditEvent {
    pub id: Uuid,
    pub at: i64,
    pub actor: String,
    pub subject: Option<Uuid>,
    pub kind: String,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub outcome: String,
    pub details: String,
}

impl StoredAuditEvent {
    /// # Errors
    /// [`RepoError::Unexpected`] when a stored value is not one this code
    /// writes.
    pub(crate) fn parse(self) -> Result<AuditEvent, RepoError> {
        Ok(AuditEvent {
            id: AuditId::from_uuid(self.id),
            at: UnixSeconds::new(self.at),
            actor: Actor::decode(&self.actor).map_err(|e| corrupt("audit actor", e))?,
            subject: self.subject.map(UserId::from_uuid),
            kind: self.kind.parse().map_err(|e| corrupt("audit type", e))?,
            ip: self.ip.map(|ip| ip.parse()).transpose().map_err(|e| corrupt("audit address", e))?,
            request_id: self.request_id,
            outcome: self.outcome.parse().map_err(|e| corrupt("audit outcome", e))?,
            details: serde_json::from_str(&self.details).map_err(|e| corrupt("audit details", e))?,
        })
    }
}

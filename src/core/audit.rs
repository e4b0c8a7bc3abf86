//! The audit trail: who did what to which account, from where, and how it
//! ended. Each event that records a change is written by the store in the
//! same transaction as the change; an event with no change to go with it
//! (a refused login) is written alone.
//!
//! Nothing here may ever hold a secret: details are short strings the core
//! chooses (a role, a session id, a cost), never a password, a hash or a
//! token.

use super::session::SessionId;
use super::user::{UnixSeconds, UserId};
use crate::ports::Entropy;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use uuid::Uuid;

/// Most events one page may hold.
pub const MAX_AUDIT_PAGE: u32 = 100;

/// Longest command line kept as a CLI actor; longer ones are cut.
const MAX_COMMAND_LEN: usize = 200;

/// What happened. The names are stable: they are stored, filtered on and
/// logged, so a name never changes meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditType {
    Registration,
    LoginSucceeded,
    LoginFailed,
    AccountLocked,
    PasswordChanged,
    PasswordRehashed,
    Logout,
    LogoutAll,
    RefreshTokenReuse,
    AdminUserCreated,
    AdminUserDisabled,
    AdminUserEnabled,
    AdminUserDeleted,
    AdminUserUnlocked,
    AdminRoleChanged,
    AdminPasswordReset,
    AdminSessionsRevoked,
    /// Reserved for key rotation.
    KeyRingChanged,
    MfaEnrolmentStarted,
    MfaEnabled,
    MfaDisabled,
    MfaFailed,
    RecoveryCodeUsed,
    AdminMfaReset,
    EmailVerificationSent,
    EmailVerified,
    PasswordResetRequested,
    PasswordReset,
}

impl AuditType {
    pub const ALL: [Self; 28] = [
        Self::Registration,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::AccountLocked,
        Self::PasswordChanged,
        Self::PasswordRehashed,
        Self::Logout,
        Self::LogoutAll,
        Self::RefreshTokenReuse,
        Self::AdminUserCreated,
        Self::AdminUserDisabled,
        Self::AdminUserEnabled,
        Self::AdminUserDeleted,
        Self::AdminUserUnlocked,
        Self::AdminRoleChanged,
        Self::AdminPasswordReset,
        Self::AdminSessionsRevoked,
        Self::KeyRingChanged,
        Self::MfaEnrolmentStarted,
        Self::MfaEnabled,
        Self::MfaDisabled,
        Self::MfaFailed,
        Self::RecoveryCodeUsed,
        Self::AdminMfaReset,
        Self::EmailVerificationSent,
        Self::EmailVerified,
        Self::PasswordResetRequested,
        Self::PasswordReset,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::AccountLocked => "account_locked",
            Self::PasswordChanged => "password_changed",
            Self::PasswordRehashed => "password_rehashed",
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::RefreshTokenReuse => "refresh_token_reuse",
            Self::AdminUserCreated => "admin_user_created",
            Self::AdminUserDisabled => "admin_user_disabled",
            Self::AdminUserEnabled => "admin_user_enabled",
            Self::AdminUserDeleted => "admin_user_deleted",
            Self::AdminUserUnlocked => "admin_user_unlocked",
            Self::AdminRoleChanged => "admin_role_changed",
            Self::AdminPasswordReset => "admin_password_reset",
            Self::AdminSessionsRevoked => "admin_sessions_revoked",
            Self::KeyRingChanged => "key_ring_changed",
            Self::MfaEnrolmentStarted => "mfa_enrolment_started",
            Self::MfaEnabled => "mfa_enabled",
            Self::MfaDisabled => "mfa_disabled",
            Self::MfaFailed => "mfa_failed",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::AdminMfaReset => "admin_mfa_reset",
            Self::EmailVerificationSent => "email_verification_sent",
            Self::EmailVerified => "email_verified",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
        }
    }
}

/// A name that is not an event type.
#[derive(Debug, thiserror::Error)]
#[error("unknown audit event type")]
pub struct UnknownAuditType;

impl FromStr for AuditType {
    type Err = UnknownAuditType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == s).ok_or(UnknownAuditType)
    }
}

impl fmt::Display for AuditType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who did it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in user (or, for a login, the account the e-mail names).
    User(UserId),
    /// The `portcullis` command line, with the command as typed, secrets
    /// never being on it.
    Cli(String),
    /// Nobody known: a login for an address with no account.
    Anonymous,
    /// The service itself: seeding the initial admin at start.
    System,
}

impl Actor {
    /// The command line as the actor of a CLI command, cut to a bounded length.
    pub fn cli(command: &str) -> Self {
        let mut end = command.len().min(MAX_COMMAND_LEN);
        while !command.is_char_boundary(end) {
            end -= 1;
        }
        Self::Cli(command[..end].to_owned())
    }

    /// The actor's stored and displayed form: `user:<id>`, `cli:<command>`,
    /// `anonymous` or `system`.
    pub fn encode(&self) -> String {
        match self {
            Self::User(id) => format!("user:{id}"),
            Self::Cli(command) => format!("cli:{command}"),
            Self::Anonymous => "anonymous".to_owned(),
            Self::System => "system".to_owned(),
        }
    }

    /// # Errors
    /// [`UnknownActor`] for a form [`Self::encode`] never writes.
    pub fn decode(stored: &str) -> Result<Self, UnknownActor> {
        match stored {
            "anonymous" => Ok(Self::Anonymous),
            "system" => Ok(Self::System),
            _ => {
                if let Some(id) = stored.strip_prefix("user:") {
                    id.parse().map(Self::User).map_err(|_| UnknownActor)
                } else if let Some(command) = stored.strip_prefix("cli:") {
                    Ok(Self::Cli(command.to_owned()))
                } else {
                    Err(UnknownActor)
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown audit actor")]
pub struct UnknownActor;

/// How it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditOutcome {
    Success,
    Failure,
}

impl AuditOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

impl FromStr for AuditOutcome {
    type Err = UnknownAuditType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "success" => Ok(Self::Success),
            "failure" => Ok(Self::Failure),
            _ => Err(UnknownAuditType),
        }
    }
}

/// Where a use case was asked from: the actor, and for an HTTP request the
/// client address and request id. Plain data, so the core knows nothing of
/// where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub actor: Actor,
    pub ip: Option<IpAddr>,
    pub request_id: Option<String>,
    /// The client's user agent, which a session shows; never audited.
    pub user_agent: Option<super::session::UserAgent>,
}

impl Origin {
    /// An HTTP request by nobody known yet.
    pub fn request(ip: IpAddr, request_id: Option<String>) -> Self {
        Self { actor: Actor::Anonymous, ip: Some(ip), request_id, user_agent: None }
    }

    /// The same request, by `user`.
    pub fn by(self, user: UserId) -> Self {
        Self { actor: Actor::User(user), ..self }
    }

    /// The same request, from a client that sent this user agent.
    pub fn with_user_agent(self, user_agent: Option<super::session::UserAgent>) -> Self {
        Self { user_agent, ..self }
    }

    /// A command of the `portcullis` binary.
    pub fn cli(command: &str) -> Self {
        Self { actor: Actor::cli(command), ip: None, request_id: None, user_agent: None }
    }

    /// The service itself.
    pub fn system() -> Self {
        Self { actor: Actor::System, ip: None, request_id: None, user_agent: None }
    }
}

/// One audit event's id: a UUIDv7, so ids sort in time order and pages
/// are cut on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuditId(Uuid);

impl AuditId {
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for AuditId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One entry of the trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: AuditId,
    pub at: UnixSeconds,
    pub actor: Actor,
    /// The account the event is about, if any.
    pub subject: Option<UserId>,
    pub kind: AuditType,
    pub ip: Option<IpAddr>,
    pub request_id: Option<String>,
    pub outcome: AuditOutcome,
    /// Short facts chosen by the core; never a secret.
    pub details: BTreeMap<String, String>,
}

impl AuditEvent {
    /// A successful event of `kind` about `subject`, asked from `origin`,
    /// at the instant `now_millis` (which also orders its id).
    pub fn new(
        entropy: &dyn Entropy,
        now_millis: i64,
        origin: &Origin,
        kind: AuditType,
        subject: Option<UserId>,
    ) -> Self {
        Self {
            id: AuditId(entropy.uuid_v7(u64::try_from(now_millis).unwrap_or(0))),
            at: UnixSeconds::new(now_millis.div_euclid(1000)),
            actor: origin.actor.clone(),
            subject,
            kind,
            ip: origin.ip,
            request_id: origin.request_id.clone(),
            outcome: AuditOutcome::Success,
            details: BTreeMap::new(),
        }
    }

    pub fn failed(mut self) -> Self {
        self.outcome = AuditOutcome::Failure;
        self
    }

    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = actor;
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<String>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    pub fn session(self, session: SessionId) -> Self {
        self.detail("session_id", session.to_string())
    }

    /// Writes the event as a structured log line, target `audit`, once it
    /// has been stored.
    pub fn log(&self) {
        let details = self.details.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>().join(" ");
        tracing::info!(
            target: "audit",
            event_id = %self.id,
            event_type = self.kind.as_str(),
            actor = %self.actor.encode(),
            subject = self.subject.map(|id| id.to_string()),
            ip = self.ip.map(|ip| ip.to_string()),
            request_id = self.request_id.as_deref(),
            outcome = self.outcome.as_str(),
            details = %details,
            "audit event"
        );
    }
}

/// Which events a page holds: newest first, before `before` (the cursor).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub before: Option<AuditId>,
    pub limit: u32,
    /// Events by or about this user.
    pub user: Option<UserId>,
    pub kind: Option<AuditType>,
    /// At or after this instant.
    pub since: Option<UnixSeconds>,
    /// At or before this instant.
    pub until: Option<UnixSeconds>,
}

impl AuditQuery {
    /// Whether `event` belongs in the answer, cursor aside: the one
    /// definition of the filters, which stores without a query language
    /// apply directly.
    pub fn matches(&self, event: &AuditEvent) -> bool {
        self.before.is_none_or(|before| event.id < before)
            && self.user.is_none_or(|user| event.subject == Some(user) || event.actor == Actor::User(user))
            && self.kind.is_none_or(|kind| event.kind == kind)
            && self.since.is_none_or(|since| event.at >= since)
            && self.until.is_none_or(|until| event.at <= until)
    }
}

/// One page of events, and where the next one starts.
#[derive(Debug)]
pub struct AuditPage {
    pub items: Vec<AuditEvent>,
    pub next_cursor: Option<AuditId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_name_parses_back_and_is_snake_case() {
        for kind in AuditType::ALL {
            assert_eq!(kind.as_str().parse::<AuditType>().unwrap(), kind);
            assert!(kind.as_str().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{kind}");
        }
        assert!("Login_Failed".parse::<AuditType>().is_err());
    }

    #[test]
    fn actors_round_trip_through_their_stored_form() {
        let user = UserId::from_uuid(Uuid::now_v7());
        for actor in [Actor::User(user), Actor::cli("portcullis admin unlock a@b.c"), Actor::Anonymous, Actor::System] {
            assert_eq!(Actor::decode(&actor.encode()).unwrap(), actor);
        }
        assert!(Actor::decode("root").is_err());
        assert!(Actor::decode("user:not-a-uuid").is_err());
    }

    #[test]
    fn a_hostile_command_line_is_cut_on_a_character_boundary() {
        let Actor::Cli(command) = Actor::cli(&"é".repeat(500)) else { panic!("a CLI actor") };
        assert!(command.len() <= MAX_COMMAND_LEN);
        assert!(command.chars().all(|c| c == 'é'));
    }

    #[test]
    fn a_user_filter_matches_what_they_did_and_what_was_done_to_them() {
        let entropy = crate::core::testkit::SeededEntropy::new(1);
        let (ada, bob) = (UserId::from_uuid(Uuid::now_v7()), UserId::from_uuid(Uuid::now_v7()));
        let by_ada =
            AuditEvent::new(&entropy, 5_000, &Origin::system().by(ada), AuditType::AdminUserDisabled, Some(bob));
        let query = |user| AuditQuery { user: Some(user), limit: 10, ..AuditQuery::default() };
        assert!(query(ada).matches(&by_ada) && query(bob).matches(&by_ada));
        assert!(!query(UserId::from_uuid(Uuid::now_v7())).matches(&by_ada));
        let window = AuditQuery { since: Some(UnixSeconds::new(6)), ..AuditQuery::default() };
        assert!(!window.matches(&by_ada));
        let kind = AuditQuery { kind: Some(AuditType::Logout), ..AuditQuery::default() };
        assert!(!kind.matches(&by_ada));
    }
}

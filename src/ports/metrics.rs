//! Where the core and the HTTP layer report what happened. Implementations
//! must be cheap and never fail: metrics are not worth a failed request.

/// How a login attempt ended, as the `outcome` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    Success,
    InvalidCredentials,
    Locked,
    RateLimited,
    /// The password was right, but a cut-off (password change, logout
    /// everywhere, disabling, deletion, role change) landed while it was
    /// being verified, and the session was refused.
    CutOff,
    /// The password was right; a second factor is asked for next.
    MfaRequired,
    /// The password was right, but the address is unverified and
    /// `PORTCULLIS_REQUIRE_VERIFIED_EMAIL` is on.
    EmailNotVerified,
    Error,
}

impl LoginOutcome {
    /// Every outcome, so the counter can expose each series from the start.
    pub const ALL: [Self; 8] = [
        Self::Success,
        Self::InvalidCredentials,
        Self::Locked,
        Self::RateLimited,
        Self::CutOff,
        Self::MfaRequired,
        Self::EmailNotVerified,
        Self::Error,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Locked => "locked",
            Self::RateLimited => "rate_limited",
            Self::CutOff => "cut_off",
            Self::MfaRequired => "mfa_required",
            Self::EmailNotVerified => "email_not_verified",
            Self::Error => "error",
        }
    }
}

/// Which token was issued, as the `kind` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub const ALL: [Self; 2] = [Self::Access, Self::Refresh];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }
}

/// Why a refresh was refused, as the `reason` label of
/// `refresh_refusals_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshRefusal {
    /// A cut-off (password change, logout everywhere, disabling, deletion,
    /// role change) moved the user's credential epoch on while the refresh
    /// was in flight, and the store refused to rotate the token.
    CutOff,
}

impl RefreshRefusal {
    /// Every reason, so the counter can expose each series from the start.
    pub const ALL: [Self; 1] = [Self::CutOff];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::CutOff => "cut_off",
        }
    }
}

/// Which sessions a logout ended, as the `scope` label of `logouts_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogoutScope {
    /// The caller's own session (and the one its refresh token names).
    Session,
    /// Every session of the caller.
    All,
}

impl LogoutScope {
    pub const ALL: [Self; 2] = [Self::Session, Self::All];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::All => "all",
        }
    }
}

/// Why credentials were ended early, as the `reason` label of
/// `revocations_total`: one count per action, however many sessions and
/// tokens it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevocationReason {
    Logout,
    LogoutAll,
    PasswordChange,
    /// A rotated refresh token came back after the grace window.
    RefreshReuse,
    /// An admin changed a user's role or status.
    AdminUpdate,
    AdminDelete,
}

impl RevocationReason {
    pub const ALL: [Self; 6] =
        [Self::Logout, Self::LogoutAll, Self::PasswordChange, Self::RefreshReuse, Self::AdminUpdate, Self::AdminDelete];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::PasswordChange => "password_change",
            Self::RefreshReuse => "refresh_reuse",
            Self::AdminUpdate => "admin_update",
            Self::AdminDelete => "admin_delete",
        }
    }
}

/// How the database connection pool is used at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolUsage {
    pub idle: u32,
    pub in_use: u32,
    /// The most connections the pool may open.
    pub max: u32,
}

/// Receives the service's counters and timings.
#[cfg_attr(test, mockall::automock)]
pub trait MetricsSink: Send + Sync {
    fn login_attempt(&self, outcome: LoginOutcome);
    fn rate_limit_decision(&self, bucket: &str, allowed: bool);
    fn token_issued(&self, kind: TokenKind);
    fn refresh_token_reuse(&self);
    /// A refresh the store refused to rotate; no token was issued.
    fn refresh_refused(&self, reason: RefreshRefusal);
    fn db_fallback_active(&self, active: bool);
    /// Whether rate limits come from the in-process stand-in because the
    /// shared limiter is unavailable.
    fn rate_limiter_degraded(&self, degraded: bool);
    /// A refresh of the key ring failed; the last good ring stays in use.
    fn secrets_refresh_failed(&self);
    /// Seconds since the key ring was last read successfully, and whether
    /// that makes it stale.
    fn secrets_ring_state(&self, age_seconds: u64, stale: bool);
    /// One finished HTTP request; `route` is the route template, never the raw path.
    fn http_request(&self, method: &str, route: &str, status: u16, seconds: f64);
    /// The version and Cargo features of this binary, set once at start.
    fn build_info(&self, version: &str, features: &str);
    /// An account was created by self-registration.
    fn registration(&self);
    fn logout(&self, scope: LogoutScope);
    /// Sessions or tokens were ended early, for `reason`.
    fn revocation(&self, reason: RevocationReason);
    /// How many hashing jobs wait for a worker of the bounded pool now.
    fn password_hash_queue_depth(&self, depth: usize);
    /// A hashing job was refused because the pool's queue was full.
    fn password_hash_refused(&self);
    /// The database pool's connections, sampled when metrics are read.
    fn db_pool(&self, usage: PoolUsage);
    /// One poll of the shared revocation feed failed.
    fn revocation_sync_failed(&self);
}

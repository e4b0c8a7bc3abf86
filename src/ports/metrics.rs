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
    Error,
}

impl LoginOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Locked => "locked",
            Self::RateLimited => "rate_limited",
            Self::CutOff => "cut_off",
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
}

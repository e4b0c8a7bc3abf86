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

/// Receives the service's counters and timings.
#[cfg_attr(test, mockall::automock)]
pub trait MetricsSink: Send + Sync {
    fn login_attempt(&self, outcome: LoginOutcome);
    fn rate_limit_decision(&self, bucket: &str, allowed: bool);
    fn token_issued(&self, kind: TokenKind);
    fn refresh_token_reuse(&self);
    fn db_fallback_active(&self, active: bool);
    /// Whether rate limits come from the in-process stand-in because the
    /// shared limiter is unavailable.
    fn rate_limiter_degraded(&self, degraded: bool);
    /// One finished HTTP request; `route` is the route template, never the raw path.
    fn http_request(&self, method: &str, route: &str, status: u16, seconds: f64);
}

//! Where second factors are stored: each user's TOTP secret (sealed, see
//! [`crate::core::mfa_key`]), the last step a code was accepted for, the
//! hashed recovery codes, the pending sign-ins waiting for a code, and
//! which sessions were opened with a second factor.
//!
//! Nothing secret is stored in the clear: the TOTP secret is sealed by the
//! core before it gets here; recovery codes and sign-in tokens arrive as
//! SHA-256 hashes.

use super::RepoError;
use crate::core::audit::AuditEvent;
use crate::core::refresh::TokenHash;
use crate::core::session::SessionId;
use crate::core::user::{UnixSeconds, UserId};
use async_trait::async_trait;

/// A user's TOTP enrolment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TotpRecord {
    pub user_id: UserId,
    /// The secret as [`crate::core::mfa_key::MfaKey::seal`] sealed it.
    pub sealed_secret: Vec<u8>,
    pub created_at: UnixSeconds,
    /// When a first valid code activated it; `None` while pending.
    pub confirmed_at: Option<UnixSeconds>,
    /// The latest step a code was accepted for: no code of this step or an
    /// earlier one is accepted again.
    pub last_step: Option<i64>,
}

/// A sign-in whose password was right, waiting for the second factor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MfaChallenge {
    /// SHA-256 of the `mfa_token` handed to the client.
    pub token_hash: TokenHash,
    pub user_id: UserId,
    /// The normalised e-mail the login named: the failure counters' key.
    pub account: String,
    /// The client network the login came from; the token is redeemed from
    /// there only.
    pub network: String,
    pub expires_at: UnixSeconds,
    /// Whether the login's failure reservation still stands for the first
    /// code submitted with this token (see [`MfaRepo::spend_reservation`]).
    pub reserved: bool,
}

/// Stores second factors.
///
/// Every check and the write it guards happen in one statement or one
/// transaction: of several racing calls to [`MfaRepo::accept_step`] for
/// one step, or to [`MfaRepo::use_recovery_code`] for one code, or to
/// [`MfaRepo::take_challenge`] for one token, exactly one succeeds.
/// Deleting a user deletes all of this with it.
///
/// # Errors
/// Every method returns [`RepoError`] when storage fails. Writing for an
/// unknown user is [`RepoError::Unexpected`] (a foreign key).
#[async_trait]
pub trait MfaRepo: Send + Sync {
    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>, RepoError>;
    /// Stores a pending enrolment, replacing a pending one, unless a
    /// confirmed one exists; returns whether it stored it. `audit` is
    /// stored with it, and only if it is.
    async fn begin_totp(&self, record: &TotpRecord, audit: &[AuditEvent]) -> Result<bool, RepoError>;
    /// Activates the pending enrolment whose sealed secret is `sealed`
    /// (not one that replaced it meanwhile), accepting `step` as its first
    /// code, and replaces the user's recovery codes by `recovery`; returns
    /// whether it did.
    async fn confirm_totp(
        &self,
        user: UserId,
        sealed: &[u8],
        step: i64,
        recovery: &[TokenHash],
        now: UnixSeconds,
        audit: &[AuditEvent],
    ) -> Result<bool, RepoError>;
    /// Records `step` as used if the confirmed enrolment's last step is
    /// earlier (compare-and-set); returns whether it did. A `false` is a
    /// replay, a code older than one already used, or no enrolment.
    async fn accept_step(&self, user: UserId, step: i64) -> Result<bool, RepoError>;
    /// Spends one unused recovery code; returns whether it was there.
    async fn use_recovery_code(&self, user: UserId, code: &TokenHash, now: UnixSeconds) -> Result<bool, RepoError>;
    /// Unused recovery codes left.
    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, RepoError>;
    /// Deletes the enrolment (pending or confirmed) and the recovery codes;
    /// returns whether there was an enrolment. `audit` is stored only if so.
    async fn remove_totp(&self, user: UserId, audit: &[AuditEvent]) -> Result<bool, RepoError>;
    /// Whether any user has a confirmed enrolment (the start-up check that
    /// refuses to run without the key that opens them).
    async fn any_confirmed(&self) -> Result<bool, RepoError>;
    async fn create_challenge(&self, challenge: &MfaChallenge) -> Result<(), RepoError>;
    /// The challenge for `token_hash`, if stored and not expired at `now`.
    async fn challenge(&self, token_hash: &TokenHash, now: UnixSeconds) -> Result<Option<MfaChallenge>, RepoError>;
    /// Deletes the challenge if still unexpired at `now`; returns whether
    /// this call did (only one of racing calls does).
    async fn take_challenge(&self, token_hash: &TokenHash, now: UnixSeconds) -> Result<bool, RepoError>;
    /// Clears the challenge's `reserved` flag if set; returns whether this
    /// call did (only one of racing calls does).
    async fn spend_reservation(&self, token_hash: &TokenHash) -> Result<bool, RepoError>;
    /// Records that `session` was opened with a second factor.
    async fn mark_session(&self, session: SessionId) -> Result<(), RepoError>;
    /// Whether `session` was opened with a second factor.
    async fn session_marked(&self, session: SessionId) -> Result<bool, RepoError>;
    /// Deletes challenges that expired before `now`.
    async fn purge_challenges(&self, now: UnixSeconds) -> Result<u64, RepoError>;
}

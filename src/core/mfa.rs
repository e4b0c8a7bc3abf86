//! The TOTP second factor's life cycle: enrolment (a secret and its
//! `otpauth://` URI), activation by a first valid code (which returns ten
//! single-use recovery codes), disabling (which takes a current code or a
//! recovery code, never the password alone: a phished password with a live
//! session must not remove the factor meant to stop it), and an admin's
//! reset for a user who lost both.
//!
//! Signing in with the factor is [`super::mfa_login`]'s. Codes are judged
//! by [`super::totp`]; the store settles replays (compare-and-set on the
//! last step). This module must never log a secret, a code or a recovery
//! code.

use super::audit::{AuditType, Origin};
use super::auth::{AuthService, ServiceFailure};
use super::failure::absorbs_failures;
use super::limits::limited_network;
use super::login::LoginError;
use super::mfa_key::MfaKey;
use super::refresh::TokenHash;
use super::token::Principal;
use super::totp;
use super::user::{User, UserId};
use crate::ports::{FailureKey, HashError, LimiterError, MfaRepo, RepoError, TotpRecord};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

/// Recovery codes handed out at activation.
pub const RECOVERY_CODES: usize = 10;
/// Longest recovery code even looked at.
const MAX_RECOVERY_CODE_CHARS: usize = 64;

/// What the second factor needs: its store, the key that seals secrets
/// (absent when none is configured: enrolment is then refused), and the
/// issuer name authenticator apps show.
pub struct MfaSetup {
    pub(crate) repo: Arc<dyn MfaRepo>,
    pub(crate) key: Option<MfaKey>,
    pub(crate) issuer: String,
}

/// A new, still pending enrolment: what the user's app needs.
#[derive(Debug)]
pub struct TotpEnrolment {
    /// The secret in base32, for typing in.
    pub secret: String,
    /// The `otpauth://` URI, for a QR code.
    pub otpauth_uri: String,
}

/// The second factor a request presents.
#[derive(Clone, Copy, Debug)]
pub enum SecondFactor<'a> {
    /// Six digits from the authenticator app.
    Code(&'a str),
    /// One of the recovery codes handed out at activation.
    RecoveryCode(&'a str),
}

#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// No key to seal secrets with is configured.
    #[error("the second factor is not available on this service")]
    Unavailable,
    #[error("TOTP is already enabled")]
    AlreadyEnabled,
    #[error("TOTP is not enabled")]
    NotEnabled,
    /// Wrong, expired or already used.
    #[error("the code is wrong or already used")]
    InvalidCode,
    #[error("too many failed attempts")]
    Locked { retry_after: Duration },
    /// The token's user is gone.
    #[error("the user no longer exists")]
    UserGone,
    #[error(transparent)]
    Failure(#[from] ServiceFailure),
}
absorbs_failures!(MfaError);

impl From<LoginError> for MfaError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::Locked { retry_after } => Self::Locked { retry_after },
            LoginError::Failure(failure) => Self::Failure(failure),
            _ => Self::InvalidCode,
        }
    }
}

/// SHA-256 of a recovery code as typed, ignoring case, spaces and dashes;
/// `None` for input far longer than any code.
pub(crate) fn recovery_code_hash(code: &str) -> Option<TokenHash> {
    if code.chars().count() > MAX_RECOVERY_CODE_CHARS {
        return None;
    }
    let normalised: String =
        code.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    Some(TokenHash::from_bytes(Sha256::digest(normalised.as_bytes()).into()))
}

impl AuthService {
    /// Turns the second factor on for this service.
    pub fn with_mfa(mut self, repo: Arc<dyn MfaRepo>, key: Option<MfaKey>, issuer: impl Into<String>) -> Self {
        self.mfa = Some(MfaSetup { repo, key, issuer: issuer.into() });
        self
    }

    pub(crate) fn mfa_setup(&self) -> Result<&MfaSetup, MfaError> {
        self.mfa.as_ref().ok_or(MfaError::Unavailable)
    }

    fn mfa_key(&self) -> Result<(&MfaSetup, &MfaKey), MfaError> {
        let setup = self.mfa_setup()?;
        Ok((setup, setup.key.as_ref().ok_or(MfaError::Unavailable)?))
    }

    async fn caller(&self, principal: &Principal) -> Result<User, MfaError> {
        self.ports.users.by_id(principal.user_id).await?.ok_or(MfaError::UserGone)
    }

    /// Starts an enrolment: a fresh secret, sealed and stored pending
    /// (replacing a pending one). Nothing changes at sign-in until a code
    /// confirms it.
    ///
    /// # Errors
    /// [`MfaError::AlreadyEnabled`] when a confirmed enrolment exists,
    /// [`MfaError::Unavailable`] without a key.
    pub async fn enrol_totp(&self, principal: &Principal, origin: &Origin) -> Result<TotpEnrolment, MfaError> {
        let (setup, key) = self.mfa_key()?;
        let user = self.caller(principal).await?;
        let mut secret = [0u8; totp::SECRET_BYTES];
        self.ports.entropy.fill(&mut secret);
        let record = TotpRecord {
            user_id: user.id,
            sealed_secret: key.seal(self.ports.entropy.as_ref(), user.id, &secret),
            created_at: self.ports.clock.now(),
            confirmed_at: None,
            last_step: None,
        };
        let event = self.audit_event(&origin.clone().by(user.id), AuditType::MfaEnrolmentStarted, Some(user.id));
        if !setup.repo.begin_totp(&record, std::slice::from_ref(&event)).await? {
            return Err(MfaError::AlreadyEnabled);
        }
        event.log();
        Ok(TotpEnrolment {
            secret: totp::base32(&secret),
            otpauth_uri: totp::otpauth_uri(&setup.issuer, user.email.as_str(), &secret),
        })
    }

    /// Activates the pending enrolment with a first valid code; returns the
    /// recovery codes, shown this once and stored only as hashes.
    ///
    /// # Errors
    /// [`MfaError::NotEnabled`] without a pending enrolment,
    /// [`MfaError::AlreadyEnabled`] when it is active already,
    /// [`MfaError::InvalidCode`] for a wrong code.
    pub async fn confirm_totp(
        &self,
        principal: &Principal,
        code: &str,
        origin: &Origin,
    ) -> Result<Vec<String>, MfaError> {
        let (setup, key) = self.mfa_key()?;
        let user = self.caller(principal).await?;
        let record = setup.repo.totp(user.id).await?.ok_or(MfaError::NotEnabled)?;
        if record.confirmed_at.is_some() {
            return Err(MfaError::AlreadyEnabled);
        }
        let secret = open_secret(key, &record)?;
        let now = self.ports.clock.now();
        let step = totp::matching_step(&secret, code, now).ok_or(MfaError::InvalidCode)?;
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| self.new_recovery_code()).collect();
        let hashes: Vec<TokenHash> = codes.iter().map(String::as_str).filter_map(recovery_code_hash).collect();
        let event = self.audit_event(&origin.clone().by(user.id), AuditType::MfaEnabled, Some(user.id));
        let events = std::slice::from_ref(&event);
        // The secret checked, not one a racing enrolment put in its place.
        if !setup.repo.confirm_totp(user.id, &record.sealed_secret, step, &hashes, now, events).await? {
            return Err(MfaError::InvalidCode);
        }
        event.log();
        Ok(codes)
    }

    /// Turns TOTP off, given a current code or an unused recovery code; a
    /// pending enrolment is dropped without one. Failures count towards the
    /// lockout exactly as failed passwords do.
    ///
    /// # Errors
    /// [`MfaError::NotEnabled`], [`MfaError::InvalidCode`],
    /// [`MfaError::Locked`].
    pub async fn disable_totp(
        &self,
        principal: &Principal,
        proof: SecondFactor<'_>,
        origin: &Origin,
    ) -> Result<(), MfaError> {
        let setup = self.mfa_setup()?;
        let user = self.caller(principal).await?;
        let origin = origin.clone().by(user.id);
        let record = setup.repo.totp(user.id).await?.ok_or(MfaError::NotEnabled)?;
        let event = self.audit_event(&origin, AuditType::MfaDisabled, Some(user.id));
        if record.confirmed_at.is_some() {
            let (pair, account) = failure_keys(user.email.as_str(), &origin);
            self.reserve_verification(&pair, &account).await?;
            if !self.second_factor_holds(&record, proof).await? {
                self.record_mfa_failure(&origin, user.id, proof, "disable").await;
                return Err(MfaError::InvalidCode);
            }
            self.ports.limiter.clear_failures(&pair).await?;
            self.ports.limiter.refund_failure(&account).await?;
        }
        if !setup.repo.remove_totp(user.id, std::slice::from_ref(&event)).await? {
            return Err(MfaError::NotEnabled);
        }
        event.log();
        Ok(())
    }

    /// An admin's reset of `target`'s second factor: the enrolment and its
    /// recovery codes are deleted, so the user signs in with the password
    /// alone and may enrol again. Returns whether there was one.
    ///
    /// # Errors
    /// [`MfaError::UserGone`] for an unknown user.
    pub async fn reset_mfa(&self, target: UserId, origin: &Origin) -> Result<bool, MfaError> {
        let setup = self.mfa_setup()?;
        if self.ports.users.by_id(target).await?.is_none() {
            return Err(MfaError::UserGone);
        }
        let event = self.audit_event(origin, AuditType::AdminMfaReset, Some(target));
        let removed = setup.repo.remove_totp(target, std::slice::from_ref(&event)).await?;
        if removed {
            event.log();
        }
        Ok(removed)
    }

    /// Whether `user` has an active second factor.
    ///
    /// # Errors
    /// [`ServiceFailure`] when storage fails.
    pub async fn mfa_enabled(&self, user: UserId) -> Result<bool, ServiceFailure> {
        let Some(setup) = &self.mfa else { return Ok(false) };
        Ok(setup.repo.totp(user).await?.is_some_and(|record| record.confirmed_at.is_some()))
    }

    /// Whether `proof` holds for the confirmed enrolment `record`, spending
    /// it: the code's step through the store's compare-and-set (so a replay
    /// or a racing twin fails), or the recovery code.
    pub(crate) async fn second_factor_holds(
        &self,
        record: &TotpRecord,
        proof: SecondFactor<'_>,
    ) -> Result<bool, MfaError> {
        let setup = self.mfa_setup()?;
        let now = self.ports.clock.now();
        match proof {
            SecondFactor::Code(code) => {
                let (_, key) = self.mfa_key()?;
                let secret = open_secret(key, record)?;
                let Some(step) = totp::matching_step(&secret, code, now) else { return Ok(false) };
                Ok(setup.repo.accept_step(record.user_id, step).await?)
            }
            SecondFactor::RecoveryCode(code) => {
                let Some(hash) = recovery_code_hash(code) else { return Ok(false) };
                Ok(setup.repo.use_recovery_code(record.user_id, &hash, now).await?)
            }
        }
    }

    /// Records a refused second factor: which kind, and where.
    pub(crate) async fn record_mfa_failure(&self, origin: &Origin, user: UserId, proof: SecondFactor<'_>, step: &str) {
        let kind = match proof {
            SecondFactor::Code(_) => "totp",
            SecondFactor::RecoveryCode(_) => "recovery_code",
        };
        let event = self.audit_event(origin, AuditType::MfaFailed, Some(user)).failed();
        self.record_refusal(event.detail("factor", kind).detail("during", step)).await;
    }

    /// Sixteen base32 characters (80 bits) in groups of four.
    fn new_recovery_code(&self) -> String {
        let mut bytes = [0u8; 10];
        self.ports.entropy.fill(&mut bytes);
        let text = totp::base32(&bytes);
        let groups: Vec<&str> = (0..4).map(|i| &text[i * 4..i * 4 + 4]).collect();
        groups.join("-")
    }
}

fn open_secret(key: &MfaKey, record: &TotpRecord) -> Result<Vec<u8>, MfaError> {
    key.open(record.user_id, &record.sealed_secret).map_err(|_| {
        // The key was replaced: this secret cannot be read any more.
        MfaError::Failure(ServiceFailure::Unexpected(anyhow::anyhow!(
            "a TOTP secret does not open under the configured PORTCULLIS_MFA_KEY"
        )))
    })
}

/// The failure counters a second factor's guesses count against: the
/// account from this client network, and the account from anywhere, as
/// for passwords.
pub(crate) fn failure_keys(account: &str, origin: &Origin) -> (FailureKey, FailureKey) {
    let client_ip = origin.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    (
        FailureKey { account: account.to_owned(), ip: Some(limited_network(client_ip)) },
        FailureKey { account: account.to_owned(), ip: None },
    )
}

//! Creating accounts: self-registration, an administrator's creation or
//! invitation, and seeding the initial admin at start. Both parse the address and the password before anything is
//! hashed or stored.

use super::audit::{AuditType, Origin};
use super::auth::AuthService;
use super::email::{Email, EmailError};
use super::failure::{absorbs_failures, ServiceFailure};
use super::password::{Password, PasswordError};
use super::user::{CredentialEpoch, Role, UnixSeconds, User, UserId, UserStatus};
use crate::ports::{HashError, LimiterError, RepoError, UserInsertError};

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("invalid email")]
    InvalidEmail(#[source] EmailError),
    #[error("weak password")]
    WeakPassword(#[source] PasswordError),
    #[error("email is already registered")]
    EmailTaken,
    /// Self-registration is closed: only admins create accounts.
    #[error("registration is closed")]
    Closed,
    /// An invitation was asked for, but no mailer is configured to carry it.
    #[error("no mailer is configured to send the invitation")]
    MailDisabled,
    #[error(transparent)]
    Failure(#[from] ServiceFailure),
}
absorbs_failures!(RegisterError);

/// Who may create an account (`PORTCULLIS_REGISTRATION`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Registration {
    /// Anyone, through `POST /v1/auth/register`.
    #[default]
    Open,
    /// Only administrators; self-registration is refused before the
    /// address or password is checked or hashed.
    Closed,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("PORTCULLIS_ADMIN_EMAIL is not a valid address")]
    InvalidEmail(#[source] EmailError),
    #[error("PORTCULLIS_ADMIN_PASSWORD is refused by the password policy")]
    WeakPassword(#[source] PasswordError),
    #[error(transparent)]
    Failure(#[from] ServiceFailure),
}
absorbs_failures!(SeedError);

enum CreateError {
    EmailTaken,
    Failure(ServiceFailure),
}

/// What seeding the initial admin did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedOutcome {
    Created,
    /// An active admin already exists, or the address is taken: nothing changed.
    AlreadyPresent,
}

impl AuthService {
    /// Creates an account with the `user` role, audited as a
    /// `registration` by the new user, while registration is open.
    ///
    /// # Errors
    /// See [`RegisterError`].
    /// With a mailer, the new address is sent a verification link.
    pub async fn register(&self, email: &str, password: String, origin: &Origin) -> Result<User, RegisterError> {
        if self.policy.registration == Registration::Closed {
            return Err(RegisterError::Closed);
        }
        let user = self.create_account(email, password, Role::User, origin).await?;
        self.send_verification(&user, &origin.clone().by(user.id)).await;
        Ok(user)
    }

    /// Creates an account with `role`: self-registration when `origin`'s
    /// actor is anonymous (audited as `registration` by the new user),
    /// an administrator's creation otherwise (`admin_user_created`).
    ///
    /// # Errors
    /// See [`RegisterError`].
    pub async fn create_account(
        &self,
        email: &str,
        password: String,
        role: Role,
        origin: &Origin,
    ) -> Result<User, RegisterError> {
        let email = Email::parse(email).map_err(RegisterError::InvalidEmail)?;
        let password = Password::new(password, email.local_part()).map_err(RegisterError::WeakPassword)?;
        self.store_account(email, &password, role, origin, false).await
    }

    /// An administrator's invitation: creates an account with `role` and
    /// no usable password (its hash is of 256 random bits, forgotten at
    /// once, so nothing signs in with it and a login costs what any other
    /// does), its address not yet verified, and mails it an invitation
    /// link ([`crate::core::mail::MailKind::Invitation`]). Confirming the
    /// link as a password reset sets the first password and proves the
    /// address. Without a mailer nothing is created.
    ///
    /// Should the link not be issued after the account is stored (storage
    /// failing in between), the account stays, the failure is logged, and
    /// the invited person can still ask for a reset link.
    ///
    /// # Errors
    /// See [`RegisterError`]; [`RegisterError::MailDisabled`] without a mailer.
    pub async fn invite_account(&self, email: &str, role: Role, origin: &Origin) -> Result<User, RegisterError> {
        if !self.mail_enabled() {
            return Err(RegisterError::MailDisabled);
        }
        let email = Email::parse(email).map_err(RegisterError::InvalidEmail)?;
        let mut noise = [0u8; 32];
        self.ports.entropy.fill(&mut noise);
        let unusable = Password::unchecked(super::hex::encode(&noise));
        let user = self.store_account(email, &unusable, role, origin, true).await?;
        if let Err(error) = self.send_invitation(&user, origin).await {
            tracing::warn!(error = %error, user_id = %user.id, "the invitation mail could not be issued");
        }
        Ok(user)
    }

    async fn store_account(
        &self,
        email: Email,
        password: &Password,
        role: Role,
        origin: &Origin,
        invited: bool,
    ) -> Result<User, RegisterError> {
        match self.create_user(email, password, role, origin, invited).await {
            Ok(user) => {
                self.ports.metrics.registration();
                Ok(user)
            }
            Err(CreateError::EmailTaken) => Err(RegisterError::EmailTaken),
            Err(CreateError::Failure(failure)) => Err(failure.into()),
        }
    }

    /// Stores a new account. An `invited` one starts unverified: its
    /// invitation link proves the address.
    async fn create_user(
        &self,
        email: Email,
        password: &Password,
        role: Role,
        origin: &Origin,
        invited: bool,
    ) -> Result<User, CreateError> {
        let hash = self.ports.hasher.hash(password).await.map_err(|e| CreateError::Failure(e.into()))?;
        let now_ms = self.ports.clock.now_millis();
        let now = UnixSeconds::new(now_ms.div_euclid(1000));
        let user = User {
            id: UserId::from_uuid(self.ports.entropy.uuid_v7(u64::try_from(now_ms).unwrap_or(0))),
            email,
            password_hash: hash,
            role,
            status: UserStatus::Active,
            created_at: now,
            updated_at: now,
            credential_epoch: CredentialEpoch::INITIAL,
            // An administrator or the service vouches for the accounts it
            // creates; a self-registration proves its address by mail.
            email_verified: origin.actor != super::audit::Actor::Anonymous && !invited,
        };
        let event = if origin.actor == super::audit::Actor::Anonymous {
            self.audit_event(&origin.clone().by(user.id), AuditType::Registration, Some(user.id))
        } else {
            self.audit_event(origin, AuditType::AdminUserCreated, Some(user.id))
        };
        let event = event.detail("role", role.as_str());
        let event = if invited { event.detail("invited", "true") } else { event };
        match self.ports.users.insert(&user, std::slice::from_ref(&event)).await {
            Ok(()) => {
                event.log();
                Ok(user)
            }
            Err(UserInsertError::EmailTaken) => Err(CreateError::EmailTaken),
            Err(UserInsertError::Repo(error)) => Err(CreateError::Failure(error.into())),
        }
    }

    /// Creates the initial admin if no active admin exists and the address
    /// is free.
    ///
    /// # Errors
    /// See [`SeedError`].
    pub async fn seed_admin(&self, email: &str, password: String) -> Result<SeedOutcome, SeedError> {
        let email = Email::parse(email).map_err(SeedError::InvalidEmail)?;
        let password = Password::new(password, email.local_part()).map_err(SeedError::WeakPassword)?;
        if self.ports.users.has_active_admin().await? || self.ports.users.by_email(&email).await?.is_some() {
            return Ok(SeedOutcome::AlreadyPresent);
        }
        match self.create_user(email, &password, Role::Admin, &Origin::system(), false).await {
            Ok(_) => Ok(SeedOutcome::Created),
            // Another replica seeded it first.
            Err(CreateError::EmailTaken) => Ok(SeedOutcome::AlreadyPresent),
            Err(CreateError::Failure(failure)) => Err(failure.into()),
        }
    }
}

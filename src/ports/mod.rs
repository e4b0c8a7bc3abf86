//! The traits the core needs from the outside world, one module per concern.
//! No type from an HTTP, SQL or Redis crate appears here: adapters translate
//! their drivers' errors into the error types below.

pub mod account_tokens;
pub mod audit;
pub mod clock;
pub mod hasher;
pub mod limiter;
pub mod mailer;
pub mod metrics;
pub mod mfa;
pub mod repo;
pub mod revocations;
pub mod secrets;
pub mod sessions;
pub mod users;

pub use account_tokens::AccountTokenRepo;
pub use audit::AuditLog;
pub use clock::{Clock, Entropy};
pub use hasher::{HashError, PasswordHasher};
pub use limiter::{Bucket, FailureKey, LimiterError, RateLimiter, Reservation};
pub use mailer::{DeliveryError, MailRefused, MailTransport, Mailer, RenderedMail};
pub use metrics::{LoginOutcome, LogoutScope, MetricsSink, PoolUsage, RefreshRefusal, RevocationReason, TokenKind};
pub use mfa::{MfaChallenge, MfaRepo, TotpRecord};
pub use repo::{PoolStatus, RepoError, SchemaStatus};
pub use revocations::RevocationStore;
pub use secrets::{KeyEntry, RingDocument, SecretError, SecretSource};
pub use sessions::{RefreshRecord, RotateOutcome, SessionRecord, SessionRepo};
pub use users::{UserInsertError, UserRepo, UserUpdateError};

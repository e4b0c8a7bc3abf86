//! The storage contract: what every implementation of [`UserRepo`],
//! [`SessionRepo`](crate::ports::SessionRepo) and
//! [`RevocationStore`](crate::ports::RevocationStore) must do, written once
//! against the ports so that each adapter's tests run the same checks.
//!
//! Each function expects a fresh, empty store and panics on the first
//! broken promise. It relies only on the ports, never on an adapter's
//! internals, so a new backend is tested by calling these functions from its
//! own `#[tokio::test]`s, on a multi-threaded runtime so the races are real.
//!
//! One module per port: [`users_contract`], [`sessions_contract`],
//! [`revocations_contract`], [`audit_contract`] and [`mfa_contract`]; and
//! [`abandoned_writes_contract`], for writes their caller drops part-way.

mod abandoned;
mod account_tokens;
mod audit;
mod epochs;
mod mfa;
mod revocations;
mod session_list;
mod sessions;
mod users;

pub use abandoned::abandoned_writes_contract;
pub use account_tokens::account_tokens_contract;
pub use audit::audit_contract;
pub use mfa::mfa_contract;
pub use revocations::revocations_contract;
pub use sessions::sessions_contract;
pub use users::users_contract;

use crate::core::email::Email;
use crate::core::password::PasswordHash;
use crate::core::user::{CredentialEpoch, Role, UnixSeconds, User, UserId, UserStatus};
use crate::ports::UserRepo;
use uuid::Uuid;

/// The instant the contract pretends it is.
pub(super) const NOW: UnixSeconds = UnixSeconds::new(1_700_000_000);

/// A hash in bcrypt's format; no password is ever checked against it here.
pub(super) const HASH: &str = "$2b$04$abcdefghijklmnopqrstuuK6fGdYsY7S8mLyXbbPj2xDnhR7ABCDe";

pub(super) fn new_user(email: &str, role: Role, status: UserStatus) -> User {
    User {
        id: UserId::from_uuid(Uuid::now_v7()),
        email: Email::parse(email).expect("a valid test address"),
        password_hash: PasswordHash::new(HASH),
        role,
        status,
        created_at: NOW,
        updated_at: NOW,
        credential_epoch: CredentialEpoch::INITIAL,
        email_verified: false,
    }
}

pub(super) async fn insert(users: &dyn UserRepo, user: &User) {
    users.insert(user, &[]).await.expect("the user is stored");
}

//! Users: identity, role, status.

use super::email::Email;
use super::password::PasswordHash;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, Sub};
use std::str::FromStr;
use uuid::Uuid;

/// An instant in whole seconds since the Unix epoch: the core's one notion
/// of time. An instant plus or minus a number of seconds is an instant; one
/// instant minus another is the number of seconds between them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixSeconds(i64);

impl UnixSeconds {
    pub const fn new(seconds: i64) -> Self {
        Self(seconds)
    }
    pub const fn seconds(self) -> i64 {
        self.0
    }
}

impl fmt::Display for UnixSeconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Add<i64> for UnixSeconds {
    type Output = Self;
    fn add(self, seconds: i64) -> Self {
        Self(self.0 + seconds)
    }
}

impl Sub<i64> for UnixSeconds {
    type Output = Self;
    fn sub(self, seconds: i64) -> Self {
        Self(self.0 - seconds)
    }
}

impl Sub for UnixSeconds {
    type Output = i64;
    fn sub(self, earlier: Self) -> i64 {
        self.0 - earlier.0
    }
}

/// How many times a user's credentials have been ended: every password
/// change, logout everywhere, disabling, deletion and role change advances
/// it, in the same write. Sessions and access tokens carry the epoch they
/// were issued under, and are refused once the user's has moved on. A
/// counter rather than an instant, so two cut-offs within one second are
/// still two.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CredentialEpoch(i64);

impl CredentialEpoch {
    /// The epoch of a new user.
    pub const INITIAL: Self = Self(0);
    /// Later than every epoch a user can reach: a deleted user's tokens are
    /// all before it.
    pub const END: Self = Self(i64::MAX);

    pub const fn new(value: i64) -> Self {
        Self(value)
    }
    pub const fn value(self) -> i64 {
        self.0
    }
    /// The epoch after this one.
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for CredentialEpoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A user's identifier: a UUIDv7, so ids sort in creation order and keyset
/// pagination over them is stable.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct UserId(Uuid);

impl UserId {
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for UserId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// What a user may do.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Role {
    User,
    Admin,
}

/// Whether a user may sign in.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum UserStatus {
    Active,
    Disabled,
}

/// A stored name was not one of the known values.
#[derive(Debug, thiserror::Error)]
#[error("unknown {kind}: {value:?}")]
pub struct UnknownValue {
    kind: &'static str,
    value: String,
}

macro_rules! string_enum {
    ($ty:ident, $kind:literal, $($variant:ident => $name:literal),+) => {
        impl $ty {
            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }
        }
        impl FromStr for $ty {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(Self::$variant),)+
                    _ => Err(UnknownValue { kind: $kind, value: s.to_owned() }),
                }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(Role, "role", User => "user", Admin => "admin");
string_enum!(UserStatus, "status", Active => "active", Disabled => "disabled");

/// A user as stored, hash included. Never serialised to clients as is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub password_hash: PasswordHash,
    pub role: Role,
    pub status: UserStatus,
    pub created_at: UnixSeconds,
    pub updated_at: UnixSeconds,
    /// Sessions and tokens of an earlier epoch are no longer valid.
    pub credential_epoch: CredentialEpoch,
    /// The owner proved they read mail at `email` (a verification link or
    /// a password reset), or an administrator created the account.
    pub email_verified: bool,
}

impl User {
    pub fn is_active_admin(&self) -> bool {
        self.role == Role::Admin && self.status == UserStatus::Active
    }
}

/// An administrator's change to a user: each field is optional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserChange {
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
}

impl UserChange {
    /// Whether applying this change to `user` would leave it no longer an
    /// active admin.
    pub fn demotes(&self, user: &User) -> bool {
        user.is_active_admin()
            && (self.role.is_some_and(|r| r != Role::Admin) || self.status.is_some_and(|s| s != UserStatus::Active))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_statuses_round_trip_through_their_names() {
        for role in [Role::User, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        for status in [UserStatus::Active, UserStatus::Disabled] {
            assert_eq!(status.to_string().parse::<UserStatus>().unwrap(), status);
        }
        assert!("root".parse::<Role>().is_err());
    }
}

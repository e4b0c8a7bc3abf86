//! Sessions: one sign-in, carried forward by a chain of refresh tokens.

use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Which of a user's sessions a cut-off ends; the rest move on to the new
/// credential epoch with the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndSessions {
    None,
    All,
    AllBut(SessionId),
}

/// A session's identifier: the `sid` of every access token it issues.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SessionId(Uuid);

impl SessionId {
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for SessionId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

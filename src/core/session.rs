//! Sessions: one sign-in, carried forward by a chain of refresh tokens.

use super::user::UnixSeconds;
use std::fmt;
use std::net::IpAddr;
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

/// Longest user agent kept, in bytes; a longer one is cut at a character
/// boundary. Clients choose this header freely, so it is bounded before it
/// is stored or shown.
pub const MAX_USER_AGENT_BYTES: usize = 256;

/// A client's `User-Agent`, as a session shows it: control characters
/// replaced, at most [`MAX_USER_AGENT_BYTES`], never empty. Informational
/// only: nothing is decided on it, since any client can send any value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UserAgent(String);

impl UserAgent {
    /// The header's value made safe to store and show; `None` when nothing
    /// printable is left.
    pub fn from_header(raw: &str) -> Option<Self> {
        let cleaned: String =
            raw.trim().chars().map(|c| if c.is_control() { '\u{FFFD}' } else { c }).collect::<String>();
        let mut end = cleaned.len().min(MAX_USER_AGENT_BYTES);
        while !cleaned.is_char_boundary(end) {
            end -= 1;
        }
        let kept = cleaned[..end].trim_end();
        (!kept.is_empty()).then(|| Self(kept.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A session's latest use: its sign-in, then each refresh. Bearer checks do
/// not count: they touch no storage.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SessionUse {
    pub at: UnixSeconds,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<UserAgent>,
}

/// Most sessions one page of a session list may hold.
pub const MAX_SESSION_PAGE: u32 = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_are_bounded_cleaned_and_never_empty() {
        assert_eq!(UserAgent::from_header("  curl/8.5.0 ").unwrap().as_str(), "curl/8.5.0");
        assert_eq!(UserAgent::from_header(" \t "), None);
        assert_eq!(UserAgent::from_header("a\r\nb\0c").unwrap().as_str(), "a\u{FFFD}\u{FFFD}b\u{FFFD}c");
        let long = "é".repeat(1_000);
        let kept = UserAgent::from_header(&long).unwrap();
        assert!(kept.as_str().len() <= MAX_USER_AGENT_BYTES);
        assert!(kept.as_str().chars().all(|c| c == 'é'));
    }
}

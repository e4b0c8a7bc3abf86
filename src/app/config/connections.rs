//! How long and how many: the limits every client connection lives under,
//! so slow or idle clients cannot hold the server's sockets. Never opens a
//! socket; [`crate::app::server`] applies these.

use super::raw::RawConnections;
use super::values::parse_int;
use super::ConfigError;
use std::time::Duration;

/// The limits of client connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// How long a client may take to send a request's headers, counted from
    /// when the server starts waiting for them (on a kept-alive connection,
    /// from the end of the previous response).
    pub header_read_timeout: Duration,
    /// How long a connection may pass no bytes before it is closed once its
    /// in-flight request is answered; `None`: one request per connection.
    pub idle_timeout: Option<Duration>,
    /// Connections open at once; past it, new ones get `503` and are closed.
    pub max_connections: usize,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(10)),
            max_connections: 512,
        }
    }
}

impl ConnectionSettings {
    /// # Errors
    /// [`ConfigError`] naming a timeout or cap out of range.
    pub fn validate(raw: &RawConnections) -> Result<Self, ConfigError> {
        let header = parse_int(
            "PORTCULLIS_CONNECTIONS__HEADER_READ_TIMEOUT_SECONDS",
            raw.header_read_timeout_seconds.as_deref(),
            10,
            1,
            300,
        )?;
        let idle = parse_int(
            "PORTCULLIS_CONNECTIONS__IDLE_TIMEOUT_SECONDS",
            raw.idle_timeout_seconds.as_deref(),
            10,
            0,
            3600,
        )?;
        let max = parse_int("PORTCULLIS_CONNECTIONS__MAX", raw.max.as_deref(), 512, 1, 1_000_000)?;
        let seconds = |value: i64| Duration::from_secs(u64::try_from(value).unwrap_or(0));
        Ok(Self {
            header_read_timeout: seconds(header),
            idle_timeout: (idle > 0).then(|| seconds(idle)),
            max_connections: usize::try_from(max).unwrap_or(512),
        })
    }
}

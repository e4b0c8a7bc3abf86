//! The listeners and what every response carries: where to listen, which
//! proxies to believe, CORS origins and HSTS. Never opens a socket.

use super::values::{invalid, parse_addr, parse_int, parse_sized, split_list};
use super::{ConfigError, Deployment};
use crate::app::http::client_ip::ClientIpHeader;
use ipnet::IpNet;
use std::net::SocketAddr;
use std::time::Duration;

/// Where Portcullis listens, and whom it believes about client addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSettings {
    pub bind: SocketAddr,
    /// A listener of its own for `/metrics`; `None`: the main one serves it.
    pub metrics_bind: Option<SocketAddr>,
    pub trusted_proxies: Vec<IpNet>,
    /// The one header the trusted proxies report the client in.
    pub client_ip_header: ClientIpHeader,
    /// Serve `/metrics` on the public listener: by default in development
    /// only, and never when it has a listener of its own.
    pub metrics_public: bool,
    /// How long `/readyz` answers `503 draining` after a shutdown signal,
    /// while every request is still served, before the listeners close.
    pub shutdown_drain: Duration,
}

impl ServerSettings {
    /// # Errors
    /// [`ConfigError`] naming the address or CIDR that does not parse.
    pub fn validate(
        bind: Option<&str>,
        metrics_bind: Option<&str>,
        trusted_proxies: Option<&str>,
        client_ip_header: Option<&str>,
        metrics_public: Option<&str>,
        shutdown_drain_seconds: Option<&str>,
        deployment: Deployment,
    ) -> Result<Self, ConfigError> {
        let bind = parse_addr("PORTCULLIS_BIND", bind.unwrap_or("127.0.0.1:8080"))?;
        let metrics_bind = metrics_bind.map(|v| parse_addr("PORTCULLIS_METRICS_BIND", v)).transpose()?;
        let trusted_proxies = split_list(trusted_proxies.unwrap_or(""))
            .map(|cidr| {
                cidr.parse::<IpNet>().or_else(|_| cidr.parse::<std::net::IpAddr>().map(IpNet::from)).map_err(|_| {
                    invalid("PORTCULLIS_TRUSTED_PROXIES", format!("{cidr:?} is not a CIDR such as 10.0.0.0/8"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let client_ip_header = ClientIpHeader::parse(client_ip_header.unwrap_or("")).ok_or_else(|| {
            invalid(
                "PORTCULLIS_CLIENT_IP_HEADER",
                format!("{:?} is not one of {}", client_ip_header.unwrap_or(""), ClientIpHeader::CHOICES),
            )
        })?;
        let metrics_public = match metrics_public.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None => metrics_bind.is_none() && deployment == Deployment::Development,
            Some("true") if metrics_bind.is_some() => {
                return Err(invalid(
                    "PORTCULLIS_METRICS_PUBLIC",
                    "is true but PORTCULLIS_METRICS_BIND gives /metrics a listener of its own; unset one of them",
                ))
            }
            Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(invalid("PORTCULLIS_METRICS_PUBLIC", format!("{other:?} is not `true` or `false`")))
            }
        };
        let drain = parse_int("PORTCULLIS_SHUTDOWN_DRAIN_SECONDS", shutdown_drain_seconds, 5, 0, 300)?;
        let shutdown_drain = Duration::from_secs(u64::try_from(drain).unwrap_or(5));
        Ok(Self { bind, metrics_bind, trusted_proxies, client_ip_header, metrics_public, shutdown_drain })
    }
}

/// Headers for browsers: CORS and HSTS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityHeaders {
    /// Origins allowed to call the API from a browser; empty: none.
    pub cors_allowed_origins: Vec<String>,
    /// `Strict-Transport-Security: max-age=…` when set.
    pub hsts_max_age_seconds: Option<u32>,
}

impl SecurityHeaders {
    /// # Errors
    /// [`ConfigError`] naming an origin that is not `http(s)://host[:port]`,
    /// or a max-age out of range.
    pub fn validate(
        cors_allowed_origins: Option<&str>,
        hsts_max_age_seconds: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let cors_allowed_origins = split_list(cors_allowed_origins.unwrap_or(""))
            .map(|origin| parse_origin(origin).map(ToOwned::to_owned))
            .collect::<Result<Vec<_>, _>>()?;
        let hsts_max_age_seconds = hsts_max_age_seconds
            .map(|v| parse_sized("PORTCULLIS_HSTS_MAX_AGE_SECONDS", Some(v), 0, 0, 63_072_000))
            .transpose()?;
        Ok(Self { cors_allowed_origins, hsts_max_age_seconds })
    }
}

/// An origin: `http(s)://host[:port]`, nothing after it.
fn parse_origin(origin: &str) -> Result<&str, ConfigError> {
    let refuse = || {
        invalid(
            "PORTCULLIS_CORS_ALLOWED_ORIGINS",
            format!("{origin:?} is not an origin such as https://app.example.com"),
        )
    };
    let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://")).ok_or_else(refuse)?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err(refuse());
    }
    Ok(origin)
}

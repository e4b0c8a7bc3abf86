//! How the limiter reaches Redis: one server through the reconnecting
//! [`ConnectionManager`], or a Redis Cluster through the cluster client,
//! which follows `MOVED` and `ASK` redirections when slots migrate or a
//! replica takes over; over TLS (`rediss://`) with the system's roots or a
//! CA file. Never decides anything about limits.

use crate::adapters::tls::{install_crypto_provider, CaBundle};
use crate::redact::redact_url;
use anyhow::Context as _;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, RedisFuture, RedisResult, TlsCertificates, Value};
use std::fmt;
use std::time::Duration;

/// Where the limiter's Redis is, and whom to trust for `rediss://`.
#[derive(Clone)]
pub struct RedisTarget {
    urls: Vec<String>,
    cluster: bool,
    ca: Option<CaBundle>,
}

/// A Redis target was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedisTargetError {
    #[error("must be a `redis://` or `rediss://` URL")]
    NotRedis,
    #[error("names several servers, which only a cluster can use: set PORTCULLIS_REDIS__CLUSTER=true, or name one")]
    SeveralWithoutCluster,
    #[error("mixes `redis://` and `rediss://`: a cluster is reached over TLS on every node or on none")]
    MixedSchemes,
    #[error("a CA file only applies to `rediss://` URLs; use rediss:// or unset PORTCULLIS_REDIS__CA_FILE")]
    CaWithoutTls,
}

impl RedisTarget {
    /// `list`: one URL, or with `cluster` a comma-separated list of seed
    /// nodes (any one that answers tells the client the whole topology).
    ///
    /// # Errors
    /// [`RedisTargetError`] when an entry is not a Redis URL, several are
    /// given without `cluster`, the schemes differ, or `ca` is given for
    /// plain `redis://`.
    pub fn parse(list: &str, cluster: bool, ca: Option<CaBundle>) -> Result<Self, RedisTargetError> {
        let urls: Vec<String> =
            list.split(',').map(str::trim).filter(|url| !url.is_empty()).map(ToOwned::to_owned).collect();
        if urls.is_empty() || !urls.iter().all(|url| url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(RedisTargetError::NotRedis);
        }
        if urls.len() > 1 && !cluster {
            return Err(RedisTargetError::SeveralWithoutCluster);
        }
        let tls = urls[0].starts_with("rediss://");
        if urls.iter().any(|url| url.starts_with("rediss://") != tls) {
            return Err(RedisTargetError::MixedSchemes);
        }
        if ca.is_some() && !tls {
            return Err(RedisTargetError::CaWithoutTls);
        }
        Ok(Self { urls, cluster, ca })
    }

    /// One server at `url`, trusting the system's roots if it is `rediss://`.
    pub fn server(url: &str) -> Self {
        Self { urls: vec![url.to_owned()], cluster: false, ca: None }
    }

    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// The URLs without their passwords, for messages.
    pub fn redacted(&self) -> String {
        self.urls.iter().map(|url| redact_url(url)).collect::<Vec<_>>().join(",")
    }

    fn certificates(&self) -> Option<TlsCertificates> {
        self.ca.as_ref().map(|ca| TlsCertificates { client_tls: None, root_cert: Some(ca.pem().to_vec()) })
    }

    fn single_client(&self) -> RedisResult<Client> {
        match self.certificates() {
            Some(certificates) => Client::build_with_tls(self.urls[0].as_str(), certificates),
            None => Client::open(self.urls[0].as_str()),
        }
    }

    fn cluster_client(&self) -> RedisResult<ClusterClient> {
        let mut builder = ClusterClient::builder(self.urls.iter().map(String::as_str));
        if let Some(certificates) = self.certificates() {
            builder = builder.certs(certificates);
        }
        builder.build()
    }
}

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTarget")
            .field("urls", &self.redacted())
            .field("cluster", &self.cluster)
            .field("ca", &self.ca)
            .finish()
    }
}

/// A connection to one server or to a cluster; cloning shares it.
#[derive(Clone)]
pub(super) enum Link {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Link {
    /// A link that connects on first use, and reconnects by itself.
    pub(super) fn lazy(target: &RedisTarget, connect_timeout: Duration) -> anyhow::Result<Self> {
        install_crypto_provider();
        let server = target.redacted();
        if target.cluster {
            let client = target.cluster_client().with_context(|| format!("invalid Redis Cluster URLs {server}"))?;
            let config = ClusterConfig::new().set_connection_timeout(connect_timeout);
            return Ok(Self::Cluster(client.get_pending_async_connection_with_config(config)));
        }
        // The driver's message names no part of the URL; the redacted URL does.
        let client = target.single_client().with_context(|| format!("invalid Redis URL {server}"))?;
        // Reconnection attempts back off, but never for more than a second,
        // so the limiter is back within about a second of Redis.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_max_delay(Duration::from_secs(1));
        let manager = ConnectionManager::new_lazy_with_config(client, config)
            .with_context(|| format!("cannot set up a connection to Redis at {server}"))?;
        Ok(Self::Server(manager))
    }

    /// Opens a connection of its own, without the reconnecting wrapper's
    /// retries, and asks for `PING`: an unreachable server or a refused
    /// certificate fails at once, with the reason.
    pub(super) async fn probe(target: &RedisTarget, timeout: Duration) -> RedisResult<()> {
        install_crypto_provider();
        if target.cluster {
            let config = ClusterConfig::new().set_connection_timeout(timeout).set_response_timeout(timeout);
            let mut connection = target.cluster_client()?.get_async_connection_with_config(config).await?;
            return redis::cmd("PING").query_async::<()>(&mut connection).await;
        }
        let config =
            AsyncConnectionConfig::new().set_connection_timeout(Some(timeout)).set_response_timeout(Some(timeout));
        let mut connection = target.single_client()?.get_multiplexed_async_connection_with_config(&config).await?;
        redis::cmd("PING").query_async::<()>(&mut connection).await
    }
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Server(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Server(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Server(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_one_server_or_a_cluster_of_one_scheme() {
        let one = RedisTarget::parse("redis://:pw@h:6379", false, None).unwrap();
        assert!(!one.is_cluster());
        assert_eq!(one.redacted(), "redis://:***@h:6379");
        let seeds = RedisTarget::parse("rediss://a:7000, rediss://b:7001,", true, None).unwrap();
        assert_eq!(seeds.urls, ["rediss://a:7000", "rediss://b:7001"]);
        assert!(seeds.is_cluster());
        assert_eq!(
            RedisTarget::parse("redis://a,redis://b", false, None).err(),
            Some(RedisTargetError::SeveralWithoutCluster)
        );
        assert_eq!(RedisTarget::parse("redis://a,rediss://b", true, None).err(), Some(RedisTargetError::MixedSchemes));
        assert_eq!(RedisTarget::parse("http://a", false, None).err(), Some(RedisTargetError::NotRedis));
        assert_eq!(RedisTarget::parse(" , ", true, None).err(), Some(RedisTargetError::NotRedis));
        let authority = rcgen::generate_simple_self_signed(vec!["ca.test".to_owned()]).unwrap();
        let ca = CaBundle::from_pem(authority.cert.pem().into_bytes()).unwrap();
        assert_eq!(
            RedisTarget::parse("redis://a", false, Some(ca.clone())).err(),
            Some(RedisTargetError::CaWithoutTls)
        );
        assert!(RedisTarget::parse("rediss://a", false, Some(ca)).is_ok());
        assert!(!format!("{:?}", RedisTarget::server("redis://:s3cret@h")).contains("s3cret"));
    }
}

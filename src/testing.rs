//! Test support, shared by unit and integration tests; not part of the
//! service.
//!
//! Fresh PostgreSQL databases: one empty database per test, created on the
//! server that `TEST_DATABASE_URL` names — else, in builds with the
//! `testcontainers` feature, in a `postgres` container when a Docker engine
//! answers — and dropped when the test ends, so tests never see each
//! other's rows and may run at once. With neither, a test is skipped,
//! loudly; with `PORTCULLIS_REQUIRE_SERVICES=1` a skip is a failure
//! instead, so CI cannot pass by testing nothing.
//!
//! Servers a test starts for itself ([`servers`]): a `redis-server` with
//! TLS, a Redis Cluster, a Postgres with TLS, from Debian's binaries.

mod servers;

pub use self::servers::{free_port, ScratchDir};
#[cfg(feature = "postgres")]
pub use self::servers::{start_postgres_with_tls, PostgresNode};
#[cfg(feature = "redis")]
pub use self::servers::{start_redis, RedisCluster, RedisNode};

#[cfg(feature = "postgres")]
use crate::redact::redact_url;
#[cfg(feature = "postgres")]
use sqlx::{Connection as _, Executor as _, PgConnection};
#[cfg(feature = "postgres")]
use uuid::Uuid;

#[cfg(feature = "postgres")]
/// Drops its test database when dropped, best effort: a database left
/// behind by a crash is harmless, and its name says where it came from.
pub struct DropGuard {
    server_url: String,
    database: String,
    /// A container the server runs in, kept alive as long as the database.
    _container: Option<Box<dyn std::any::Any + Send>>,
}

#[cfg(feature = "postgres")]
impl Drop for DropGuard {
    fn drop(&mut self) {
        let server_url = self.server_url.clone();
        let database = self.database.clone();
        // `drop` cannot await, and the test's runtime may be shutting down
        // around it: drop the database from a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut server = PgConnection::connect(&server_url).await?;
                // FORCE ends the connections the test's pool still holds.
                server.execute(format!(r#"DROP DATABASE IF EXISTS "{database}" WITH (FORCE)"#).as_str()).await?;
                server.close().await?;
                Ok(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("warning: could not drop test database {}: {error:#}", self.database),
            Err(_) => eprintln!("warning: dropping test database {} panicked", self.database),
        }
    }
}

#[cfg(feature = "postgres")]
/// A new, empty database and its URL, or `None` when no server is
/// configured and the caller should return early.
///
/// # Panics
/// When `TEST_DATABASE_URL` is unset and `PORTCULLIS_REQUIRE_SERVICES=1`,
/// or when the server it names cannot be reached or refuses to create a
/// database.
pub async fn fresh_database() -> Option<(String, DropGuard)> {
    let (server_url, container) = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => (url, None),
        _ => {
            if let Some((url, container)) = container_server().await {
                (url, Some(container))
            } else {
                skip_or_fail("PostgreSQL", "TEST_DATABASE_URL=postgres://USER@HOST:PORT/DB");
                return None;
            }
        }
    };
    let database = format!("portcullis_test_{}", Uuid::new_v4().simple());
    let mut server = PgConnection::connect(&server_url)
        .await
        .unwrap_or_else(|error| panic!("TEST_DATABASE_URL={} cannot be reached: {error}", redact_url(&server_url)));
    server
        .execute(format!(r#"CREATE DATABASE "{database}""#).as_str())
        .await
        .unwrap_or_else(|error| panic!("could not create test database {database}: {error}"));
    let _ = server.close().await;
    let url = with_database(&server_url, &database);
    Some((url, DropGuard { server_url, database, _container: container }))
}

/// Panics under `PORTCULLIS_REQUIRE_SERVICES=1`, else says loudly that the
/// current test is skipped.
///
/// # Panics
/// When `PORTCULLIS_REQUIRE_SERVICES=1`.
pub fn skip_or_fail(service: &str, variable: &str) {
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    assert!(
        !std::env::var("PORTCULLIS_REQUIRE_SERVICES").is_ok_and(|value| value == "1"),
        "{test} needs {service}: set {variable}, or unset PORTCULLIS_REQUIRE_SERVICES to let it be skipped"
    );
    eprintln!("SKIPPED: {test} needs {service}; set {variable} to run it (PORTCULLIS_REQUIRE_SERVICES=1 turns this skip into a failure)");
}

/// A throwaway Postgres server in a container, when a Docker engine answers:
/// the image `PORTCULLIS_TEST_POSTGRES_IMAGE` names, else the official one.
#[cfg(all(feature = "postgres", feature = "testcontainers"))]
async fn container_server() -> Option<(String, Box<dyn std::any::Any + Send>)> {
    let image = testcontainers_modules::postgres::Postgres::default();
    let (host, port, container) =
        start_container(image, "PORTCULLIS_TEST_POSTGRES_IMAGE", DEFAULT_POSTGRES_IMAGE, 5432).await?;
    Some((format!("postgres://postgres:postgres@{host}:{port}/postgres"), container))
}

#[cfg(all(feature = "postgres", not(feature = "testcontainers")))]
async fn container_server() -> Option<(String, Box<dyn std::any::Any + Send>)> {
    None
}

/// `url` with its database name replaced by `database`, keeping the
/// credentials, host and query parameters.
#[cfg(feature = "postgres")]
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("TEST_DATABASE_URL is a postgres:// URL");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map_or("", |at| &tail[at..]);
    format!("{scheme}://{authority}/{database}{query}")
}

/// A Redis server for a test and whatever keeps it alive.
pub type RedisServer = (String, Option<Box<dyn std::any::Any + Send>>);

/// The Redis server `TEST_REDIS_URL` names, else (with the `testcontainers`
/// feature) a `redis` container when a Docker engine answers, else `None`
/// after saying the test is skipped.
///
/// # Panics
/// When there is no server and `PORTCULLIS_REQUIRE_SERVICES=1`.
#[cfg(feature = "redis")]
pub async fn redis_server() -> Option<RedisServer> {
    if let Ok(url) = std::env::var("TEST_REDIS_URL") {
        if !url.trim().is_empty() {
            return Some((url, None));
        }
    }
    if let Some((url, container)) = redis_container().await {
        return Some((url, Some(container)));
    }
    skip_or_fail("Redis", "TEST_REDIS_URL=redis://HOST:PORT");
    None
}

/// A throwaway Redis server in a container: the image
/// `PORTCULLIS_TEST_REDIS_IMAGE` names, else the official one.
#[cfg(all(feature = "redis", feature = "testcontainers"))]
async fn redis_container() -> Option<(String, Box<dyn std::any::Any + Send>)> {
    let image = testcontainers_modules::redis::Redis::default();
    let (host, port, container) =
        start_container(image, "PORTCULLIS_TEST_REDIS_IMAGE", DEFAULT_REDIS_IMAGE, 6379).await?;
    Some((format!("redis://{host}:{port}"), container))
}

#[cfg(all(feature = "redis", not(feature = "testcontainers")))]
async fn redis_container() -> Option<(String, Box<dyn std::any::Any + Send>)> {
    None
}

#[cfg(feature = "testcontainers")]
mod containers;
#[cfg(feature = "testcontainers")]
use containers::start_container;
#[cfg(all(feature = "postgres", feature = "testcontainers"))]
use containers::DEFAULT_POSTGRES_IMAGE;
#[cfg(all(feature = "redis", feature = "testcontainers"))]
use containers::DEFAULT_REDIS_IMAGE;
/// A secret source a test changes under running services: several
/// replicas may share one, as they would share a Vault path, and the test
/// decides what each refresh reads, or that the source is down.
pub struct MutableSecrets {
    answer: std::sync::Mutex<Option<crate::ports::RingDocument>>,
}

impl MutableSecrets {
    pub fn new(document: crate::ports::RingDocument) -> Self {
        Self { answer: std::sync::Mutex::new(Some(document)) }
    }

    /// What every later read returns.
    pub fn set(&self, document: crate::ports::RingDocument) {
        *self.answer.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(document);
    }

    /// Every later read fails as an unreachable source does, until [`Self::set`].
    pub fn go_down(&self) {
        *self.answer.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

#[async_trait::async_trait]
impl crate::ports::SecretSource for MutableSecrets {
    async fn key_ring(&self) -> Result<crate::ports::RingDocument, crate::ports::SecretError> {
        let answer = self.answer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        answer.ok_or_else(|| crate::ports::SecretError::Unavailable(anyhow::anyhow!("the test took the source down")))
    }

    fn name(&self) -> &'static str {
        "test"
    }
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        assert_eq!(with_database("postgres://u:p@h:5432/test", "fresh"), "postgres://u:p@h:5432/fresh");
        assert_eq!(with_database("postgres://h", "fresh"), "postgres://h/fresh");
        assert_eq!(with_database("postgresql://h/", "fresh"), "postgresql://h/fresh");
        assert_eq!(with_database("postgres://h/db?sslmode=disable", "fresh"), "postgres://h/fresh?sslmode=disable");
        assert_eq!(with_database("postgres://h?sslmode=disable", "fresh"), "postgres://h/fresh?sslmode=disable");
    }
}

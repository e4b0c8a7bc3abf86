//! Fresh PostgreSQL databases for tests: one empty database per test,
//! created on the server that `TEST_DATABASE_URL` names and dropped when
//! the test ends, so tests never see each other's rows and may run at once.
//!
//! Without `TEST_DATABASE_URL` a test is skipped, loudly; with
//! `PORTCULLIS_REQUIRE_SERVICES=1` a skip is a failure instead, so CI cannot
//! pass by testing nothing.

use crate::app::config::redact_url;
use sqlx::{Connection as _, Executor as _, PgConnection};
use uuid::Uuid;

/// Drops its test database when dropped, best effort: a database left
/// behind by a crash is harmless, and its name says where it came from.
pub(crate) struct DropGuard {
    server_url: String,
    database: String,
}

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

/// A new, empty database and its URL, or `None` when no server is
/// configured and the caller should return early.
///
/// # Panics
/// When `TEST_DATABASE_URL` is unset and `PORTCULLIS_REQUIRE_SERVICES=1`,
/// or when the server it names cannot be reached or refuses to create a
/// database.
pub(crate) async fn fresh_database() -> Option<(String, DropGuard)> {
    let server_url = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            // testcontainers: when a Docker engine answers, start a
            // `postgres:15` container here, keep it alive in the returned
            // guard, and continue with its URL as `server_url`.
            let test = std::thread::current().name().unwrap_or("a Postgres test").to_owned();
            if std::env::var("PORTCULLIS_REQUIRE_SERVICES").is_ok_and(|value| value == "1") {
                panic!(
                    "{test} needs PostgreSQL: set TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test), \
                     or unset PORTCULLIS_REQUIRE_SERVICES to let it be skipped"
                );
            }
            eprintln!(
                "SKIPPED: {test} needs PostgreSQL; set TEST_DATABASE_URL=postgres://USER@HOST:PORT/DB to run it \
                 (PORTCULLIS_REQUIRE_SERVICES=1 turns this skip into a failure)"
            );
            return None;
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
    Some((url, DropGuard { server_url, database }))
}

/// `url` with its database name replaced by `database`, keeping the
/// credentials, host and query parameters.
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("TEST_DATABASE_URL is a postgres:// URL");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map_or("", |at| &tail[at..]);
    format!("{scheme}://{authority}/{database}{query}")
}

#[cfg(test)]
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

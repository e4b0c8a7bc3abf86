//! End-to-end tests of the HTTP contract in `API.md`: each test starts the
//! real service on port 0 with a fresh database and speaks HTTP to it. The
//! database is SQLite, or Postgres with `PORTCULLIS_TEST_STORE=postgres` in a
//! build with the `postgres` feature.

// Gauges are set to exactly 0 or 1, so comparing them exactly is right.
#![allow(clippy::float_cmp)]

mod admin;
mod admin_sessions;
mod behind_nginx;
mod budgets;
mod challenges;
mod cheap_routes;
mod client_address;
mod connections;
mod cors;
mod cutoffs;
mod devices;
mod drain;
mod errors;
mod fast_path;
mod helpers;
mod hostile;
mod invitations;
mod key_ring;
mod keys;
mod limits;
mod login;
mod mail;
mod mfa;
mod networks;
mod normalisation;
mod operations;
mod operator_metrics;
mod password_change;
#[cfg(feature = "postgres")]
mod postgres;
mod protection;
#[cfg(any(feature = "postgres", feature = "redis"))]
mod proxy;
#[cfg(feature = "redis")]
mod redis;
mod refresh;
mod register;
mod replicas;
mod session_list;
mod sessions;
mod user_cache;
mod users;
#[cfg(feature = "vault")]
mod vault_replicas;
mod verify;

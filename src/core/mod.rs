//! The domain: what a user, a password, a token and a session are, and the
//! rules that govern them. Nothing here performs I/O or knows of HTTP, SQL
//! or Redis; time, randomness and storage arrive through [`crate::ports`].

pub mod account_mail;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod device;
pub mod email;
pub mod failure;
pub mod hex;
pub mod in_flight;
pub mod jws;
pub mod keyring;
pub mod limits;
pub mod live_keyring;
pub mod login;
pub mod logout;
pub mod mail;
pub mod mfa;
pub mod mfa_key;
pub mod mfa_login;
pub mod password;
pub mod refresh;
pub mod registration;
pub mod revocation;
mod revocation_filter;
pub mod rotation;
pub mod session;
pub mod session_list;
pub mod token;
pub mod totp;
pub mod user;
pub mod user_cache;
pub mod verified_tokens;

#[cfg(test)]
mod account_mail_tests;
#[cfg(test)]
mod audit_tests;
#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod budget_tests;
#[cfg(test)]
pub(crate) mod harness;
#[cfg(test)]
mod key_rotation_tests;
#[cfg(test)]
mod metrics_tests;
#[cfg(test)]
mod mfa_tests;
#[cfg(test)]
mod session_list_tests;
#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod user_cache_tests;
#[cfg(test)]
mod verified_tokens_tests;

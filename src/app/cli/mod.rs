//! The binary's subcommands other than serving, one module each; `main.rs`
//! only parses arguments and calls them.

pub mod healthcheck;

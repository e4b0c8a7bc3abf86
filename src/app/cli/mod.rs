//! Subcommands of the `portcullis` binary beyond serving: each parses its
//! own arguments and returns what to print, so `main` stays a dispatcher.

pub mod keys;

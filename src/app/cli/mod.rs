//! The `portcullis` subcommands that operators run by hand: `admin …` for
//! recovery (create an admin, reset a password, unlock, set a role,
//! disable) and `config check`. They read the same configuration as the
//! service and open the same adapters through [`crate::app::compose`];
//! they never take a secret from the command line. `healthcheck` probes a
//! running service for a container's `HEALTHCHECK`; `keys generate` prints
//! a new key as a ring-document entry.

pub mod admin;
pub mod config;
pub mod healthcheck;
pub mod keys;

use crate::app::config::Settings;
use crate::app::telemetry;
use std::path::Path;
use std::process::ExitCode;

/// The exit status of a configuration that cannot be used (`EX_CONFIG`).
pub const EXIT_CONFIG: u8 = 78;

/// Reads the configuration as the service would, with logs on stderr (so
/// stdout carries only the command's answer): warnings, and the audit line
/// of what the command did.
///
/// # Errors
/// The exit status to end with, the error already printed.
pub fn load_settings(config: Option<&Path>) -> Result<Settings, ExitCode> {
    let vars = Settings::environment();
    let filter = vars.get("RUST_LOG").map_or("warn,audit=info", String::as_str);
    telemetry::init_with(std::io::stderr, filter);
    Settings::load(config, &vars).map_err(|error| {
        eprintln!("portcullis: invalid configuration: {error}");
        ExitCode::from(EXIT_CONFIG)
    })
}

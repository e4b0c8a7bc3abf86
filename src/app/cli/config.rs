//! `portcullis config check`: the effective configuration, every layer
//! applied, with every secret redacted, or the error that stops a start.

use super::load_settings;
use crate::app::config::Settings;
use std::path::Path;
use std::process::ExitCode;

/// The effective configuration as text. Keys and passwords are wrapped so
/// that their `Debug` says `[REDACTED]`, and database and Redis URLs print
/// with their password masked by [`crate::redact`].
pub fn render(settings: &Settings) -> String {
    format!("{settings:#?}")
}

/// Prints the effective configuration and exits 0, or prints why it is
/// refused and exits 78 ([`super::EXIT_CONFIG`]).
pub fn check(config: Option<&Path>) -> ExitCode {
    match load_settings(config) {
        Ok(settings) => {
            println!("{}", render(&settings));
            println!("configuration ok");
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn the_rendered_configuration_holds_no_secret() {
        let vars: HashMap<String, String> = [
            ("DATABASE_URL", "postgres://app:db-s3cret-pw@db:5432/auth"),
            ("PORTCULLIS_JWT_KEYS", "render-test-signing-key-0123456789-abcdef"),
            ("PORTCULLIS_ADMIN_EMAIL", "root@example.com"),
            ("PORTCULLIS_ADMIN_PASSWORD", "Vault-door-Orchid-71-sunrise"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        let Ok(settings) = Settings::load(None, &vars) else {
            // A build without Postgres refuses the URL; the SQLite case is
            // covered by the binary's own test.
            return;
        };
        let text = render(&settings);
        for secret in ["db-s3cret-pw", "render-test-signing-key", "Vault-door-Orchid"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(text.contains("postgres://app:***@db:5432/auth") && text.contains("root@example.com"), "{text}");
    }
}

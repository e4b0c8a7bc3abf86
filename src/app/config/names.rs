//! The names configuration answers to: every variable and file key it
//! reads, the few it refuses by name, and the test-tooling variables it
//! leaves alone. An unknown `PORTCULLIS_*` variable or file key stops the
//! start with the closest known name, because a misspelt setting that is
//! silently ignored is a setting that silently keeps its default.
//!
//! This module only judges names; it never reads or checks a value.

use super::ConfigError;

/// Every variable a setting is read from. The file key of each is its name
/// without `PORTCULLIS_`, in lower case, with `__` read as a nested table
/// (`PORTCULLIS_LIMITS__AUTH__BURST` is `[limits.auth] burst`).
pub const VARIABLES: &[&str] = &[
    "PORTCULLIS_BIND",
    "DATABASE_URL",
    "DATABASE_URL_FILE",
    "PORTCULLIS_SQLITE_FALLBACK",
    "PORTCULLIS_DATABASE__MAX_CONNECTIONS",
    "PORTCULLIS_DATABASE__MIN_CONNECTIONS",
    "PORTCULLIS_DATABASE__CONNECT_DEADLINE_SECONDS",
    "PORTCULLIS_DATABASE__ACQUIRE_TIMEOUT_SECONDS",
    "REDIS_URL",
    "REDIS_URL_FILE",
    "PORTCULLIS_REDIS__KEY_PREFIX",
    "PORTCULLIS_REDIS__CLUSTER",
    "PORTCULLIS_REDIS__CA_FILE",
    "PORTCULLIS_JWT_KEYS",
    "PORTCULLIS_JWT_KEYS_FILE",
    "SECRET_KEY",
    "PORTCULLIS_SECRETS",
    "PORTCULLIS_VAULT_PATH",
    "PORTCULLIS_VAULT_AUTH_MOUNT",
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "VAULT_TOKEN_FILE",
    "VAULT_ROLE_ID",
    "VAULT_SECRET_ID",
    "VAULT_SECRET_ID_FILE",
    "VAULT_K8S_ROLE",
    "VAULT_K8S_TOKEN_FILE",
    "VAULT_CACERT",
    "PORTCULLIS_SECRETS_REFRESH_SECONDS",
    "PORTCULLIS_ADMIN_EMAIL",
    "PORTCULLIS_ADMIN_PASSWORD",
    "PORTCULLIS_ADMIN_PASSWORD_FILE",
    "PORTCULLIS_MFA_KEY",
    "PORTCULLIS_MFA_KEY_FILE",
    "PORTCULLIS_TRUSTED_PROXIES",
    "PORTCULLIS_CLIENT_IP_HEADER",
    "PORTCULLIS_CONNECTIONS__HEADER_READ_TIMEOUT_SECONDS",
    "PORTCULLIS_CONNECTIONS__IDLE_TIMEOUT_SECONDS",
    "PORTCULLIS_CONNECTIONS__MAX",
    "PORTCULLIS_ENV",
    "PORTCULLIS_METRICS_BIND",
    "PORTCULLIS_METRICS_PUBLIC",
    "PORTCULLIS_BCRYPT_COST",
    "PORTCULLIS_HASH_WORKERS",
    "PORTCULLIS_HASH_QUEUE",
    "PORTCULLIS_ACCESS_TOKEN_TTL_SECONDS",
    "PORTCULLIS_REFRESH_TOKEN_TTL_SECONDS",
    "PORTCULLIS_REFRESH_REUSE_GRACE_SECONDS",
    "PORTCULLIS_JWT_ISSUER",
    "PORTCULLIS_JWT_AUDIENCE",
    "PORTCULLIS_LIMITS__AUTH__PER_MINUTE",
    "PORTCULLIS_LIMITS__AUTH__BURST",
    "PORTCULLIS_LIMITS__LOGIN_FAILURES__MAX",
    "PORTCULLIS_LIMITS__LOGIN_FAILURES__WINDOW_SECONDS",
    "PORTCULLIS_LIMITS__LOGIN_FAILURES__LOCKOUT_SECONDS",
    "PORTCULLIS_LIMITS__ACCOUNT_FAILURES__MAX",
    "PORTCULLIS_LIMITS__API__PER_MINUTE",
    "PORTCULLIS_CORS_ALLOWED_ORIGINS",
    "PORTCULLIS_HSTS_MAX_AGE_SECONDS",
    "PORTCULLIS_SHUTDOWN_DRAIN_SECONDS",
    "PORTCULLIS_AUDIT_RETENTION_DAYS",
    "PORTCULLIS_REGISTRATION",
    "PORTCULLIS_MAILER",
    "PORTCULLIS_MAIL_FROM",
    "PORTCULLIS_PUBLIC_URL",
    "PORTCULLIS_MAIL_TEMPLATES_DIR",
    "PORTCULLIS_MAIL_QUEUE",
    "PORTCULLIS_REQUIRE_VERIFIED_EMAIL",
    "PORTCULLIS_SMTP__HOST",
    "PORTCULLIS_SMTP__PORT",
    "PORTCULLIS_SMTP__SECURITY",
    "PORTCULLIS_SMTP__USERNAME",
    "PORTCULLIS_SMTP__PASSWORD",
    "PORTCULLIS_SMTP__PASSWORD_FILE",
    "PORTCULLIS_SMTP__TIMEOUT_SECONDS",
    "PORTCULLIS_SMTP__RETRY_MAX_SECONDS",
    "PORTCULLIS_SMTP__CA_FILE",
];

/// Variables the test suite, CI and `compose.yaml` read from the
/// environment of processes that also start the binary; they configure the
/// tests and the containers, never the service.
pub const TEST_TOOLING: &[&str] = &[
    "PORTCULLIS_REQUIRE_SERVICES",
    "PORTCULLIS_TEST_STORE",
    "PORTCULLIS_URL",
    "PORTCULLIS_TEST_POSTGRES_IMAGE",
    "PORTCULLIS_TEST_REDIS_IMAGE",
    "PORTCULLIS_IMAGE",
    "PORTCULLIS_POSTGRES_IMAGE",
    "PORTCULLIS_REDIS_IMAGE",
    "PORTCULLIS_HOST_PORT",
];

/// Names refused with a pointer to what to set instead.
const REFUSED: &[(&str, &str)] = &[
    ("PORTCULLIS_DATABASE_URL", "did you mean DATABASE_URL?"),
    ("PORTCULLIS_REDIS_URL", "did you mean REDIS_URL?"),
    ("PORTCULLIS_SECRET_KEY", "did you mean SECRET_KEY?"),
    (
        "PORTCULLIS_LIMITS__ACCOUNT_FAILURES__WINDOW_SECONDS",
        "the account-wide count shares the window of PORTCULLIS_LIMITS__LOGIN_FAILURES__WINDOW_SECONDS; set that",
    ),
    (
        "PORTCULLIS_LIMITS__ACCOUNT_FAILURES__LOCKOUT_SECONDS",
        "the account-wide count shares the lockout of PORTCULLIS_LIMITS__LOGIN_FAILURES__LOCKOUT_SECONDS; set that",
    ),
];

/// The file key of a variable: `PORTCULLIS_LIMITS__AUTH__BURST` is
/// `limits.auth.burst`, `DATABASE_URL` is `database_url`.
pub fn file_key(variable: &str) -> String {
    variable.strip_prefix("PORTCULLIS_").unwrap_or(variable).to_ascii_lowercase().replace("__", ".")
}

/// Refuses every `PORTCULLIS_*` variable that is neither a setting nor test
/// tooling, naming each with the closest known name.
///
/// # Errors
/// [`ConfigError::Unknown`] listing each refused variable.
pub fn check_variables<'a>(names: impl IntoIterator<Item = &'a String>) -> Result<(), ConfigError> {
    let problems: Vec<String> = names
        .into_iter()
        .filter(|name| name.starts_with("PORTCULLIS_"))
        .filter(|name| !VARIABLES.contains(&name.as_str()) && !TEST_TOOLING.contains(&name.as_str()))
        .map(|name| refusal(name, VARIABLES.iter().map(|known| (*known).to_owned())))
        .collect();
    finish(problems)
}

/// Refuses every key of the `--config` file that is not a setting; `keys`
/// are dotted paths (`limits.auth.burst`).
///
/// # Errors
/// [`ConfigError::Unknown`] listing each refused key.
pub fn check_file_keys(keys: &[String]) -> Result<(), ConfigError> {
    let known: Vec<String> = VARIABLES.iter().map(|variable| file_key(variable)).collect();
    let problems: Vec<String> = keys
        .iter()
        .filter(|key| !known.contains(&key.to_ascii_lowercase()))
        .map(|key| {
            let refused = REFUSED.iter().find(|(variable, _)| file_key(variable) == key.to_ascii_lowercase());
            match refused {
                // An alias of an unprefixed variable is a key in the file
                // (`database_url`); only the account-failure keys land here.
                Some((_, reason)) => format!("file key {key} is not accepted: {reason}"),
                None => match closest(key, known.iter().cloned()) {
                    Some(suggestion) => format!("file key {key} is not a setting; did you mean {suggestion}?"),
                    None => format!("file key {key} is not a setting"),
                },
            }
        })
        .collect();
    finish(problems)
}

fn refusal(name: &str, known: impl Iterator<Item = String>) -> String {
    if let Some((_, reason)) = REFUSED.iter().find(|(refused, _)| *refused == name) {
        return format!("{name} is not accepted; {reason}");
    }
    match closest(name, known) {
        Some(suggestion) => format!("{name} is not a setting; did you mean {suggestion}?"),
        None => format!("{name} is not a setting (see the README's configuration table)"),
    }
}

fn finish(mut problems: Vec<String>) -> Result<(), ConfigError> {
    if problems.is_empty() {
        return Ok(());
    }
    problems.sort();
    Err(ConfigError::Unknown(problems.join("; ")))
}

/// The known name nearest to `name`, if it is near enough to be a typo:
/// at most a third of the name's characters differ.
fn closest(name: &str, known: impl Iterator<Item = String>) -> Option<String> {
    let name_upper = name.to_ascii_uppercase();
    known
        .map(|candidate| (edit_distance(&name_upper, &candidate.to_ascii_uppercase()), candidate))
        .filter(|(distance, _)| *distance <= name.chars().count().div_ceil(3))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance: the fewest single-character insertions,
/// deletions and substitutions that turn `a` into `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(names: &[&str]) -> String {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        check_variables(&names).unwrap_err().to_string()
    }

    #[test]
    fn a_misspelt_variable_is_refused_with_the_closest_name() {
        let message = refused(&["PORTCULLIS_BCRYPT_COSTT"]);
        assert!(message.contains("PORTCULLIS_BCRYPT_COSTT"), "{message}");
        assert!(message.contains("did you mean PORTCULLIS_BCRYPT_COST?"), "{message}");
        let message = refused(&["PORTCULLIS_LIMITS__AUTH__PERMINUTE"]);
        assert!(message.contains("did you mean PORTCULLIS_LIMITS__AUTH__PER_MINUTE?"), "{message}");
        let message = refused(&["PORTCULLIS_SOMETHING_ELSE_ENTIRELY"]);
        assert!(message.contains("PORTCULLIS_SOMETHING_ELSE_ENTIRELY") && !message.contains("did you mean"));
    }

    #[test]
    fn the_old_aliases_point_to_the_real_variables() {
        for (alias, real) in [
            ("PORTCULLIS_DATABASE_URL", "DATABASE_URL"),
            ("PORTCULLIS_REDIS_URL", "REDIS_URL"),
            ("PORTCULLIS_SECRET_KEY", "SECRET_KEY"),
        ] {
            let message = refused(&[alias]);
            assert!(message.contains(alias) && message.contains(&format!("did you mean {real}?")), "{message}");
        }
    }

    #[test]
    fn settings_test_tooling_and_other_programs_variables_pass() {
        let mut names: Vec<String> = VARIABLES.iter().chain(TEST_TOOLING).map(|name| (*name).to_owned()).collect();
        names.extend(["PATH".to_owned(), "RUST_LOG".to_owned(), "VAULT_ADDR".to_owned()]);
        assert!(check_variables(&names).is_ok());
    }

    #[test]
    fn every_unknown_variable_is_named_at_once() {
        let message = refused(&["PORTCULLIS_BINDD", "PORTCULLIS_ENVV"]);
        assert!(message.contains("PORTCULLIS_BINDD") && message.contains("PORTCULLIS_ENVV"), "{message}");
    }

    #[test]
    fn file_keys_are_checked_the_same_way() {
        let keys = |keys: &[&str]| keys.iter().map(|key| (*key).to_owned()).collect::<Vec<_>>();
        assert!(check_file_keys(&keys(&["bind", "limits.auth.burst", "database_url", "redis.key_prefix"])).is_ok());
        let message = check_file_keys(&keys(&["bcrypt_costt"])).unwrap_err().to_string();
        assert!(message.contains("bcrypt_costt") && message.contains("did you mean bcrypt_cost?"), "{message}");
        let message = check_file_keys(&keys(&["limits.account_failures.window_seconds"])).unwrap_err().to_string();
        assert!(message.contains("PORTCULLIS_LIMITS__LOGIN_FAILURES__WINDOW_SECONDS"), "{message}");
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("COST", "COSTT"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}

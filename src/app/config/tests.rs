use super::*;
use crate::core::limits::Quota;
use std::time::Duration;

/// A database URL this build can serve, for tests about other settings.
fn usable_database_url() -> &'static str {
    if cfg!(feature = "sqlite") {
        DEFAULT_DATABASE_URL
    } else {
        "postgres://portcullis@localhost/portcullis"
    }
}

fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let mut vars: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    vars.entry("DATABASE_URL".to_owned()).or_insert_with(|| usable_database_url().to_owned());
    Settings::load(None, &vars)
}

fn problem(pairs: &[(&str, &str)]) -> String {
    load(pairs).unwrap_err().to_string()
}

#[test]
fn defaults_match_the_contract() {
    let settings = load(&[]).unwrap();
    assert_eq!(settings.server.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(settings.hashing.bcrypt_cost, 12);
    assert_eq!(settings.tokens.access_ttl_seconds, 900);
    assert_eq!(settings.refresh, RefreshSettings { ttl_seconds: 2_592_000, grace_seconds: 10 });
    assert_eq!((settings.tokens.issuer.as_str(), settings.tokens.audience.as_str()), ("portcullis", "portcullis-api"));
    assert_eq!(settings.limits.auth, Quota { per_period: 20, period: Duration::from_secs(60), burst: 10 });
    assert_eq!(settings.limits.api.per_period, 600);
    assert_eq!(settings.limits.login_failures.max, 5);
    assert_eq!(settings.limits.account_failures.max, 50);
    assert_eq!(settings.deployment, Deployment::Development);
    assert!(matches!(&settings.keys, SigningKeys::Env(ring) if ring.keys.is_empty()));
    assert!(settings.server.trusted_proxies.is_empty() && settings.admin.is_none());
}

#[test]
fn nested_and_unprefixed_variables_are_read() {
    let settings = load(&[
        ("PORTCULLIS_LIMITS__AUTH__PER_MINUTE", "7"),
        ("PORTCULLIS_LIMITS__LOGIN_FAILURES__LOCKOUT_SECONDS", "60"),
        ("PORTCULLIS_TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
        ("SECRET_KEY", &"k".repeat(32)),
    ])
    .unwrap();
    assert_eq!(settings.limits.auth.per_period, 7);
    assert_eq!(settings.limits.login_failures.lockout, Duration::from_secs(60));
    assert_eq!(settings.limits.account_failures.lockout, Duration::from_secs(60));
    assert_eq!(settings.server.trusted_proxies.len(), 2);
    assert!(matches!(&settings.keys, SigningKeys::Env(ring) if ring.keys.len() == 1));
}

#[test]
fn the_client_address_header_is_one_of_three_and_defaults_to_none() {
    use crate::app::http::client_ip::ClientIpHeader;
    assert_eq!(load(&[]).unwrap().server.client_ip_header, ClientIpHeader::None);
    let settings = load(&[("PORTCULLIS_CLIENT_IP_HEADER", "forwarded")]).unwrap();
    assert_eq!(settings.server.client_ip_header, ClientIpHeader::Forwarded);
    let message = problem(&[("PORTCULLIS_CLIENT_IP_HEADER", "x-client-ip")]);
    assert!(message.contains("PORTCULLIS_CLIENT_IP_HEADER") && message.contains("x-real-ip"), "{message}");
}

#[test]
fn connection_limits_default_to_ten_seconds_and_512_connections() {
    use crate::app::config::ConnectionSettings;
    assert_eq!(load(&[]).unwrap().connections, ConnectionSettings::default());
    assert_eq!(ConnectionSettings::default().header_read_timeout, Duration::from_secs(10));
    let settings = load(&[("PORTCULLIS_CONNECTIONS__IDLE_TIMEOUT_SECONDS", "0"), ("PORTCULLIS_CONNECTIONS__MAX", "3")]);
    let connections = settings.unwrap().connections;
    assert_eq!((connections.idle_timeout, connections.max_connections), (None, 3));
    let message = problem(&[("PORTCULLIS_CONNECTIONS__HEADER_READ_TIMEOUT_SECONDS", "0")]);
    assert!(message.contains("HEADER_READ_TIMEOUT_SECONDS") && message.contains("1..=300"), "{message}");
}

#[test]
fn metrics_stay_off_the_public_listener_in_production_unless_asked_for() {
    let key = "Zx8q2LmN4vR7tY1wK9pB3cF6hJ0sD5gA".to_owned();
    let production = [("PORTCULLIS_ENV", "production"), ("PORTCULLIS_JWT_KEYS", key.as_str())];
    assert!(load(&[]).unwrap().server.metrics_public);
    assert!(!load(&production).unwrap().server.metrics_public);
    let asked = [production[0], production[1], ("PORTCULLIS_METRICS_PUBLIC", "true")];
    assert!(load(&asked).unwrap().server.metrics_public);
    assert!(!load(&[("PORTCULLIS_METRICS_BIND", "127.0.0.1:9090")]).unwrap().server.metrics_public);
    let both = [("PORTCULLIS_METRICS_BIND", "127.0.0.1:9090"), ("PORTCULLIS_METRICS_PUBLIC", "true")];
    assert!(problem(&both).contains("PORTCULLIS_METRICS_PUBLIC"));
}

#[test]
fn bad_values_name_the_variable_and_the_range() {
    let message = problem(&[("PORTCULLIS_LIMITS__AUTH__PER_MINUTE", "lots")]);
    assert!(message.contains("PORTCULLIS_LIMITS__AUTH__PER_MINUTE") && message.contains("1..=1000000"), "{message}");
    let message = problem(&[("PORTCULLIS_BCRYPT_COST", "40")]);
    assert!(message.contains("PORTCULLIS_BCRYPT_COST") && message.contains("4..=31"), "{message}");
    assert!(problem(&[("PORTCULLIS_BIND", "nowhere")]).contains("PORTCULLIS_BIND"));
    assert!(problem(&[("PORTCULLIS_ENV", "staging")]).contains("PORTCULLIS_ENV"));
    assert!(problem(&[("PORTCULLIS_TRUSTED_PROXIES", "10.0.0.0/99")]).contains("PORTCULLIS_TRUSTED_PROXIES"));
    assert!(problem(&[("DATABASE_URL", "mysql://x")]).contains("DATABASE_URL"));
    assert!(problem(&[("PORTCULLIS_ADMIN_EMAIL", "a@example.com")]).contains("PORTCULLIS_ADMIN_PASSWORD"));
}

#[test]
fn short_keys_are_refused_naming_their_position() {
    let keys = format!("{},short", "k".repeat(32));
    let message = problem(&[("PORTCULLIS_JWT_KEYS", &keys)]);
    assert!(
        message.contains("PORTCULLIS_JWT_KEYS") && message.contains("key #2") && !message.contains("short"),
        "{message}"
    );
}

#[test]
fn defaults_to_sqlite_under_data_when_the_build_has_it() {
    let vars = HashMap::new();
    match Settings::load(None, &vars) {
        Ok(settings) => assert_eq!(settings.database.backend.url().expose(), DEFAULT_DATABASE_URL),
        // Only a build without SQLite has no usable default.
        Err(error) => assert!(error.to_string().contains("`sqlite` feature"), "{error}"),
    }
}

#[test]
fn the_url_picks_the_storage_backend_once() {
    if cfg!(feature = "sqlite") {
        let settings = load(&[("DATABASE_URL", "sqlite::memory:")]).unwrap();
        assert!(matches!(settings.database.backend, StorageBackend::Sqlite { .. }));
    }
    if cfg!(feature = "postgres") {
        let settings = load(&[("DATABASE_URL", "postgres://app:pw@db/auth")]).unwrap();
        assert!(matches!(settings.database.backend, StorageBackend::Postgres { sqlite_fallback: None, .. }));
    }
}

#[test]
fn production_refuses_missing_keys_and_low_bcrypt_cost() {
    assert!(problem(&[("PORTCULLIS_ENV", "production")]).contains("PORTCULLIS_JWT_KEYS"));
    let key = "Zx8q2LmN4vR7tY1wK9pB3cF6hJ0sD5gA".to_owned();
    let message =
        problem(&[("PORTCULLIS_ENV", "production"), ("PORTCULLIS_JWT_KEYS", &key), ("PORTCULLIS_BCRYPT_COST", "8")]);
    assert!(message.contains("PORTCULLIS_BCRYPT_COST"), "{message}");
    assert!(load(&[("PORTCULLIS_BCRYPT_COST", "4")]).is_ok());
}

#[test]
fn a_file_layer_sits_below_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portcullis.toml");
    std::fs::write(&path, "bind = \"127.0.0.1:9000\"\nbcrypt_cost = 11\n[limits.auth]\nburst = 3\n").unwrap();
    let vars = HashMap::from([
        ("PORTCULLIS_BCRYPT_COST".to_owned(), "10".to_owned()),
        ("DATABASE_URL".to_owned(), usable_database_url().to_owned()),
    ]);
    let settings = Settings::load(Some(&path), &vars).unwrap();
    assert_eq!(settings.server.bind.port(), 9000);
    assert_eq!(settings.hashing.bcrypt_cost, 10);
    assert_eq!(settings.limits.auth.burst, 3);
    assert!(Settings::load(Some(&dir.path().join("missing.toml")), &HashMap::new()).is_err());
}

#[test]
fn an_unknown_file_key_is_refused_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portcullis.toml");
    std::fs::write(&path, "bcrypt_costt = 11\n[limits.auth]\nburts = 3\n").unwrap();
    let vars = HashMap::from([("DATABASE_URL".to_owned(), usable_database_url().to_owned())]);
    let message = Settings::load(Some(&path), &vars).unwrap_err().to_string();
    assert!(message.contains("did you mean bcrypt_cost?"), "{message}");
    assert!(message.contains("did you mean limits.auth.burst?"), "{message}");
}

#[test]
fn a_misspelt_variable_is_refused_with_a_suggestion() {
    let message = problem(&[("PORTCULLIS_BCRYPT_COSTT", "5")]);
    assert!(
        message.contains("PORTCULLIS_BCRYPT_COSTT is not a setting; did you mean PORTCULLIS_BCRYPT_COST?"),
        "{message}"
    );
    let message = problem(&[("PORTCULLIS_DATABASE_URL", usable_database_url())]);
    assert!(message.contains("did you mean DATABASE_URL?"), "{message}");
    // Test tooling set by CI around the binary is no setting, and no error.
    assert!(load(&[("PORTCULLIS_REQUIRE_SERVICES", "1"), ("PORTCULLIS_TEST_STORE", "postgres")]).is_ok());
}

#[test]
fn values_that_would_never_be_used_are_refused() {
    let message = problem(&[("PORTCULLIS_LIMITS__ACCOUNT_FAILURES__WINDOW_SECONDS", "abc")]);
    assert!(message.contains("PORTCULLIS_LIMITS__LOGIN_FAILURES__WINDOW_SECONDS"), "{message}");
    let message = problem(&[("PORTCULLIS_LIMITS__ACCOUNT_FAILURES__LOCKOUT_SECONDS", "-5")]);
    assert!(message.contains("PORTCULLIS_LIMITS__LOGIN_FAILURES__LOCKOUT_SECONDS"), "{message}");
    let message = problem(&[("PORTCULLIS_SQLITE_FALLBACK", "sqlite://data/fallback.db")]);
    assert!(message.contains("PORTCULLIS_SQLITE_FALLBACK"), "{message}");
    if !cfg!(feature = "postgres") {
        assert!(message.contains("`postgres` feature"), "{message}");
    }
}

#[test]
fn vault_needs_its_feature_and_its_settings_need_vault() {
    let message = problem(&[("PORTCULLIS_SECRETS", "vault")]);
    if cfg!(feature = "vault") {
        assert!(message.contains("VAULT_ADDR"), "{message}");
    } else {
        assert!(message.contains("PORTCULLIS_SECRETS") && message.contains("`vault` feature"), "{message}");
    }
    let message = problem(&[("PORTCULLIS_VAULT_PATH", "secret/portcullis")]);
    assert!(message.contains("PORTCULLIS_VAULT_PATH") && message.contains("PORTCULLIS_SECRETS=vault"), "{message}");
    assert!(problem(&[("PORTCULLIS_SECRETS", "aws")]).contains("`env`, `file`, `vault`"));
    assert!(load(&[("PORTCULLIS_SECRETS", "env")]).is_ok());
}

#[cfg(feature = "vault")]
#[test]
fn vault_settings_are_read_and_inline_keys_refused_beside_them() {
    let vault = [
        ("PORTCULLIS_SECRETS", "vault"),
        ("VAULT_ADDR", "http://127.0.0.1:8200"),
        ("VAULT_TOKEN", "hvs.sekrit"),
        ("PORTCULLIS_VAULT_PATH", "secret/portcullis"),
    ];
    let settings = load(&vault).unwrap();
    assert_eq!(settings.keys.source_name(), "vault");
    let mut with_keys = vault.to_vec();
    let key = "k".repeat(32);
    with_keys.push(("PORTCULLIS_JWT_KEYS", &key));
    let message = problem(&with_keys);
    assert!(message.contains("PORTCULLIS_JWT_KEYS") && message.contains("not read when PORTCULLIS_SECRETS=vault"));
    assert!(!message.contains("sekrit") && !message.contains(&key), "{message}");
}

fn file_with(content: &str) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(content.as_bytes()).unwrap();
    file
}

#[test]
fn the_file_source_needs_its_file_and_refuses_inline_keys() {
    let ring = file_with("");
    let path = ring.path().display().to_string();
    let settings = load(&[("PORTCULLIS_SECRETS", "file"), ("PORTCULLIS_JWT_KEYS_FILE", &path)]).unwrap();
    assert!(matches!(&settings.keys, SigningKeys::File(file) if *file == ring.path()));
    assert!(problem(&[("PORTCULLIS_SECRETS", "file")]).contains("PORTCULLIS_JWT_KEYS_FILE"));
    let key = "k".repeat(32);
    let message = problem(&[("PORTCULLIS_SECRETS", "file"), ("PORTCULLIS_JWT_KEYS_FILE", &path), ("SECRET_KEY", &key)]);
    assert!(message.contains("SECRET_KEY") && !message.contains(&key), "{message}");
}

#[test]
fn jwt_keys_may_be_a_ring_document_or_a_list_in_a_variable_or_its_file() {
    let document =
        r#"{"keys":[{"kid":"a","alg":"HS256","state":"active","key":"sekrit-sekrit-sekrit-sekrit-sekrit"}]}"#;
    let settings = load(&[("PORTCULLIS_JWT_KEYS", document)]).unwrap();
    assert!(matches!(&settings.keys, SigningKeys::Env(ring) if ring.keys[0].kid.as_deref() == Some("a")));
    let file = file_with(&format!("{},{}\n", "a".repeat(32), "b".repeat(32)));
    let settings = load(&[("PORTCULLIS_JWT_KEYS_FILE", &file.path().display().to_string())]).unwrap();
    assert!(
        matches!(&settings.keys, SigningKeys::Env(ring) if ring.keys.len() == 2 && ring.keys[1].state == "verify-only")
    );
    let short = file_with("short-key\n");
    let message = problem(&[("PORTCULLIS_JWT_KEYS_FILE", &short.path().display().to_string())]);
    assert!(message.contains("PORTCULLIS_JWT_KEYS_FILE") && message.contains("32") && !message.contains("short-key"));
    let message = problem(&[("PORTCULLIS_JWT_KEYS", r#"{"keys":[{"alg":"HS256","key":"sekrit-value"}]}"#)]);
    assert!(message.contains("PORTCULLIS_JWT_KEYS") && message.contains("malformed") && !message.contains("sekrit"));
}

#[test]
fn secret_variables_may_come_from_files() {
    let admin_password = file_with("correct horse battery staple 42\n");
    let database_url = file_with(&format!("{}\n", usable_database_url()));
    let vars: HashMap<String, String> = [
        ("DATABASE_URL_FILE", database_url.path().display().to_string()),
        ("PORTCULLIS_ADMIN_EMAIL", "admin@example.com".to_owned()),
        ("PORTCULLIS_ADMIN_PASSWORD_FILE", admin_password.path().display().to_string()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let settings = Settings::load(None, &vars).unwrap();
    assert_eq!(settings.database.backend.url().expose(), usable_database_url());
    let admin = settings.admin.unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&admin.password), "correct horse battery staple 42");
    let message = problem(&[("REDIS_URL_FILE", "/nonexistent/redis-url")]);
    assert!(message.contains("REDIS_URL_FILE") && message.contains("/nonexistent/redis-url"), "{message}");
    let message = problem(&[("PORTCULLIS_ADMIN_PASSWORD", "pw"), ("PORTCULLIS_ADMIN_PASSWORD_FILE", "/x")]);
    assert!(message.contains("PORTCULLIS_ADMIN_PASSWORD_FILE") && message.contains("together"), "{message}");
}

#[test]
fn a_bad_redis_key_prefix_names_the_variable() {
    for prefix in ["caf\u{e9}", "tab\there", "a{b}"] {
        let message = problem(&[("REDIS_URL", "redis://127.0.0.1:6379"), ("PORTCULLIS_REDIS__KEY_PREFIX", prefix)]);
        assert!(message.starts_with("PORTCULLIS_REDIS__KEY_PREFIX") || message.starts_with("REDIS_URL"), "{message}");
        if cfg!(feature = "redis") {
            assert!(message.starts_with("PORTCULLIS_REDIS__KEY_PREFIX"), "{message}");
        } else {
            assert!(message.contains("`redis` feature"), "{message}");
        }
    }
}

#[test]
fn cors_hsts_and_hashing_pool_are_validated() {
    let settings = load(&[
        ("PORTCULLIS_CORS_ALLOWED_ORIGINS", "https://app.example.com, http://localhost:3000"),
        ("PORTCULLIS_HSTS_MAX_AGE_SECONDS", "31536000"),
        ("PORTCULLIS_HASH_WORKERS", "3"),
        ("PORTCULLIS_HASH_QUEUE", "0"),
    ])
    .unwrap();
    assert_eq!(settings.security_headers.cors_allowed_origins.len(), 2);
    assert_eq!(settings.security_headers.hsts_max_age_seconds, Some(31_536_000));
    assert_eq!((settings.hashing.workers, settings.hashing.queue), (3, 0));
    assert!(load(&[]).unwrap().security_headers.cors_allowed_origins.is_empty());
    assert!(problem(&[("PORTCULLIS_CORS_ALLOWED_ORIGINS", "https://x.com/path")])
        .contains("PORTCULLIS_CORS_ALLOWED_ORIGINS"));
    assert!(problem(&[("PORTCULLIS_CORS_ALLOWED_ORIGINS", "*")]).contains("PORTCULLIS_CORS_ALLOWED_ORIGINS"));
    assert!(problem(&[("PORTCULLIS_HASH_WORKERS", "0")]).contains("PORTCULLIS_HASH_WORKERS"));
}

#[test]
fn the_default_hashing_pool_outnumbers_one_users_share() {
    let defaults = load(&[]).unwrap().hashing;
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    assert_eq!(defaults.workers, cores.max(4));
    assert!(defaults.workers > 2, "one user's two operations in flight would fill {} workers", defaults.workers);
    assert_eq!(defaults.queue, defaults.workers * 32);
}

#[test]
fn pool_settings_have_defaults_and_ranges() {
    let defaults = load(&[]).unwrap().database.pool;
    assert_eq!((defaults.max_connections, defaults.min_connections), (10, 1));
    assert_eq!(defaults.connect_deadline, Duration::from_secs(30));
    let tuned = load(&[("PORTCULLIS_DATABASE__MAX_CONNECTIONS", "4"), ("PORTCULLIS_DATABASE__MIN_CONNECTIONS", "2")])
        .unwrap()
        .database
        .pool;
    assert_eq!((tuned.max_connections, tuned.min_connections), (4, 2));
    let message =
        problem(&[("PORTCULLIS_DATABASE__MAX_CONNECTIONS", "2"), ("PORTCULLIS_DATABASE__MIN_CONNECTIONS", "3")]);
    assert!(message.contains("PORTCULLIS_DATABASE__MIN_CONNECTIONS") && message.contains("0..=2"), "{message}");
    let message = problem(&[("DATABASE_URL", "postgres://x/y"), ("PORTCULLIS_SQLITE_FALLBACK", "postgres://x/y")]);
    assert!(message.contains("PORTCULLIS_SQLITE_FALLBACK") || message.contains("DATABASE_URL"), "{message}");
}

#[test]
fn the_example_env_file_is_accepted() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example");
    let mut vars: HashMap<String, String> =
        dotenvy::from_path_iter(example).unwrap().map(|pair| pair.unwrap()).collect();
    vars.insert("DATABASE_URL".to_owned(), usable_database_url().to_owned());
    if let Err(error) = Settings::load(None, &vars) {
        panic!(".env.example is refused: {error}");
    }
}

#[test]
fn the_jwt_keys_may_be_a_ring_document_checked_whole_at_start() {
    let key = "sekrit-sekrit-sekrit-sekrit-sekrit-sekrit";
    let document = format!(r#"{{"keys":[{{"kid":"a","alg":"HS256","state":"active","key":"{key}"}}]}}"#);
    assert!(
        matches!(load(&[("PORTCULLIS_JWT_KEYS", &document)]).unwrap().keys, SigningKeys::Env(ring) if ring.keys.len() == 1)
    );
    for (bad, says) in [
        (document.replace("active", "verify-only"), "exactly one key"),
        (document.replace("HS256", "RS256"), "alg must be"),
        (document.replace("\"kid\":\"a\",", "\"kid\":\"a\",\"extra\":1,"), "unknown field"),
        ("{not json".to_owned(), "not a JSON ring document"),
    ] {
        let message = problem(&[("PORTCULLIS_JWT_KEYS", &bad)]);
        assert!(message.contains("PORTCULLIS_JWT_KEYS") && message.contains(says), "{message}");
        assert!(!message.contains("sekrit"), "{message}");
    }
    assert!(problem(&[("PORTCULLIS_SECRETS_REFRESH_SECONDS", "0")]).contains("PORTCULLIS_SECRETS_REFRESH_SECONDS"));
    assert_eq!(load(&[]).unwrap().secrets_refresh, Duration::from_secs(60));
}

#[test]
fn registration_is_open_unless_closed_and_anything_else_is_refused() {
    use crate::core::auth::Registration;
    assert_eq!(load(&[]).unwrap().registration, Registration::Open);
    assert_eq!(load(&[("PORTCULLIS_REGISTRATION", "closed")]).unwrap().registration, Registration::Closed);
    assert_eq!(load(&[("PORTCULLIS_REGISTRATION", "open")]).unwrap().registration, Registration::Open);
    for bad in ["Closed", "no"] {
        let message = problem(&[("PORTCULLIS_REGISTRATION", bad)]);
        assert!(message.contains("PORTCULLIS_REGISTRATION") && message.contains("`closed`"), "{bad}: {message}");
    }
    let typo = problem(&[("PORTCULLIS_REGISTRATON", "closed")]);
    assert!(typo.contains("PORTCULLIS_REGISTRATION"), "{typo}");
}

#[test]
fn the_mfa_key_comes_from_its_variable_or_its_file_never_both() {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD.encode([0x42; 32]);
    let settings = load(&[("PORTCULLIS_MFA_KEY", &key)]).unwrap();
    assert_eq!(settings.mfa_key.as_ref().map(MfaKeySetting::bytes), Some(&[0x42; 32][..]));
    assert!(!format!("{settings:?}").contains(&key[..10]), "Debug shows no key");
    let file = file_with(&format!("{key}\n"));
    let path = file.path().display().to_string();
    let settings = load(&[("PORTCULLIS_MFA_KEY_FILE", &path)]).unwrap();
    assert_eq!(settings.mfa_key.as_ref().map(MfaKeySetting::bytes), Some(&[0x42; 32][..]));
    let message = problem(&[("PORTCULLIS_MFA_KEY", &key), ("PORTCULLIS_MFA_KEY_FILE", &path)]);
    assert!(message.contains("PORTCULLIS_MFA_KEY_FILE") && message.contains("together"), "{message}");
    let message = problem(&[("PORTCULLIS_MFA_KEY", "c2hvcnQ=")]);
    assert!(message.contains("PORTCULLIS_MFA_KEY") && message.contains("5 bytes"), "{message}");
    assert!(load(&[]).unwrap().mfa_key.is_none());
}

//! The settings of TLS (Postgres, Redis, SMTP), Redis Cluster and the shutdown drain.

use super::*;
use std::time::Duration;

fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let mut vars: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let database = if cfg!(feature = "sqlite") { DEFAULT_DATABASE_URL } else { "postgres://portcullis@localhost/db" };
    vars.entry("DATABASE_URL".to_owned()).or_insert_with(|| database.to_owned());
    Settings::load(None, &vars)
}

fn problem(pairs: &[(&str, &str)]) -> String {
    load(pairs).unwrap_err().to_string()
}

#[test]
fn the_shutdown_drain_defaults_to_five_seconds_within_zero_to_three_hundred() {
    assert_eq!(load(&[]).unwrap().server.shutdown_drain, Duration::from_secs(5));
    let settings = load(&[("PORTCULLIS_SHUTDOWN_DRAIN_SECONDS", "0")]).unwrap();
    assert_eq!(settings.server.shutdown_drain, Duration::ZERO);
    let message = problem(&[("PORTCULLIS_SHUTDOWN_DRAIN_SECONDS", "301")]);
    assert!(message.starts_with("PORTCULLIS_SHUTDOWN_DRAIN_SECONDS") && message.contains("0..=300"), "{message}");
}

#[cfg(feature = "postgres")]
#[test]
fn a_missing_or_empty_sslrootcert_is_refused_before_any_connection() {
    let directory = tempfile::tempdir().unwrap();
    let missing = directory.path().join("missing.pem");
    let url = format!("postgres://app:s3cret@db/auth?sslmode=verify-full&sslrootcert={}", missing.display());
    let message = problem(&[("DATABASE_URL", &url)]);
    assert!(message.starts_with("DATABASE_URL: sslrootcert: cannot read"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
    let empty = directory.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let url = format!("postgres://db/auth?sslmode=verify-ca&sslrootcert={}", empty.display());
    assert!(problem(&[("DATABASE_URL", &url)]).contains("no PEM certificate"));
    let authority = rcgen::generate_simple_self_signed(vec!["db".to_owned()]).unwrap();
    let ca = directory.path().join("ca.pem");
    std::fs::write(&ca, authority.cert.pem()).unwrap();
    let url = format!("postgres://db/auth?sslmode=verify-full&sslrootcert={}", ca.display());
    assert!(load(&[("DATABASE_URL", &url)]).is_ok());
    assert!(load(&[("DATABASE_URL", "postgres://db/auth?sslmode=require")]).is_ok());
}

#[cfg(feature = "redis")]
#[test]
fn redis_may_be_a_cluster_of_seed_nodes_over_tls_with_a_ca_file() {
    let directory = tempfile::tempdir().unwrap();
    let authority = rcgen::generate_simple_self_signed(vec!["cache".to_owned()]).unwrap();
    let ca = directory.path().join("ca.pem");
    std::fs::write(&ca, authority.cert.pem()).unwrap();
    let ca = ca.display().to_string();

    let settings = load(&[
        ("REDIS_URL", "rediss://:pw@a:7000,rediss://:pw@b:7001"),
        ("PORTCULLIS_REDIS__CLUSTER", "true"),
        ("PORTCULLIS_REDIS__CA_FILE", &ca),
    ])
    .unwrap();
    let redis = settings.redis.expect("Redis is configured");
    assert!(redis.target.is_cluster());
    assert_eq!(redis.target.redacted(), "rediss://:***@a:7000,rediss://:***@b:7001");

    let one = load(&[("REDIS_URL", "redis://a:6379")]).unwrap().redis.unwrap();
    assert!(!one.target.is_cluster());

    let message = problem(&[("REDIS_URL", "redis://a:7000,redis://b:7001")]);
    assert!(message.starts_with("REDIS_URL") && message.contains("PORTCULLIS_REDIS__CLUSTER=true"), "{message}");
    let message = problem(&[("REDIS_URL", "redis://a:6379"), ("PORTCULLIS_REDIS__CA_FILE", &ca)]);
    assert!(message.starts_with("PORTCULLIS_REDIS__CA_FILE") && message.contains("rediss://"), "{message}");
    let message = problem(&[("REDIS_URL", "rediss://a:6379"), ("PORTCULLIS_REDIS__CA_FILE", "/nonexistent/ca.pem")]);
    assert!(message.starts_with("PORTCULLIS_REDIS__CA_FILE: cannot read /nonexistent/ca.pem"), "{message}");
    let message = problem(&[("REDIS_URL", "redis://a:6379"), ("PORTCULLIS_REDIS__CLUSTER", "yes")]);
    assert!(message.starts_with("PORTCULLIS_REDIS__CLUSTER") && message.contains("`true` or `false`"), "{message}");
    let message = problem(&[("PORTCULLIS_REDIS__CLUSTER", "true")]);
    assert!(message.contains("REDIS_URL is not"), "{message}");
}

#[cfg(not(feature = "redis"))]
#[test]
fn redis_settings_are_refused_without_the_redis_feature() {
    for variable in ["PORTCULLIS_REDIS__CLUSTER", "PORTCULLIS_REDIS__CA_FILE"] {
        let message = problem(&[(variable, "true")]);
        assert!(message.starts_with(variable) && message.contains("`redis` feature"), "{message}");
    }
}

/// Settings with an SMTP mailer, and `extra`.
fn smtp_load(extra: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let mut pairs = vec![
        ("PORTCULLIS_MAILER", "smtp"),
        ("PORTCULLIS_SMTP__HOST", "mail.example.com"),
        ("PORTCULLIS_MAIL_FROM", "auth@example.com"),
        ("PORTCULLIS_PUBLIC_URL", "https://app.example.com"),
    ];
    pairs.extend_from_slice(extra);
    load(&pairs)
}

#[test]
fn the_smtp_ca_file_is_read_at_start_and_only_with_tls() {
    let directory = tempfile::tempdir().unwrap();
    let authority = crate::adapters::test_certificates::TestAuthority::new("SMTP CA");
    let ca = authority.write_ca(&directory.path().join("ca.pem"));
    let ca = ca.to_str().unwrap();
    let settings = smtp_load(&[("PORTCULLIS_SMTP__CA_FILE", ca)]).unwrap();
    let MailerChoice::Smtp(_, options) = settings.mail.mailer else { panic!("smtp") };
    assert!(options.ca.is_some());
    let missing = smtp_load(&[("PORTCULLIS_SMTP__CA_FILE", "/nonexistent/ca.pem")]).unwrap_err().to_string();
    assert!(missing.starts_with("PORTCULLIS_SMTP__CA_FILE: cannot read /nonexistent/ca.pem"), "{missing}");
    let plain = smtp_load(&[("PORTCULLIS_SMTP__CA_FILE", ca), ("PORTCULLIS_SMTP__SECURITY", "none")]);
    let plain = plain.unwrap_err().to_string();
    assert!(plain.starts_with("PORTCULLIS_SMTP__CA_FILE") && plain.contains("none"), "{plain}");
}

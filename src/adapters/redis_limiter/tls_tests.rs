//! The limiter over `rediss://`: a `redis-server` started with TLS only and
//! a certificate from a CA the test makes up; the CA file is trusted, and a
//! different CA or a name the certificate was not issued to is refused
//! with a message that says it is TLS.

use super::*;
use crate::adapters::limiter_contract::limiter_contract;
use crate::adapters::test_certificates::TestAuthority;
use crate::adapters::tls::CaBundle;
use crate::testing::{free_port, start_redis, RedisNode, ScratchDir};

/// A Redis that speaks only TLS, with a certificate for 127.0.0.1 and
/// localhost signed by `authority`.
async fn tls_redis(authority: &TestAuthority, files: &ScratchDir) -> Option<RedisNode> {
    let server = authority.issue(&["localhost", "127.0.0.1"], files.path(), "redis");
    let ca = authority.write_ca(&files.path().join("ca.pem"));
    let port = free_port();
    let arguments: Vec<String> = vec![
        "--port".into(),
        "0".into(),
        "--tls-port".into(),
        port.to_string(),
        "--tls-cert-file".into(),
        server.certificate.display().to_string(),
        "--tls-key-file".into(),
        server.key.display().to_string(),
        "--tls-ca-cert-file".into(),
        ca.display().to_string(),
        "--tls-auth-clients".into(),
        "no".into(),
    ];
    start_redis(port, &arguments).await
}

fn target(url: &str, authority: &TestAuthority) -> RedisTarget {
    let ca = CaBundle::from_pem(authority.pem().into_bytes()).unwrap();
    RedisTarget::parse(url, false, Some(ca)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_limiter_keeps_its_contract_over_tls_with_the_configured_ca() {
    let authority = TestAuthority::new("Portcullis test Redis CA");
    let files = ScratchDir::new("redis-tls");
    let Some(redis) = tls_redis(&authority, &files).await else { return };
    let url = format!("rediss://127.0.0.1:{}", redis.port);
    let limiter = RedisLimiter::connect_to(&target(&url, &authority))
        .await
        .unwrap_or_else(|error| panic!("TLS with the right CA connects: {error:#}"))
        .with_timeout(Duration::from_secs(5));
    limiter_contract(&limiter).await;

    // The lazy path the service takes: it connects on first use.
    let lazy = RedisLimiter::connect_lazily_to(&target(&url, &authority)).unwrap().with_timeout(Duration::from_secs(5));
    lazy.ping().await.expect("the lazy limiter reaches Redis over TLS");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_from_another_ca_is_refused_as_a_tls_failure() {
    let authority = TestAuthority::new("Portcullis test Redis CA");
    let files = ScratchDir::new("redis-tls");
    let Some(redis) = tls_redis(&authority, &files).await else { return };
    let stranger = TestAuthority::new("Some other CA");
    let url = format!("rediss://:s3cret-password@127.0.0.1:{}", redis.port);

    let error = RedisLimiter::connect_to(&target(&url, &stranger)).await.expect_err("a foreign CA is not trusted");
    let message = format!("{error:#}");
    assert!(message.contains("TLS to Redis") && message.contains("certificate"), "{message}");
    assert!(message.contains("PORTCULLIS_REDIS__CA_FILE"), "the message says where to look: {message}");
    assert!(!message.contains("s3cret"), "{message}");

    // Without a CA file the system's roots are used, which never signed it.
    let error = RedisLimiter::connect_to(&RedisTarget::server(&url)).await.expect_err("not a public CA");
    assert!(format!("{error:#}").contains("TLS to Redis"), "{error:#}");

    // The lazy limiter the service runs on never gets a connection: every
    // call fails as unavailable, so the fallback limiter takes over.
    let lazy = RedisLimiter::connect_lazily_to(&target(&url, &stranger)).unwrap().with_timeout(Duration::from_secs(1));
    let LimiterError::Unavailable(cause) = lazy.ping().await.expect_err("refused");
    assert!(!format!("{cause:#}").contains("s3cret"), "{cause:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_for_another_name_is_refused() {
    let authority = TestAuthority::new("Portcullis test Redis CA");
    let files = ScratchDir::new("redis-tls");
    let server = authority.issue(&["cache.example.net"], files.path(), "elsewhere");
    let ca = authority.write_ca(&files.path().join("ca.pem"));
    let port = free_port();
    let arguments: Vec<String> = [
        "--port",
        "0",
        "--tls-port",
        &port.to_string(),
        "--tls-cert-file",
        &server.certificate.display().to_string(),
        "--tls-key-file",
        &server.key.display().to_string(),
        "--tls-ca-cert-file",
        &ca.display().to_string(),
        "--tls-auth-clients",
        "no",
    ]
    .iter()
    .map(|argument| (*argument).to_owned())
    .collect();
    let Some(_redis) = start_redis(port, &arguments).await else { return };
    let error = RedisLimiter::connect_to(&target(&format!("rediss://127.0.0.1:{port}"), &authority))
        .await
        .expect_err("the certificate names cache.example.net, not 127.0.0.1");
    assert!(format!("{error:#}").contains("TLS to Redis"), "{error:#}");
}

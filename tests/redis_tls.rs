//! A Redis over TLS whose certificate the service does not trust: the
//! service starts anyway, limits fall back to the process, and the log says
//! the certificate was refused and which setting to look at (the lazy
//! connection alone would only report timeouts).
#![cfg(all(feature = "redis", feature = "sqlite"))]

use portcullis::app::config::Settings;
use portcullis::app::telemetry::{self, CapturedLogs};
use portcullis::testing::{free_port, start_redis, ScratchDir};
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_redis_certificate_is_logged_as_a_tls_failure_and_limits_fall_back() {
    let logs = CapturedLogs::default();
    telemetry::init_with(logs.clone(), "info");

    let files = ScratchDir::new("redis-tls-log");
    let server = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (certificate, key) = (files.path().join("redis.crt"), files.path().join("redis.key"));
    std::fs::write(&certificate, server.cert.pem()).unwrap();
    std::fs::write(&key, server.key_pair.serialize_pem()).unwrap();
    let stranger = files.path().join("stranger.pem");
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    std::fs::write(&stranger, other.cert.pem()).unwrap();

    let port = free_port();
    let path = |path: &std::path::Path| path.display().to_string();
    let arguments = [
        "--port".to_owned(),
        "0".to_owned(),
        "--tls-port".to_owned(),
        port.to_string(),
        "--tls-cert-file".to_owned(),
        path(&certificate),
        "--tls-key-file".to_owned(),
        path(&key),
        "--tls-ca-cert-file".to_owned(),
        path(&certificate),
        "--tls-auth-clients".to_owned(),
        "no".to_owned(),
    ];
    let Some(_redis) = start_redis(port, &arguments).await else { return };

    let vars: HashMap<String, String> = [
        ("DATABASE_URL", format!("sqlite://{}/tls.db", files.path().display())),
        ("PORTCULLIS_BIND", "127.0.0.1:0".into()),
        ("PORTCULLIS_BCRYPT_COST", "4".into()),
        ("PORTCULLIS_JWT_KEYS", "redis-tls-test-signing-key-0123456789-abcdef".into()),
        ("REDIS_URL", format!("rediss://:s3cret-password@127.0.0.1:{port}")),
        ("PORTCULLIS_REDIS__CA_FILE", path(&stranger)),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let settings = Settings::load(None, &vars).unwrap();
    let running = portcullis::app::start(&settings).await.expect("the service starts without Redis");

    let started = Instant::now();
    while !logs.contents().contains("TLS to Redis") {
        assert!(started.elapsed() < Duration::from_secs(10), "no TLS failure was logged:\n{}", logs.contents());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = logs.contents();
    let line = log.lines().find(|line| line.contains("TLS to Redis")).unwrap();
    assert!(line.contains("PORTCULLIS_REDIS__CA_FILE") && line.contains("certificate"), "{line}");
    assert!(!log.contains("s3cret"), "the Redis password leaked into the log");

    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/auth/login", running.addr))
        .json(&serde_json::json!({"email": "nobody@example.com", "password": "correct-Horse-battery-staple-42"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401, "limits fell back to the process; logins are still answered");
    running.stop().await.unwrap();
}

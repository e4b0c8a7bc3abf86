//! Each audit event is also a structured log line, target `audit`, with
//! its type, actor, address and request id, and never a secret. Its own
//! binary, since the log subscriber is global to a process.
#![cfg(feature = "sqlite")]

use portcullis::app::config::Settings;
use portcullis::app::telemetry::{self, CapturedLogs};
use serde_json::{json, Value};
use std::collections::HashMap;

const PASSWORD: &str = "correct-Horse-battery-staple-42";
const WRONG_PASSWORD: &str = "another-Long-unusual-phrase-77";
const JWT_KEY: &str = "audit-log-signing-key-0123456789-abcdefghij";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_events_are_logged_with_target_audit_and_no_secret() {
    let logs = CapturedLogs::default();
    telemetry::init_with(logs.clone(), "info");
    let dir = tempfile::tempdir().unwrap();
    let vars: HashMap<String, String> = [
        ("DATABASE_URL", format!("sqlite://{}/audit-logs.db", dir.path().display())),
        ("PORTCULLIS_BIND", "127.0.0.1:0".into()),
        ("PORTCULLIS_BCRYPT_COST", "4".into()),
        ("PORTCULLIS_JWT_KEYS", JWT_KEY.into()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let running = portcullis::app::start(&Settings::load(None, &vars).unwrap()).await.unwrap();
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::new();
    let post = |path: &str, id: &str, body: Value| {
        client.post(format!("{base}{path}")).header("x-request-id", id).json(&body).send()
    };
    let credentials = json!({"email": "ada@example.com", "password": PASSWORD});
    assert_eq!(post("/v1/auth/register", "audit-req-1", credentials.clone()).await.unwrap().status(), 201);
    let wrong = json!({"email": "ada@example.com", "password": WRONG_PASSWORD});
    assert_eq!(post("/v1/auth/login", "audit-req-2", wrong).await.unwrap().status(), 401);
    let pair: Value = post("/v1/auth/login", "audit-req-3", credentials).await.unwrap().json().await.unwrap();
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    let logout = client
        .post(format!("{base}/v1/auth/logout"))
        .header("x-request-id", "audit-req-4")
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    running.stop().await.unwrap();

    let text = logs.contents();
    let audit: Vec<Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["target"] == "audit")
        .collect();
    for (kind, request) in [
        ("registration", "audit-req-1"),
        ("login_failed", "audit-req-2"),
        ("login_succeeded", "audit-req-3"),
        ("logout", "audit-req-4"),
    ] {
        let line = audit
            .iter()
            .find(|line| line["event_type"] == kind)
            .unwrap_or_else(|| panic!("no audit line for {kind} in {audit:?}"));
        assert_eq!(line["request_id"], request, "{line}");
        assert_eq!(line["ip"], "127.0.0.1", "{line}");
        assert!(line["actor"].as_str().is_some_and(|actor| actor.starts_with("user:")), "{line}");
    }
    for secret in [PASSWORD, WRONG_PASSWORD, JWT_KEY, access.as_str(), refresh.as_str()] {
        assert!(!text.contains(secret), "a secret reached the log");
    }
}

//! Secrets never reach a log: drive every flow that handles one, with every
//! crate logging at `trace`, and search the captured output for each secret.
//! (The scrubbing is storage-independent; the test runs on SQLite.)
#![cfg(feature = "sqlite")]

use portcullis::app::config::Settings;
use portcullis::app::telemetry::{self, CapturedLogs};
use serde_json::{json, Value};
use std::collections::HashMap;

const ADMIN_PASSWORD: &str = "Vault-door-Orchid-71-sunrise";
const PASSWORD: &str = "correct-Horse-battery-staple-42";
const NEW_PASSWORD: &str = "another-Long-unusual-phrase-77";
const JWT_KEY: &str = "log-test-signing-key-0123456789-abcdefghij";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines, reason = "one scenario: every secret-bearing route, then the whole log")]
async fn no_password_token_or_key_appears_in_the_logs() {
    let logs = CapturedLogs::default();
    telemetry::init_with(logs.clone(), "trace");

    let dir = tempfile::tempdir().unwrap();
    let vars: HashMap<String, String> = [
        ("DATABASE_URL", format!("sqlite://{}/logs.db", dir.path().display())),
        ("PORTCULLIS_BIND", "127.0.0.1:0".into()),
        ("PORTCULLIS_BCRYPT_COST", "4".into()),
        ("PORTCULLIS_JWT_KEYS", JWT_KEY.into()),
        ("PORTCULLIS_ADMIN_EMAIL", "root@example.com".into()),
        ("PORTCULLIS_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let settings = Settings::load(None, &vars).unwrap();
    let running = portcullis::app::start(&settings).await.unwrap();
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value, bearer: Option<&str>| {
        let mut request = client.post(format!("{base}{path}")).json(&body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    let email = "logged@example.com";
    let registered = post("/v1/auth/register", json!({"email": email, "password": PASSWORD}), None).await.unwrap();
    assert_eq!(registered.status(), 201);
    let login: Value = post("/v1/auth/login", json!({"email": email, "password": PASSWORD}), None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let failed = post("/v1/auth/login", json!({"email": email, "password": NEW_PASSWORD}), None).await.unwrap();
    assert_eq!(failed.status(), 401);
    let refreshed: Value = post("/v1/auth/refresh", json!({"refresh_token": login["refresh_token"]}), None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = refreshed["access_token"].as_str().unwrap().to_owned();
    // A gateway's check, answered in front of the middleware.
    let checked =
        client.get(format!("{base}/v1/auth/verify")).bearer_auth(&access).header("x-request-id", "log-trace-0003");
    assert_eq!(checked.send().await.unwrap().status(), 200);
    let changed = client
        .put(format!("{base}/v1/users/me/password"))
        .bearer_auth(&access)
        .json(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);
    let renewed: Value = post("/v1/auth/refresh", json!({"refresh_token": refreshed["refresh_token"]}), None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let renewed_access = renewed["access_token"].as_str().unwrap().to_owned();
    let logout = post("/v1/auth/logout", json!({"refresh_token": renewed["refresh_token"]}), Some(&renewed_access))
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let rejected = client.get(format!("{base}/v1/users/me")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(rejected.status(), 401);
    let traced = client
        .post(format!("{base}/v1/auth/login"))
        .header("x-request-id", "log-trace-0001")
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(traced.status(), 401);
    let probed = client.get(format!("{base}/healthz")).header("x-request-id", "log-trace-0002").send().await.unwrap();
    assert_eq!(probed.status(), 200);
    running.stop().await.unwrap();
    // Even a careless log call is scrubbed: prove the pipeline does it.
    tracing::info!(password = PASSWORD, note = %format!("Authorization: Bearer {access}"), "deliberate probe");

    let captured = logs.contents();
    assert!(captured.contains("request finished"), "the capture saw no request log");
    assert!(captured.contains(r#""password":"[REDACTED]""#), "the deliberate probe was not scrubbed");
    let lines: Vec<Value> = captured.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    assert!(lines.len() > 10, "log lines are JSON");
    let finished = lines
        .iter()
        .find(|line| line["span"]["request_id"] == "log-trace-0001" && line["message"] == "request finished")
        .expect("the request's access-log line carries its id");
    assert_eq!(finished["route"], "/v1/auth/login");
    assert_eq!(finished["status"], 401);
    assert_eq!(finished["span"]["method"], "POST");
    assert_eq!(finished["span"]["client_ip"], "127.0.0.1");
    assert!(finished["latency_ms"].as_f64().is_some());
    // `/healthz` is answered in front of the middleware; its line is alike.
    let probe = lines
        .iter()
        .find(|line| line["span"]["request_id"] == "log-trace-0002" && line["message"] == "request finished")
        .expect("a probe's access-log line carries its id");
    assert_eq!(
        (&probe["route"], &probe["status"], &probe["span"]["method"]),
        (&json!("/healthz"), &json!(200), &json!("GET"))
    );
    let keys = |line: &Value| {
        let mut keys: Vec<String> = line.as_object().unwrap().keys().cloned().collect();
        keys.extend(line["span"].as_object().unwrap().keys().map(|key| format!("span.{key}")));
        keys.sort();
        keys
    };
    assert_eq!(keys(probe), keys(finished), "a probe's line has the fields of any other: {probe}");
    assert_eq!(probe["target"], finished["target"]);
    let check = lines
        .iter()
        .find(|line| line["span"]["request_id"] == "log-trace-0003" && line["message"] == "request finished")
        .expect("a gateway check's access-log line carries its id");
    assert_eq!((&check["route"], &check["status"]), (&json!("/v1/auth/verify"), &json!(200)));
    assert_eq!(keys(check), keys(finished), "{check}");
    let starting =
        lines.iter().find(|line| line["message"] == "starting portcullis").expect("the start-up line is logged");
    for (field, adapter) in
        [("database", "sqlite"), ("rate_limiter", "memory"), ("secrets", "env"), ("password_hasher", "bcrypt")]
    {
        assert_eq!(starting[field], adapter, "the start-up line names its {field} in clear text: {starting}");
    }
    let listening: Vec<&Value> = lines.iter().filter(|line| line["message"] == "listening").collect();
    assert_eq!(listening.len(), 1, "\"listening\" is logged once: {listening:?}");
    assert_eq!(listening[0]["addr"].as_str(), base.strip_prefix("http://"));
    for line in lines.iter().filter(|line| line["span"]["name"] == "request") {
        assert!(line["span"]["request_id"].is_string(), "a request's log line lacks its id: {line}");
    }

    let secrets = [
        ("admin password", ADMIN_PASSWORD.to_owned()),
        ("password", PASSWORD.to_owned()),
        ("new password", NEW_PASSWORD.to_owned()),
        ("signing key", JWT_KEY.to_owned()),
        ("first access token", login["access_token"].as_str().unwrap().to_owned()),
        ("first refresh token", login["refresh_token"].as_str().unwrap().to_owned()),
        ("rotated refresh token", refreshed["refresh_token"].as_str().unwrap().to_owned()),
        ("renewed access token", renewed_access.clone()),
        ("renewed refresh token", renewed["refresh_token"].as_str().unwrap().to_owned()),
    ];
    for (name, secret) in secrets {
        assert!(!captured.contains(&secret), "the {name} appears in the logs");
        // A token's signature alone is a secret too.
        if let Some(signature) = secret.rsplit('.').next().filter(|s| s.len() > 20) {
            assert!(!captured.contains(signature), "the {name}'s signature appears in the logs");
        }
    }
}

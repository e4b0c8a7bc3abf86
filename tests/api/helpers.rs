//! The test harness: one real server per test, on port 0, with its own
//! SQLite file in its own temporary directory, and a typed client that
//! speaks HTTP to it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use portcullis::app::config::Settings;
use portcullis::app::Running;
use reqwest::header::HeaderMap;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};
use tempfile::TempDir;

/// Passes zxcvbn score 3 and contains no local part the tests use.
pub const STRONG_PASSWORD: &str = "correct-Horse-battery-staple-42";
/// A second strong password, for password changes.
pub const OTHER_STRONG_PASSWORD: &str = "Quartz-lamp-drifting-over-97";
pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "Granite-lighthouse-Orbit-58";
/// The single HS256 key of every test app (40 bytes).
pub const JWT_KEY: &str = "integration-test-signing-key-0123456789ab";

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// A running service and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub client: reqwest::Client,
    /// `None` once a test has stopped the server itself.
    pub running: Option<Running>,
    pub jwt_key: String,
    database: Database,
    dir: TempDir,
}

/// The test's database: a SQLite file in the test's directory, or a fresh
/// Postgres database when `PORTCULLIS_TEST_STORE=postgres`.
struct Database {
    url: String,
    #[cfg(feature = "postgres")]
    _guard: Option<portcullis::testing::DropGuard>,
}

async fn fresh_database(dir: &TempDir) -> Database {
    #[cfg(feature = "postgres")]
    if std::env::var("PORTCULLIS_TEST_STORE").is_ok_and(|store| store == "postgres") {
        if let Some((url, guard)) = portcullis::testing::fresh_database().await {
            return Database { url, _guard: Some(guard) };
        }
    }
    Database {
        url: format!("sqlite://{}", dir.path().join("portcullis.db").display()),
        #[cfg(feature = "postgres")]
        _guard: None,
    }
}

/// An access token and the refresh token of the same session.
#[derive(Clone, Debug)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
}

impl TokenPair {
    /// Reads a token pair body, checking its shape on the way.
    pub fn from_body(body: &Value) -> Self {
        assert_eq!(body["token_type"], "Bearer", "token_type in {body}");
        let access_token = body["access_token"].as_str().unwrap_or_else(|| panic!("access_token in {body}")).to_owned();
        let refresh_token =
            body["refresh_token"].as_str().unwrap_or_else(|| panic!("refresh_token in {body}")).to_owned();
        let expires_in = body["expires_in"].as_i64().unwrap_or_else(|| panic!("expires_in in {body}"));
        Self { access_token, refresh_token, expires_in }
    }
}

/// Starts the service with the test defaults.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the service with the test defaults, each pair in `overrides`
/// replacing or adding a variable.
///
/// The auth-route limit is raised far above the contract default (burst
/// 10), because many tests make more than ten auth requests; the tests of
/// that limit set it back down explicitly.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database = fresh_database(&dir).await;
    spawn_in(dir, database, overrides, None).await
}

/// Starts the service with its key ring read from `secrets` instead of
/// `PORTCULLIS_JWT_KEYS`; `database` names another app's database to make
/// this one its replica.
pub async fn spawn_app_with_secrets(
    overrides: &[(&str, &str)],
    secrets: std::sync::Arc<dyn portcullis::ports::SecretSource>,
    database: Option<&str>,
) -> TestApp {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database = match database {
        Some(url) => Database {
            url: url.to_owned(),
            #[cfg(feature = "postgres")]
            _guard: None,
        },
        None => fresh_database(&dir).await,
    };
    spawn_in(dir, database, overrides, Some(secrets)).await
}

async fn spawn_in(
    dir: TempDir,
    database: Database,
    overrides: &[(&str, &str)],
    secrets: Option<std::sync::Arc<dyn portcullis::ports::SecretSource>>,
) -> TestApp {
    let mut vars: HashMap<String, String> = [
        ("DATABASE_URL", database.url.clone()),
        ("PORTCULLIS_BIND", "127.0.0.1:0".to_owned()),
        ("PORTCULLIS_BCRYPT_COST", "4".to_owned()),
        ("PORTCULLIS_JWT_KEYS", JWT_KEY.to_owned()),
        ("PORTCULLIS_ADMIN_EMAIL", ADMIN_EMAIL.to_owned()),
        ("PORTCULLIS_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ("PORTCULLIS_LIMITS__AUTH__PER_MINUTE", "10000".to_owned()),
        ("PORTCULLIS_LIMITS__AUTH__BURST", "10000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (key, value) in overrides {
        vars.insert((*key).to_owned(), (*value).to_owned());
    }
    let jwt_key =
        vars.get("PORTCULLIS_JWT_KEYS").and_then(|keys| keys.split(',').next()).unwrap_or_default().trim().to_owned();
    let settings = Settings::load(None, &vars).expect("test settings load");
    let running = match secrets {
        Some(secrets) => portcullis::app::start_with_secrets(&settings, secrets).await,
        None => portcullis::app::start(&settings).await,
    }
    .expect("the service starts");
    let address = format!("http://{}", running.addr);
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a reqwest client");
    TestApp { address, client, running: Some(running), jwt_key, database, dir }
}

/// A fresh address; the local part never occurs in the test passwords.
pub fn unique_email(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}@example.com", &id[..12])
}

impl TestApp {
    /// Stops the service and starts it again on the same database, with
    /// `overrides` over the test defaults.
    pub async fn restart_with(mut self, overrides: &[(&str, &str)]) -> TestApp {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("a clean stop");
        }
        spawn_in(self.dir, self.database, overrides, None).await
    }

    /// Stops the service as a graceful shutdown's end does (listeners
    /// closed, queued mail given its bounded time).
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("a clean stop");
        }
    }

    /// The database this service runs on, for replicas that share it.
    pub fn database_url(&self) -> &str {
        &self.database.url
    }

    /// Re-reads the key ring from its source now, as SIGHUP does.
    pub async fn refresh_keys(&self) {
        let running = self.running.as_ref().expect("a running service");
        running.state.keys.refresh_now().await.expect("the key ring refreshes");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.expect("GET")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.expect("POST")
    }

    /// POSTs `body` verbatim as `application/json`.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST")
    }

    pub async fn register(&self, email: &str, password: &str) -> Response {
        self.post_json("/v1/auth/register", &json!({"email": email, "password": password})).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json("/v1/auth/login", &json!({"email": email, "password": password})).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json("/v1/auth/refresh", &json!({"refresh_token": refresh_token})).await
    }

    /// Without a refresh token the body is `{}`; the bodiless form has a
    /// test of its own (`sessions::logout_without_a_body_works`).
    pub async fn logout(&self, access_token: &str, refresh_token: Option<&str>) -> Response {
        let body = refresh_token.map_or_else(|| json!({}), |token| json!({"refresh_token": token}));
        self.client
            .post(self.url("/v1/auth/logout"))
            .bearer_auth(access_token)
            .json(&body)
            .send()
            .await
            .expect("POST /v1/auth/logout")
    }

    pub async fn logout_all(&self, access_token: &str) -> Response {
        self.client
            .post(self.url("/v1/auth/logout-all"))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("POST logout-all")
    }

    pub async fn verify(&self, access_token: &str) -> Response {
        self.get_with_token("/v1/auth/verify", access_token).await
    }

    pub async fn me(&self, access_token: &str) -> Response {
        self.get_with_token("/v1/users/me", access_token).await
    }

    pub async fn change_password(&self, access_token: &str, current: &str, new: &str) -> Response {
        self.client
            .put(self.url("/v1/users/me/password"))
            .bearer_auth(access_token)
            .json(&json!({"current_password": current, "new_password": new}))
            .send()
            .await
            .expect("PUT /v1/users/me/password")
    }

    /// `query` is appended verbatim, e.g. `?limit=1`.
    pub async fn admin_list(&self, token: &str, query: &str) -> Response {
        self.get_with_token(&format!("/v1/admin/users{query}"), token).await
    }

    pub async fn admin_get(&self, token: &str, id: &str) -> Response {
        self.get_with_token(&format!("/v1/admin/users/{id}"), token).await
    }

    pub async fn admin_patch(&self, token: &str, id: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(&format!("/v1/admin/users/{id}")))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("PATCH")
    }

    pub async fn admin_unlock(&self, token: &str, id: &str) -> Response {
        self.client
            .post(self.url(&format!("/v1/admin/users/{id}/unlock")))
            .bearer_auth(token)
            .send()
            .await
            .expect("POST unlock")
    }

    pub async fn admin_delete(&self, token: &str, id: &str) -> Response {
        self.client.delete(self.url(&format!("/v1/admin/users/{id}"))).bearer_auth(token).send().await.expect("DELETE")
    }

    pub async fn metrics(&self) -> String {
        let response = self.get("/metrics").await;
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.expect("metrics text")
    }

    /// Logs in; panics unless it succeeds.
    pub async fn login_pair(&self, email: &str, password: &str) -> TokenPair {
        let response = self.login(email, password).await;
        assert_eq!(response.status(), StatusCode::OK, "login of {email}");
        TokenPair::from_body(&json_body(response).await)
    }

    /// Signs in as the seeded admin.
    pub async fn admin_token(&self) -> String {
        self.login_pair(ADMIN_EMAIL, ADMIN_PASSWORD).await.access_token
    }

    /// Registers `email` with [`STRONG_PASSWORD`]; returns the user object.
    pub async fn register_ok(&self, email: &str) -> Value {
        let response = self.register(email, STRONG_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::CREATED, "register {email}");
        json_body(response).await
    }

    /// Registers `email` with [`STRONG_PASSWORD`] and signs in.
    pub async fn register_and_login(&self, email: &str) -> TokenPair {
        self.register_ok(email).await;
        self.login_pair(email, STRONG_PASSWORD).await
    }

    /// Registers a fresh user and returns its id and a token pair.
    pub async fn new_user(&self, prefix: &str) -> (String, String, TokenPair) {
        let email = unique_email(prefix);
        let user = self.register_ok(&email).await;
        let pair = self.login_pair(&email, STRONG_PASSWORD).await;
        (user["id"].as_str().expect("id").to_owned(), email, pair)
    }

    /// The value of a counter or gauge sample line, e.g.
    /// `refresh_token_reuse_total` or `tokens_issued_total{kind="access"}`; 0 if absent.
    pub async fn metric_value(&self, sample: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|line| line.strip_prefix(sample).and_then(|rest| rest.strip_prefix(' ')))
            .map_or(0.0, |value| value.trim().parse().expect("a number"))
    }
}

/// The body as JSON, whatever the content type says.
pub async fn json_body(response: Response) -> Value {
    let text = response.text().await.expect("a body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text:?}"))
}

pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().expect("an ASCII header"))
}

/// Checks the RFC 9457 shape of an error response and returns its body:
/// status, content type, `type` = `/problems/<code>`, `title`, `status`,
/// `detail`, `code`, `request_id` equal to the `X-Request-ID` header, and a
/// well-formed `errors` list when there is one.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    let headers = response.headers().clone();
    let actual = response.status().as_u16();
    let text = response.text().await.expect("a body");
    assert_eq!(actual, status, "status; body {text}");
    let content_type = header(&headers, "content-type").unwrap_or_default();
    assert!(content_type.starts_with(PROBLEM_CONTENT_TYPE), "content type {content_type:?}; body {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("problem body is not JSON ({e}): {text}"));
    assert_eq!(body["code"], code, "code in {body}");
    assert_eq!(body["type"], format!("/problems/{code}"), "type in {body}");
    assert_eq!(body["status"], status, "status in {body}");
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()), "title in {body}");
    assert!(body["detail"].is_string(), "detail in {body}");
    let request_id = header(&headers, "x-request-id").expect("an X-Request-ID header");
    assert_eq!(body["request_id"], request_id, "request_id in {body}");
    if let Some(errors) = body.get("errors") {
        let errors = errors.as_array().unwrap_or_else(|| panic!("errors is a list in {body}"));
        for error in errors {
            assert!(error["field"].is_string() && error["message"].is_string(), "errors entry {error} in {body}");
        }
    }
    assert_no_internals(&text);
    body
}

/// The headers API.md puts on every response.
pub fn assert_common_headers(headers: &HeaderMap, what: &str) {
    assert!(header(headers, "x-request-id").is_some_and(|v| !v.is_empty()), "{what}: X-Request-ID");
    assert_eq!(header(headers, "x-content-type-options"), Some("nosniff"), "{what}");
    assert_eq!(header(headers, "x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(header(headers, "referrer-policy"), Some("no-referrer"), "{what}");
    assert!(header(headers, "content-security-policy").is_some(), "{what}: Content-Security-Policy");
}

/// The `field` names of a problem's `errors` list; panics when there is none.
pub fn field_errors(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("validation errors carry an errors list: {problem}"))
        .iter()
        .map(|e| e["field"].as_str().expect("field").to_owned())
        .collect()
}

/// Error bodies must not leak SQL, stack traces or file paths.
pub fn assert_no_internals(text: &str) {
    let lower = text.to_lowercase();
    for leak in ["sqlx", "sqlite", "select ", "insert ", "panicked", "src/", ".rs:", "stack backtrace"] {
        assert!(!lower.contains(leak), "error body leaks {leak:?}: {text}");
    }
}

/// A user object has exactly the contract's fields; never a hash.
pub fn assert_user_object(user: &Value) {
    let object = user.as_object().unwrap_or_else(|| panic!("a user object: {user}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["created_at", "email", "email_verified", "id", "role", "status", "updated_at"],
        "user fields of {user}"
    );
    let id = user["id"].as_str().expect("id");
    uuid::Uuid::parse_str(id).expect("the id is a UUID");
    assert!(matches!(user["role"].as_str(), Some("user" | "admin")), "role of {user}");
    assert!(matches!(user["status"].as_str(), Some("active" | "disabled")), "status of {user}");
    let text = user.to_string();
    assert!(!text.contains("$2"), "a bcrypt hash leaked: {text}");
    assert!(!text.to_lowercase().contains("hash") && !text.to_lowercase().contains("password"), "{text}");
}

// ---- forging access tokens ----

pub fn now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs()).expect("fits")
}

/// The `kid` the service derives for `key`: the first 16 hex characters of
/// SHA-256("portcullis-kid:" + key).
pub fn kid_for(key: &str) -> String {
    let digest = Sha256::new().chain_update(b"portcullis-kid:").chain_update(key.as_bytes()).finalize();
    portcullis::core::hex::encode(&digest[..8])
}

/// The HS256 header the service itself would write for `key`.
pub fn hs256_header(key: &str) -> Value {
    json!({"alg": "HS256", "typ": "JWT", "kid": kid_for(key)})
}

/// Claims that the service would accept for `user_id` right now.
pub fn valid_claims(user_id: &str, role: &str) -> Value {
    let now = now();
    json!({
        "iss": "portcullis",
        "aud": "portcullis-api",
        "sub": user_id,
        "role": role,
        "sid": uuid::Uuid::new_v4().to_string(),
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "epoch": 0,
    })
}

pub fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// base64url(header).base64url(claims).HMAC-SHA256 under `key`.
pub fn forge_token(key: &str, header: &Value, claims: &Value) -> String {
    let signing_input = format!("{}.{}", b64(header), b64(claims));
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// The claims of an access token, unverified.
pub fn decode_claims(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON claims")
}

/// The header of an access token, unverified.
pub fn decode_header(token: &str) -> Value {
    let part = token.split('.').next().expect("a JWT has three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON header")
}

/// Sends raw bytes over a plain TCP connection and returns the raw
/// response, for what reqwest cannot send without its `stream` feature
/// (a chunked body).
pub async fn raw_http(address: &str, request: Vec<u8>) -> String {
    let authority = address.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&authority).expect("connect");
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("timeout");
        // The server may answer and close before reading everything.
        let _ = stream.write_all(&request);
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        String::from_utf8_lossy(&response).into_owned()
    })
    .await
    .expect("the raw request task")
}

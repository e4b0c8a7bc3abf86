//! The key ring on a running service: EdDSA and ES256 tokens, the public
//! keys at `/.well-known/jwks.json`, the token attacks against asymmetric
//! keys, and a rotation (stage, promote, retire) across two replicas under
//! steady traffic, with refreshes triggered as SIGHUP triggers them.

use crate::helpers::{
    assert_problem, b64, decode_header, forge_token, header, json_body, spawn_app, spawn_app_with_secrets,
    valid_claims, TestApp, TokenPair, STRONG_PASSWORD,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portcullis::core::keyring::{generate_private_key, Algorithm};
use portcullis::ports::{KeyEntry, RingDocument};
use portcullis::testing::MutableSecrets;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

pub(crate) fn key(kid: &str, alg: Algorithm, state: &str, text: &str) -> KeyEntry {
    KeyEntry {
        kid: Some(kid.to_owned()),
        alg: alg.as_str().to_owned(),
        state: state.to_owned(),
        key: SecretString::from(text.to_owned()),
    }
}

pub(crate) fn pem(alg: Algorithm) -> String {
    generate_private_key(alg).expect("an asymmetric key").expose_secret().to_owned()
}

async fn jwks(app: &TestApp) -> Value {
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status().as_u16(), 200);
    json_body(response).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_hs256_ring_publishes_an_empty_key_set_that_caches_for_one_interval() {
    let app = spawn_app().await;
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(header(response.headers(), "cache-control"), Some("public, max-age=60"));
    assert!(header(response.headers(), "ratelimit-limit").is_some(), "spends the api quota like /readyz");
    let text = response.text().await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json!({"keys": []}));
    assert!(!text.contains(&app.jwt_key));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ring_document_in_the_environment_starts_an_eddsa_service() {
    let entry = key("env-ed", Algorithm::EdDsa, "active", &pem(Algorithm::EdDsa));
    let document = json!({"keys": [{
        "kid": entry.kid, "alg": entry.alg, "state": entry.state, "key": entry.key.expose_secret()
    }]});
    let app = crate::helpers::spawn_app_with(&[("PORTCULLIS_JWT_KEYS", &document.to_string())]).await;
    let (_, _, pair) = app.new_user("env-ring").await;
    assert_eq!(decode_header(&pair.access_token)["alg"], "EdDSA");
    assert!(verifies_against(&jwks(&app).await, &pair.access_token));
}

/// A service whose ring is one active key of `alg` named `k1`.
async fn asymmetric_app(alg: Algorithm) -> (TestApp, Arc<MutableSecrets>) {
    let document = RingDocument { keys: vec![key("k1", alg, "active", &pem(alg))] };
    let secrets = Arc::new(MutableSecrets::new(document));
    let app = spawn_app_with_secrets(&[("PORTCULLIS_SECRETS_REFRESH_SECONDS", "30")], secrets.clone(), None).await;
    (app, secrets)
}

/// Verifies `token` with jsonwebtoken against the key the JWKS publishes
/// under its `kid`, as a service holding no secret would.
fn verifies_against(jwks: &Value, token: &str) -> bool {
    let kid = decode_header(token)["kid"].as_str().unwrap().to_owned();
    let Some(jwk) = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()) else { return false };
    let (key, alg) = match jwk["kty"].as_str().unwrap() {
        "OKP" => (
            jsonwebtoken::DecodingKey::from_ed_components(jwk["x"].as_str().unwrap()).unwrap(),
            jsonwebtoken::Algorithm::EdDSA,
        ),
        _ => (
            jsonwebtoken::DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap())
                .unwrap(),
            jsonwebtoken::Algorithm::ES256,
        ),
    };
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_audience(&["portcullis-api"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn eddsa_and_es256_rings_sign_tokens_that_the_published_keys_verify() {
    for (alg, kty, crv) in [(Algorithm::EdDsa, "OKP", "Ed25519"), (Algorithm::Es256, "EC", "P-256")] {
        let (app, _) = asymmetric_app(alg).await;
        let (_, _, pair) = app.new_user("asym").await;
        let header = decode_header(&pair.access_token);
        assert_eq!((header["alg"].as_str(), header["kid"].as_str()), (Some(alg.as_str()), Some("k1")));
        assert_eq!(app.verify(&pair.access_token).await.status().as_u16(), 200);

        let response = app.get("/.well-known/jwks.json").await;
        assert_eq!(crate::helpers::header(response.headers(), "cache-control"), Some("public, max-age=30"));
        let set = json_body(response).await;
        let jwk = &set["keys"][0];
        assert_eq!((jwk["kty"].as_str(), jwk["crv"].as_str()), (Some(kty), Some(crv)), "{set}");
        assert_eq!(
            (jwk["kid"].as_str(), jwk["alg"].as_str(), jwk["use"].as_str()),
            (Some("k1"), Some(alg.as_str()), Some("sig"))
        );
        assert!(jwk.get("d").is_none(), "no private part: {set}");
        assert!(verifies_against(&set, &pair.access_token), "{alg:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_attacks_fail_against_asymmetric_keys() {
    for alg in [Algorithm::EdDsa, Algorithm::Es256] {
        let (app, _) = asymmetric_app(alg).await;
        let (id, _, pair) = app.new_user("attacker").await;
        let set = jwks(&app).await;
        let jwk = &set["keys"][0];
        let x = jwk["x"].as_str().unwrap();
        let claims = valid_claims(&id, "admin");

        // HS256 signed with the public key's bytes: raw, base64url, as a PEM
        // file of it, and as the JWK itself, under the key's kid.
        let raw = URL_SAFE_NO_PAD.decode(x).unwrap();
        let spki = if alg == Algorithm::EdDsa {
            [vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00], raw.clone()].concat()
        } else {
            let y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap();
            let prefix = "3059301306072a8648ce3d020106082a8648ce3d030107034200";
            let prefix: Vec<u8> =
                (0..prefix.len()).step_by(2).map(|i| u8::from_str_radix(&prefix[i..i + 2], 16).unwrap()).collect();
            [prefix, vec![4], raw.clone(), y].concat()
        };
        let spki_pem = pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, &spki).unwrap();
        let hs_header = json!({"alg": "HS256", "typ": "JWT", "kid": "k1"});
        let raw_text = String::from_utf8_lossy(&raw).into_owned();
        for hmac_key in [x.to_owned(), spki_pem, raw_text, jwk.to_string()] {
            let forged = forge_token(&hmac_key, &hs_header, &claims);
            assert_problem(app.verify(&forged).await, 401, "invalid_token").await;
        }
        // Unsigned, or named as another algorithm over the real signature.
        for other in
            ["none", "HS256", "HS512", "RS256", "ES384", if alg == Algorithm::EdDsa { "ES256" } else { "EdDSA" }]
        {
            let parts: Vec<&str> = pair.access_token.split('.').collect();
            let relabelled = format!("{}.{}.{}", b64(&json!({"alg": other, "kid": "k1"})), parts[1], parts[2]);
            assert_problem(app.verify(&relabelled).await, 401, "invalid_token").await;
            let unsigned = format!("{}.{}.", b64(&json!({"alg": other, "kid": "k1"})), b64(&claims));
            assert_problem(app.verify(&unsigned).await, 401, "invalid_token").await;
        }
        // A real signature over tampered claims.
        let parts: Vec<&str> = pair.access_token.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
        assert_problem(app.verify(&tampered).await, 401, "invalid_token").await;
        assert_eq!(app.verify(&pair.access_token).await.status().as_u16(), 200, "the real token still works");
    }
}

/// What steady traffic saw: how many requests, and every 5xx or refused
/// fresh token.
#[derive(Default)]
pub(crate) struct Traffic {
    pub(crate) requests: AtomicUsize,
    pub(crate) failures: std::sync::Mutex<Vec<String>>,
}

impl Traffic {
    fn fail(&self, what: String) {
        self.failures.lock().unwrap().push(what);
    }

    /// Logins, refreshes and checks until `stop`, alternating replicas, each
    /// token checked on both.
    pub(crate) async fn run(&self, replicas: [&TestApp; 2], email: &str, stop: &AtomicBool) {
        let mut turn = 0usize;
        while !stop.load(Ordering::SeqCst) {
            let (issuer, checker) = (replicas[turn % 2], replicas[(turn + 1) % 2]);
            turn += 1;
            let login = issuer.login(email, STRONG_PASSWORD).await;
            self.requests.fetch_add(1, Ordering::SeqCst);
            if login.status().as_u16() != 200 {
                self.fail(format!("login {}", login.status()));
                continue;
            }
            let pair = TokenPair::from_body(&json_body(login).await);
            let refreshed = checker.refresh(&pair.refresh_token).await.status().as_u16();
            if refreshed != 200 {
                self.fail(format!("refresh {refreshed}"));
            }
            for replica in [checker, issuer] {
                let verified = replica.verify(&pair.access_token).await.status().as_u16();
                self.requests.fetch_add(1, Ordering::SeqCst);
                if verified != 200 {
                    self.fail(format!("verify {verified} of kid {}", decode_header(&pair.access_token)["kid"]));
                }
            }
        }
    }
}

/// Puts `keys` in the shared source and refreshes one replica, then the
/// other a moment later: the window of a rolling change, when they disagree.
async fn roll_out(secrets: &MutableSecrets, replicas: [&TestApp; 2], keys: Vec<KeyEntry>) {
    secrets.set(RingDocument { keys });
    for replica in replicas {
        replica.refresh_keys().await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_on_two_running_replicas_fails_no_request() {
    let (old_pem, new_pem) = (pem(Algorithm::EdDsa), pem(Algorithm::Es256));
    let old = |state| key("old", Algorithm::EdDsa, state, &old_pem);
    let new = |state| key("new", Algorithm::Es256, state, &new_pem);
    let secrets = Arc::new(MutableSecrets::new(RingDocument { keys: vec![old("active")] }));
    let first = spawn_app_with_secrets(&[], secrets.clone(), None).await;
    let url = first.database_url().to_owned();
    let second = spawn_app_with_secrets(&[], secrets.clone(), Some(&url)).await;
    let replicas = [&first, &second];
    let (_, email, _) = first.new_user("rotating").await;
    let before = first.login_pair(&email, STRONG_PASSWORD).await;
    let traffic = Traffic::default();
    let stop = AtomicBool::new(false);

    let rotation = async {
        for (step, keys, signer) in [
            ("stage", vec![old("active"), new("verify-only")], "old"),
            ("promote", vec![old("verify-only"), new("active")], "new"),
        ] {
            roll_out(&secrets, replicas, keys).await;
            let fresh = second.login_pair(&email, STRONG_PASSWORD).await;
            assert_eq!(decode_header(&fresh.access_token)["kid"], signer, "{step}");
            for replica in replicas {
                assert_eq!(replica.verify(&fresh.access_token).await.status().as_u16(), 200, "{step}");
                assert_eq!(replica.verify(&before.access_token).await.status().as_u16(), 200, "{step}: old token");
                assert_eq!(jwks(replica).await["keys"].as_array().unwrap().len(), 2, "{step}: both keys published");
            }
        }
        // Retire the old key (in production: one access-token lifetime later).
        roll_out(&secrets, replicas, vec![new("active")]).await;
        stop.store(true, Ordering::SeqCst);
    };
    tokio::join!(traffic.run(replicas, &email, &stop), rotation);

    let failures = traffic.failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "failed requests during the rotation: {failures:?}");
    assert!(traffic.requests.load(Ordering::SeqCst) > 10, "traffic kept flowing");
    // Refused on both at once: each replica refreshed within the interval.
    for replica in replicas {
        assert_problem(replica.verify(&before.access_token).await, 401, "invalid_token").await;
        assert_eq!(jwks(replica).await["keys"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_outage_keeps_the_last_ring_and_readiness_reports_it_stale() {
    let document = RingDocument { keys: vec![key("k1", Algorithm::EdDsa, "active", &pem(Algorithm::EdDsa))] };
    let secrets = Arc::new(MutableSecrets::new(document.clone()));
    let app = spawn_app_with_secrets(&[("PORTCULLIS_SECRETS_REFRESH_SECONDS", "1")], secrets.clone(), None).await;
    let (_, _, pair) = app.new_user("outage").await;

    secrets.go_down();
    let running = app.running.as_ref().unwrap();
    assert!(running.state.keys.refresh_now().await.is_err());
    // A bad ring is refused the same way.
    secrets.set(RingDocument { keys: vec![key("k1", Algorithm::EdDsa, "active", "not a key")] });
    assert!(running.state.keys.refresh_now().await.is_err());
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status().as_u16(), 200, "a stale ring still serves");
    let body = json_body(ready).await;
    assert_eq!(body["checks"]["secrets"], "stale", "{body}");
    assert!(body["checks"]["secrets_age_seconds"].as_u64().is_some_and(|age| age >= 1), "{body}");
    assert_eq!(app.verify(&pair.access_token).await.status().as_u16(), 200);
    assert!(app.metric_value("secrets_refresh_failures_total").await >= 2.0);
    assert_eq!(app.metric_value("secrets_stale").await, 1.0);
    assert!(app.metric_value("secrets_ring_age_seconds").await >= 1.0);
    let metrics = app.metrics().await;
    assert!(!metrics.contains("BEGIN PRIVATE KEY"));

    secrets.set(document);
    app.refresh_keys().await;
    let body = json_body(app.get("/readyz").await).await;
    assert_eq!(body["checks"]["secrets"], "ok", "{body}");
    assert!(body["checks"].get("secrets_age_seconds").is_none());
    assert_eq!(app.metric_value("secrets_stale").await, 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_change_of_ring_is_in_the_audit_trail_without_key_material() {
    let old_pem = pem(Algorithm::EdDsa);
    let new_pem = pem(Algorithm::Es256);
    let document = RingDocument { keys: vec![key("ed-1", Algorithm::EdDsa, "active", &old_pem)] };
    let secrets = Arc::new(MutableSecrets::new(document.clone()));
    let app = spawn_app_with_secrets(&[], secrets.clone(), None).await;
    let running = app.running.as_ref().unwrap();
    let admin = app.admin_token().await;

    // A refresh that reads the same ring records nothing.
    running.state.keys.refresh_now().await.unwrap();
    secrets.set(RingDocument {
        keys: vec![
            key("ed-1", Algorithm::EdDsa, "active", &old_pem),
            key("es-1", Algorithm::Es256, "verify-only", &new_pem),
        ],
    });
    running.state.keys.refresh_now().await.unwrap();
    running.state.keys.refresh_now().await.unwrap();

    let page = app.get_with_token("/v1/admin/audit?type=key_ring_changed", &admin).await;
    assert_eq!(page.status().as_u16(), 200);
    let body = json_body(page).await;
    let text = body.to_string();
    let events = body["items"].as_array().expect("a page of events");
    assert_eq!(events.len(), 1, "one change, one event: {body}");
    let event = &events[0];
    assert_eq!(event["type"], "key_ring_changed");
    assert_eq!(event["details"]["active"], "ed-1", "{event}");
    assert_eq!(event["details"]["keys"], "ed-1:EdDSA:active,es-1:ES256:verify-only", "{event}");
    for secret in [&old_pem, &new_pem] {
        let body_line = secret.lines().nth(1).unwrap();
        assert!(!text.contains(body_line), "key material in the audit trail");
    }
    assert!(!text.contains("PRIVATE KEY"));
}

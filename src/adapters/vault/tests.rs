//! The Vault source against the in-test Vault server, through `vaultrs`:
//! each sign-in method, renewal before expiry, sign-in again after expiry
//! or revocation, and the fake's own KV v2 surface. The contract every
//! source keeps is in `adapters::secrets_contract`.

use super::fake::{FakeVault, Mode};
use super::*;
use crate::adapters::secrets_contract::vault::{approle_settings, SECRET_ID};
use serde_json::json;
use std::io::Write;

const KEY: &str = "vault-test-signing-key-0123456789abcdef";

fn store_ring(fake: &FakeVault) {
    fake.put("secret", "portcullis", json!({"keys": [{"kid": "k1", "alg": "HS256", "state": "active", "key": KEY}]}));
}

fn token_settings(fake: &FakeVault, credential: Credential) -> VaultSettings {
    VaultSettings { auth: VaultAuth::Token(credential), ..approle_settings(fake) }
}

fn file_with(content: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(content.as_bytes()).unwrap();
    file
}

fn rewrite(file: &tempfile::NamedTempFile, content: &str) {
    std::fs::write(file.path(), content).unwrap();
}

fn unavailable_text(result: Result<RingDocument, SecretError>) -> String {
    match result {
        Err(error @ SecretError::Unavailable(_)) => format!("{:#}", anyhow::Error::from(error)),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_token_signs_in_and_a_renewable_one_is_renewed_before_it_expires() {
    let fake = FakeVault::start().await;
    store_ring(&fake);
    fake.add_token("hvs.test-token-renewable", Duration::from_secs(6), true);
    let source =
        VaultSecrets::new(token_settings(&fake, Credential::Value("hvs.test-token-renewable".to_owned().into())))
            .unwrap();

    assert_eq!(source.key_ring().await.unwrap().keys[0].kid.as_deref(), Some("k1"));
    assert_eq!(fake.counts().1, 0, "a fresh token is not renewed");
    // Vault reports whole seconds left (5 here): renewal is due under 1.67 s.
    tokio::time::sleep(Duration::from_millis(4300)).await;
    source.key_ring().await.unwrap();
    assert_eq!(fake.counts().1, 1, "a token with under a third of its TTL left is renewed");
    // Past the original expiry, the renewed token still reads.
    tokio::time::sleep(Duration::from_secs(2)).await;
    source.key_ring().await.unwrap();
}

#[tokio::test]
async fn a_revoked_token_is_read_again_from_its_file_once_then_unavailable() {
    let fake = FakeVault::start().await;
    store_ring(&fake);
    fake.add_token("hvs.first-token", Duration::ZERO, false);
    let file = file_with("hvs.first-token\n");
    let source = VaultSecrets::new(token_settings(&fake, Credential::File(file.path().to_owned()))).unwrap();
    source.key_ring().await.unwrap();

    // Vault Agent rewrote the file with a new token; the old one is revoked.
    fake.revoke_token("hvs.first-token");
    fake.add_token("hvs.second-token", Duration::ZERO, false);
    rewrite(&file, "hvs.second-token\n");
    source.key_ring().await.expect("signed in again with the token in the file");

    fake.revoke_token("hvs.second-token");
    let message = unavailable_text(source.key_ring().await);
    assert!(message.contains("403") && !message.contains("hvs."), "{message}");
}

#[tokio::test]
async fn approle_signs_in_again_after_expiry_and_after_revocation() {
    let fake = FakeVault::start().await;
    store_ring(&fake);
    fake.set_login_ttl(Duration::from_secs(1));
    let source = VaultSecrets::new(approle_settings(&fake)).unwrap();
    source.key_ring().await.unwrap();
    assert_eq!(fake.counts().0, 1);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    fake.set_login_ttl(Duration::from_secs(3600));
    source.key_ring().await.expect("a new sign-in after the token expired");
    assert_eq!(fake.counts().0, 2);

    fake.revoke_all_tokens();
    source.key_ring().await.expect("a new sign-in after a 403");
    assert_eq!(fake.counts().0, 3);
}

#[tokio::test]
async fn wrong_approle_credentials_are_unavailable_and_never_shown() {
    let fake = FakeVault::start().await;
    store_ring(&fake);
    let mut settings = approle_settings(&fake);
    fake.add_approle("approle", "someone-else", "another-secret");
    settings.auth = VaultAuth::AppRole {
        mount: "approle".into(),
        role_id: "contract-role".into(),
        secret_id: Credential::Value(SECRET_ID.to_owned().into()),
    };
    let message = unavailable_text(VaultSecrets::new(settings).unwrap().key_ring().await);
    assert!(message.contains("AppRole") && message.contains("400"), "{message}");
    assert!(!message.contains(SECRET_ID), "{message}");
}

#[tokio::test]
async fn kubernetes_signs_in_with_the_service_account_token_read_at_each_sign_in() {
    let fake = FakeVault::start().await;
    store_ring(&fake);
    fake.add_kubernetes("k8s", "portcullis", "eyJhbGciOiJSUzI1NiJ9.projected-sa-token-1.sig");
    let jwt = file_with("eyJhbGciOiJSUzI1NiJ9.stale-sa-token.sig\n");
    let auth = VaultAuth::Kubernetes { mount: "k8s".into(), role: "portcullis".into(), token_file: jwt.path().into() };
    let source = VaultSecrets::new(VaultSettings { auth, ..approle_settings(&fake) }).unwrap();

    let message = unavailable_text(source.key_ring().await);
    assert!(message.contains("Kubernetes") && !message.contains("stale-sa-token"), "{message}");
    // The kubelet rotated the projected token.
    rewrite(&jwt, "eyJhbGciOiJSUzI1NiJ9.projected-sa-token-1.sig\n");
    assert_eq!(source.key_ring().await.unwrap().keys.len(), 1);
}

#[tokio::test]
async fn a_sealed_vault_is_unavailable_and_an_open_one_serves_again() {
    let fake = FakeVault::start().await;
    store_ring(&fake);
    let source = VaultSecrets::new(approle_settings(&fake)).unwrap();
    source.key_ring().await.unwrap();
    fake.set_mode(Mode::Sealed);
    assert!(unavailable_text(source.key_ring().await).contains("503"));
    fake.set_mode(Mode::Up);
    source.key_ring().await.expect("back once unsealed");
    fake.go_down().await;
    unavailable_text(source.key_ring().await);
    fake.come_back().await;
    source.key_ring().await.expect("back once listening again");
}

#[tokio::test]
async fn the_fake_answers_kv_v2_versions_metadata_and_health_through_vaultrs() {
    let fake = FakeVault::start().await;
    fake.add_token("hvs.root", Duration::ZERO, false);
    let settings = VaultClientSettingsBuilder::default()
        .address(fake.address())
        .token("hvs.root")
        .ca_certs(Vec::new())
        .identity(None)
        .verify(true)
        .build()
        .unwrap();
    let client = VaultClient::new(settings).unwrap();

    vaultrs::kv2::set(&client, "secret", "portcullis", &json!({"keys": []})).await.unwrap();
    vaultrs::kv2::set(&client, "secret", "portcullis", &json!({"keys": [1]})).await.unwrap();
    let first: serde_json::Value = vaultrs::kv2::read_version(&client, "secret", "portcullis", 1).await.unwrap();
    let latest: serde_json::Value = vaultrs::kv2::read(&client, "secret", "portcullis").await.unwrap();
    assert_eq!((first, latest), (json!({"keys": []}), json!({"keys": [1]})));
    let metadata = vaultrs::kv2::read_metadata(&client, "secret", "portcullis").await.unwrap();
    assert_eq!((metadata.current_version, metadata.versions.len()), (2, 2));
    assert!(!vaultrs::sys::health(&client).await.unwrap().sealed);

    let missing = vaultrs::kv2::read::<serde_json::Value>(&client, "secret", "absent").await.unwrap_err();
    assert!(matches!(missing, ClientError::APIError { code: 404, .. }), "{missing:?}");
    let mut stranger = client;
    stranger.set_token("hvs.unknown");
    let refused = vaultrs::kv2::read::<serde_json::Value>(&stranger, "secret", "portcullis").await.unwrap_err();
    assert!(matches!(refused, ClientError::APIError { code: 403, .. }), "{refused:?}");
}

#[tokio::test]
async fn the_secret_may_carry_the_mfa_key_beside_the_ring() {
    let fake = FakeVault::start().await;
    fake.add_token("hvs.mfa", Duration::from_secs(600), false);
    let source = VaultSecrets::new(token_settings(&fake, Credential::Value("hvs.mfa".to_owned().into()))).unwrap();
    store_ring(&fake);
    source.key_ring().await.unwrap();
    assert!(source.mfa_key().is_none(), "no field, no key");

    let mfa = "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=";
    let ring = json!([{"kid": "k1", "alg": "HS256", "state": "active", "key": KEY}]);
    fake.put("secret", "portcullis", json!({"keys": ring, "mfa_key": mfa}));
    assert_eq!(source.key_ring().await.unwrap().keys.len(), 1, "the ring still parses beside it");
    assert_eq!(source.mfa_key().map(|key| key.expose_secret().to_owned()).as_deref(), Some(mfa));

    fake.put("secret", "portcullis", json!({"keys": ring, "mfa_key": 42}));
    let refused = source.key_ring().await;
    assert!(matches!(&refused, Err(SecretError::Malformed(why)) if why.contains("mfa_key")), "{refused:?}");
}

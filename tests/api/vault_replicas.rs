//! Two running replicas share one Vault path (the in-test Vault server,
//! reached through `vaultrs`, each replica with its own client and token):
//! a rotation (stage, promote, retire) under steady traffic fails no
//! request, and with Vault down both keep serving on the last ring, report
//! it stale, and recover by themselves once Vault is back.

use crate::helpers::{assert_problem, decode_header, json_body, spawn_app_with_secrets, TestApp, STRONG_PASSWORD};
use crate::key_ring::{key, pem, Traffic};
use portcullis::adapters::vault::fake::FakeVault;
use portcullis::adapters::vault::{Credential, VaultAuth, VaultSecrets, VaultSettings};
use portcullis::core::keyring::Algorithm;
use portcullis::ports::KeyEntry;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A replica's own Vault source: AppRole, like a real deployment.
fn source(fake: &FakeVault) -> Arc<VaultSecrets> {
    let settings = VaultSettings {
        address: fake.address(),
        ca_cert: None,
        mount: "secret".to_owned(),
        path: "portcullis".to_owned(),
        auth: VaultAuth::AppRole {
            mount: "approle".to_owned(),
            role_id: "replica-role".to_owned(),
            secret_id: Credential::Value("replica-secret-id".to_owned().into()),
        },
        deadline: Duration::from_secs(1),
    };
    Arc::new(VaultSecrets::new(settings).expect("a Vault client"))
}

fn store(fake: &FakeVault, keys: &[KeyEntry]) {
    let keys: Vec<Value> = keys
        .iter()
        .map(|entry| {
            let key = secrecy::ExposeSecret::expose_secret(&entry.key).to_owned();
            serde_json::json!({"kid": entry.kid, "alg": entry.alg, "state": entry.state, "key": key})
        })
        .collect();
    fake.put("secret", "portcullis", serde_json::json!({ "keys": keys }));
}

/// `vault kv put`, then one replica refreshes and the other a moment later.
async fn roll_out(fake: &FakeVault, replicas: [&TestApp; 2], keys: &[KeyEntry]) {
    store(fake, keys);
    for replica in replicas {
        replica.refresh_keys().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn secrets_check(app: &TestApp) -> Value {
    json_body(app.get("/readyz").await).await["checks"]["secrets"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_rotate_through_one_vault_path_and_ride_out_an_outage() {
    let fake = FakeVault::start().await;
    fake.add_approle("approle", "replica-role", "replica-secret-id");
    let (old_pem, new_pem) = (pem(Algorithm::EdDsa), pem(Algorithm::Es256));
    let old = |state| key("old", Algorithm::EdDsa, state, &old_pem);
    let new = |state| key("new", Algorithm::Es256, state, &new_pem);
    store(&fake, &[old("active")]);
    let interval = [("PORTCULLIS_SECRETS_REFRESH_SECONDS", "1")];
    let first = spawn_app_with_secrets(&interval, source(&fake), None).await;
    let url = first.database_url().to_owned();
    let second = spawn_app_with_secrets(&interval, source(&fake), Some(&url)).await;
    let replicas = [&first, &second];
    let (_, email, _) = first.new_user("vault-rotating").await;
    let before = first.login_pair(&email, STRONG_PASSWORD).await;
    let traffic = Traffic::default();
    let stop = AtomicBool::new(false);

    let rotation = async {
        for (step, keys, signer) in [
            ("stage", vec![old("active"), new("verify-only")], "old"),
            ("promote", vec![old("verify-only"), new("active")], "new"),
        ] {
            roll_out(&fake, replicas, &keys).await;
            let fresh = second.login_pair(&email, STRONG_PASSWORD).await;
            assert_eq!(decode_header(&fresh.access_token)["kid"], signer, "{step}");
            for replica in replicas {
                assert_eq!(replica.verify(&fresh.access_token).await.status().as_u16(), 200, "{step}");
                assert_eq!(replica.verify(&before.access_token).await.status().as_u16(), 200, "{step}: old token");
            }
        }
        roll_out(&fake, replicas, &[new("active")]).await;
        stop.store(true, Ordering::SeqCst);
    };
    tokio::join!(traffic.run(replicas, &email, &stop), rotation);
    let failures = traffic.failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "failed requests during the rotation: {failures:?}");
    assert!(traffic.requests.load(Ordering::SeqCst) > 10, "traffic kept flowing");
    for replica in replicas {
        assert_problem(replica.verify(&before.access_token).await, 401, "invalid_token").await;
    }

    // Vault goes down: both keep serving on the last ring and say it is stale.
    let during = second.login_pair(&email, STRONG_PASSWORD).await;
    fake.go_down().await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    for replica in replicas {
        assert_eq!(secrets_check(replica).await, "stale");
        assert_eq!(replica.verify(&during.access_token).await.status().as_u16(), 200);
        let fresh = replica.login_pair(&email, STRONG_PASSWORD).await;
        assert_eq!(first.verify(&fresh.access_token).await.status().as_u16(), 200);
    }

    // Back up: each replica's own refresh loop recovers, with no call from us.
    fake.come_back().await;
    for replica in replicas {
        let mut recovered = false;
        for _ in 0..30 {
            if secrets_check(replica).await == "ok" {
                recovered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(recovered, "the replica recovered by itself");
    }
}

//! The contract every secret source passes, run against `env`, `file` and
//! (with the `vault` feature) `vault` over the in-test Vault server:
//! - it returns the stored ring document;
//! - a changed document is seen on the next fetch, except for `env`, which
//!   is fixed at start (and the suite checks that it stays fixed);
//! - nothing stored is [`SecretError::Missing`];
//! - a stored value that is not a ring is [`SecretError::Malformed`], and
//!   the message quotes no key;
//! - an unreachable or stalled source is [`SecretError::Unavailable`]
//!   within the deadline;
//! - no key, token or credential reaches a log line or an error message,
//!   at any log level, dependencies' logs included.

use crate::ports::{RingDocument, SecretError, SecretSource};
use async_trait::async_trait;
use secrecy::ExposeSecret;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

const KEY_A: &str = "contract-key-a-0123456789abcdefghijklmnop";
const KEY_B: &str = "contract-key-b-0123456789abcdefghijklmnop";
/// A ring whose key is present but whose `state` is missing.
const MALFORMED: &str = r#"{"keys":[{"kid":"x","alg":"HS256","key":"contract-malformed-secret-0123456789"}]}"#;
/// How long an unavailable source may take to say so, with some slack.
pub const DEADLINE: Duration = Duration::from_secs(1);

fn ring(kid: &str, key: &str) -> String {
    format!(r#"{{"keys":[{{"kid":"{kid}","alg":"HS256","state":"active","key":"{key}"}}]}}"#)
}

/// One source and the means to change what it stores.
#[async_trait]
pub trait Harness: Send {
    /// Whether a running source sees a changed document.
    const RELOADS: bool;
    /// Makes the store hold `text` (`None`: nothing at all) and returns a
    /// source over it. For a source read at start, that is a new source,
    /// or the error the start would give.
    async fn store(&mut self, text: Option<&str>) -> Result<Arc<dyn SecretSource>, SecretError>;
    /// Makes the store unreachable (`stall`: accepting and never answering
    /// where the source can be stalled); `false` when it cannot be.
    async fn break_it(&mut self, stall: bool) -> bool;
    /// Strings that must never be logged or shown beyond the keys:
    /// credentials the source signs in with.
    fn credentials(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Everything logged while the suite runs, at every level.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn fetch(stored: Result<Arc<dyn SecretSource>, SecretError>) -> Result<RingDocument, SecretError> {
    stored?.key_ring().await
}

fn only_key(document: &RingDocument) -> (&str, &str) {
    let entry = &document.keys[0];
    (entry.kid.as_deref().unwrap_or_default(), entry.key.expose_secret())
}

/// Runs the whole contract against `harness`.
pub async fn run<H: Harness>(mut harness: H) {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut shown = Vec::new();

    // The stored document comes back.
    let source = harness.store(Some(&ring("a", KEY_A))).await.expect("a source over a stored ring");
    let document = source.key_ring().await.expect("the stored ring");
    assert_eq!(only_key(&document), ("a", KEY_A));
    assert_eq!(document.keys[0].state, "active");

    // A change is seen on the next fetch, or never for a source read at start.
    let changed = harness.store(Some(&ring("b", KEY_B))).await.expect("a source over the changed ring");
    let expected = if H::RELOADS { ("b", KEY_B) } else { ("a", KEY_A) };
    assert_eq!(only_key(&source.key_ring().await.expect("a ring")), expected, "{}", source.name());
    assert_eq!(only_key(&changed.key_ring().await.expect("a ring")), ("b", KEY_B));

    // Nothing stored, and something stored that is not a ring.
    let missing = fetch(harness.store(None).await).await;
    assert!(matches!(missing, Err(SecretError::Missing)), "{missing:?}");
    shown.push(format!("{missing:?}"));
    let malformed = fetch(harness.store(Some(MALFORMED)).await).await;
    let message = match malformed {
        Err(SecretError::Malformed(message)) => message,
        other => panic!("expected Malformed, got {other:?}"),
    };
    assert!(message.contains("state"), "the message names the problem: {message}");
    shown.push(message);
    let empty_list = fetch(harness.store(Some(r#"{"keys":[]}"#)).await).await;
    assert!(matches!(empty_list, Err(SecretError::Missing)), "{empty_list:?}");

    // Down, then stalled: Unavailable within the deadline.
    let source = harness.store(Some(&ring("a", KEY_A))).await.expect("a source");
    source.key_ring().await.expect("the ring before the outage");
    for stall in [false, true] {
        if !harness.break_it(stall).await {
            continue;
        }
        let started = Instant::now();
        let error = match source.key_ring().await {
            Err(error @ SecretError::Unavailable(_)) => error,
            other => panic!("expected Unavailable, got {other:?}"),
        };
        assert!(started.elapsed() <= DEADLINE + Duration::from_millis(500), "took {:?}", started.elapsed());
        shown.push(format!("{:#}", anyhow::Error::from(error)));
    }

    // Nothing secret in what was logged or shown.
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned();
    let mut secrets = vec![KEY_A.to_owned(), KEY_B.to_owned(), "contract-malformed-secret".to_owned()];
    secrets.extend(harness.credentials());
    for secret in &secrets {
        assert!(!logged.contains(secret.as_str()), "a secret was logged: {logged}");
        for text in &shown {
            assert!(!text.contains(secret.as_str()), "a secret was shown: {text}");
        }
    }
}

mod env {
    use super::*;
    use crate::adapters::env_secrets::EnvSecrets;

    /// `env` is read once at start: each store is a new start.
    struct EnvHarness;

    #[async_trait]
    impl Harness for EnvHarness {
        const RELOADS: bool = false;
        async fn store(&mut self, text: Option<&str>) -> Result<Arc<dyn SecretSource>, SecretError> {
            let document = text.map_or_else(|| Ok(RingDocument::default()), RingDocument::parse)?;
            Ok(Arc::new(EnvSecrets::new(document)))
        }
        async fn break_it(&mut self, _: bool) -> bool {
            false
        }
    }

    #[tokio::test]
    async fn the_env_source_keeps_the_contract() {
        run(EnvHarness).await;
    }
}

mod file {
    use super::*;
    use crate::adapters::file_secrets::FileSecrets;

    struct FileHarness {
        directory: tempfile::TempDir,
    }

    impl FileHarness {
        fn path(&self) -> std::path::PathBuf {
            self.directory.path().join("ring.json")
        }
    }

    #[async_trait]
    impl Harness for FileHarness {
        const RELOADS: bool = true;
        async fn store(&mut self, text: Option<&str>) -> Result<Arc<dyn SecretSource>, SecretError> {
            // As Kubernetes updates a mounted Secret: a new file renamed
            // over the old one, so a reader never sees half a file.
            let staged = self.directory.path().join(".staged");
            std::fs::write(&staged, text.unwrap_or_default()).expect("a writable temp dir");
            std::fs::rename(&staged, self.path()).expect("a rename in the temp dir");
            Ok(Arc::new(FileSecrets::new(self.path())))
        }
        async fn break_it(&mut self, stall: bool) -> bool {
            if stall {
                return false;
            }
            std::fs::remove_file(self.path()).expect("the ring file");
            true
        }
    }

    #[tokio::test]
    async fn the_file_source_keeps_the_contract() {
        run(FileHarness { directory: tempfile::tempdir().expect("a temp dir") }).await;
    }
}

#[cfg(feature = "vault")]
pub mod vault {
    use super::*;
    use crate::adapters::vault::fake::{FakeVault, Mode};
    use crate::adapters::vault::{Credential, VaultAuth, VaultSecrets, VaultSettings};

    pub const ROLE_ID: &str = "contract-role-id-7f3a";
    pub const SECRET_ID: &str = "contract-secret-id-51c9e0";

    /// Settings for `fake`'s `secret/portcullis`, signing in with AppRole.
    pub fn approle_settings(fake: &FakeVault) -> VaultSettings {
        fake.add_approle("approle", ROLE_ID, SECRET_ID);
        VaultSettings {
            address: fake.address(),
            ca_cert: None,
            mount: "secret".to_owned(),
            path: "portcullis".to_owned(),
            auth: VaultAuth::AppRole {
                mount: "approle".to_owned(),
                role_id: ROLE_ID.to_owned(),
                secret_id: Credential::Value(SECRET_ID.to_owned().into()),
            },
            deadline: DEADLINE,
        }
    }

    struct VaultHarness {
        fake: FakeVault,
        source: Arc<VaultSecrets>,
    }

    #[async_trait]
    impl Harness for VaultHarness {
        const RELOADS: bool = true;
        async fn store(&mut self, text: Option<&str>) -> Result<Arc<dyn SecretSource>, SecretError> {
            match text {
                None => self.fake.delete("secret", "portcullis"),
                Some(text) => self.fake.put("secret", "portcullis", serde_json::from_str(text).expect("JSON")),
            }
            Ok(self.source.clone())
        }
        async fn break_it(&mut self, stall: bool) -> bool {
            if stall {
                self.fake.come_back().await;
                self.fake.set_mode(Mode::Stalled);
            } else {
                self.fake.go_down().await;
            }
            true
        }
        fn credentials(&self) -> Vec<String> {
            vec![SECRET_ID.to_owned(), "hvs.fake-issued".to_owned()]
        }
    }

    #[tokio::test]
    async fn the_vault_source_keeps_the_contract() {
        let fake = FakeVault::start().await;
        let source = Arc::new(VaultSecrets::new(approle_settings(&fake)).expect("a client"));
        run(VaultHarness { fake, source }).await;
    }
}

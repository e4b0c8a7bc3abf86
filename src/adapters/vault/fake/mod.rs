//! A Vault server for tests (test support only): an HTTP server on
//! 127.0.0.1 that answers the part of Vault's documented API the Vault
//! source uses, so tests drive the adapter through the real `vaultrs`
//! client and real HTTP, never a mock of our port.
//!
//! Covered: `GET /v1/sys/health`; token `lookup-self` and `renew-self`;
//! AppRole and Kubernetes login on any mount registered here; KV v2
//! `GET`/`POST /v1/<mount>/data/<path>` (with `?version=`, `data.data` and
//! `data.metadata`) and `GET /v1/<mount>/metadata/<path>`; errors as
//! `{"errors": [...]}`, `403` for a missing, unknown or expired token,
//! `404` for a missing secret. Tokens have TTLs, so expiry and renewal are
//! real. Switches make it stall (answer nothing), seal (`503`) or go down
//! (stop listening) and come back on the same port.
//!
//! Not covered: policies (every valid token may read every path),
//! response wrapping, namespaces, HA standbys and redirects, leases other
//! than tokens', TLS, and every endpoint not listed above.

mod routes;

use poem::listener::{Acceptor, Listener, TcpListener};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How the server answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Up,
    /// Accepts requests and never answers them.
    Stalled,
    /// Answers every request `503`, as a sealed Vault does.
    Sealed,
}

/// A token the server issued or was given.
#[derive(Clone, Debug)]
struct Token {
    ttl: Duration,
    /// `None`: never expires.
    expires_at: Option<Instant>,
    renewable: bool,
}

/// One version of a KV v2 secret.
#[derive(Clone, Debug)]
struct Version {
    data: Value,
    created: String,
}

/// What the server holds; the routes read and change it.
#[derive(Debug, Default)]
struct State {
    mode: Option<Mode>,
    tokens: HashMap<String, Token>,
    /// AppRole mount → (role id, secret id).
    approles: HashMap<String, (String, String)>,
    /// Kubernetes mount → (role, service-account JWT).
    kubernetes: HashMap<String, (String, String)>,
    /// KV v2 mounts.
    kv_mounts: Vec<String>,
    /// (mount, path) → versions, oldest first.
    secrets: HashMap<(String, String), Vec<Version>>,
    /// TTL of tokens issued by a login.
    login_ttl: Duration,
    logins: usize,
    renewals: usize,
    reads: usize,
    next_token: u64,
}

impl State {
    fn issue_token(&mut self) -> (String, Token) {
        self.next_token += 1;
        let name = format!("hvs.fake-issued-{}-{}", self.next_token, uuid::Uuid::new_v4().simple());
        let token = Token { ttl: self.login_ttl, expires_at: Some(Instant::now() + self.login_ttl), renewable: true };
        self.tokens.insert(name.clone(), token.clone());
        (name, token)
    }
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running fake Vault; stops when dropped.
pub struct FakeVault {
    state: Shared,
    address: SocketAddr,
    server: Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

impl FakeVault {
    /// Starts on a free loopback port with one KV v2 mount, `secret`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start() -> Self {
        let state: Shared = Arc::new(Mutex::new(State {
            mode: Some(Mode::Up),
            kv_mounts: vec!["secret".to_owned()],
            login_ttl: Duration::from_secs(3600),
            ..State::default()
        }));
        let (address, server) = serve(state.clone(), "127.0.0.1:0".parse().expect("an address")).await;
        Self { state, address, server: Mutex::new(Some(server)) }
    }

    /// `http://127.0.0.1:PORT`, for `VAULT_ADDR`.
    pub fn address(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Registers a token with `ttl` (zero: never expires).
    pub fn add_token(&self, token: &str, ttl: Duration, renewable: bool) {
        let expires_at = (!ttl.is_zero()).then(|| Instant::now() + ttl);
        lock(&self.state).tokens.insert(token.to_owned(), Token { ttl, expires_at, renewable });
    }

    /// Revokes a token, as `vault token revoke` would.
    pub fn revoke_token(&self, token: &str) {
        lock(&self.state).tokens.remove(token);
    }

    /// Revokes every token, as if each had expired.
    pub fn revoke_all_tokens(&self) {
        lock(&self.state).tokens.clear();
    }

    /// Enables AppRole at `mount` with one role.
    pub fn add_approle(&self, mount: &str, role_id: &str, secret_id: &str) {
        lock(&self.state).approles.insert(mount.to_owned(), (role_id.to_owned(), secret_id.to_owned()));
    }

    /// Enables Kubernetes auth at `mount`, accepting one service-account JWT.
    pub fn add_kubernetes(&self, mount: &str, role: &str, jwt: &str) {
        lock(&self.state).kubernetes.insert(mount.to_owned(), (role.to_owned(), jwt.to_owned()));
    }

    /// The TTL of tokens issued by later logins.
    pub fn set_login_ttl(&self, ttl: Duration) {
        lock(&self.state).login_ttl = ttl;
    }

    /// Writes a new version of the secret at `mount/path`, as `vault kv put` does.
    pub fn put(&self, mount: &str, path: &str, data: Value) {
        let mut state = lock(&self.state);
        let versions = state.secrets.entry((mount.to_owned(), path.to_owned())).or_default();
        versions.push(Version { data, created: routes::now_rfc3339() });
    }

    /// Deletes every version of the secret at `mount/path`.
    pub fn delete(&self, mount: &str, path: &str) {
        lock(&self.state).secrets.remove(&(mount.to_owned(), path.to_owned()));
    }

    pub fn set_mode(&self, mode: Mode) {
        lock(&self.state).mode = Some(mode);
    }

    /// Logins, token renewals and KV reads answered so far.
    pub fn counts(&self) -> (usize, usize, usize) {
        let state = lock(&self.state);
        (state.logins, state.renewals, state.reads)
    }

    /// Stops listening and closes every open connection: requests now
    /// fail with "connection refused".
    pub async fn go_down(&self) {
        let server = self.server.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some((stop, task)) = server {
            let _ = stop.send(());
            let _ = task.await;
        }
    }

    /// Listens again on the same port, with the same state.
    pub async fn come_back(&self) {
        let (_, server) = serve(self.state.clone(), self.address).await;
        *self.server.lock().unwrap_or_else(PoisonError::into_inner) = Some(server);
    }
}

impl Drop for FakeVault {
    fn drop(&mut self) {
        if let Some((_, task)) = self.server.lock().unwrap_or_else(PoisonError::into_inner).take() {
            task.abort();
        }
    }
}

async fn serve(state: Shared, address: SocketAddr) -> (SocketAddr, (oneshot::Sender<()>, JoinHandle<()>)) {
    let acceptor = TcpListener::bind(address).into_acceptor().await.expect("a loopback port for the fake Vault");
    let bound = *acceptor.local_addr()[0].as_socket_addr().expect("a TCP address");
    let (stop, stopped) = oneshot::channel::<()>();
    let endpoint = poem::endpoint::make(move |request| routes::handle(state.clone(), request));
    let task = tokio::spawn(async move {
        let server = poem::Server::new_with_acceptor(acceptor);
        // A zero timeout: going down drops the open connections too.
        let _ = server
            .run_with_graceful_shutdown(
                endpoint,
                async move {
                    let _ = stopped.await;
                },
                Some(Duration::ZERO),
            )
            .await;
    });
    (bound, (stop, task))
}

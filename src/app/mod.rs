//! Configuration, wiring and the HTTP server. This is the only place that
//! knows which adapter serves which port.

pub mod config;
pub mod http;
pub mod readiness;
pub mod telemetry;

use crate::adapters::bcrypt_hasher::BcryptHasher;
use crate::adapters::env_secrets::EnvSecrets;
use crate::adapters::memory_limiter::MemoryLimiter;
use crate::adapters::prometheus_metrics::PrometheusMetrics;
use crate::adapters::system::{OsEntropy, SystemClock};
use crate::core::auth::{AuthPolicy, AuthPorts, AuthService, SeedOutcome};
use crate::core::token::KeyRing;
use crate::ports::{
    Clock, Entropy, MetricsSink, RateLimiter, RevocationStore, SchemaStatus, SecretError, SecretSource, SessionRepo,
    UserRepo,
};
use anyhow::Context;
use base64::Engine;
use config::{Deployment, SecretsBackend, Settings};
use http::AppState;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::Server;
use readiness::ReadinessProbe;
use secrecy::{ExposeSecret, SecretString};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long in-flight requests may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// How often expired revocations and refresh tokens are purged.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(600);
/// How often revocations recorded by other replicas are read from the
/// shared database: well inside the one second in which every replica must
/// see a logout.
const REVOCATION_SYNC_EVERY: Duration = Duration::from_millis(250);

/// The storage adapters chosen for this run.
struct Storage {
    users: Arc<dyn UserRepo>,
    sessions: Arc<dyn SessionRepo>,
    revocations: Arc<dyn RevocationStore>,
    schema: Arc<dyn SchemaStatus>,
    name: &'static str,
    /// Running on the SQLite fallback because Postgres was unreachable.
    fallback: bool,
}

impl Storage {
    fn of<S>(store: Arc<S>, name: &'static str, fallback: bool) -> Self
    where
        S: UserRepo + SessionRepo + RevocationStore + SchemaStatus + 'static,
    {
        Self {
            users: store.clone(),
            sessions: store.clone(),
            revocations: store.clone(),
            schema: store,
            name,
            fallback,
        }
    }
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(url: &config::ConnectionUrl, settings: &Settings, fallback: bool) -> anyhow::Result<Storage> {
    let store = crate::adapters::sqlite::connect(url.expose(), settings.database.max_connections).await?;
    Ok(Storage::of(Arc::new(store), "sqlite", fallback))
}

async fn open_storage(settings: &Settings) -> anyhow::Result<Storage> {
    let url = &settings.database_url;
    #[cfg(feature = "sqlite")]
    if url.is_sqlite() {
        return open_sqlite(url, settings, false).await;
    }
    #[cfg(feature = "postgres")]
    if url.is_postgres() {
        let database = &settings.database;
        let options = crate::adapters::postgres::PostgresOptions {
            max_connections: database.max_connections,
            min_connections: database.min_connections,
            acquire_timeout: database.acquire_timeout,
            connect_deadline: database.connect_deadline,
        };
        let error = match crate::adapters::postgres::connect(url.expose(), options).await {
            Ok(store) => return Ok(Storage::of(Arc::new(store), "postgres", false)),
            Err(error) => error,
        };
        #[cfg(feature = "sqlite")]
        if let Some(fallback) = &settings.sqlite_fallback {
            tracing::warn!(
                error = format!("{error:#}"),
                fallback = %fallback.redacted(),
                "Postgres is unreachable at start: running on the SQLite fallback. Portcullis will not switch \
                 back by itself; restart it once Postgres is back (see the README on reconciling the two stores)"
            );
            return open_sqlite(fallback, settings, true).await;
        }
        return Err(error);
    }
    anyhow::bail!("DATABASE_URL: no storage adapter in this build serves {}", url.redacted())
}

/// The in-process limiter, or with `REDIS_URL` the Redis limiter with the
/// in-process one standing in while Redis is unavailable.
fn open_limiter(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    metrics: Arc<PrometheusMetrics>,
) -> anyhow::Result<(Arc<dyn RateLimiter>, &'static str)> {
    let local: Arc<dyn RateLimiter> = Arc::new(MemoryLimiter::new(clock.clone()));
    let Some(url) = &settings.redis_url else {
        metrics.rate_limiter_degraded(false);
        return Ok((local, "memory"));
    };
    #[cfg(feature = "redis")]
    {
        // Lazily: the service starts, degraded, while Redis is down.
        let redis = crate::adapters::redis_limiter::RedisLimiter::connect_lazily(url.expose())?
            .with_prefix(&settings.redis_key_prefix);
        let limiter = crate::adapters::fallback_limiter::FallbackLimiter::new(Arc::new(redis), local, metrics, clock);
        Ok((Arc::new(limiter), "redis"))
    }
    #[cfg(not(feature = "redis"))]
    {
        let _ = (local, clock, metrics);
        anyhow::bail!("REDIS_URL is set ({}) but this build lacks the `redis` feature", url.redacted())
    }
}

/// The signing keys: configured ones, or in development a random key that
/// lives as long as the process.
async fn signing_keys(settings: &Settings, entropy: &dyn Entropy) -> anyhow::Result<(Arc<dyn SecretSource>, KeyRing)> {
    let source: Arc<dyn SecretSource> = match settings.secrets {
        SecretsBackend::Env => {
            let mut keys = settings.jwt_keys.clone();
            if keys.is_empty() && settings.deployment == Deployment::Development {
                tracing::warn!(
                    "PORTCULLIS_JWT_KEYS is not set: signing with a random key that dies with this process; \
                     tokens will not survive a restart and replicas will not accept each other's tokens"
                );
                let mut bytes = [0u8; 32];
                entropy.fill(&mut bytes);
                keys.push(SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)));
            }
            Arc::new(EnvSecrets::new(keys))
        }
        SecretsBackend::Vault => anyhow::bail!("PORTCULLIS_SECRETS=vault: this build has no Vault adapter"),
    };
    let keys = match source.jwt_keys().await {
        Ok(keys) => keys,
        Err(SecretError::Missing) => anyhow::bail!("PORTCULLIS_JWT_KEYS: no signing key is configured"),
        Err(error) => return Err(error).context("signing keys could not be read"),
    };
    let ring = KeyRing::new(&keys).context("PORTCULLIS_JWT_KEYS")?;
    Ok((source, ring))
}

/// Builds every adapter and the core service for `settings`.
///
/// # Errors
/// Any dependency that cannot be opened, or an initial admin the policy refuses.
pub async fn build_state(settings: &Settings) -> anyhow::Result<Arc<AppState>> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let entropy: Arc<dyn Entropy> = Arc::new(OsEntropy);
    let metrics = Arc::new(PrometheusMetrics::new().context("metrics registry")?);
    let storage = open_storage(settings).await?;
    let (limiter, limiter_name) = open_limiter(settings, clock.clone(), metrics.clone())?;
    let (secrets, keys) = signing_keys(settings, entropy.as_ref()).await?;
    let hasher = Arc::new(BcryptHasher::new(settings.bcrypt_cost, settings.hash_workers, settings.hash_queue));

    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        features = %enabled_features().join(","),
        database = storage.name,
        db_fallback = storage.fallback,
        rate_limiter = limiter_name,
        secrets = secrets.name(),
        metrics = "prometheus",
        password_hasher = "bcrypt",
        bcrypt_cost = settings.bcrypt_cost,
        "starting portcullis"
    );

    let ports = AuthPorts {
        users: storage.users.clone(),
        sessions: storage.sessions,
        revocations: storage.revocations,
        limiter: limiter.clone(),
        hasher,
        metrics: metrics.clone() as Arc<dyn MetricsSink>,
        clock,
        entropy,
    };
    let policy = AuthPolicy {
        tokens: settings.tokens.clone(),
        refresh_ttl_seconds: settings.refresh_ttl_seconds,
        refresh_grace_seconds: settings.refresh_grace_seconds,
        limits: settings.limits,
    };
    let auth = Arc::new(AuthService::start(ports, policy, keys).await.context("starting the auth service")?);

    match (&settings.admin_email, &settings.admin_password) {
        (Some(email), Some(password)) => {
            let outcome = auth.seed_admin(email, password.expose_secret().to_owned()).await?;
            if outcome == SeedOutcome::Created {
                tracing::info!("initial admin created from PORTCULLIS_ADMIN_EMAIL");
            }
        }
        _ => tracing::warn!(
            "PORTCULLIS_ADMIN_EMAIL / PORTCULLIS_ADMIN_PASSWORD are unset: no admin account is seeded, \
             and the admin routes are unusable until one exists"
        ),
    }
    metrics.db_fallback_active(storage.fallback);

    let readiness = ReadinessProbe {
        users: storage.users,
        schema: storage.schema,
        limiter,
        secrets,
        admin_configured: settings.admin_email.is_some(),
        fallback: storage.fallback,
    };
    let render_metrics: http::RenderMetrics = {
        let metrics = metrics.clone();
        Arc::new(move || metrics.render())
    };
    Ok(Arc::new(AppState {
        auth,
        metrics,
        render_metrics,
        readiness,
        trusted_proxies: settings.trusted_proxies.clone(),
        metrics_on_main: settings.metrics_bind.is_none(),
        cors_allowed_origins: settings.cors_allowed_origins.clone(),
        hsts_max_age_seconds: settings.hsts_max_age_seconds,
    }))
}

/// The Cargo features this binary was built with.
pub fn enabled_features() -> Vec<&'static str> {
    let mut features = Vec::new();
    if cfg!(feature = "sqlite") {
        features.push("sqlite");
    }
    if cfg!(feature = "postgres") {
        features.push("postgres");
    }
    if cfg!(feature = "redis") {
        features.push("redis");
    }
    if cfg!(feature = "vault") {
        features.push("vault");
    }
    features
}

/// A running server.
pub struct Running {
    /// Where the API listens.
    pub addr: SocketAddr,
    /// Where `/metrics` listens, if on its own listener.
    pub metrics_addr: Option<SocketAddr>,
    pub state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
    metrics_server: Option<(oneshot::Sender<()>, JoinHandle<std::io::Result<()>>)>,
    housekeeping: JoinHandle<()>,
    revocation_sync: JoinHandle<()>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, and waits.
    ///
    /// # Errors
    /// When the server task failed.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some((stop, task)) = self.metrics_server.take() {
            let _ = stop.send(());
            task.await??;
        }
        self.housekeeping.abort();
        self.revocation_sync.abort();
        (&mut self.server).await??;
        Ok(())
    }
}

/// Binds the listeners and serves in the background.
///
/// # Errors
/// When a dependency cannot be opened or an address cannot be bound.
pub async fn start(settings: &Settings) -> anyhow::Result<Running> {
    let state = build_state(settings).await?;
    let acceptor = TcpListener::bind(settings.bind)
        .into_acceptor()
        .await
        .with_context(|| format!("PORTCULLIS_BIND: cannot listen on {}", settings.bind))?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .context("listener has no socket address")?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = http::routes(state.clone());
    let server = tokio::spawn(async move {
        Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                app,
                async {
                    let _ = stopped.await;
                },
                Some(SHUTDOWN_GRACE),
            )
            .await
    });

    let (metrics_addr, metrics_server) = match settings.metrics_bind {
        None => (None, None),
        Some(bind) => {
            let acceptor = TcpListener::bind(bind)
                .into_acceptor()
                .await
                .with_context(|| format!("PORTCULLIS_METRICS_BIND: cannot listen on {bind}"))?;
            let addr = acceptor.local_addr().first().and_then(|a| a.as_socket_addr().copied());
            let (stop, stopped) = oneshot::channel::<()>();
            let app = http::metrics_routes(state.clone());
            let task = tokio::spawn(async move {
                Server::new_with_acceptor(acceptor)
                    .run_with_graceful_shutdown(
                        app,
                        async {
                            let _ = stopped.await;
                        },
                        Some(SHUTDOWN_GRACE),
                    )
                    .await
            });
            (addr, Some((stop, task)))
        }
    };

    let housekeeping = {
        let auth = state.auth.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(HOUSEKEEPING_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                if let Err(error) = auth.housekeeping().await {
                    tracing::warn!(error = ?error, "housekeeping failed");
                }
            }
        })
    };
    let revocation_sync = {
        let auth = state.auth.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(REVOCATION_SYNC_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                every.tick().await;
                match auth.sync_revocations().await {
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("revocation sync recovered");
                    }
                    Ok(_) => {}
                    Err(error) if !failing => {
                        failing = true;
                        tracing::warn!(error = ?error, "revocation sync failed; retrying");
                    }
                    Err(_) => {}
                }
            }
        })
    };
    tracing::info!(%addr, metrics_addr = ?metrics_addr, "listening");
    Ok(Running { addr, metrics_addr, state, stop: Some(stop), server, metrics_server, housekeeping, revocation_sync })
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

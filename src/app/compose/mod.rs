//! The composition root: the only place that picks adapters, and the only
//! `#[cfg(feature = …)]` wiring. It turns [`Settings`] into an
//! [`AppState`]; it never serves a request and never reads a variable.

mod accounts;

use self::accounts::{mfa_key, open_mailer};
use super::config::{Deployment, Settings, SigningKeys, StorageBackend};
use super::http::{AppState, RenderMetrics};
use super::key_refresh::KeyRefresher;
use super::readiness::ReadinessProbe;
use crate::adapters::bcrypt_hasher::BcryptHasher;
use crate::adapters::env_secrets::EnvSecrets;
use crate::adapters::file_secrets::FileSecrets;
use crate::adapters::mail_queue::MailQueue;
use crate::adapters::memory_limiter::MemoryLimiter;
use crate::adapters::prometheus_metrics::PrometheusMetrics;
use crate::adapters::system::{OsEntropy, SystemClock};
use crate::core::auth::{AuthPolicy, AuthPorts, AuthService, MailPorts, SeedOutcome};
use crate::core::keyring::KeyRing;
use crate::ports::{
    AccountTokenRepo, AuditLog, Clock, Entropy, MetricsSink, MfaRepo, PoolStatus, RateLimiter, RevocationStore,
    RingDocument, SchemaStatus, SecretError, SecretSource, SessionRepo, UserRepo,
};
use crate::redact::ConnectionUrl;
use anyhow::Context;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// The storage adapters chosen for this run.
struct Storage {
    users: Arc<dyn UserRepo>,
    sessions: Arc<dyn SessionRepo>,
    revocations: Arc<dyn RevocationStore>,
    audit: Arc<dyn AuditLog>,
    mfa: Arc<dyn MfaRepo>,
    account_tokens: Arc<dyn AccountTokenRepo>,
    schema: Arc<dyn SchemaStatus>,
    pool: Arc<dyn PoolStatus>,
    name: &'static str,
    /// Running on the SQLite fallback because Postgres was unreachable.
    fallback: bool,
}

impl Storage {
    fn of<S>(store: Arc<S>, name: &'static str, fallback: bool) -> Self
    where
        S: UserRepo
            + SessionRepo
            + RevocationStore
            + AuditLog
            + MfaRepo
            + AccountTokenRepo
            + SchemaStatus
            + PoolStatus
            + 'static,
    {
        Self {
            users: store.clone(),
            sessions: store.clone(),
            revocations: store.clone(),
            audit: store.clone(),
            mfa: store.clone(),
            account_tokens: store.clone(),
            schema: store.clone(),
            pool: store,
            name,
            fallback,
        }
    }
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(url: &ConnectionUrl, settings: &Settings, fallback: bool) -> anyhow::Result<Storage> {
    let store = crate::adapters::sqlite::connect(url.expose(), settings.database.pool.max_connections).await?;
    Ok(Storage::of(Arc::new(store), "sqlite", fallback))
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite(url: &ConnectionUrl, _: &Settings, _: bool) -> anyhow::Result<Storage> {
    // Configuration refuses a SQLite URL in this build; this is a backstop.
    anyhow::bail!("{} needs the `sqlite` feature this build lacks", url.redacted())
}

#[cfg(feature = "postgres")]
async fn open_postgres(
    url: &ConnectionUrl,
    sqlite_fallback: Option<&ConnectionUrl>,
    settings: &Settings,
) -> anyhow::Result<Storage> {
    let pool = &settings.database.pool;
    let options = crate::adapters::postgres::PostgresOptions {
        max_connections: pool.max_connections,
        min_connections: pool.min_connections,
        acquire_timeout: pool.acquire_timeout,
        connect_deadline: pool.connect_deadline,
    };
    let error = match crate::adapters::postgres::connect(url.expose(), options).await {
        Ok(store) => return Ok(Storage::of(Arc::new(store), "postgres", false)),
        Err(error) => error,
    };
    let Some(fallback) = sqlite_fallback else { return Err(error) };
    tracing::warn!(
        error = format!("{error:#}"),
        fallback = %fallback.redacted(),
        "Postgres is unreachable at start: running on the SQLite fallback. Portcullis will not switch \
         back by itself; restart it once Postgres is back (see the README on reconciling the two stores)"
    );
    open_sqlite(fallback, settings, true).await
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(url: &ConnectionUrl, _: Option<&ConnectionUrl>, _: &Settings) -> anyhow::Result<Storage> {
    // Configuration refuses a Postgres URL in this build; this is a backstop.
    anyhow::bail!("{} needs the `postgres` feature this build lacks", url.redacted())
}

async fn open_storage(settings: &Settings) -> anyhow::Result<Storage> {
    match &settings.database.backend {
        StorageBackend::Sqlite { url } => open_sqlite(url, settings, false).await,
        StorageBackend::Postgres { url, sqlite_fallback } => {
            open_postgres(url, sqlite_fallback.as_ref(), settings).await
        }
    }
}

/// The in-process limiter, or with `REDIS_URL` the Redis limiter with the
/// in-process one standing in while Redis is unavailable.
#[cfg_attr(not(feature = "redis"), allow(clippy::unnecessary_wraps, clippy::needless_pass_by_value))]
fn open_limiter(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    metrics: Arc<PrometheusMetrics>,
) -> anyhow::Result<(Arc<dyn RateLimiter>, &'static str)> {
    let local: Arc<dyn RateLimiter> = Arc::new(MemoryLimiter::new(clock.clone()));
    #[cfg(feature = "redis")]
    if let Some(redis) = &settings.redis {
        use crate::adapters::redis_limiter::RedisLimiter;
        // Lazily: the service starts, degraded, while Redis is down.
        let shared = RedisLimiter::connect_lazily_to(&redis.target)?.with_prefix(redis.key_prefix.clone());
        // One probe in the background says why Redis cannot be used (a
        // refused certificate, an unreachable node), which the lazy
        // connection's retries would only report as timeouts.
        let target = redis.target.clone();
        tokio::spawn(async move {
            if let Err(error) = RedisLimiter::connect_to(&target).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "Redis cannot be used at start; limits are kept in process until it answers"
                );
            }
        });
        let limiter = crate::adapters::fallback_limiter::FallbackLimiter::new(Arc::new(shared), local, metrics, clock);
        return Ok((Arc::new(limiter), "redis"));
    }
    let _ = (settings, clock);
    metrics.rate_limiter_degraded(false);
    Ok((local, "memory"))
}

/// The secret source `settings` chooses. With `env` and no key, in
/// development, a random key that lives as long as the process.
#[cfg_attr(not(feature = "vault"), allow(clippy::unnecessary_wraps))]
fn configured_source(settings: &Settings, entropy: &dyn Entropy) -> anyhow::Result<Arc<dyn SecretSource>> {
    match &settings.keys {
        SigningKeys::Env(document) => {
            let mut document = document.clone();
            if document.keys.is_empty() && settings.deployment == Deployment::Development {
                tracing::warn!(
                    "PORTCULLIS_JWT_KEYS is not set: signing with a random key that dies with this process; \
                     tokens will not survive a restart and replicas will not accept each other's tokens"
                );
                let mut bytes = [0u8; 32];
                entropy.fill(&mut bytes);
                let key = SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
                document = RingDocument::from_hs256_list(vec![key]);
            }
            Ok(Arc::new(EnvSecrets::new(document)))
        }
        SigningKeys::File(path) => Ok(Arc::new(FileSecrets::new(path.clone()))),
        #[cfg(feature = "vault")]
        SigningKeys::Vault(vault) => {
            Ok(Arc::new(crate::adapters::vault::VaultSecrets::new(vault.clone()).context("PORTCULLIS_SECRETS=vault")?))
        }
    }
}

/// The signing keys: `injected`'s, else the configured source's, fetched
/// once at start.
async fn signing_keys(
    settings: &Settings,
    entropy: &dyn Entropy,
    injected: Option<Arc<dyn SecretSource>>,
) -> anyhow::Result<(Arc<dyn SecretSource>, KeyRing)> {
    let source = match injected {
        Some(source) => source,
        None => configured_source(settings, entropy)?,
    };
    let name = source.name();
    let document = match source.key_ring().await {
        Ok(document) => document,
        Err(SecretError::Missing) => anyhow::bail!("the {name} secret source holds no signing key"),
        Err(error) => return Err(error).context(format!("signing keys could not be read from the {name} source")),
    };
    let ring = KeyRing::from_document(&document).with_context(|| format!("the key ring from `{name}`"))?;
    Ok((source, ring))
}

/// The core service over the configured adapters, and what the callers
/// of [`build_state`] and [`admin_tools`] need beside it.
struct Assembled {
    auth: AuthService,
    storage_users: Arc<dyn UserRepo>,
    schema: Arc<dyn SchemaStatus>,
    pool: Arc<dyn PoolStatus>,
    fallback: bool,
    limiter: Arc<dyn RateLimiter>,
    limiter_name: &'static str,
    secrets: Arc<dyn SecretSource>,
    metrics: Arc<PrometheusMetrics>,
    mail_queue: Option<Arc<MailQueue>>,
}

/// `serving`: for the service (which refuses to start with TOTP secrets it
/// cannot open), not the admin commands (which may have to reset them).
async fn assemble(
    settings: &Settings,
    secrets: Option<Arc<dyn SecretSource>>,
    serving: bool,
) -> anyhow::Result<Assembled> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let entropy: Arc<dyn Entropy> = Arc::new(OsEntropy);
    let metrics = Arc::new(PrometheusMetrics::new().context("metrics registry")?);
    let storage = open_storage(settings).await?;
    let (limiter, limiter_name) = open_limiter(settings, clock.clone(), metrics.clone())?;
    let (secrets, keys) = signing_keys(settings, entropy.as_ref(), secrets).await?;
    let hashing = &settings.hashing;
    let hasher = Arc::new(
        BcryptHasher::new(hashing.bcrypt_cost, hashing.workers, hashing.queue)
            .with_metrics(metrics.clone() as Arc<dyn MetricsSink>),
    );
    let features = enabled_features().join(",");
    metrics.build_info(env!("CARGO_PKG_VERSION"), &features);

    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        features = %features,
        database = storage.name,
        db_fallback = storage.fallback,
        rate_limiter = limiter_name,
        secrets = secrets.name(),
        metrics = "prometheus",
        password_hasher = "bcrypt",
        bcrypt_cost = hashing.bcrypt_cost,
        "starting portcullis"
    );

    let ports = AuthPorts {
        users: storage.users.clone(),
        sessions: storage.sessions,
        revocations: storage.revocations,
        audit: storage.audit,
        limiter: limiter.clone(),
        hasher,
        metrics: metrics.clone() as Arc<dyn MetricsSink>,
        clock,
        entropy: entropy.clone(),
    };
    let policy = AuthPolicy {
        tokens: settings.tokens.clone(),
        refresh_ttl_seconds: settings.refresh.ttl_seconds,
        refresh_grace_seconds: settings.refresh.grace_seconds,
        limits: settings.limits,
        audit_retention_seconds: i64::from(settings.audit_retention_days) * 86_400,
        registration: settings.registration,
    };
    let mfa_key = mfa_key(settings, secrets.mfa_key(), storage.mfa.as_ref(), entropy.as_ref(), serving).await?;
    let auth = AuthService::start(ports, policy, keys).await.context("starting the auth service")?.with_mfa(
        storage.mfa,
        mfa_key,
        settings.tokens.issuer.clone(),
    );
    let mail_queue = open_mailer(&settings.mail)?;
    let auth = match &mail_queue {
        Some(queue) => auth.with_mail(MailPorts {
            mailer: queue.clone(),
            tokens: storage.account_tokens,
            in_flight: Arc::default(),
        }),
        None => auth,
    };
    let auth = auth.with_verified_email_required(settings.mail.require_verified_email);
    Ok(Assembled {
        auth,
        storage_users: storage.users,
        schema: storage.schema,
        pool: storage.pool,
        fallback: storage.fallback,
        limiter,
        limiter_name,
        secrets,
        metrics,
        mail_queue,
    })
}

/// The core service for the `portcullis admin` commands: the configured
/// database and limiter, no listener, no seeding.
pub struct AdminTools {
    pub auth: AuthService,
    pub limiter: Arc<dyn RateLimiter>,
    /// Whether the limiter is shared with the running service (Redis), so
    /// that clearing a lockout here clears it there.
    pub limiter_shared: bool,
}

/// Opens what the admin commands work against.
///
/// # Errors
/// Any dependency that cannot be opened.
pub async fn admin_tools(settings: &Settings) -> anyhow::Result<AdminTools> {
    let assembled = assemble(settings, None, false).await?;
    let limiter_shared = assembled.limiter_name != "memory";
    Ok(AdminTools { auth: assembled.auth, limiter: assembled.limiter, limiter_shared })
}

/// Builds every adapter and the core service for `settings`.
///
/// # Errors
/// Any dependency that cannot be opened, or an initial admin the policy refuses.
pub async fn build_state(settings: &Settings) -> anyhow::Result<Arc<AppState>> {
    build_state_with(settings, None).await
}

/// [`build_state`], with the key ring read from `secrets` when given.
///
/// # Errors
/// As [`build_state`].
pub async fn build_state_with(
    settings: &Settings,
    secrets: Option<Arc<dyn SecretSource>>,
) -> anyhow::Result<Arc<AppState>> {
    let assembled = assemble(settings, secrets, true).await?;
    let auth = Arc::new(assembled.auth);
    let metrics = assembled.metrics;
    let limiter = assembled.limiter;

    if let Some(admin) = &settings.admin {
        let outcome = auth.seed_admin(&admin.email, admin.password.expose_secret().to_owned()).await?;
        if outcome == SeedOutcome::Created {
            tracing::info!("initial admin created from PORTCULLIS_ADMIN_EMAIL");
        }
    } else {
        tracing::warn!(
            "PORTCULLIS_ADMIN_EMAIL / PORTCULLIS_ADMIN_PASSWORD are unset: no admin account is seeded, \
         and the admin routes are unusable until one exists"
        );
    }
    metrics.db_fallback_active(assembled.fallback);
    let refresher = Arc::new(
        KeyRefresher::new(
            assembled.secrets,
            auth.live_keys().clone(),
            metrics.clone() as Arc<dyn MetricsSink>,
            settings.secrets_refresh,
        )
        .with_audit(auth.clone()),
    );
    refresher.publish_metrics();

    let readiness = ReadinessProbe {
        users: assembled.storage_users,
        schema: assembled.schema,
        limiter,
        secrets: refresher.clone(),
        admin_configured: settings.admin.is_some(),
        fallback: assembled.fallback,
        draining: super::readiness::Drain::default(),
    };
    // The pool gauges are sampled when metrics are read, so they are
    // never older than the scrape.
    let render_metrics: RenderMetrics = {
        let (metrics, pool) = (metrics.clone(), assembled.pool);
        let refresher = refresher.clone();
        Arc::new(move || {
            metrics.db_pool(pool.pool_usage());
            refresher.publish_metrics();
            metrics.render()
        })
    };
    Ok(Arc::new(AppState {
        auth,
        metrics,
        render_metrics,
        readiness,
        keys: refresher,
        trusted_proxies: settings.server.trusted_proxies.clone(),
        client_ip_header: settings.server.client_ip_header,
        metrics_on_main: settings.server.metrics_public,
        cors_allowed_origins: settings.security_headers.cors_allowed_origins.clone(),
        hsts_max_age_seconds: settings.security_headers.hsts_max_age_seconds,
        mail_queue: assembled.mail_queue,
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

//! The listeners: one [`serve`] for both the public API and the separate
//! metrics listener, [`start`] that binds them around a freshly composed
//! state, and graceful shutdown: a drain during which `/readyz` answers
//! `503` while every request is still served, then the listeners close and
//! requests in flight finish. Never picks an adapter (that is
//! [`super::compose`]) and never handles a request (that is [`super::http`]).
//! [`connections`] holds the accept loop and the limits each connection
//! lives under.

mod connections;

use super::compose::build_state_with;
use super::config::{ConnectionSettings, Settings};
use super::http::{self, AppState};
use super::tasks::BackgroundTasks;
use crate::ports::SecretSource;
use anyhow::Context;
use poem::{Endpoint, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long in-flight requests may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// One listener serving in the background until told to stop.
struct Listening {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Listening {
    /// Stops accepting, lets in-flight requests finish, and waits.
    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await??;
        Ok(())
    }
}

/// Binds `bind` and serves `app` there in the background under `limits`;
/// `variable` names the setting when the address cannot be bound.
async fn serve(
    variable: &str,
    bind: SocketAddr,
    app: impl Endpoint<Output = Response> + 'static,
    limits: ConnectionSettings,
) -> anyhow::Result<Listening> {
    let listener =
        tokio::net::TcpListener::bind(bind).await.with_context(|| format!("{variable}: cannot listen on {bind}"))?;
    let addr = listener.local_addr().context("listener has no socket address")?;
    let (stop, stopped) = oneshot::channel::<()>();
    let stopped = async {
        let _ = stopped.await;
    };
    let task = tokio::spawn(connections::serve(listener, app, limits, stopped, SHUTDOWN_GRACE));
    Ok(Listening { addr, stop, task })
}

/// A running server.
pub struct Running {
    /// Where the API listens.
    pub addr: SocketAddr,
    /// Where `/metrics` listens, if on its own listener.
    pub metrics_addr: Option<SocketAddr>,
    pub state: Arc<AppState>,
    public: Listening,
    metrics: Option<Listening>,
    tasks: BackgroundTasks,
    /// How long [`Running::shutdown`] drains before it stops.
    drain: Duration,
}

impl Running {
    /// Shuts down gracefully: `/readyz` answers `503 draining` at once, so
    /// load balancers take this replica out of rotation, while both
    /// listeners go on serving every request for the drain period
    /// (`PORTCULLIS_SHUTDOWN_DRAIN_SECONDS`); then [`Running::stop`]. When
    /// `cut_short` resolves first (a second signal), the drain ends there.
    ///
    /// # Errors
    /// When a server task failed.
    pub async fn shutdown(self, cut_short: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        self.state.readiness.draining.start();
        tracing::info!(drain = ?self.drain, "draining: /readyz answers 503 while requests are still served");
        tokio::select! {
            () = tokio::time::sleep(self.drain) => {}
            () = cut_short => tracing::warn!("drain cut short; stopping now"),
        }
        tracing::info!("drain over: closing the listeners and finishing requests in flight");
        self.stop().await
    }

    /// Stops accepting, lets in-flight requests finish, and waits; then
    /// gives queued mail a bounded time to go out (see
    /// [`MailQueue::drain`](crate::adapters::mail_queue::MailQueue::drain)).
    ///
    /// # Errors
    /// When a server task failed.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.tasks.stop();
        if let Some(metrics) = self.metrics {
            metrics.stop().await?;
        }
        let stopped = self.public.stop().await;
        if let Some(queue) = &self.state.mail_queue {
            queue.drain_at_shutdown().await;
        }
        stopped
    }
}

/// Composes the state, binds the listeners and serves in the background.
///
/// # Errors
/// When a dependency cannot be opened or an address cannot be bound.
pub async fn start(settings: &Settings) -> anyhow::Result<Running> {
    start_composed(settings, None).await
}

/// [`start`], with the key ring read from `secrets` instead of the source
/// configuration names: for tests that change the ring under a running
/// service.
///
/// # Errors
/// As [`start`].
pub async fn start_with_secrets(settings: &Settings, secrets: Arc<dyn SecretSource>) -> anyhow::Result<Running> {
    start_composed(settings, Some(secrets)).await
}

async fn start_composed(settings: &Settings, secrets: Option<Arc<dyn SecretSource>>) -> anyhow::Result<Running> {
    let state = build_state_with(settings, secrets).await?;
    let limits = settings.connections;
    let public = serve("PORTCULLIS_BIND", settings.server.bind, http::routes(state.clone()), limits).await?;
    let metrics = match settings.server.metrics_bind {
        Some(bind) => Some(serve("PORTCULLIS_METRICS_BIND", bind, http::metrics_routes(state.clone()), limits).await?),
        None => None,
    };
    let metrics_addr = metrics.as_ref().map(|listening| listening.addr);
    if metrics_addr.is_none() && !settings.server.metrics_public {
        tracing::warn!(
            "/metrics is served on no listener: set PORTCULLIS_METRICS_BIND (or PORTCULLIS_METRICS_PUBLIC=true) to scrape it"
        );
    }
    let tasks = BackgroundTasks::spawn(&state.auth, &state.keys);
    tracing::info!(addr = %public.addr, metrics_addr = metrics_addr.map(tracing::field::display), "listening");
    let drain = settings.server.shutdown_drain;
    Ok(Running { addr: public.addr, metrics_addr, state, public, metrics, tasks, drain })
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
    tracing::info!("shutdown signal received");
}

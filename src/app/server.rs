//! The listeners: one [`serve`] for both the public API and the separate
//! metrics listener, [`start`] that binds them around a freshly composed
//! state, and graceful shutdown. Never picks an adapter (that is
//! [`super::compose`]) and never handles a request (that is [`super::http`]).

use super::compose::build_state;
use super::config::Settings;
use super::http::{self, AppState};
use super::tasks::BackgroundTasks;
use anyhow::Context;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Endpoint, Response, Server};
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

/// Binds `bind` and serves `app` there in the background; `variable` names
/// the setting when the address cannot be bound.
async fn serve(
    variable: &str,
    bind: SocketAddr,
    app: impl Endpoint<Output = Response> + 'static,
) -> anyhow::Result<Listening> {
    let acceptor = TcpListener::bind(bind)
        .into_acceptor()
        .await
        .with_context(|| format!("{variable}: cannot listen on {bind}"))?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .context("listener has no socket address")?;
    let (stop, stopped) = oneshot::channel::<()>();
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
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, and waits.
    ///
    /// # Errors
    /// When a server task failed.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.tasks.stop();
        if let Some(metrics) = self.metrics {
            metrics.stop().await?;
        }
        self.public.stop().await
    }
}

/// Composes the state, binds the listeners and serves in the background.
///
/// # Errors
/// When a dependency cannot be opened or an address cannot be bound.
pub async fn start(settings: &Settings) -> anyhow::Result<Running> {
    let state = build_state(settings).await?;
    let public = serve("PORTCULLIS_BIND", settings.server.bind, http::routes(state.clone())).await?;
    let metrics = match settings.server.metrics_bind {
        Some(bind) => Some(serve("PORTCULLIS_METRICS_BIND", bind, http::metrics_routes(state.clone())).await?),
        None => None,
    };
    let metrics_addr = metrics.as_ref().map(|listening| listening.addr);
    let tasks = BackgroundTasks::spawn(&state.auth);
    tracing::info!(addr = %public.addr, metrics_addr = metrics_addr.map(tracing::field::display), "listening");
    Ok(Running { addr: public.addr, metrics_addr, state, public, metrics, tasks })
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

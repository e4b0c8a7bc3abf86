//! The accept loop: HTTP/1.1 only (no cleartext HTTP/2, so no stream
//! multiplexing to bound), a header-read timeout, an idle timeout and a cap
//! on open connections, enforced before a request reaches the endpoint.
//! Past the cap a new socket gets a fixed `503` and is closed at once, so a
//! flood of half-open sockets costs one descriptor each only while it lasts
//! and never starves the connections already being served.
//!
//! Never looks inside a request: that is the endpoint's business.

use crate::app::config::ConnectionSettings;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, Request, Response};
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// The problem document a socket past the cap hears before it is closed.
const OVER_CAPACITY_BODY: &str = "{\"type\":\"/problems/service_unavailable\",\"title\":\"Service Unavailable\",\
\"status\":503,\"detail\":\"too many connections; retry later\",\"code\":\"service_unavailable\",\"request_id\":\"";

/// How long to wait before accepting again when the process is out of
/// descriptors, so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `endpoint` on `listener` until `stopped` resolves, then lets open
/// connections finish their requests for at most `grace`; any still open
/// after it are dropped.
pub async fn serve<E>(
    listener: TcpListener,
    endpoint: E,
    limits: ConnectionSettings,
    stopped: impl std::future::Future<Output = ()>,
    grace: Duration,
) -> io::Result<()>
where
    E: Endpoint<Output = Response> + 'static,
{
    let endpoint = Arc::new(endpoint);
    let local = LocalAddr(Addr::SocketAddr(listener.local_addr()?));
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = JoinSet::new();
    let (shutdown, shutting_down) = watch::channel(false);
    tokio::pin!(stopped);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(error = %error, "accept failed; backing off");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            refuse(&stream);
            continue;
        };
        let connection = Connection {
            endpoint: endpoint.clone(),
            local: local.clone(),
            remote: RemoteAddr(Addr::SocketAddr(peer)),
            limits,
            shutting_down: shutting_down.clone(),
        };
        connections.spawn(async move {
            connection.run(stream).await;
            drop(permit);
        });
        // Finished connections leave the set here, so it holds only open ones.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = shutdown.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(grace, drained).await;
    connections.abort_all();
    Ok(())
}

/// Answers a socket past the cap without waiting on it: one write that
/// fits any socket buffer, then the socket is dropped.
fn refuse(stream: &TcpStream) {
    let _ = stream.try_write(over_capacity(&uuid::Uuid::new_v4().to_string()).as_bytes());
}

/// The whole `503` response, with its own request id like every other.
fn over_capacity(request_id: &str) -> String {
    let body = format!("{OVER_CAPACITY_BODY}{request_id}\"}}");
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nX-Request-ID: {request_id}\r\n\
         Content-Type: application/problem+json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

struct Connection<E> {
    endpoint: Arc<E>,
    local: LocalAddr,
    remote: RemoteAddr,
    limits: ConnectionSettings,
    shutting_down: watch::Receiver<bool>,
}

impl<E: Endpoint<Output = Response> + 'static> Connection<E> {
    async fn run(mut self, stream: TcpStream) {
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched { inner: stream, activity: activity.clone() });
        let (endpoint, local, remote) = (self.endpoint.clone(), self.local.clone(), self.remote.clone());
        let service = hyper::service::service_fn(move |request| {
            let (endpoint, local, remote) = (endpoint.clone(), local.clone(), remote.clone());
            async move {
                let request = Request::from((request, local, remote, Scheme::HTTP));
                // Boxed: the middleware stack's future is kilobytes, and
                // hyper moves the service's future several times per request.
                let response = Box::pin(endpoint.get_response(request)).await;
                Ok::<_, Infallible>(hyper::Response::from(response))
            }
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout)
            .keep_alive(self.limits.idle_timeout.is_some());
        let connection = builder.serve_connection(io, service);
        tokio::pin!(connection);
        let idle_timeout = self.limits.idle_timeout.unwrap_or(Duration::MAX);
        // Checked every quarter of the timeout: an idle connection closes
        // between one and one and a quarter timeouts after its last byte.
        let step = (idle_timeout / IDLE_CHECKS).max(Duration::from_millis(1));
        let (mut seen, mut quiet) = (activity.moves(), Duration::ZERO);
        loop {
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = self.shutting_down.changed() => break,
                () = tokio::time::sleep(step) => {
                    let moves = activity.moves();
                    quiet = if moves == seen { quiet.saturating_add(step) } else { Duration::ZERO };
                    seen = moves;
                    if quiet >= idle_timeout {
                        break;
                    }
                }
            }
        }
        // Answers what is in flight, then closes; a connection with nothing
        // in flight closes at once.
        connection.as_mut().graceful_shutdown();
        let _ = connection.await;
    }
}

/// How many times per idle timeout a connection is checked for activity.
const IDLE_CHECKS: u32 = 4;

/// How many times a connection has moved bytes: a count, not a time, so
/// the reads and writes of every request read no clock; the idle check
/// compares it between its own ticks.
struct Activity {
    moves: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self { moves: AtomicU64::new(0) }
    }

    fn touch(&self) {
        self.moves.fetch_add(1, Ordering::Relaxed);
    }

    fn moves(&self) -> u64 {
        self.moves.load(Ordering::Relaxed)
    }
}

/// A socket that counts its reads and writes.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_complete_problem_response() {
        let response = over_capacity("abc");
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())), "{head}");
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!((problem["status"].as_u64(), problem["request_id"].as_str()), (Some(503), Some("abc")));
        assert_eq!(problem["code"], "service_unavailable");
    }
}

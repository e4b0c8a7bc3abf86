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
use hyper_util::rt::TokioIo;
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
        let serving = activity.clone();
        let service = hyper::service::service_fn(move |request| {
            let (endpoint, local, remote) = (endpoint.clone(), local.clone(), remote.clone());
            let request_served = serving.request_begins();
            async move {
                let request = Request::from((request, local, remote, Scheme::HTTP));
                // Boxed: the middleware stack's future is kilobytes, and
                // hyper moves the service's future several times per request.
                let response = Box::pin(endpoint.get_response(request)).await;
                drop(request_served);
                Ok::<_, Infallible>(hyper::Response::from(response))
            }
        });
        // No timer for hyper: its header-read timeout arms and disarms a
        // timer for every request. The clock below keeps both limits
        // instead, from counts the requests only increment.
        let mut builder = http1::Builder::new();
        builder.header_read_timeout(None).keep_alive(self.limits.idle_timeout.is_some());
        let connection = builder.serve_connection(io, service);
        tokio::pin!(connection);
        let mut clock = Clock::new(self.limits.header_read_timeout, self.limits.idle_timeout, &activity);
        loop {
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = self.shutting_down.changed() => break,
                () = tokio::time::sleep(clock.step) => match clock.tick(&activity) {
                    Verdict::Open => {}
                    // Nothing in flight: there is nothing to answer.
                    Verdict::HeadersTooSlow => return,
                    Verdict::Idle => break,
                },
            }
        }
        // Answers what is in flight, then closes; a connection with nothing
        // in flight closes at once.
        connection.as_mut().graceful_shutdown();
        let _ = connection.await;
    }
}

/// How many times per timeout a connection is checked.
const CHECKS_PER_TIMEOUT: u32 = 4;

/// What a connection's clock says at a tick.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Open,
    /// No request is being answered, and since the previous response (or
    /// the connection's start) no request has begun and no byte has been
    /// written for the header-read timeout: headers trickling in, or none
    /// coming on a kept-alive connection.
    HeadersTooSlow,
    /// No byte has moved either way for the idle timeout.
    Idle,
}

/// The two timeouts of a connection, kept by ticks of a quarter of the
/// shorter one: each limit is enforced between one and one and a quarter
/// times its length after the connection went quiet.
struct Clock {
    step: Duration,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    moves: u64,
    quiet: Duration,
    progress: u64,
    waiting: Duration,
}

impl Clock {
    fn new(header_read_timeout: Duration, idle_timeout: Option<Duration>, activity: &Activity) -> Self {
        let idle_timeout = idle_timeout.unwrap_or(Duration::MAX);
        let step = (header_read_timeout.min(idle_timeout) / CHECKS_PER_TIMEOUT).max(Duration::from_millis(1));
        Self {
            step,
            header_read_timeout,
            idle_timeout,
            moves: activity.moves(),
            quiet: Duration::ZERO,
            progress: activity.progress(),
            waiting: Duration::ZERO,
        }
    }

    fn tick(&mut self, activity: &Activity) -> Verdict {
        let moves = activity.moves();
        self.quiet = if moves == self.moves { self.quiet.saturating_add(self.step) } else { Duration::ZERO };
        self.moves = moves;
        let progress = activity.progress();
        let stalled = progress == self.progress && !activity.serving();
        self.waiting = if stalled { self.waiting.saturating_add(self.step) } else { Duration::ZERO };
        self.progress = progress;
        if self.waiting >= self.header_read_timeout {
            Verdict::HeadersTooSlow
        } else if self.quiet >= self.idle_timeout {
            Verdict::Idle
        } else {
            Verdict::Open
        }
    }
}

/// What a connection has done, in counts, not times, so that the reads,
/// writes and requests of every request read no clock; the [`Clock`]
/// compares them between its own ticks.
struct Activity {
    /// Reads and writes that moved bytes.
    moves: AtomicU64,
    /// Writes that moved bytes, and requests that began: what ends a wait
    /// for headers.
    progress: AtomicU64,
    /// Requests begun and not yet answered.
    serving: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self { moves: AtomicU64::new(0), progress: AtomicU64::new(0), serving: AtomicU64::new(0) }
    }

    fn read(&self) {
        self.moves.fetch_add(1, Ordering::Relaxed);
    }

    fn wrote(&self) {
        self.moves.fetch_add(1, Ordering::Relaxed);
        self.progress.fetch_add(1, Ordering::Relaxed);
    }

    /// A request's headers are in: it is being answered until the guard
    /// drops.
    fn request_begins(self: &Arc<Self>) -> Serving {
        self.progress.fetch_add(1, Ordering::Relaxed);
        self.serving.fetch_add(1, Ordering::Relaxed);
        Serving(self.clone())
    }

    fn moves(&self) -> u64 {
        self.moves.load(Ordering::Relaxed)
    }

    fn progress(&self) -> u64 {
        self.progress.load(Ordering::Relaxed)
    }

    fn serving(&self) -> bool {
        self.serving.load(Ordering::Relaxed) > 0
    }
}

/// A request being answered; see [`Activity::request_begins`].
struct Serving(Arc<Activity>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.serving.fetch_sub(1, Ordering::Relaxed);
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
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.wrote();
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

    fn ticks_until_verdict(clock: &mut Clock, activity: &Activity, each_tick: impl Fn(&Activity)) -> (u32, Verdict) {
        for tick in 1..=1_000 {
            each_tick(activity);
            let verdict = clock.tick(activity);
            if verdict != Verdict::Open {
                return (tick, verdict);
            }
        }
        (1_000, Verdict::Open)
    }

    fn clock(activity: &Activity) -> Clock {
        Clock::new(Duration::from_secs(10), Some(Duration::from_secs(20)), activity)
    }

    #[test]
    fn headers_trickling_in_are_cut_off_at_the_header_timeout() {
        let activity = Activity::new();
        let mut clock = clock(&activity);
        assert_eq!(clock.step, Duration::from_millis(2_500));
        // A byte of head every tick moves bytes, so the connection is not
        // idle, but no request begins and nothing is written.
        assert_eq!(ticks_until_verdict(&mut clock, &activity, Activity::read), (4, Verdict::HeadersTooSlow));
    }

    #[test]
    fn a_request_being_answered_or_a_response_being_read_is_not_a_slow_head() {
        let activity = Arc::new(Activity::new());
        let mut clock = clock(&activity);
        let serving = activity.request_begins();
        // A slow handler: nothing moves, and only the idle timeout applies.
        assert_eq!(ticks_until_verdict(&mut clock, &activity, |_| {}), (8, Verdict::Idle));
        drop(serving);
        // A client reading a long response slowly keeps the connection.
        let mut clock = self::clock(&activity);
        assert_eq!(ticks_until_verdict(&mut clock, &activity, Activity::wrote), (1_000, Verdict::Open));
    }

    #[test]
    fn a_kept_alive_connection_waits_for_its_next_head_from_its_last_response() {
        let activity = Arc::new(Activity::new());
        let mut clock = clock(&activity);
        drop(activity.request_begins());
        activity.wrote();
        assert_eq!(clock.tick(&activity), Verdict::Open);
        assert_eq!(ticks_until_verdict(&mut clock, &activity, |_| {}), (4, Verdict::HeadersTooSlow));
    }

    #[test]
    fn without_keep_alive_only_the_header_timeout_sets_the_pace() {
        let activity = Activity::new();
        let clock = Clock::new(Duration::from_secs(1), None, &activity);
        assert_eq!(clock.step, Duration::from_millis(250));
    }
}

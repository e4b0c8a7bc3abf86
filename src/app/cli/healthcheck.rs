//! `portcullis healthcheck`: asks the running service's `/healthz` whether
//! it is alive, for a container's `HEALTHCHECK`, and exits 0 or 1.
//!
//! It reads the same `PORTCULLIS_BIND` as the service (environment, then
//! `.env`), probes a wildcard bind (`0.0.0.0`, `::`) through loopback, and
//! speaks just enough HTTP/1.1 over a plain socket to read the status line:
//! no HTTP client in the binary for one GET. Every step shares one short
//! deadline, so a stalled service counts as unhealthy instead of hanging the
//! probe.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The whole probe, connect to status line, must finish within this.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// The listen address when `PORTCULLIS_BIND` is unset, as for the service.
const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// A status line longer than this is not an HTTP server's answer.
const MAX_STATUS_LINE: usize = 256;

/// Why the service is not considered healthy.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("PORTCULLIS_BIND={0:?} is not an address like 0.0.0.0:8080")]
    BadBind(String),
    #[error("nothing answered at {addr}: {source}")]
    Unreachable { addr: SocketAddr, source: std::io::Error },
    #[error("no answer from {0} within {TIMEOUT:?}")]
    TimedOut(SocketAddr),
    #[error("{addr}/healthz answered {status:?}")]
    Unhealthy { addr: SocketAddr, status: String },
    #[error("{0} did not answer with an HTTP status line")]
    NotHttp(SocketAddr),
}

/// The address to probe: `bind`, the value of `PORTCULLIS_BIND` (or its
/// default), with a wildcard address replaced by loopback of its family.
pub fn target(bind: Option<&str>) -> Result<SocketAddr, ProbeError> {
    let bind = bind.map_or(DEFAULT_BIND, str::trim);
    let mut addr: SocketAddr = bind.parse().map_err(|_| ProbeError::BadBind(bind.to_owned()))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    Ok(addr)
}

/// `GET /healthz` at `addr`: `Ok` on a 200 status line within `timeout`.
pub async fn probe(addr: SocketAddr, timeout: Duration) -> Result<(), ProbeError> {
    match tokio::time::timeout(timeout, status_line(addr)).await {
        Err(_) => Err(ProbeError::TimedOut(addr)),
        Ok(Err(error)) => Err(error),
        Ok(Ok(line)) => {
            let mut parts = line.splitn(3, ' ');
            let (version, code) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
            if !version.starts_with("HTTP/1.") || code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
                Err(ProbeError::NotHttp(addr))
            } else if code == "200" {
                Ok(())
            } else {
                Err(ProbeError::Unhealthy { addr, status: line })
            }
        }
    }
}

/// Sends the request and reads the first line of the answer.
async fn status_line(addr: SocketAddr) -> Result<String, ProbeError> {
    let unreachable = |source| ProbeError::Unreachable { addr, source };
    let mut stream = TcpStream::connect(addr).await.map_err(unreachable)?;
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: portcullis-healthcheck\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.map_err(unreachable)?;
    let mut received = Vec::with_capacity(MAX_STATUS_LINE);
    let mut chunk = [0_u8; 128];
    loop {
        if let Some(end) = received.windows(2).position(|pair| pair == b"\r\n") {
            return String::from_utf8(received[..end].to_vec()).map_err(|_| ProbeError::NotHttp(addr));
        }
        if received.len() >= MAX_STATUS_LINE {
            return Err(ProbeError::NotHttp(addr));
        }
        let read = stream.read(&mut chunk).await.map_err(unreachable)?;
        if read == 0 {
            return Err(ProbeError::NotHttp(addr));
        }
        received.extend_from_slice(&chunk[..read]);
    }
}

/// Runs the probe for the binary against `bind` (`PORTCULLIS_BIND`):
/// prints why on failure, and returns whether the service is healthy.
pub fn run(bind: Option<&str>) -> bool {
    let outcome = target(bind).and_then(|addr| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| ProbeError::Unreachable { addr, source })?;
        runtime.block_on(probe(addr, TIMEOUT))
    });
    match outcome {
        Ok(()) => true,
        Err(error) => {
            eprintln!("portcullis healthcheck: {error}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A one-connection server that answers every request with `answer`
    /// (after reading the request), or never answers when `None`.
    async fn server(answer: Option<&'static [u8]>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0_u8; 1024];
            let read = socket.read(&mut request).await.unwrap();
            assert!(request[..read].starts_with(b"GET /healthz HTTP/1.1\r\n"));
            match answer {
                // The probe may hang up first; that is its right.
                Some(answer) => drop(socket.write_all(answer).await),
                None => tokio::time::sleep(Duration::from_secs(60)).await,
            }
        });
        addr
    }

    #[test]
    fn a_wildcard_bind_is_probed_through_loopback() {
        assert_eq!(target(Some("0.0.0.0:8080")).unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(target(Some(" [::]:9000 ")).unwrap().to_string(), "[::1]:9000");
        assert_eq!(target(Some("10.1.2.3:80")).unwrap().to_string(), "10.1.2.3:80");
        assert_eq!(target(None).unwrap().to_string(), DEFAULT_BIND);
        assert!(matches!(target(Some("localhost")), Err(ProbeError::BadBind(_))));
    }

    #[tokio::test]
    async fn a_200_is_healthy() {
        let addr = server(Some(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")).await;
        probe(addr, TIMEOUT).await.unwrap();
    }

    #[tokio::test]
    async fn any_other_status_is_unhealthy_and_named() {
        let addr = server(Some(b"HTTP/1.1 503 Service Unavailable\r\n\r\n")).await;
        let error = probe(addr, TIMEOUT).await.unwrap_err();
        assert!(error.to_string().contains("503 Service Unavailable"), "{error}");
    }

    #[tokio::test]
    async fn a_closed_port_is_unhealthy() {
        let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        assert!(matches!(probe(addr, TIMEOUT).await, Err(ProbeError::Unreachable { .. })));
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let addr = server(None).await;
        let started = std::time::Instant::now();
        assert!(matches!(probe(addr, Duration::from_millis(200)).await, Err(ProbeError::TimedOut(_))));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn an_endless_or_foreign_answer_is_not_http() {
        let endless = server(Some(&[b'A'; 1000])).await;
        assert!(matches!(probe(endless, TIMEOUT).await, Err(ProbeError::NotHttp(_))));
        let foreign = server(Some(b"SSH-2.0-OpenSSH_9.2\r\n")).await;
        assert!(matches!(probe(foreign, TIMEOUT).await, Err(ProbeError::NotHttp(_))));
        let closed = server(Some(b"HTTP/1.1 200")).await;
        assert!(matches!(probe(closed, TIMEOUT).await, Err(ProbeError::NotHttp(_))));
    }
}

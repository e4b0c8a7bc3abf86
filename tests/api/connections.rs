//! Clients that never finish: slow headers, idle keep-alive, floods of
//! sockets and cleartext HTTP/2. Every test stays on loopback, holds a
//! bounded number of sockets and stops by itself.

use crate::helpers::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PARTIAL_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: portcullis\r\nX-Slow: ";

fn authority(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Reads until the peer closes or `limit` passes; the bytes and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut received = Vec::new();
    let deadline = Instant::now() + limit;
    let mut buffer = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return (received, true),
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
            Err(_) => return (received, false),
        }
    }
}

/// The fastest of a few `/healthz` round trips on fresh connections.
async fn healthz_latency(app: &TestApp) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let started = Instant::now();
        let response = client.get(app.url("/healthz")).send().await.expect("a response");
        assert_eq!(response.status().as_u16(), 200);
        best = best.min(started.elapsed());
    }
    best
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_slow_header_sockets_do_not_delay_a_normal_request() {
    let app = spawn_app().await;
    let baseline = healthz_latency(&app).await;
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(authority(&app)).await.expect("connect");
        stream.write_all(PARTIAL_HEAD).await.expect("a partial head");
        slow.push(stream);
    }

    let loaded = healthz_latency(&app).await;

    assert!(loaded < baseline + Duration::from_millis(100), "{baseline:?} became {loaded:?}");
    drop(slow);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_with_incomplete_headers_is_closed_after_the_timeout() {
    let app = spawn_app_with(&[("PORTCULLIS_CONNECTIONS__HEADER_READ_TIMEOUT_SECONDS", "1")]).await;
    let mut stream = TcpStream::connect(authority(&app)).await.expect("connect");
    let started = Instant::now();
    stream.write_all(PARTIAL_HEAD).await.expect("a partial head");
    // Trickling bytes does not extend the deadline.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = stream.write_all(b"x").await;
    }

    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;

    assert!(closed, "still open after {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(3), "closed only after {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = spawn_app_with(&[("PORTCULLIS_CONNECTIONS__IDLE_TIMEOUT_SECONDS", "1")]).await;
    let mut stream = TcpStream::connect(authority(&app)).await.expect("connect");
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: portcullis\r\n\r\n").await.expect("a request");
    let mut buffer = [0u8; 1024];
    let read = stream.read(&mut buffer).await.expect("a response");
    assert!(buffer[..read].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buffer[..read]));
    let idle_since = Instant::now();

    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;

    assert!(closed && idle_since.elapsed() < Duration::from_secs(3), "open for {:?}", idle_since.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn past_the_connection_cap_new_sockets_are_refused_while_open_ones_are_served() {
    let app = spawn_app_with(&[("PORTCULLIS_CONNECTIONS__MAX", "8")]).await;
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut stream = TcpStream::connect(authority(&app)).await.expect("connect");
        stream.write_all(PARTIAL_HEAD).await.expect("a partial head");
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut refused = Vec::new();
    for _ in 0..50 {
        let mut extra = TcpStream::connect(authority(&app)).await.expect("the kernel still accepts");
        let (bytes, closed) = read_until_closed(&mut extra, Duration::from_secs(2)).await;
        refused.push((String::from_utf8_lossy(&bytes).into_owned(), closed));
    }
    // The held connections finish their requests.
    for stream in &mut held {
        stream.write_all(b"1\r\nConnection: close\r\n\r\n").await.expect("the rest of the head");
        let (bytes, _) = read_until_closed(stream, Duration::from_secs(5)).await;
        assert!(bytes.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&bytes));
    }

    for (response, closed) in &refused {
        assert!(response.starts_with("HTTP/1.1 503") && response.contains("Retry-After: 1"), "{response}");
        assert!(closed);
    }
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn cleartext_http2_is_not_spoken() {
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(authority(&app)).await.expect("connect");
    // The HTTP/2 connection preface, then an empty SETTINGS frame.
    stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await.expect("a preface");

    let (bytes, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;

    assert!(closed, "the connection stayed open");
    // Either nothing or an HTTP/1.1 refusal, never an HTTP/2 SETTINGS frame.
    assert!(bytes.is_empty() || bytes.starts_with(b"HTTP/1.1 "), "{bytes:?}");
}

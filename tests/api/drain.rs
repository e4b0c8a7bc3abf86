//! Graceful shutdown: during the drain `/readyz` answers `503 draining`
//! while requests are still served; then the listener closes, and a
//! request that was in flight at that moment is still answered in full.

use crate::helpers::{json_body, spawn_app_with, STRONG_PASSWORD};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread")]
async fn readyz_says_draining_and_a_request_in_flight_when_the_listener_closes_is_answered() {
    let mut app = spawn_app_with(&[("PORTCULLIS_SHUTDOWN_DRAIN_SECONDS", "1")]).await;
    let running = app.running.take().expect("the service runs");
    let address = running.addr;
    assert_eq!(app.get("/readyz").await.status().as_u16(), 200);

    // A slow client: its request line and headers are in, its body is not.
    let body = format!(r#"{{"email":"nobody-drained@example.com","password":"{STRONG_PASSWORD}"}}"#);
    let mut slow = TcpStream::connect(address).await.expect("connects");
    let head = format!(
        "POST /v1/auth/login HTTP/1.1\r\nHost: portcullis\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&body.as_bytes()[..10]).await.unwrap();

    let started = Instant::now();
    let shutdown = tokio::spawn(running.shutdown(std::future::pending()));

    // The drain: not ready, yet still serving.
    let response = app.get("/readyz").await;
    assert_eq!(response.status().as_u16(), 503);
    let readiness = json_body(response).await;
    assert_eq!(readiness["status"], "draining", "{readiness}");
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200, "requests are still served while draining");

    // After the drain the listener closes: new connections are refused.
    while TcpStream::connect(address).await.is_ok() {
        assert!(started.elapsed() < Duration::from_secs(5), "the listener stayed open after the drain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(900), "the listener closed before the drain ended");

    // The request that was in flight all along is answered in full.
    slow.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), slow.read_to_string(&mut answer))
        .await
        .expect("answered before the shutdown grace ran out")
        .expect("read");
    assert!(answer.starts_with("HTTP/1.1 401"), "the in-flight login got: {answer}");
    assert!(answer.contains("invalid_credentials"), "{answer}");

    shutdown.await.expect("joins").expect("the shutdown completes");
}

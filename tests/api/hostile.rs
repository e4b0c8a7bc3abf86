//! Traffic an attacker chooses: hostile methods, paths, headers and
//! connections. Each test is bounded, stays on loopback and stops by itself.

use crate::helpers::*;
use rand::distr::{Alphanumeric, SampleString};
use reqwest::Method;
use std::collections::BTreeSet;

/// The series of the HTTP metrics, without their values.
fn http_series(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| line.starts_with("http_"))
        .filter_map(|line| line.rsplit_once(' ').map(|(series, _)| series.to_owned()))
        .collect()
}

async fn hostile_requests(app: &TestApp, count: usize) {
    let mut rng = rand::rng();
    for _ in 0..count {
        let method = Alphanumeric.sample_string(&mut rng, 40).to_uppercase();
        let path = Alphanumeric.sample_string(&mut rng, 40);
        let method = Method::from_bytes(method.as_bytes()).expect("a token");
        app.client.request(method, app.url(&format!("/{path}"))).send().await.expect("a response");
        app.client.get(app.url(&format!("/v1/{path}"))).send().await.expect("a response");
        app.client.request(Method::from_bytes(b"BREW").unwrap(), app.url("/healthz")).send().await.expect("a response");
    }
}

#[tokio::test]
async fn random_methods_and_paths_leave_the_metrics_the_same_size() {
    let app = spawn_app_with(&[("PORTCULLIS_LIMITS__API__PER_MINUTE", "100000")]).await;
    // The first scrape adds the series of `/metrics` itself.
    app.metrics().await;
    hostile_requests(&app, 20).await;
    let before = app.metrics().await;
    hostile_requests(&app, 1000).await;
    let after = app.metrics().await;
    assert_eq!(http_series(&before), http_series(&after));
    assert!(after.len() < before.len() + 2048, "/metrics grew from {} to {} bytes", before.len(), after.len());
    assert!(!after.contains("BREW"), "a caller's method became a label");
}

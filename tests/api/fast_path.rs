//! `/healthz` and `/v1/auth/verify` are answered in front of the
//! middleware (`portcullis::app::http::lane`) and, when the lane passes
//! them on, beside the poem-openapi router (`portcullis::app::http::fast`);
//! their answers, headers and metric labels are the router's, whatever the
//! request.

use crate::helpers::*;
use poem::http::Method;
use poem::{Endpoint, Request};
use serde_json::Value;

/// What a caller can see of a response, less what differs from one
/// request to the next (the id, and what is left of the quota).
#[derive(Debug, PartialEq)]
struct Seen {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

async fn seen(endpoint: &impl Endpoint<Output = poem::Response>, request: Request) -> Seen {
    let response = endpoint.get_response(request).await;
    let status = response.status().as_u16();
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "x-request-id" | "ratelimit-remaining" | "ratelimit-reset"))
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("(binary)").to_owned()))
        .collect();
    headers.sort();
    let text = response.into_body().into_string().await.expect("a body");
    let mut body: Value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON") };
    if let Some(problem) = body.as_object_mut().filter(|_| status >= 400) {
        assert!(problem.remove("request_id").is_some_and(|id| id != ""), "{text}");
    }
    Seen { status, headers, body }
}

fn get(path: &str, token: Option<&str>) -> Request {
    let mut request = Request::builder().method(Method::GET).uri_str(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.finish()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fast_routes_answer_as_the_router_does() {
    let app = spawn_app_with(&[("PORTCULLIS_LIMITS__API__PER_MINUTE", "6")]).await;
    let token = app.register_and_login(&unique_email("fast")).await.access_token;
    let state = app.running.as_ref().expect("a running service").state.clone();
    let fast = portcullis::app::http::routes(state.clone());
    let router = portcullis::app::http::routes_through_the_router(state);
    let verify = "/v1/auth/verify";
    let verified = "http_requests_total{method=\"GET\",route=\"/v1/auth/verify\",status=\"200\"}";
    let counted_before = app.metric_value(verified).await;

    let healthz = seen(&fast, get("/healthz", None)).await;
    assert_eq!(healthz.status, 200);
    assert_eq!(healthz, seen(&router, get("/healthz", None)).await);

    // The quota is 6: three answers from each, alternately, then refusals.
    for _ in 0..3 {
        let answer = seen(&fast, get(verify, Some(&token))).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert!(answer.headers.iter().any(|(name, _)| name == "x-user-id"), "{answer:?}");
        assert_eq!(answer, seen(&router, get(verify, Some(&token))).await);
    }
    assert_eq!(app.metric_value(verified).await, counted_before + 6.0, "both name the route");
    let refused = seen(&fast, get(verify, Some(&token))).await;
    assert_eq!(refused.status, 429, "{refused:?}");
    assert_eq!(refused, seen(&router, get(verify, Some(&token))).await);

    // What the fast path leaves to the router is answered as before.
    let fresh = spawn_app().await;
    let state = fresh.running.as_ref().expect("a running service").state.clone();
    let fast = portcullis::app::http::routes(state.clone());
    let router = portcullis::app::http::routes_through_the_router(state);
    for token in [None, Some("not-a-token")] {
        let answer = seen(&fast, get(verify, token)).await;
        assert_eq!(answer.status, 401, "{answer:?}");
        assert_eq!(answer, seen(&router, get(verify, token)).await);
    }
}

/// With HSTS and CORS configured, the lane's answers carry the stack's
/// headers, the caller's id and the same metric; a request with an
/// `Origin` is left to the stack (its CORS headers), and answered alike.
#[tokio::test(flavor = "multi_thread")]
async fn the_health_lane_answers_as_the_stack_does() {
    let origin = "https://app.example.com";
    let app =
        spawn_app_with(&[("PORTCULLIS_HSTS_MAX_AGE_SECONDS", "600"), ("PORTCULLIS_CORS_ALLOWED_ORIGINS", origin)])
            .await;
    let state = app.running.as_ref().expect("a running service").state.clone();
    let lane = portcullis::app::http::routes(state.clone());
    let stack = portcullis::app::http::routes_through_the_router(state);
    let probes = "http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}";
    let counted_before = app.metric_value(probes).await;

    let with = |name: &str, value: &str| Request::builder().uri_str("/healthz").header(name, value).finish();
    let requests = || {
        [
            get("/healthz", None),
            get("/healthz?verbose=1", None),
            with("origin", origin),
            with("origin", "https://elsewhere.example"),
            with("x-request-id", "probe-1"),
            with("content-length", "0"),
            Request::builder().method(Method::HEAD).uri_str("/healthz").finish(),
        ]
    };
    for (from_lane, from_stack) in requests().into_iter().zip(requests()) {
        let described = format!("{} {}", from_lane.method(), from_lane.uri());
        let answer = seen(&lane, from_lane).await;
        assert_eq!(answer.status, 200, "{described}: {answer:?}");
        assert_eq!(answer, seen(&stack, from_stack).await, "{described}");
    }
    let plain = seen(&lane, get("/healthz", None)).await;
    let header = |name: &str| plain.headers.iter().find(|(known, _)| known == name).map(|(_, value)| value.clone());
    assert_eq!(header("strict-transport-security").as_deref(), Some("max-age=600; includeSubDomains"));
    assert_eq!(header("x-frame-options").as_deref(), Some("DENY"));

    let echoed = lane.get_response(with("x-request-id", "probe-2")).await;
    assert_eq!(echoed.headers()["x-request-id"], "probe-2");
    let replaced = lane.get_response(with("x-request-id", "not a valid id")).await;
    let fresh = replaced.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(fresh).is_ok(), "{fresh}");

    // Six GETs from each above, one more plain and two with ids.
    assert_eq!(app.metric_value(probes).await, counted_before + 12.0 + 3.0, "the lane counts as the stack does");

    let token = app.register_and_login(&unique_email("lane")).await.access_token;
    let verify = |origin: Option<&str>| {
        let mut request =
            Request::builder().uri_str("/v1/auth/verify").header("authorization", format!("Bearer {token}"));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.finish()
    };
    for origin in [None, Some(origin), Some("https://elsewhere.example")] {
        let answer = seen(&lane, verify(origin)).await;
        assert_eq!(answer.status, 200, "{origin:?}: {answer:?}");
        assert_eq!(answer, seen(&stack, verify(origin)).await, "{origin:?}");
    }
    let answered = lane.get_response(verify(None)).await;
    assert!(uuid::Uuid::parse_str(answered.headers()["x-request-id"].to_str().unwrap()).is_ok());
}

/// A client racing the quota: `count` checks with one user's token, all at
/// once, spread over `apps` (replicas sharing a limiter, or one app) whose
/// `api` quota is `quota`. The lane spends the quota once a check and never
/// more than it holds: exactly `quota` answers are `200`, the rest `429`.
pub async fn racing_checks_spend_the_quota_exactly(apps: &[TestApp], quota: usize, count: usize) {
    let token = apps[0].register_and_login(&unique_email("race")).await.access_token;
    let checks = (0..count).map(|n| apps[n % apps.len()].verify(&token));
    let statuses: Vec<u16> = futures_util::future::join_all(checks).await.iter().map(|r| r.status().as_u16()).collect();
    let allowed = statuses.iter().filter(|&&status| status == 200).count();
    let refused = statuses.iter().filter(|&&status| status == 429).count();
    assert_eq!((allowed, refused), (quota, count - quota), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_gateway_checks_spend_the_quota_exactly_and_hostile_ones_go_to_the_stack() {
    let app = spawn_app_with(&[("PORTCULLIS_LIMITS__API__PER_MINUTE", "10")]).await;
    racing_checks_spend_the_quota_exactly(std::slice::from_ref(&app), 10, 40).await;

    // Hostile checks: none is answered by the lane, none spends a user's
    // quota, each gets the stack's 401 problem with a well-formed id.
    let fresh = spawn_app().await;
    let token = fresh.register_and_login(&unique_email("hostile")).await.access_token;
    let (header, payload, signature) = {
        let mut parts = token.splitn(3, '.');
        (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap())
    };
    let forged = format!("{header}.{}.{signature}", payload.replace('A', "B"));
    let huge = format!("{header}.{}.{signature}", "A".repeat(20_000));
    for (what, bearer) in
        [("forged payload", forged), ("huge token", huge), ("no signature", format!("{header}.{payload}."))]
    {
        let response = fresh
            .client
            .get(fresh.url("/v1/auth/verify"))
            .bearer_auth(&bearer)
            .header("x-request-id", "x".repeat(5_000))
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{what}: an overlong id is replaced, got {id}");
        assert!(response.headers().contains_key("www-authenticate"), "{what}: the stack's challenge");
        assert_problem(response, 401, "invalid_token").await;
    }
    let user = "http_requests_total{method=\"GET\",route=\"/v1/auth/verify\",status=\"200\"}";
    assert_eq!(fresh.metric_value(user).await, 0.0, "no hostile check was answered 200");
    assert_eq!(fresh.verify(&token).await.status(), 200, "the user's own check still passes");
}

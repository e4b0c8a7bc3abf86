//! Rate limits, declared by each route and applied by one layer.
//!
//! An operation names its bucket in its own `#[oai(..)]` attribute
//! (`transform = "auth_bucket"` or `transform = "api_bucket"`), so which
//! quota a route spends is read where the route is written, never guessed
//! from its path. The declared limit runs after routing and before the
//! operation reads its body or its bearer token:
//!
//! - `auth`: per client network (register, login, refresh), and for IPv6
//!   also per /48 site with [`NETWORKS_PER_SITE`] times the quota;
//! - `api`: per user when the bearer token verifies, else per client
//!   network; the verdict is handed to the bearer checker as
//!   [`VerifiedBearer`], so a token is verified once per request.
//!
//! The [`RateLimit`] layer around the router answers a refusal with `429`
//! and `Retry-After`, adds the `RateLimit-*` headers, and limits on the
//! `api` quota the `/v1/` requests no operation took (unknown paths, wrong
//! methods). A `/v1/` operation that declares no bucket answers `500`, so
//! it cannot ship with a quota nobody chose. `OPTIONS` is never limited.
//!
//! Every other path (`/readyz`, `/docs`, `/openapi.json`, `/metrics` and
//! every unknown one) spends the `api` quota of the client network before
//! it is routed, so a refused request costs no database check and no
//! megabyte of documentation. Only `/healthz` is exempt: it answers from
//! memory, cheaper than asking the limiter, and a liveness probe must
//! never hear `429`.

use crate::app::http::problem::Problem;
use crate::app::http::scope::current_client;
use crate::app::http::state::AppState;
use crate::core::limits::{limited_network, limited_site, Decision, NETWORKS_PER_SITE};
use crate::core::token::{Principal, TokenError};
use crate::core::user::UserId;
use crate::ports::Bucket;
use poem::http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use poem::http::Method;
use poem::web::headers::authorization::Bearer;
use poem::web::headers::{Authorization, Header as _, HeaderMapExt};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use poem_openapi::OperationId;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};

/// The one path no limit applies to: liveness, answered from memory.
const UNLIMITED_PATH: &str = "/healthz";

/// A bearer token already checked by the rate limiter, for the checker.
#[derive(Clone)]
pub struct VerifiedBearer {
    pub token: String,
    pub verdict: Result<Principal, TokenError>,
}

/// The buckets a route may declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteBucket {
    /// Per client network: the routes that take credentials.
    Auth,
    /// Per user, or per client network when anonymous.
    Api,
}

/// Declares the `auth` bucket: `#[oai(.., transform = "auth_bucket")]`.
pub fn auth_bucket<E: Endpoint>(endpoint: E) -> Declared<E> {
    Declared { bucket: RouteBucket::Auth, inner: endpoint }
}

/// Declares the `api` bucket: `#[oai(.., transform = "api_bucket")]`.
pub fn api_bucket<E: Endpoint>(endpoint: E) -> Declared<E> {
    Declared { bucket: RouteBucket::Api, inner: endpoint }
}

/// What the [`RateLimit`] layer hands to the declared limits inside it, and
/// where they leave their decision.
#[derive(Clone)]
struct Limits {
    state: Arc<AppState>,
    client: IpAddr,
    decision: Arc<OnceLock<Decision>>,
}

impl Limits {
    /// Decides `bucket` for a request bearing `bearer`, if any, and keeps
    /// the decision for the layer. For the `api` bucket, also returns the
    /// verdict on the token, for the bearer checker.
    async fn decide(&self, bucket: RouteBucket, bearer: Option<String>) -> (Decision, Option<VerifiedBearer>) {
        let auth = &self.state.auth;
        let (decision, verified) = match bucket {
            RouteBucket::Auth => (self.decide_auth(&network_key(self.client)).await, None),
            RouteBucket::Api => {
                let verified = bearer.map(|token| {
                    let verdict = auth.authenticate(&token);
                    VerifiedBearer { token, verdict }
                });
                let user = verified
                    .as_ref()
                    .and_then(|verified| verified.verdict.as_ref().ok())
                    .map(|principal| principal.user_id);
                let key = user.map_or_else(|| network_key(self.client), user_key);
                (auth.limit(Bucket::Api, &key).await, verified)
            }
        };
        (*self.decision.get_or_init(|| decision), verified)
    }
}

/// Whether `req` is inside the [`RateLimit`] layer (not `OPTIONS`, not
/// `/healthz`), where a declared limit is spent.
pub fn in_layer(req: &Request) -> bool {
    req.extensions().get::<Limits>().is_some()
}

/// Spends the `api` quota of `user` as a route declaring [`api_bucket`]
/// does for a bearer token that verified, and keeps the decision for the
/// layer: for the fast path of `/v1/auth/verify` (see
/// [`crate::app::http::fast`]), which has verified the token itself. `None`
/// outside the layer.
pub async fn spend_for_user(req: &Request, user: UserId) -> Option<Decision> {
    let limits = req.extensions().get::<Limits>()?;
    let decision = limits.state.auth.limit(Bucket::Api, &user_key(user)).await;
    Some(*limits.decision.get_or_init(|| decision))
}

/// The limiter key of a client network: `ip:` and the network's address.
fn network_key(client: IpAddr) -> String {
    format!("ip:{}", limited_network(client))
}

/// The limiter key of a user: `user:` and the hyphenated id, written
/// without the formatting machinery (it is built for every bearer request).
pub(crate) fn user_key(user: UserId) -> String {
    let mut buffer = uuid::Uuid::encode_buffer();
    let id = user.as_uuid().hyphenated().encode_lower(&mut buffer);
    let mut key = String::with_capacity(5 + id.len());
    key.push_str("user:");
    key.push_str(id);
    key
}

impl Limits {
    /// The auth bucket: the client's network, then, while that allows, its
    /// IPv6 site, so that the /64s of one /48 share a bounded budget.
    async fn decide_auth(&self, network: &str) -> Decision {
        let auth = &self.state.auth;
        let Some(site) = limited_site(self.client) else { return auth.limit(Bucket::Auth, network).await };
        let quota = auth.policy().limits.auth;
        let mut decision = auth.limit_within(Bucket::Auth, network, quota).await;
        if decision.allowed {
            let site_quota = quota.times(NETWORKS_PER_SITE);
            decision = tighter(decision, auth.limit_within(Bucket::Auth, &format!("site:{site}"), site_quota).await);
        }
        auth.record_limit(Bucket::Auth, &decision);
        decision
    }
}

/// The decision to act on and report: a refusal, else the one with less left.
fn tighter(network: Decision, site: Decision) -> Decision {
    let site_is_tighter = match (network.allowed, site.allowed) {
        (false, _) => false,
        (true, false) => true,
        (true, true) => site.remaining < network.remaining,
    };
    if site_is_tighter {
        site
    } else {
        network
    }
}

/// The token of an `Authorization: Bearer` header.
fn bearer_token(req: &Request) -> Option<String> {
    req.headers().typed_get::<Authorization<Bearer>>().map(|bearer| bearer.token().to_owned())
}

/// The token of an `Authorization: Bearer` value.
fn bearer_of(value: &HeaderValue) -> Option<String> {
    Authorization::<Bearer>::decode(&mut std::iter::once(value)).ok().map(|bearer| bearer.token().to_owned())
}

/// A route with its declared bucket.
pub struct Declared<E> {
    bucket: RouteBucket,
    inner: E,
}

impl<E: Endpoint> Endpoint for Declared<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        // Outside the `RateLimit` layer (OPTIONS, or a router without it)
        // there is nothing to limit against.
        if let Some(limits) = req.extensions().get::<Limits>().cloned() {
            let (decision, verified) = limits.decide(self.bucket, bearer_token(&req)).await;
            if let Some(verified) = verified {
                req.extensions_mut().insert(verified);
            }
            if !decision.allowed {
                return Ok(Problem::rate_limited(decision.retry_after).into_response());
            }
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}

/// Applies the declared limits, and the `api` one to `/v1/` requests no
/// operation took.
pub struct RateLimit {
    state: Arc<AppState>,
}

impl RateLimit {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

impl<E: Endpoint<Output = Response>> Middleware<E> for RateLimit {
    type Output = RateLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RateLimitEndpoint { state: self.state.clone(), inner }
    }
}

pub struct RateLimitEndpoint<E> {
    state: Arc<AppState>,
    inner: E,
}

impl<E: Endpoint<Output = Response>> Endpoint for RateLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        // Liveness is never limited, and is answered without the set-up.
        if req.method() == Method::OPTIONS || req.uri().path() == UNLIMITED_PATH {
            return Box::pin(self.inner.call(req)).await;
        }
        let client = current_client().map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |client| client.0);
        let limits = Limits { state: self.state.clone(), client, decision: Arc::default() };
        req.extensions_mut().insert(limits.clone());
        let api_path = req.uri().path().starts_with("/v1/");
        if !api_path {
            let decision = limits.decide(RouteBucket::Api, None).await.0;
            let mut response = if decision.allowed {
                Box::pin(self.inner.call(req)).await?
            } else {
                Problem::rate_limited(decision.retry_after).into_response()
            };
            add_headers(&mut response, &decision);
            return Ok(response);
        }
        // Kept (a reference count, not a copy) for the rare request no
        // operation takes, which is limited afterwards.
        let authorization = req.headers().get(AUTHORIZATION).cloned();
        // Boxed for the reason given in the headers layer.
        let response = Box::pin(self.inner.call(req)).await?;
        let decision = match limits.decision.get() {
            Some(decision) => Some(*decision),
            None if api_path => {
                if let Some(operation) = response.data::<OperationId>() {
                    // An operation without a declared bucket cannot answer,
                    // so the first test that calls it says what is missing.
                    tracing::error!(operation = operation.0, "this operation declares no rate-limit bucket");
                    return Ok(Problem::internal().into_response());
                }
                // No operation took the request: limiting now is as if before.
                let bearer = authorization.as_ref().and_then(bearer_of);
                Some(limits.decide(RouteBucket::Api, bearer).await.0)
            }
            None => None,
        };
        let Some(decision) = decision else { return Ok(response) };
        // A refused request is answered afresh: it reached no operation, and
        // its metrics say so (`route="unmatched"`).
        let mut response =
            if decision.allowed { response } else { Problem::rate_limited(decision.retry_after).into_response() };
        add_headers(&mut response, &decision);
        Ok(response)
    }
}

/// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds,
/// rounded up).
pub(crate) fn add_headers(response: &mut Response, decision: &Decision) {
    static LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
    static REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
    static RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
    let reset = decision.reset_after.as_secs() + u64::from(decision.reset_after.subsec_nanos() > 0);
    let headers = response.headers_mut();
    headers.insert(LIMIT.clone(), HeaderValue::from(decision.limit));
    headers.insert(REMAINING.clone(), HeaderValue::from(decision.remaining));
    headers.insert(RESET.clone(), HeaderValue::from(reset));
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::endpoint::make_sync;
    use std::time::Duration;

    #[tokio::test]
    async fn a_declared_route_outside_the_layer_is_served_unlimited() {
        fn ok(_: Request) -> &'static str {
            "ok"
        }
        for declared in [auth_bucket(make_sync(ok)), api_bucket(make_sync(ok))] {
            let response = declared.call(Request::default()).await.unwrap();
            assert_eq!(response.status(), poem::http::StatusCode::OK);
            assert!(response.headers().get("ratelimit-limit").is_none());
        }
    }

    #[test]
    fn the_tighter_decision_is_the_refusal_or_the_one_with_less_left() {
        let decision = |allowed, remaining| Decision {
            allowed,
            limit: 10,
            remaining,
            reset_after: Duration::ZERO,
            retry_after: Duration::ZERO,
        };
        assert!(!tighter(decision(true, 5), decision(false, 0)).allowed);
        assert!(!tighter(decision(false, 0), decision(true, 5)).allowed);
        assert_eq!(tighter(decision(true, 5), decision(true, 3)).remaining, 3);
        assert_eq!(tighter(decision(true, 2), decision(true, 30)).remaining, 2);
    }

    #[test]
    fn reset_rounds_up_to_whole_seconds() {
        let decision = Decision {
            allowed: true,
            limit: 10,
            remaining: 9,
            reset_after: Duration::from_millis(1_200),
            retry_after: Duration::ZERO,
        };
        let mut response = Response::default();
        add_headers(&mut response, &decision);
        let headers = response.headers();
        assert_eq!(headers["ratelimit-limit"], "10");
        assert_eq!(headers["ratelimit-remaining"], "9");
        assert_eq!(headers["ratelimit-reset"], "2");
    }
}

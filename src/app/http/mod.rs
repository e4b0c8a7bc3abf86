//! The poem + poem-openapi HTTP adapter: routes, the OpenAPI document, and
//! the middleware that gives every response its request id, security
//! headers, rate-limit headers and problem+json errors.
//!
//! One concern per module: [`auth`], [`users`], [`sessions`], [`admin`], [`audit`] and
//! [`ops`] are the APIs (handlers and what their domain errors mean on the
//! wire);
//! [`wire`] and [`params`] the shapes they exchange; [`errors`] every
//! problem code and each endpoint's error responses; [`security`] who may
//! call what; [`middleware`] one layer per cross-cutting concern; [`fast`]
//! the two hottest routes answered beside the router, inside the same
//! middleware. Nothing
//! here holds a rule of the core, and nothing here names an adapter.

pub mod admin;
pub mod audit;
pub mod audit_params;
pub mod auth;
pub mod client_ip;
pub mod docs;
pub mod errors;
pub mod fast;
pub mod jwks;
pub mod lane;
pub mod mail;
pub mod mfa;
pub mod middleware;
pub mod ops;
pub mod params;
pub mod problem;
pub mod scope;
pub mod security;
pub mod sessions;
pub mod spec;
pub mod state;
pub mod text;
pub mod users;
pub mod wire;

use poem::endpoint::make_sync;
use poem::{get, Endpoint, EndpointExt, IntoEndpoint, Response, Route};
use poem_openapi::{OpenApiService, Tags};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

pub use state::{AppState, RenderMetrics};

/// The resolved client address of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// Where the current request comes from, as the core records it: this
    /// address and the request's id.
    pub fn origin(self) -> crate::core::audit::Origin {
        let request_id = problem::current_request_id();
        crate::core::audit::Origin::request(self.0, (!request_id.is_empty()).then_some(request_id))
    }

    /// [`Self::origin`] with the request's `User-Agent`, bounded, for the
    /// routes that record a session's use (sign-in and refresh).
    pub fn origin_with_agent(self, request: &poem::Request) -> crate::core::audit::Origin {
        let agent = request.headers().get(poem::http::header::USER_AGENT);
        let agent = agent
            .and_then(|value| crate::core::session::UserAgent::from_header(&String::from_utf8_lossy(value.as_bytes())));
        self.origin().with_user_agent(agent)
    }
}

#[derive(Tags)]
pub enum ApiTags {
    /// Registration, sign-in, token refresh and sign-out.
    Auth,
    /// The signed-in user's own account.
    Users,
    /// User administration; needs the admin role.
    Admin,
    /// Liveness and readiness probes, and the public signing keys.
    Operations,
}

type Apis = (
    auth::AuthApi,
    mail::MailApi,
    users::UsersApi,
    sessions::SessionsApi,
    admin::AdminApi,
    sessions::AdminSessionsApi,
    audit::AuditApi,
    ops::OpsApi,
    jwks::JwksApi,
    mfa::MfaApi,
);

/// The one place the OpenAPI service is built: the server and the spec
/// exporter both call it, so they cannot drift apart.
pub fn openapi_service() -> OpenApiService<Apis, ()> {
    let apis = (
        auth::AuthApi,
        mail::MailApi,
        users::UsersApi,
        sessions::SessionsApi,
        admin::AdminApi,
        sessions::AdminSessionsApi,
        audit::AuditApi,
        ops::OpsApi,
        jwks::JwksApi,
        mfa::MfaApi,
    );
    // No `.summary()`: `info.summary` is OpenAPI 3.1, and poem-openapi
    // declares 3.0.0, so validators reject it; the description opens with it.
    OpenApiService::new(apis, "Portcullis", env!("CARGO_PKG_VERSION"))
        .description(
            "Authentication service: passwords, JWT access tokens, rotating refresh tokens.\n\n\
             Register and sign in with e-mail and password; receive a short-lived access token \
             (HS256, EdDSA or ES256, as the key ring says; the public keys are at `/.well-known/jwks.json`) \
             and a rotating refresh token; revoke sessions one by one or all at once. Every error is \
             an RFC 9457 `application/problem+json` document with a stable `code` and the request's \
             `request_id`.",
        )
        .license(poem_openapi::LicenseObject::new("MIT OR Apache-2.0"))
        .server(
            poem_openapi::ServerObject::new("http://127.0.0.1:8080")
                .description("A local Portcullis listening on the default PORTCULLIS_BIND"),
        )
}

/// The OpenAPI document as served at `/openapi.json` and committed at
/// `openapi/openapi.json`.
pub fn spec_json() -> String {
    let mut spec = spec::refine(&openapi_service().spec());
    spec.push('\n');
    spec
}

/// Swagger UI with the document of `/openapi.json` embedded, its own
/// origin listed as the first server (see [`spec::with_first_server`]).
fn swagger_ui_html() -> String {
    let service = openapi_service();
    let raw = service.spec();
    let page_spec = spec::with_first_server(&spec::refine(&raw), "/", "This service, the one serving this page");
    service.swagger_ui_html().replacen(&raw, &page_spec, 1)
}

/// Every route of the service, with middleware.
pub fn routes(state: Arc<AppState>) -> impl Endpoint<Output = Response> {
    assemble(state, true)
}

/// [`routes`] with `/healthz` and `/v1/auth/verify` taken by the router
/// like every other operation: for the tests that hold the fast path's
/// answers (see [`fast`] and [`lane`]) equal to the router's.
pub fn routes_through_the_router(state: Arc<AppState>) -> impl Endpoint<Output = Response> {
    assemble(state, false)
}

fn assemble(state: Arc<AppState>, fast_path: bool) -> impl Endpoint<Output = Response> {
    let spec = spec_json();
    let templates = route_templates(&spec);
    let mut allowed = middleware::AllowedMethods::from_spec(&spec).route("/openapi.json", "GET").route("/docs", "GET");
    let docs = docs::SwaggerPage::new(&swagger_ui_html());
    let render_metrics = state.render_metrics.clone();
    let mut documents = Route::new()
        .at("/openapi.json", get(make_sync(move |_| spec_response(&spec))))
        .at("/docs", get(docs.endpoint()));
    if state.metrics_on_main {
        documents = documents.at("/metrics", get(make_sync(move |_| render_metrics())));
        allowed = allowed.route("/metrics", "GET");
    }
    let operations = OperationData { state: state.clone(), inner: openapi_service().into_endpoint() };
    let operations = fast::FastRoutes::new(state.clone(), operations, fast_path);
    let route = SplitByPath { documents: documents.map_to_response(), operations };
    let lane = lane::Lane::new(&state, fast_path);
    lane.around(middleware::Portcullis::new(state, templates).allowed_methods(allowed).wrap(route))
}

/// Gives the operations what they read as request data: the state and the
/// client address. Only they read it, so only the requests that reach them
/// carry it (an extension costs a map and a box on every request).
struct OperationData<E> {
    state: Arc<AppState>,
    inner: E,
}

impl<E: Endpoint> Endpoint for OperationData<E> {
    type Output = E::Output;

    async fn call(&self, mut req: poem::Request) -> poem::Result<E::Output> {
        req.extensions_mut().insert(self.state.clone());
        if let Some(client) = scope::current_client() {
            req.extensions_mut().insert(client);
        }
        self.inner.call(req).await
    }
}

/// The paths served beside the OpenAPI operations (none of which starts so).
const DOCUMENT_PATHS: [&str; 3] = ["/openapi.json", "/docs", "/metrics"];

/// Sends the document paths to their routes and everything else straight
/// to the operations: nesting the operations under `/` would rebuild the
/// URI of every request.
struct SplitByPath<D, O> {
    documents: D,
    operations: O,
}

impl<D, O> Endpoint for SplitByPath<D, O>
where
    D: Endpoint<Output = Response>,
    O: Endpoint<Output = Response>,
{
    type Output = Response;

    async fn call(&self, req: poem::Request) -> poem::Result<Response> {
        if DOCUMENT_PATHS.iter().any(|path| req.uri().path().starts_with(path)) {
            self.documents.call(req).await
        } else {
            self.operations.call(req).await
        }
    }
}

/// The path template of each operation, by operation id, for metric labels.
fn route_templates(spec: &str) -> HashMap<String, String> {
    let spec: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
    let mut templates = HashMap::new();
    for (path, operations) in spec["paths"].as_object().into_iter().flatten() {
        for operation in operations.as_object().into_iter().flat_map(|operations| operations.values()) {
            if let Some(id) = operation["operationId"].as_str() {
                templates.insert(id.to_owned(), path.clone());
            }
        }
    }
    templates
}

/// The `/metrics` endpoint alone, for a separate listener, with the same
/// request ids and headers as the main one.
pub fn metrics_routes(state: Arc<AppState>) -> impl Endpoint<Output = Response> {
    let render_metrics = state.render_metrics.clone();
    let probed = state.clone();
    let route = Route::new()
        .at("/metrics", get(make_sync(move |_| render_metrics())))
        .at("/healthz", get(make_sync(move |_| health_response(&probed))))
        .map_to_response();
    let allowed = middleware::AllowedMethods::default().route("/metrics", "GET").route("/healthz", "GET");
    middleware::Portcullis::new(state, HashMap::new()).allowed_methods(allowed).wrap(route)
}

/// `/healthz` for the metrics listener: the body the main listener's
/// operation sends, so a probe may use either listener.
fn health_response(state: &AppState) -> Response {
    use poem_openapi::types::ToJSON as _;
    Response::builder().content_type("application/json; charset=utf-8").body(ops::health(state).to_json_string())
}

fn spec_response(spec: &str) -> Response {
    Response::builder().content_type("application/json").body(spec.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed document is what clients generate code from: it must
    /// be exactly what the service serves. Regenerate it with
    /// `cargo run -- openapi`.
    #[test]
    fn the_committed_openapi_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(committed == spec_json(), "openapi/openapi.json is stale: run `cargo run -- openapi` and commit it");
    }

    #[test]
    fn the_docs_page_embeds_the_served_document_with_its_own_origin_first() {
        let page_spec = spec::with_first_server(spec_json().trim_end(), "/", "This service, the one serving this page");
        assert!(swagger_ui_html().contains(&page_spec));
    }

    #[test]
    fn every_operation_has_an_id_a_summary_and_a_tag() {
        let spec: serde_json::Value = serde_json::from_str(&spec_json()).unwrap();
        let mut ids = std::collections::HashSet::new();
        for (path, operations) in spec["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no id"));
                assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
                assert!(operation["summary"].is_string(), "{method} {path} has no summary");
                assert!(operation["tags"].as_array().is_some_and(|t| !t.is_empty()), "{method} {path} has no tag");
            }
        }
        assert_eq!(spec["components"]["securitySchemes"]["BearerAuth"]["bearerFormat"], "JWT");
    }
}

//! What happens around every request, one layer per concern, outermost
//! first:
//!
//! 1. [`request_scope`]: the client address, the request id, its span and
//!    `X-Request-ID`, in scope for all the rest (see [`crate::app::http::scope`]);
//! 2. [`observe`]: the request's metrics and its one access-log line;
//! 3. [`cors`]: CORS headers and preflight answers, when origins are configured;
//! 4. [`headers`]: security, cache, HSTS and `Allow` headers;
//! 5. [`challenge`]: `WWW-Authenticate: Bearer` on every `401`;
//! 6. [`body_limit`]: the 16 KiB body limit (a `413` before any limit is spent);
//! 7. [`rate_limit`]: the declared rate limits, with `RateLimit-*` headers;
//! 8. [`problems`]: every error, the framework's own included, as problem+json.
//!
//! No layer holds a rule of the core; each can be tried on its own around
//! any endpoint. Two requests are answered in front of the stack, with the
//! layers' own functions: see [`crate::app::http::lane`].

pub mod body_limit;
pub mod challenge;
pub mod cors;
pub mod headers;
pub mod observe;
pub mod problems;
pub mod rate_limit;
pub mod request_scope;

use super::state::AppState;
use poem::{Endpoint, EndpointExt, Response};
use std::collections::HashMap;
use std::sync::Arc;

pub use body_limit::MAX_BODY_BYTES;
pub use headers::AllowedMethods;
pub use rate_limit::VerifiedBearer;
pub use request_scope::is_valid_request_id;

/// Builds the middleware stack around an endpoint.
pub struct Portcullis {
    state: Arc<AppState>,
    templates: HashMap<String, String>,
    allowed: AllowedMethods,
}

impl Portcullis {
    /// `templates` maps operation ids to their path templates.
    pub fn new(state: Arc<AppState>, templates: HashMap<String, String>) -> Self {
        Self { state, templates, allowed: AllowedMethods::default() }
    }

    /// The methods of each route, named in the `Allow` header of a `405`.
    #[must_use]
    pub fn allowed_methods(mut self, allowed: AllowedMethods) -> Self {
        self.allowed = allowed;
        self
    }

    pub fn wrap<E: Endpoint<Output = Response>>(self, inner: E) -> impl Endpoint<Output = Response> {
        let state = self.state;
        inner
            .with(problems::Problems)
            .with(rate_limit::RateLimit::new(state.clone()))
            .with(body_limit::BodyLimit)
            .with(challenge::Challenge)
            .with(headers::Headers::new(self.allowed, state.hsts_max_age_seconds))
            .with_if(!state.cors_allowed_origins.is_empty(), cors::Cors::new(&state.cors_allowed_origins))
            .with(observe::Observe::new(state.metrics.clone(), self.templates))
            .with(request_scope::RequestScopes::new(state.client_ip_header, state.trusted_proxies.clone()))
    }
}

//! What each request leaves behind: its `http_requests_total` and
//! `http_request_duration_seconds` samples and its one `request finished`
//! access-log line, in the request's span. The `route` label is the route
//! template, or `unmatched`: a raw path must never become a label.

use crate::app::http::scope::named_operation;
use crate::ports::MetricsSink;
use poem::http::StatusCode;
use poem::{Endpoint, Middleware, PathPattern, Request, Response};
use poem_openapi::OperationId;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Records the request's metrics and access-log line.
pub struct Observe {
    metrics: Arc<dyn MetricsSink>,
    templates: Arc<HashMap<String, String>>,
}

impl Observe {
    /// `templates` maps operation ids to their path templates.
    pub fn new(metrics: Arc<dyn MetricsSink>, templates: HashMap<String, String>) -> Self {
        Self { metrics, templates: Arc::new(templates) }
    }
}

impl<E: Endpoint<Output = Response>> Middleware<E> for Observe {
    type Output = ObserveEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ObserveEndpoint { metrics: self.metrics.clone(), templates: self.templates.clone(), inner }
    }
}

pub struct ObserveEndpoint<E> {
    metrics: Arc<dyn MetricsSink>,
    templates: Arc<HashMap<String, String>>,
    inner: E,
}

impl<E: Endpoint<Output = Response>> Endpoint for ObserveEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let method = req.method().clone();
        let response = self.inner.call(req).await?;
        let route = route_template(&response, &self.templates);
        let status = response.status();
        finished(&*self.metrics, method.as_str(), &route, status.as_u16(), started);
        Ok(response)
    }
}

/// Records a request that has its answer: its samples, and its access-log
/// line in the current (request) span.
pub(crate) fn finished(metrics: &dyn MetricsSink, method: &str, route: &str, status: u16, started: Instant) {
    let elapsed = started.elapsed();
    metrics.http_request(method, route, status, elapsed.as_secs_f64());
    tracing::info!(route = %route, status, latency_ms = elapsed.as_secs_f64() * 1000.0, "request finished");
}

/// The route template for metrics and logs, `{id}` style; `unmatched`
/// for requests no route took, so raw paths never become labels.
fn route_template<'a>(response: &Response, templates: &'a HashMap<String, String>) -> Cow<'a, str> {
    let operation = named_operation().or_else(|| response.data::<OperationId>().map(|id| id.0));
    if let Some(template) = operation.and_then(|id| templates.get(id)) {
        return Cow::Borrowed(template);
    }
    let pattern =
        response.data::<PathPattern>().filter(|p| !p.0.is_empty() && response.status() != StatusCode::NOT_FOUND);
    pattern.map_or(Cow::Borrowed("unmatched"), |pattern| {
        Cow::Owned(
            pattern
                .0
                .split('/')
                .map(|segment| {
                    segment.strip_prefix(':').map_or_else(|| segment.to_owned(), |name| format!("{{{name}}}"))
                })
                .collect::<Vec<_>>()
                .join("/"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::metrics::MockMetricsSink;
    use poem::endpoint::make_sync;
    use poem::EndpointExt;

    #[test]
    fn route_templates_use_braces() {
        let mut response = Response::default();
        response.set_data(PathPattern("/v1/admin/users/:id/unlock".into()));
        assert_eq!(route_template(&response, &HashMap::new()), "/v1/admin/users/{id}/unlock");
        assert_eq!(route_template(&Response::default(), &HashMap::new()), "unmatched");
        let mut operation = Response::default();
        operation.set_data(OperationId("getUser"));
        let templates = HashMap::from([("getUser".to_owned(), "/v1/admin/users/{id}".to_owned())]);
        assert_eq!(route_template(&operation, &templates), "/v1/admin/users/{id}");
    }

    #[tokio::test]
    async fn each_request_is_counted_under_its_template() {
        let mut metrics = MockMetricsSink::new();
        metrics
            .expect_http_request()
            .withf(|method, route, status, _| (method, route, *status) == ("GET", "/v1/users/{id}", 200))
            .times(1)
            .return_const(());
        let endpoint = make_sync(|_| {
            let mut response = Response::default();
            response.set_data(OperationId("getUser"));
            response
        });
        let templates = HashMap::from([("getUser".to_owned(), "/v1/users/{id}".to_owned())]);
        let endpoint = endpoint.with(Observe::new(Arc::new(metrics), templates));
        endpoint.call(Request::builder().uri_str("/v1/users/42").finish()).await.unwrap();
    }
}

//! Logs: JSON lines on standard output, one per event, with the request
//! span's fields (request id, method, client address) on every line.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber. `RUST_LOG` sets the filter (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .flatten_event(true);
    let _ = tracing_subscriber::registry().with(filter).with(json).try_init();
}

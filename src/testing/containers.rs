//! Service containers for tests, through testcontainers: which image, and
//! making sure the container goes away with the test.
//!
//! The image is the official one unless a variable names another
//! (`PORTCULLIS_TEST_POSTGRES_IMAGE=portcullis-local/postgres`, as CI does
//! with the images `scripts/local-images.sh` builds). Each container carries
//! the label `org.portcullis.test`, so that whatever a killed test left
//! behind can be found: `docker rm -f $(docker ps -aq --filter
//! label=org.portcullis.test)`. testcontainers for Rust runs no reaper
//! container (Ryuk): a container is removed when its handle is dropped.

use std::any::Any;
use std::time::Duration;
use testcontainers_modules::testcontainers::runners::AsyncRunner as _;
use testcontainers_modules::testcontainers::{Image, ImageExt as _};

/// Official images of a Postgres that has `DROP DATABASE … WITH (FORCE)`
/// (13 and later) and of a current Redis.
pub const DEFAULT_POSTGRES_IMAGE: &str = "postgres:16-alpine";
pub const DEFAULT_REDIS_IMAGE: &str = "redis:7-alpine";

/// The label on every container the tests start.
pub const LABEL: &str = "org.portcullis.test";

/// A pull on a slow link and a first start both fit in this.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(180);

/// `name[:tag]` split at the tag's colon; a colon before the last `/` is a
/// registry's port, not a tag.
pub fn split_reference(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') && !name.is_empty() && !tag.is_empty() => (name, tag),
        _ => (reference, "latest"),
    }
}

/// The image reference for a service: `variable` when set, else `default`.
fn reference(variable: &str, default: &str) -> String {
    std::env::var(variable)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// Starts `image` as the image `variable` names (else `default`) when a
/// Docker engine answers: the host and port that reach `port`, and the
/// container, removed when the box is dropped. `None`, after saying why,
/// when there is no engine or the container does not start.
pub async fn start_container<I>(
    image: I,
    variable: &str,
    default: &str,
    port: u16,
) -> Option<(String, u16, Box<dyn Any + Send>)>
where
    I: Image + 'static,
{
    let reference = reference(variable, default);
    let (name, tag) = split_reference(&reference);
    let request = image.with_name(name).with_tag(tag).with_label(LABEL, "1").with_startup_timeout(STARTUP_TIMEOUT);
    let container = match request.start().await {
        Ok(container) => container,
        Err(error) => {
            eprintln!("no {reference} container (set {variable} to use another image): {error}");
            return None;
        }
    };
    let address = async {
        Ok::<_, Box<dyn std::error::Error>>((container.get_host().await?, container.get_host_port_ipv4(port).await?))
    };
    match address.await {
        Ok((host, host_port)) => {
            // The port is published on IPv4; tests that rewrite the URL (a
            // proxy in between) expect an address, not a name.
            let host = match host.to_string() {
                name if name == "localhost" => "127.0.0.1".to_owned(),
                other => other,
            };
            Some((host, host_port, Box::new(Held(Some(Box::new(container))))))
        }
        Err(error) => {
            eprintln!("the {reference} container's port {port} is not published: {error}");
            None
        }
    }
}

/// A container handle that may be dropped anywhere. testcontainers removes
/// the container from its `Drop` through the current Tokio runtime, and a
/// test may drop the handle after its runtime is gone: then a runtime of
/// our own stands in for it.
struct Held(Option<Box<dyn Any + Send>>);

impl Drop for Held {
    fn drop(&mut self) {
        let container = self.0.take();
        if tokio::runtime::Handle::try_current().is_ok() {
            drop(container);
        } else if let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
            let _entered = runtime.enter();
            drop(container);
        } else {
            eprintln!("warning: no runtime to remove a test container; `docker ps --filter label={LABEL}` finds it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn an_image_reference_splits_at_the_tag_not_at_a_registry_port() {
        assert_eq!(split_reference("postgres:16-alpine"), ("postgres", "16-alpine"));
        assert_eq!(split_reference("portcullis-local/postgres"), ("portcullis-local/postgres", "latest"));
        assert_eq!(split_reference("registry.local:5000/postgres"), ("registry.local:5000/postgres", "latest"));
        assert_eq!(split_reference("registry.local:5000/postgres:16"), ("registry.local:5000/postgres", "16"));
        assert_eq!(split_reference("redis:"), ("redis:", "latest"));
    }
}

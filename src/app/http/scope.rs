//! What the service knows about the request being served, in scope for
//! all the work done for it: its id, its client address, and the operation
//! that answered it. Set by the request-scope middleware
//! ([`super::middleware::request_scope`]) around everything else, and held
//! in a task-local rather than in the request's extensions: an extension
//! costs a map and a box on every request, and most requests (probes,
//! bearer checks) never reach the code that would read it there.

use super::ClientIp;
use std::cell::Cell;
use std::future::Future;
use std::net::IpAddr;

tokio::task_local! {
    static REQUEST: RequestScope;
}

/// A request id held inline: at most 128 bytes by the id's rule, so a
/// request costs no allocation for the copy its problems may quote.
#[derive(Clone, Copy)]
pub struct RequestIdText {
    length: u8,
    bytes: [u8; 128],
}

impl RequestIdText {
    /// `id` when it fits, else `None` (no valid id is longer).
    pub fn new(id: &str) -> Option<Self> {
        let mut bytes = [0; 128];
        bytes.get_mut(..id.len())?.copy_from_slice(id.as_bytes());
        Some(Self { length: u8::try_from(id.len()).ok()?, bytes })
    }

    pub fn as_str(&self) -> &str {
        // Copied whole from a `str` by `new`.
        std::str::from_utf8(&self.bytes[..usize::from(self.length)]).unwrap_or_default()
    }
}

/// The request being served.
pub struct RequestScope {
    id: RequestIdText,
    client: IpAddr,
    operation: Cell<Option<&'static str>>,
}

impl RequestScope {
    pub fn new(id: RequestIdText, client: IpAddr) -> Self {
        Self { id, client, operation: Cell::new(None) }
    }

    /// Runs `work` as the work of this request.
    pub async fn run<F: Future>(self, work: F) -> F::Output {
        REQUEST.scope(self, work).await
    }
}

/// The current request's id, or an empty string outside a request.
pub fn current_request_id() -> String {
    REQUEST.try_with(|request| request.id.as_str().to_owned()).unwrap_or_default()
}

/// The current request's client address, or `None` outside a request.
pub fn current_client() -> Option<ClientIp> {
    REQUEST.try_with(|request| ClientIp(request.client)).ok()
}

/// Names the operation that answers the current request, for the metric
/// labels: for the routes answered beside the router (see [`super::fast`]),
/// which the router's own naming never sees. Outside a request, nothing.
pub fn name_operation(operation_id: &'static str) {
    let _ = REQUEST.try_with(|request| request.operation.set(Some(operation_id)));
}

/// The operation named by [`name_operation`] for the current request.
pub fn named_operation() -> Option<&'static str> {
    REQUEST.try_with(|request| request.operation.get()).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[tokio::test]
    async fn the_scope_holds_the_id_the_client_and_the_operation_named() {
        let client = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
        let scope = RequestScope::new(RequestIdText::new("req-1").unwrap(), client);
        let seen = scope
            .run(async {
                assert_eq!(named_operation(), None);
                name_operation("healthz");
                (current_request_id(), current_client(), named_operation())
            })
            .await;
        assert_eq!(seen, ("req-1".to_owned(), Some(ClientIp(client)), Some("healthz")));
        // Outside a request there is nothing, and naming is harmless.
        name_operation("verify");
        assert_eq!((current_request_id(), current_client(), named_operation()), (String::new(), None, None));
    }

    #[test]
    fn an_id_longer_than_the_rule_allows_does_not_fit() {
        assert_eq!(RequestIdText::new(&"a".repeat(128)).map(|id| id.as_str().len()), Some(128));
        assert!(RequestIdText::new(&"a".repeat(129)).is_none());
    }
}

//! The client address of each request, as [`ClientIp`] in the request's
//! extensions: the socket peer, or what a trusted proxy says in the one
//! configured header (see
//! [`crate::app::http::client_ip`]). The outermost layer: the request span,
//! the rate limits and the login lockout all key on it.

use crate::app::http::client_ip::{client_ip, ClientIpHeader};
use crate::app::http::ClientIp;
use ipnet::IpNet;
use poem::{Endpoint, Middleware, Request, Response};
use std::net::{IpAddr, Ipv4Addr};

/// Resolves the client address against the trusted proxies.
pub struct ClientAddress {
    header: ClientIpHeader,
    trusted_proxies: Vec<IpNet>,
}

impl ClientAddress {
    pub fn new(header: ClientIpHeader, trusted_proxies: Vec<IpNet>) -> Self {
        Self { header, trusted_proxies }
    }
}

impl<E: Endpoint<Output = Response>> Middleware<E> for ClientAddress {
    type Output = ClientAddressEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ClientAddressEndpoint { header: self.header, trusted_proxies: self.trusted_proxies.clone(), inner }
    }
}

pub struct ClientAddressEndpoint<E> {
    header: ClientIpHeader,
    trusted_proxies: Vec<IpNet>,
    inner: E,
}

impl<E: Endpoint<Output = Response>> Endpoint for ClientAddressEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let peer = req.remote_addr().as_socket_addr().map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), std::net::SocketAddr::ip);
        // A line that is not text is kept as an element no hop can vouch for.
        let values: Vec<&str> = self.header.name().map_or_else(Vec::new, |name| {
            req.headers().get_all(name).iter().map(|value| value.to_str().unwrap_or("unknown")).collect()
        });
        let client = client_ip(peer, self.header, &values, &self.trusted_proxies);
        req.extensions_mut().insert(ClientIp(client));
        self.inner.call(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::endpoint::make_sync;
    use poem::EndpointExt;

    #[tokio::test]
    async fn forwarded_headers_count_only_from_a_trusted_peer() {
        let echo = || {
            make_sync(|req: Request| req.extensions().get::<ClientIp>().map(|ip| ip.0.to_string()).unwrap())
                .map_to_response()
        };
        let request = || Request::builder().header("x-forwarded-for", "203.0.113.9").finish();
        // A request built here has no socket peer: it counts as loopback.
        let untrusted = echo().with(ClientAddress::new(ClientIpHeader::XForwardedFor, Vec::new()));
        let body = untrusted.call(request()).await.unwrap().into_body().into_string().await.unwrap();
        assert_eq!(body, "127.0.0.1");
        let loopback = || vec!["127.0.0.0/8".parse().unwrap()];
        let trusted = echo().with(ClientAddress::new(ClientIpHeader::XForwardedFor, loopback()));
        let body = trusted.call(request()).await.unwrap().into_body().into_string().await.unwrap();
        assert_eq!(body, "203.0.113.9");
        let unconfigured = echo().with(ClientAddress::new(ClientIpHeader::None, loopback()));
        let body = unconfigured.call(request()).await.unwrap().into_body().into_string().await.unwrap();
        assert_eq!(body, "127.0.0.1");
    }
}

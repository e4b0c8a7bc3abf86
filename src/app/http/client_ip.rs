//! Who is calling: the socket peer, unless the peer is a trusted proxy, in
//! which case `Forwarded` / `X-Forwarded-For` are read right to left,
//! skipping trusted hops. Malformed values are ignored, never trusted.

use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// Resolves the client address of one request.
pub fn client_ip(peer: IpAddr, forwarded: Option<&str>, x_forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // `Forwarded` is the standard; prefer it when it parses.
    let chain = forwarded.and_then(parse_forwarded).or_else(|| x_forwarded_for.and_then(parse_x_forwarded_for));
    let Some(chain) = chain else { return peer };
    for hop in chain.iter().rev() {
        if !is_trusted(hop) {
            return *hop;
        }
    }
    // Every hop is trusted: the leftmost is the origin.
    chain.first().copied().unwrap_or(peer)
}

/// Every address of an `X-Forwarded-For` list, or `None` if any is malformed.
pub fn parse_x_forwarded_for(value: &str) -> Option<Vec<IpAddr>> {
    let hops: Option<Vec<IpAddr>> = value.split(',').map(|hop| parse_node(hop.trim())).collect();
    hops.filter(|h| !h.is_empty())
}

/// The `for=` addresses of a `Forwarded` header (RFC 7239), or `None` if
/// any element lacks a parseable one.
pub fn parse_forwarded(value: &str) -> Option<Vec<IpAddr>> {
    let mut hops = Vec::new();
    for element in value.split(',') {
        let node = element.split(';').find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            key.trim().eq_ignore_ascii_case("for").then_some(value.trim())
        })?;
        hops.push(parse_node(node.trim_matches('"'))?);
    }
    (!hops.is_empty()).then_some(hops)
}

/// An address, optionally with a port, IPv6 optionally in brackets.
fn parse_node(node: &str) -> Option<IpAddr> {
    if node.is_empty() || node.len() > 64 {
        return None;
    }
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    let (inner, after) = node.strip_prefix('[')?.split_once(']')?;
    let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(|p| p.parse::<u16>().is_ok());
    if !port_ok {
        return None;
    }
    inner.parse::<IpAddr>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        assert_eq!(client_ip(ip("203.0.113.9"), None, Some("1.2.3.4"), &nets(&["10.0.0.0/8"])), ip("203.0.113.9"));
    }

    #[test]
    fn trusted_hops_are_skipped_right_to_left() {
        let trusted = nets(&["10.0.0.0/8"]);
        let xff = Some("198.51.100.7, 203.0.113.5, 10.0.0.3");
        assert_eq!(client_ip(ip("10.0.0.2"), None, xff, &trusted), ip("203.0.113.5"));
    }

    #[test]
    fn forwarded_is_read_with_ports_quotes_and_brackets() {
        let trusted = nets(&["10.0.0.0/8"]);
        let header = Some(r#"for=198.51.100.7;proto=https, for="[2001:db8::1]:4711""#);
        assert_eq!(client_ip(ip("10.0.0.2"), header, None, &trusted), ip("2001:db8::1"));
    }

    #[test]
    fn malformed_values_fall_back_to_the_peer() {
        let trusted = nets(&["10.0.0.0/8"]);
        for bad in ["", "not-an-ip", "1.2.3.4, nonsense", ",", "1.2.3.4,,5.6.7.8"] {
            assert_eq!(client_ip(ip("10.0.0.2"), None, Some(bad), &trusted), ip("10.0.0.2"), "{bad:?}");
        }
        assert_eq!(client_ip(ip("10.0.0.2"), Some("by=1.2.3.4"), None, &trusted), ip("10.0.0.2"));
        for bad in [r#"for="[2001:db8::1""#, r#"for="[2001:db8::1]x""#, r#"for="[2001:db8::1]:99999""#] {
            assert_eq!(client_ip(ip("10.0.0.2"), Some(bad), None, &trusted), ip("10.0.0.2"), "{bad:?}");
        }
    }

    #[test]
    fn when_every_hop_is_trusted_the_leftmost_is_the_client() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(ip("10.0.0.2"), None, Some("10.1.1.1, 10.2.2.2"), &trusted), ip("10.1.1.1"));
    }

    proptest! {
        #[test]
        fn hostile_headers_never_panic_and_untrusted_peers_always_win(
            header in "\\PC{0,200}", peer in any::<[u8; 4]>()
        ) {
            let peer = IpAddr::from(peer);
            let trusted = nets(&["10.0.0.0/8"]);
            let resolved = client_ip(peer, Some(&header), Some(&header), &trusted);
            if !trusted[0].contains(&peer) {
                prop_assert_eq!(resolved, peer);
            }
        }

        #[test]
        fn the_answer_is_the_peer_or_an_address_from_the_header(header in "[0-9a-f.:, \\[\\]=;\"forFOR]{0,120}") {
            let peer = ip("10.0.0.1");
            let resolved = client_ip(peer, None, Some(&header), &nets(&["10.0.0.0/8"]));
            let listed = parse_x_forwarded_for(&header).unwrap_or_default();
            prop_assert!(resolved == peer || listed.contains(&resolved));
        }
    }
}

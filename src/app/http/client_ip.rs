//! Who is calling: the socket peer, unless the peer is a trusted proxy and
//! a client-address header is configured ([`ClientIpHeader`]). Then that
//! one header, and no other, is read right to left, skipping trusted hops;
//! the first untrusted address is the client. An `unknown`, obfuscated or
//! malformed element ends the walk at the last trusted hop, because what
//! lies left of it was written by someone no trusted proxy vouched for.
//!
//! Never falls back from one header to another: a header the proxy does
//! not overwrite is the caller's to choose.

use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The one header a trusted proxy reports the client address in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientIpHeader {
    /// The socket peer is the client; every forwarding header is ignored.
    #[default]
    None,
    XForwardedFor,
    /// RFC 7239 `Forwarded`, its `for=` parameters.
    Forwarded,
    XRealIp,
}

impl ClientIpHeader {
    /// The setting's accepted values, as written in the configuration.
    pub const CHOICES: &'static str = "x-forwarded-for, forwarded or x-real-ip";

    /// Reads a setting value; `None` for anything but the accepted names.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "none" => Some(Self::None),
            "x-forwarded-for" => Some(Self::XForwardedFor),
            "forwarded" => Some(Self::Forwarded),
            "x-real-ip" => Some(Self::XRealIp),
            _ => None,
        }
    }

    /// The header's name, or `None` when the socket peer is the client.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::XForwardedFor => Some("x-forwarded-for"),
            Self::Forwarded => Some("forwarded"),
            Self::XRealIp => Some("x-real-ip"),
        }
    }
}

/// Resolves the client address of one request. `values` are the lines of
/// the configured header, in the order they arrived.
pub fn client_ip(peer: IpAddr, header: ClientIpHeader, values: &[&str], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if header == ClientIpHeader::None || !is_trusted(&peer) {
        return peer;
    }
    let mut last_trusted = peer;
    for element in values.iter().rev().flat_map(|value| value.rsplit(',')) {
        let hop = match header {
            ClientIpHeader::Forwarded => forwarded_for(element).and_then(parse_node),
            _ => parse_node(element.trim()),
        };
        match hop {
            Some(hop) if is_trusted(&hop) => last_trusted = hop,
            Some(hop) => return hop,
            // `unknown`, `_obfuscated` or garbage: no trusted hop vouches for what lies beyond.
            None => return last_trusted,
        }
    }
    last_trusted
}

/// The `for=` value of one `Forwarded` element, unquoted.
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        key.trim().eq_ignore_ascii_case("for").then(|| value.trim().trim_matches('"'))
    })
}

/// An address, optionally with a port (an obfuscated `_port` too), IPv6
/// optionally in brackets. `unknown` and `_hidden` identifiers are `None`.
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
    let (inner, port) = if let Some(bracketed) = node.strip_prefix('[') {
        let (inner, after) = bracketed.split_once(']')?;
        (inner, if after.is_empty() { None } else { Some(after.strip_prefix(':')?) })
    } else {
        let (inner, port) = node.rsplit_once(':')?;
        (inner, Some(port))
    };
    let port_ok = port.is_none_or(|port| {
        port.parse::<u16>().is_ok()
            || port.strip_prefix('_').is_some_and(|rest| {
                !rest.is_empty()
                    && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
            })
    });
    if !port_ok {
        return None;
    }
    inner.parse::<IpAddr>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ClientIpHeader::{Forwarded, XForwardedFor, XRealIp};

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxy() -> IpAddr {
        ip("10.0.0.2")
    }

    fn resolve(header: ClientIpHeader, value: &str) -> IpAddr {
        client_ip(proxy(), header, &[value], &nets(&["10.0.0.0/8"]))
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let peer = ip("203.0.113.9");
        assert_eq!(client_ip(peer, XForwardedFor, &["1.2.3.4"], &nets(&["10.0.0.0/8"])), peer);
    }

    #[test]
    fn without_a_configured_header_even_a_trusted_peer_is_the_client() {
        assert_eq!(client_ip(proxy(), ClientIpHeader::None, &["1.2.3.4"], &nets(&["10.0.0.0/8"])), proxy());
    }

    #[test]
    fn trusted_hops_are_skipped_right_to_left() {
        assert_eq!(resolve(XForwardedFor, "198.51.100.7, 203.0.113.5, 10.0.0.3"), ip("203.0.113.5"));
        assert_eq!(resolve(XRealIp, "203.0.113.5"), ip("203.0.113.5"));
    }

    #[test]
    fn several_header_lines_are_one_list_in_arrival_order() {
        let trusted = nets(&["10.0.0.0/8"]);
        let lines = ["198.51.100.7", "203.0.113.5, 10.0.0.3"];
        assert_eq!(client_ip(proxy(), XForwardedFor, &lines, &trusted), ip("203.0.113.5"));
    }

    #[test]
    fn forwarded_is_read_with_ports_quotes_and_brackets() {
        let header = r#"for=198.51.100.7;proto=https, for="[2001:db8::1]:4711""#;
        assert_eq!(resolve(Forwarded, header), ip("2001:db8::1"));
        assert_eq!(resolve(Forwarded, r#"for="198.51.100.7:_port""#), ip("198.51.100.7"));
    }

    #[test]
    fn a_caller_cannot_pick_its_address_left_of_what_the_proxy_appended() {
        // nginx appends the real peer; the caller's own claims lie to its left.
        assert_eq!(resolve(XForwardedFor, "1.2.3.4, 203.0.113.5"), ip("203.0.113.5"));
        assert_eq!(resolve(Forwarded, "for=1.2.3.4, for=203.0.113.5"), ip("203.0.113.5"));
    }

    #[test]
    fn unknown_and_obfuscated_identifiers_end_the_walk_at_the_last_trusted_hop() {
        assert_eq!(resolve(Forwarded, "for=1.2.3.4, for=unknown"), proxy());
        assert_eq!(resolve(Forwarded, "for=1.2.3.4, for=_hidden, for=10.0.0.3"), ip("10.0.0.3"));
        assert_eq!(resolve(XForwardedFor, "1.2.3.4, unknown, 10.0.0.3"), ip("10.0.0.3"));
        assert_eq!(resolve(Forwarded, "for=1.2.3.4, by=10.0.0.3"), proxy());
    }

    #[test]
    fn malformed_values_end_the_walk_at_the_last_trusted_hop() {
        for bad in ["", "not-an-ip", "1.2.3.4, nonsense", ",", "1.2.3.4,,", "999.1.1.1"] {
            assert_eq!(resolve(XForwardedFor, bad), proxy(), "{bad:?}");
        }
        for bad in [r#"for="[2001:db8::1""#, r#"for="[2001:db8::1]x""#, r#"for="[2001:db8::1]:99999""#, "for=300.1.2.3"]
        {
            assert_eq!(resolve(Forwarded, bad), proxy(), "{bad:?}");
        }
    }

    #[test]
    fn when_every_hop_is_trusted_the_leftmost_is_the_client() {
        assert_eq!(resolve(XForwardedFor, "10.1.1.1, 10.2.2.2"), ip("10.1.1.1"));
    }

    #[test]
    fn the_setting_names_exactly_three_headers() {
        assert_eq!(ClientIpHeader::parse("X-Forwarded-For"), Some(XForwardedFor));
        assert_eq!(ClientIpHeader::parse("forwarded"), Some(Forwarded));
        assert_eq!(ClientIpHeader::parse("x-real-ip"), Some(XRealIp));
        assert_eq!(ClientIpHeader::parse(""), Some(ClientIpHeader::None));
        assert_eq!(ClientIpHeader::parse("x-client-ip"), None);
    }

    proptest! {
        #[test]
        fn hostile_headers_never_panic_and_untrusted_peers_always_win(
            header in "\\PC{0,200}", peer in any::<[u8; 4]>()
        ) {
            let peer = IpAddr::from(peer);
            let trusted = nets(&["10.0.0.0/8"]);
            for choice in [Forwarded, XForwardedFor, XRealIp] {
                let resolved = client_ip(peer, choice, &[&header], &trusted);
                if !trusted[0].contains(&peer) {
                    prop_assert_eq!(resolved, peer);
                }
            }
        }

        #[test]
        fn the_answer_is_the_peer_or_an_address_from_the_header(header in "[0-9a-f.:, \\[\\]=;\"forFOR]{0,120}") {
            let resolved = resolve(XForwardedFor, &header);
            let listed: Vec<IpAddr> = header.split(',').filter_map(|hop| parse_node(hop.trim())).collect();
            prop_assert!(resolved == proxy() || listed.contains(&resolved));
        }
    }
}

//! The client-address header from the network. The first byte chooses the
//! configured header (`X-Forwarded-For`, `Forwarded` or `X-Real-IP`); the
//! rest is its lines, split at `ÿ` (U+00FF). Never a panic, and an
//! untrusted peer, or no configured header, is always the client, whatever
//! the header says.
#![no_main]

use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use portcullis::app::http::client_ip::{client_ip, ClientIpHeader};
use std::net::IpAddr;

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else { return };
    let header =
        [ClientIpHeader::XForwardedFor, ClientIpHeader::Forwarded, ClientIpHeader::XRealIp][usize::from(choice) % 3];
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let values: Vec<&str> = text.split('\u{ff}').collect();
    let trusted_peer: IpAddr = "10.0.0.1".parse().unwrap();
    let untrusted_peer: IpAddr = "192.0.2.1".parse().unwrap();
    let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "2001:db8::/32".parse().unwrap()];

    let _ = client_ip(trusted_peer, header, &values, &trusted);
    assert_eq!(client_ip(untrusted_peer, header, &values, &trusted), untrusted_peer);
    assert_eq!(client_ip(trusted_peer, ClientIpHeader::None, &values, &trusted), trusted_peer);
});

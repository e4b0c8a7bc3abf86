//! `Forwarded` and `X-Forwarded-For` from the network. The input is
//! `Forwarded`, a `0xFF`, then `X-Forwarded-For`; the peer is a trusted
//! proxy. Never a panic, and the client is either the peer or an address
//! one of the headers names: never one made up.
#![no_main]

use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use portcullis::app::http::client_ip::{client_ip, parse_forwarded, parse_x_forwarded_for};
use std::net::IpAddr;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0xFF).unwrap_or(data.len());
    let (forwarded, x_forwarded_for) = data.split_at(split);
    let forwarded = std::str::from_utf8(forwarded).ok();
    let x_forwarded_for = x_forwarded_for.get(1..).and_then(|rest| std::str::from_utf8(rest).ok());
    let peer: IpAddr = "10.0.0.1".parse().unwrap();
    let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "2001:db8::/32".parse().unwrap()];

    let client = client_ip(peer, forwarded, x_forwarded_for, &trusted);

    let named: Vec<IpAddr> = [forwarded.and_then(parse_forwarded), x_forwarded_for.and_then(parse_x_forwarded_for)]
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    assert!(client == peer || named.contains(&client), "{client} was never named");
});

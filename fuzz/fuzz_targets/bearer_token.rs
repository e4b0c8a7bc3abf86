//! `Authorization: Bearer` and the JWT inside it. The first byte chooses:
//!
//! - even: the rest is the header value as sent, parsed as the rate limiter
//!   and the bearer checker do, and verified;
//! - odd: the rest is a JWT header and claims in JSON, split at the first
//!   `0xFF`, signed with the ring's key (`$KID` stands for its id), so the
//!   fuzzer reaches past the signature into header and claim checks.
//!
//! Never a panic; a token that verifies names a known role and has not
//! expired.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use poem::http::{HeaderMap, HeaderValue};
use poem::web::headers::authorization::Bearer;
use poem::web::headers::{Authorization, HeaderMapExt};
use portcullis::core::token::{KeyRing, TokenSettings};
use portcullis::core::user::UnixSeconds;
use secrecy::SecretString;
use sha2::Sha256;
use std::sync::OnceLock;

const KEY: &str = "fuzzing-key-0123456789abcdef-0123456789";
const NOW: i64 = 1_500;

fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| KeyRing::new(&[SecretString::from(KEY)]).expect("a 32-byte key"))
}

fn settings() -> TokenSettings {
    TokenSettings {
        issuer: "portcullis".to_owned(),
        audience: "portcullis-api".to_owned(),
        access_ttl_seconds: 900,
        leeway_seconds: 30,
    }
}

fn verify(token: &str) {
    if let Ok(principal) = ring().verify(token, &settings(), UnixSeconds::new(NOW)) {
        assert!(principal.expires_at.seconds() > NOW - 30);
    }
}

fn signed(header: &[u8], claims: &[u8]) -> String {
    let header = String::from_utf8_lossy(header).replace("$KID", ring().signing_kid());
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).expect("any key length");
    mac.update(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        let Ok(value) = HeaderValue::from_bytes(rest) else { return };
        let mut headers = HeaderMap::new();
        headers.insert("authorization", value);
        if let Some(bearer) = headers.typed_get::<Authorization<Bearer>>() {
            verify(bearer.token());
        }
    } else {
        let split = rest.iter().position(|&b| b == 0xFF).unwrap_or(rest.len());
        let (header, claims) = rest.split_at(split);
        verify(&signed(header, claims.get(1..).unwrap_or_default()));
    }
});

//! RFC 6238 time-based one-time passwords: HMAC-SHA-1, six digits, 30-second
//! steps, accepted one step either side of now. The HMAC is ring's, the
//! crate the key ring already signs with; RFC 4226's dynamic truncation is
//! the dozen lines below.
//!
//! This module only computes and compares codes: which step was last used,
//! and so whether a code is a replay, is the store's to settle
//! (compare-and-set, see [`crate::ports::MfaRepo`]).

use super::user::UnixSeconds;
use ring::hmac;
use std::fmt::Write as _;

/// Seconds per step (RFC 6238's default `X`).
pub const STEP_SECONDS: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Steps accepted either side of the current one.
pub const WINDOW: i64 = 1;
/// Bytes of a new secret: 160 bits, the HMAC-SHA-1 block-friendly length
/// RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;

/// The step `now` falls in.
pub fn step_at(now: UnixSeconds) -> i64 {
    now.seconds().div_euclid(STEP_SECONDS)
}

/// The code of `secret` at `step`, as RFC 4226 §5.3 truncates it, with
/// `digits` digits (six here; the RFC's SHA-1 vectors use eight).
pub fn code_at(secret: &[u8], step: i64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let counter = u64::try_from(step).unwrap_or(0).to_be_bytes();
    let tag = hmac::sign(&key, &counter);
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    binary % 10u32.pow(digits)
}

/// The code of `secret` at `step` as the six digits a user types.
pub fn format_code(secret: &[u8], step: i64) -> String {
    format!("{:06}", code_at(secret, step, DIGITS))
}

/// The step within the window around `now` whose code `presented` is, if
/// any. Anything but exactly six ASCII digits matches nothing. Every step
/// of the window is computed and compared in constant time, so the answer
/// takes as long whichever step (if any) matched.
pub fn matching_step(secret: &[u8], presented: &str, now: UnixSeconds) -> Option<i64> {
    let digits = presented.trim();
    if digits.len() != DIGITS as usize || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    let mut found = None;
    for step in current - WINDOW..=current + WINDOW {
        let expected = format_code(secret, step);
        let differs = expected.bytes().zip(digits.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if differs == 0 && found.is_none() {
            found = Some(step);
        }
    }
    found
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding, as authenticator apps read secrets.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` URI (Google Authenticator's key-URI format) that
/// authenticator apps scan: issuer and account label percent-encoded.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        percent_encode(account),
        base32(secret),
    )
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the SHA-1 seed, ASCII "12345678901234567890".
    const RFC_SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn the_rfc_6238_sha1_test_vectors_hold() {
        let vectors: [(i64, u32); 6] = [
            (59, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ];
        for (time, expected) in vectors {
            let step = step_at(UnixSeconds::new(time));
            assert_eq!(code_at(RFC_SEED, step, 8), expected, "T = {time}");
            // Six digits are the last six of the eight.
            assert_eq!(code_at(RFC_SEED, step, 6), expected % 1_000_000, "T = {time}");
        }
    }

    #[test]
    fn the_rfc_4226_hotp_vectors_hold() {
        let expected = [755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871, 520_489];
        for (counter, code) in expected.into_iter().enumerate() {
            assert_eq!(code_at(RFC_SEED, i64::try_from(counter).unwrap(), 6), code, "counter {counter}");
        }
    }

    #[test]
    fn a_code_matches_one_step_either_side_and_no_further() {
        let now = UnixSeconds::new(1_111_111_111);
        let current = step_at(now);
        for offset in -1..=1 {
            let code = format_code(RFC_SEED, current + offset);
            assert_eq!(matching_step(RFC_SEED, &code, now), Some(current + offset), "offset {offset}");
        }
        for offset in [-2, 2, 10] {
            let code = format_code(RFC_SEED, current + offset);
            assert_eq!(matching_step(RFC_SEED, &code, now), None, "offset {offset}");
        }
    }

    #[test]
    fn anything_but_six_digits_matches_nothing() {
        let now = UnixSeconds::new(1_111_111_111);
        let code = format_code(RFC_SEED, step_at(now));
        assert_eq!(matching_step(RFC_SEED, &format!(" {code}\n"), now), Some(step_at(now)));
        let long = format!("{code}0");
        let signed = format!("+{}", &code[1..]);
        for junk in
            ["", "12345", "abcdef", "１２３４５６", long.as_str(), signed.as_str(), "\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}"]
        {
            assert_eq!(matching_step(RFC_SEED, junk, now), None, "{junk:?}");
        }
    }

    #[test]
    fn base32_is_rfc_4648_without_padding() {
        // RFC 4648 §10, padding removed.
        for (input, output) in
            [("", ""), ("f", "MY"), ("fo", "MZXQ"), ("foo", "MZXW6"), ("foob", "MZXW6YQ"), ("fooba", "MZXW6YTB")]
        {
            assert_eq!(base32(input.as_bytes()), output);
        }
        assert_eq!(base32(RFC_SEED), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn the_uri_names_issuer_account_and_parameters() {
        let uri = otpauth_uri("Portcullis", "ada lovelace@example.com", RFC_SEED);
        assert_eq!(
            uri,
            "otpauth://totp/Portcullis:ada%20lovelace@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Portcullis&algorithm=SHA1&digits=6&period=30"
        );
    }
}

//! A refresh token from a refresh or logout body: only 256-bit base64url
//! values parse, and a parsed token is exactly what was sent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::core::refresh::RefreshToken;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    if let Ok(token) = RefreshToken::parse(input) {
        assert_eq!(token.expose(), input);
        assert_eq!(input.len(), 43);
        let _ = token.hash();
    }
});

//! `X-Request-ID` from the caller: an id is echoed only when it is 1 to 128
//! bytes of `[A-Za-z0-9._-]`, so it can never smuggle a header or a log line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::app::http::middleware::request_scope::is_valid_request_id;

fuzz_target!(|data: &[u8]| {
    let Ok(id) = std::str::from_utf8(data) else { return };
    if is_valid_request_id(id) {
        assert!((1..=128).contains(&id.len()));
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
    }
});

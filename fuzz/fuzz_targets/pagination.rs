//! `limit` and `cursor` of the admin user list: any value is a page size in
//! range, a user id, or a 422 naming the field; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::app::http::params::{Cursor, PageSize};
use portcullis::core::admin::MAX_PAGE_SIZE;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    if let Ok(Some(user)) = Cursor::resolve(Some(Cursor(input.to_owned()))) {
        // A cursor is a user id: it names the same id when given back.
        let again = Cursor::resolve(Some(Cursor(user.to_string()))).ok().flatten();
        assert_eq!(again, Some(user));
    }
    if let Ok(size) = input.trim().parse::<i64>() {
        if let Ok(limit) = PageSize::resolve(Some(PageSize(size))) {
            assert!((1..=MAX_PAGE_SIZE).contains(&limit));
        }
    }
});

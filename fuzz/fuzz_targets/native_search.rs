//! The native API's Discover search body (`POST /api/v1/logs/search`): any bytes are a query
//! or a client error that names where, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err((status, _)) = osprey_server::api::build_search_body(data) {
        assert!((400..500).contains(&status), "status {status}");
    }
});

//! KQL typed in the query bar: parsing never panics or hangs.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = osprey_query::parse_kql(text, &["message".to_string()]);
    }
});

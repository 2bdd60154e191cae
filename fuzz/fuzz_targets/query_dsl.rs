//! Query DSL bodies: any JSON value parses to a query or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = osprey_query::parse_dsl(&json);
    }
});

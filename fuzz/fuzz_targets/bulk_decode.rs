//! `_bulk` bodies from the network: decoding never panics, and every decoded source is a JSON object.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for item in osprey_ingest::decode_bulk(data).into_iter().flatten() {
        if let Some(source) = item.source {
            assert!(serde_json::from_slice::<serde_json::Value>(&source).is_ok_and(|v| v.is_object()));
        }
    }
});

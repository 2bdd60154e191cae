//! Zipkin v2 spans, JSON and proto3.
#![no_main]

use libfuzzer_sys::fuzz_target;
use osprey_trace::zipkin::{decode_json, decode_proto};

fuzz_target!(|data: &[u8]| {
    for spans in [decode_json(data), decode_proto(data)].into_iter().flatten() {
        for span in &spans {
            let mut stored = Vec::new();
            osprey_spanstore::codec::encode_span(span, &mut stored);
            assert!(osprey_spanstore::codec::decode_spans(&stored).is_ok());
        }
    }
});

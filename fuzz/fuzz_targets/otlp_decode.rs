//! OTLP trace and log export requests, protobuf and JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use osprey_trace::otlp::{decode_json, decode_protobuf};

fuzz_target!(|data: &[u8]| {
    let _ = osprey_trace::otlp_logs::decode_protobuf(data);
    let _ = osprey_trace::otlp_logs::decode_json(data);
    for decoded in [decode_protobuf(data), decode_json(data)].into_iter().flatten() {
        for span in &decoded.spans {
            let document = osprey_trace::document::span_document(span, 1_800_000_000_000_000_000);
            let back = osprey_trace::document::span_from_source(&document.source)
                .expect("stored spans read back");
            assert_eq!(back.span_id, span.span_id);
        }
    }
});

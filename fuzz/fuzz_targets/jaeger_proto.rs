//! Jaeger api_v2 `PostSpansRequest` bodies (gRPC, port 14250).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(spans) = osprey_trace::jaeger_proto::decode_post_spans(data) {
        for span in &spans {
            let _ = osprey_trace::document::span_document(span, 1_800_000_000_000_000_000);
        }
    }
});

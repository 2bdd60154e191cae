//! Jaeger api_v2 `PostSpansRequest` bodies (gRPC, port 14250).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(spans) = osprey_trace::jaeger_proto::decode_post_spans(data) {
        for span in &spans {
            let mut stored = Vec::new();
            osprey_spanstore::codec::encode_span(span, &mut stored);
            assert!(osprey_spanstore::codec::decode_spans(&stored).is_ok());
        }
    }
});

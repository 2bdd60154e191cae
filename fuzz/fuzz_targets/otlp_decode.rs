//! OTLP trace and log export requests, protobuf and JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use osprey_trace::otlp::{decode_json, decode_protobuf};

fuzz_target!(|data: &[u8]| {
    let _ = osprey_trace::otlp_logs::decode_protobuf(data);
    let _ = osprey_trace::otlp_logs::decode_json(data);
    for decoded in [decode_protobuf(data), decode_json(data)].into_iter().flatten() {
        for span in &decoded.spans {
            // Stored as the span store stores it, and read back whole.
            let mut stored = Vec::new();
            osprey_spanstore::codec::encode_span(span, &mut stored);
            let back = osprey_spanstore::codec::decode_spans(&stored).expect("stored spans read back");
            assert_eq!(format!("{:?}", back[0]), format!("{span:?}"));
        }
    }
});

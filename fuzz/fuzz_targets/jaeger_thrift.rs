//! Jaeger Thrift payloads in both protocols: agent datagrams (`emitBatch`) and bare batches
//! (`POST /api/traces`). Any input must decode or fail with an error, never panic or
//! allocate beyond the input's size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use osprey_trace::thrift::{Protocol, decode_batch, decode_emit_batch};

fuzz_target!(|data: &[u8]| {
    for protocol in [Protocol::Compact, Protocol::Binary] {
        let _ = decode_emit_batch(data, protocol);
        if let Ok(batch) = decode_batch(data, protocol) {
            // Whatever decodes must also become a storable document and Jaeger JSON.
            for span in &batch.spans {
                let mut stored = Vec::new();
            osprey_spanstore::codec::encode_span(span, &mut stored);
            assert!(osprey_spanstore::codec::decode_spans(&stored).is_ok());
            }
            if let Some(first) = batch.spans.first() {
                let _ = osprey_trace::jaeger::trace_json(first.trace_id, &batch.spans);
            }
        }
    }
});

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
                let _ = osprey_trace::document::span_document(span, 1_800_000_000_000_000_000);
            }
            if let Some(first) = batch.spans.first() {
                let _ = osprey_trace::jaeger::trace_json(first.trace_id, &batch.spans);
            }
        }
    }
});

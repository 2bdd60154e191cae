//! The span store's files after a crash or disk corruption: WAL frames, spans, block footers
//! and search chunks decode to errors, never a panic or an absurd allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    osprey_spanstore::fuzz_decode(data);
});

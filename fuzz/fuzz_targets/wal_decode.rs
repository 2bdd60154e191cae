//! WAL files after a crash or disk corruption: decoding stops at the first bad frame, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (good, _ops) = osprey_store::wal::decode_frames(data);
    assert!(good <= data.len());
});

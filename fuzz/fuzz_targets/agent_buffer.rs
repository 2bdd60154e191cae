//! The agent's on-disk buffer files: damaged bytes (a disk error, a crash, a hand edit) must be
//! an error, never a panic, and what decodes must be a whole batch.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // As found on disk (zstd), and as the plain text inside a valid frame.
    for bytes in [data.to_vec(), zstd::bulk::compress(data, 1).unwrap_or_default()] {
        if let Ok(batch) = osprey_agent::buffer::decode_batch(&bytes) {
            for document in &batch.documents {
                assert!(!document.source.contains(&b'\n'));
            }
        }
    }
});

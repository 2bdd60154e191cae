//! Compact segment files (postings and positions in zstd blocks): any bytes on disk open or
//! fail with an error, never a panic; anything written reads back exactly, over any range.
#![no_main]
use libfuzzer_sys::fuzz_target;
use osprey_store::block_compression::{read_stored_in_memory, round_trip_in_memory};

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    let start = usize::from(u16::from_le_bytes([data[0], data[1]])) * 3;
    let len = usize::from(u16::from_le_bytes([data[2], data[3]]));
    let chunk = usize::from(data[4]) * 97 + 1;
    let body = &data[6..];
    if data[5] & 1 == 0 {
        let _ = read_stored_in_memory(body, start..start + len);
    } else {
        // Larger than one block often enough to cross block boundaries.
        let repeated: Vec<u8> = body.iter().cycle().take(body.len() * 64).copied().collect();
        let read = round_trip_in_memory(&repeated, chunk, start..start + len).expect("round trip");
        let end = (start + len).min(repeated.len());
        assert_eq!(read, repeated[start.min(end)..end]);
    }
});

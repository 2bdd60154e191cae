//! The Fluentd forward protocol: framing a stream and decoding messages of every mode never
//! panics, and framing agrees with decoding on where a message ends.
#![no_main]
use libfuzzer_sys::fuzz_target;
use osprey_ingest::forward::{decode_message, message_len};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(len)) = message_len(data) {
        assert!(len <= data.len());
        let _ = decode_message(&data[..len], 1 << 20);
    }
    let _ = decode_message(data, 1 << 20);
});

//! Osprey's span storage, made for spans rather than for documents: a span costs one encoding,
//! one WAL append (group commit) and a few hashes on the way in, and is indexed only by what
//! trace queries need.
//!
//! - `codec`: the lossless binary form of a span.
//! - `wal`: the write-ahead log (frames with checksums; a torn tail is cut).
//! - `head`: spans logged but not yet in a block, searched by scanning.
//! - `block`: immutable blocks, spans sorted by trace id in compressed pages, a Bloom filter
//!   and a page index for lookups by trace id, per-service search rows (time, duration,
//!   operation and tag hashes) for searches, and service-to-service call counts.
//! - `writer`: writes blocks, from a frozen head or merged from smaller blocks (`compact`).
//! - `store`: `TraceStore`, tying them together with a background thread that writes blocks
//!   and applies retention.

#![warn(missing_docs)]

mod block;
mod bloom;
pub mod codec;
mod compact;
mod head;
mod store;
mod wal;
mod writer;

pub use block::BlockError;
pub use store::{
    MAX_SPANS_LOADED, MAX_SPANS_PER_TRACE, TraceQuery, TraceStore, TraceStoreConfig,
    TraceStoreError, TraceStoreStats,
};

/// Runs every decoder of the span store's files over arbitrary bytes (the fuzz target's entry:
/// WAL frames, spans, block footers and search chunks after a crash or disk corruption must
/// give errors, never a panic or an absurd allocation).
#[doc(hidden)]
pub fn fuzz_decode(bytes: &[u8]) {
    let (good, frames) = wal::decode_frames(bytes);
    assert!(good <= bytes.len());
    for frame in frames {
        let _ = codec::decode_spans(frame);
    }
    let _ = codec::decode_spans(bytes);
    block::fuzz_decode(bytes);
}

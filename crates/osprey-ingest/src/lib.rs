//! Pure decoders of the ingest protocols Osprey speaks (`bulk`: Elasticsearch `_bulk`;
//! `forward`: the Fluentd forward protocol): bytes in, model out. Nothing here does
//! I/O or knows about storage, so every decoder can be property-tested and fuzzed on its own.

#![warn(missing_docs)]

pub mod bulk;
pub mod forward;

pub use bulk::{
    BulkItem, BulkItemError, BulkOp, UpdateBody, check_object, decode_bulk, parse_object,
};

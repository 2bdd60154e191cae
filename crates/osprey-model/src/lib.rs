//! Shared data model of Osprey: the error classification every crate maps its errors to,
//! Elasticsearch-compatible index names and document ids, and millisecond timestamps.
//!
//! This crate does no I/O and has no async code: it is the vocabulary the other crates share.

#![warn(missing_docs)]

mod error_class;
mod ids;
mod index_name;

pub use error_class::ErrorClass;
pub use ids::DocIdGenerator;
pub use index_name::{IndexName, IndexNameError, dated_index};

/// Milliseconds since the Unix epoch, UTC: the precision of an Elasticsearch `date` field.
pub type TimestampMillis = i64;

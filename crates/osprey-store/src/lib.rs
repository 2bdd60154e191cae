//! Osprey's storage engine: a write-ahead log with group commit, time-partitioned tantivy
//! indexes (one per Elasticsearch index and UTC day), Elasticsearch-style dynamic mapping,
//! retention, searches and aggregations.
//!
//! Invariants:
//! - A write is acknowledged only after its WAL frame is fsynced.
//! - Every partition commit records the last LSN it contains; replay skips what a partition
//!   already has, so replaying the WAL any number of times gives the same state.
//! - The catalogue (indexes, mappings, partitions) is saved before partitions commit, so it
//!   always describes at least what the partitions hold.

#![warn(missing_docs)]

mod aggs;
pub mod analysis;
mod automata;
pub mod block_compression;
mod column_range;
mod compile;
mod engine;
mod error;
mod exclusion;
mod fuzzy;
pub mod json_node;
mod keyword_query;
pub mod mapping;
pub mod metastore;
pub mod partition;
mod search;
pub mod source_holes;
pub mod storage;
pub mod wal;

pub use engine::{
    ItemOutcome, LiveIndex, Op, Store, StoreConfig, StoreStats, StoredDoc, WriteItem,
};
pub use error::{Result, StoreError};
pub use search::{Hit, SearchRequest, SearchResponse, SortSpec, TrackTotalHits, wildcard_match};

/// For the fuzz targets: the wildcard automaton and the regular expression it replaces.
#[doc(hidden)]
pub use {automata::WildcardAutomaton, compile::wildcard_to_regex};

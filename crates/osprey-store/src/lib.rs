//! Osprey's storage engine: WAL, time-partitioned tantivy segments, dynamic mapping, search and aggregations

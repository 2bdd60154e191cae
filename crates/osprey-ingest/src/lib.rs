//! Pure decoders of ingest protocols (Elasticsearch _bulk, ...): bytes in, model out

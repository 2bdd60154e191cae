//! Osprey's listeners and HTTP APIs: Elasticsearch-compatible API, health, metrics

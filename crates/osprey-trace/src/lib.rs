//! Osprey's tracing vocabulary: the span model (`model`), the decoders of every span protocol
//! Osprey accepts (`thrift` for Jaeger, `otlp`, `zipkin`), spans as log-store documents
//! (`document`), and Jaeger's query-API JSON (`jaeger`). Pure code: no I/O, no storage.

#![warn(missing_docs)]

pub mod document;
pub mod jaeger;
pub mod jaeger_proto;
pub mod model;
pub mod otlp;
pub mod otlp_logs;
pub mod thrift;
pub mod zipkin;

pub use model::{AttrValue, Event, KeyValue, RefType, Resource, Span, SpanId, SpanKind, TraceId};

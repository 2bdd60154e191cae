//! Spans as search documents, in the shape Jaeger's Elasticsearch storage gives them: the
//! fields trace search needs at the top level and the whole span, losslessly (non-finite
//! numbers included), under `span` (kept, never indexed). Osprey itself keeps spans in
//! `osprey-spanstore`; these documents are what the benchmark's Lucene peer indexes
//! (`osprey-loadgen spans --docs-out`), and an export format.
//!
//! ```json
//! {"@timestamp": 1700000000000, "traceID": "…", "spanID": "…", "parentSpanID": "…",
//!  "service": "frontend", "operationName": "GET /", "spanKind": "server",
//!  "startTime": 1700000000000000, "duration": 1500,
//!  "tag": {"http.status_code": 200, "error": true, …},
//!  "span": {…the model…}}
//! ```
//!
//! `tag` holds the span's Jaeger tags, its process tags and its log fields, which is what
//! Jaeger's tag search matches. Times under `startTime`/`duration` are microseconds, as Jaeger's.

use serde_json::{Map, Value, json};

use crate::jaeger::derived_tags;
use crate::model::{AttrValue, KeyValue, Span};

/// Spans starting before this (2000-01-01) are indexed at the time they were received.
const EARLIEST_START_NANOS: u64 = 946_684_800_000_000_000;
/// Spans starting more than a day after they were received are indexed at receipt too.
const LATEST_START_AHEAD_NANOS: u64 = 86_400_000_000_000;

/// A span as the store takes it: the search fields (what the mapping indexes) and the whole
/// document as stored (`_source`: the same fields plus the span under `span`). The span is
/// serialised straight to bytes — never built as a JSON tree — since it is never indexed.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanDocument {
    /// The top-level search fields.
    pub fields: Map<String, Value>,
    /// The stored document: `fields` plus `"span": {…}`.
    pub source: Vec<u8>,
}

/// The stored document of a span received at `received_nanos`. A span whose start is missing
/// or absurd (before 2000, or more than a day ahead) is indexed at its receipt time — so that
/// it lands in a partition retention keeps and time windows find — and says so in a warning;
/// its own start is kept as sent.
pub fn span_document(span: &Span, received_nanos: u64) -> SpanDocument {
    let mut tag = Map::new();
    let mut put = |kv: &KeyValue| {
        if kv.key.is_empty() || tag.contains_key(&kv.key) {
            return;
        }
        let value = match &kv.value {
            AttrValue::Str(s) => Value::String(s.clone()),
            AttrValue::Bool(b) => Value::Bool(*b),
            AttrValue::Int(i) => Value::from(*i),
            AttrValue::Double(_) => kv.value.to_json(),
            other => Value::String(other.to_text()),
        };
        tag.insert(kv.key.clone(), value);
    };
    for kv in span.attributes.iter().chain(&derived_tags(span)) {
        put(kv);
    }
    for kv in &span.resource.attributes {
        put(kv);
    }
    for event in &span.events {
        for kv in &event.attributes {
            put(kv);
        }
    }
    let start_is_sane = span.start_unix_nano >= EARLIEST_START_NANOS
        && span.start_unix_nano <= received_nanos.saturating_add(LATEST_START_AHEAD_NANOS);
    let indexed_at = if start_is_sane {
        span.start_unix_nano
    } else {
        received_nanos
    };
    let mut document = Map::new();
    document.insert("@timestamp".into(), json!(indexed_at / 1_000_000));
    document.insert("traceID".into(), json!(span.trace_id.to_string()));
    document.insert("spanID".into(), json!(span.span_id.to_string()));
    if let Some(parent) = span.parent_span_id {
        document.insert("parentSpanID".into(), json!(parent.to_string()));
    }
    document.insert("service".into(), json!(span.resource.service_name));
    document.insert("operationName".into(), json!(span.operation_name));
    let kind = span.kind.as_str();
    if !kind.is_empty() {
        document.insert("spanKind".into(), json!(kind));
    }
    document.insert("startTime".into(), json!(span.start_micros()));
    document.insert("duration".into(), json!(span.duration_micros()));
    if !tag.is_empty() {
        document.insert("tag".into(), Value::Object(tag));
    }
    // `{…fields…}` becomes `{…fields…,"span":{…}}`. Serialising a map of JSON values and the
    // model cannot fail (string keys; non-finite floats are named).
    let mut source = serde_json::to_vec(&document).unwrap_or_default();
    source.pop();
    source.extend_from_slice(b",\"span\":");
    let written = if start_is_sane {
        serde_json::to_writer(&mut source, span)
    } else {
        let mut flagged = span.clone();
        flagged.warnings.push(format!(
            "start time {} ns is out of range; indexed at receipt ({} ns)",
            span.start_unix_nano, received_nanos
        ));
        serde_json::to_writer(&mut source, &flagged)
    };
    if written.is_err() {
        source.extend_from_slice(b"null");
    }
    source.push(b'}');
    SpanDocument {
        fields: document,
        source,
    }
}

/// The span stored in a document's `_source`.
pub fn span_from_source(source: &[u8]) -> Result<Span, String> {
    #[derive(serde::Deserialize)]
    struct Stored {
        span: Span,
    }
    serde_json::from_slice::<Stored>(source)
        .map(|stored| stored.span)
        .map_err(|e| format!("stored span cannot be read: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Event, Resource, SpanId, SpanKind, TraceId};

    #[test]
    fn document_round_trips_and_has_search_fields() {
        let span = Span {
            trace_id: TraceId(0xab),
            span_id: SpanId(0xcd),
            operation_name: "GET /".into(),
            kind: SpanKind::Server,
            start_unix_nano: 1_700_000_000_123_456_789,
            duration_nanos: 1_500_000,
            attributes: vec![KeyValue {
                key: "http.status_code".into(),
                value: AttrValue::Int(200),
            }],
            events: vec![Event {
                time_unix_nano: 1,
                name: "x".into(),
                attributes: vec![KeyValue::string("level", "info")],
                dropped_attributes_count: 0,
            }],
            resource: Resource {
                service_name: "web".into(),
                attributes: vec![KeyValue::string("hostname", "h1")],
            },
            ..Span::default()
        };
        let SpanDocument { fields, source } = span_document(&span, span.start_unix_nano + 1_000);
        assert_eq!(fields["@timestamp"], 1_700_000_000_123i64);
        assert_eq!(fields["startTime"], 1_700_000_000_123_456u64);
        assert_eq!(fields["duration"], 1_500);
        assert_eq!(fields["tag"]["http.status_code"], 200);
        assert_eq!(fields["tag"]["span.kind"], "server");
        assert_eq!(fields["tag"]["hostname"], "h1");
        assert_eq!(fields["tag"]["level"], "info");
        assert!(fields.get("span").is_none());
        // The source is the fields plus the span, as one JSON object.
        let stored: Map<String, Value> = serde_json::from_slice(&source).expect("valid JSON");
        assert_eq!(stored["traceID"], fields["traceID"]);
        assert_eq!(span_from_source(&source), Ok(span.clone()));

        // No start time: indexed at receipt, with a warning; the start stays as sent.
        let unstarted = Span {
            start_unix_nano: 0,
            ..span
        };
        let received = 1_800_000_000_000_000_000;
        let document = span_document(&unstarted, received);
        assert_eq!(document.fields["@timestamp"], 1_800_000_000_000i64);
        let back = span_from_source(&document.source).expect("reads back");
        assert_eq!(back.start_unix_nano, 0);
        assert!(
            back.warnings[0].contains("out of range"),
            "{:?}",
            back.warnings
        );
    }
}

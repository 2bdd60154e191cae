//! The span model out as Jaeger sees it: the JSON of Jaeger's query API (what the Jaeger UI and
//! Grafana's Jaeger data source read), and the tag list Jaeger's own OTLP translator derives.

use serde_json::{Map, Value, json};

use crate::model::{AttrValue, KeyValue, RefType, Span, StatusCode, TraceId};

/// The span's tags as Jaeger shows them: its attributes in order, then `derived_tags`.
pub fn jaeger_tags(span: &Span) -> Vec<KeyValue> {
    let mut tags = span.attributes.clone();
    tags.extend(derived_tags(span));
    tags
}

/// What Jaeger's OTLP translator adds as tags for fields Jaeger has no place for (kind,
/// status, scope, trace state), each only when the span has no attribute of that name.
pub fn derived_tags(span: &Span) -> Vec<KeyValue> {
    let mut tags: Vec<KeyValue> = Vec::new();
    let add = |tags: &mut Vec<KeyValue>, key: &str, value: AttrValue| {
        if !span
            .attributes
            .iter()
            .chain(tags.iter())
            .any(|kv| kv.key == key)
        {
            tags.push(KeyValue {
                key: key.to_string(),
                value,
            });
        }
    };
    if let Some(scope) = &span.scope {
        if !scope.name.is_empty() {
            add(
                &mut tags,
                "otel.scope.name",
                AttrValue::Str(scope.name.clone()),
            );
        }
        if !scope.version.is_empty() {
            add(
                &mut tags,
                "otel.scope.version",
                AttrValue::Str(scope.version.clone()),
            );
        }
    }
    let kind = span.kind.as_str();
    if !kind.is_empty() {
        add(&mut tags, "span.kind", AttrValue::Str(kind.to_string()));
    }
    match span.status.code {
        StatusCode::Unset => {}
        StatusCode::Ok => add(&mut tags, "otel.status_code", AttrValue::Str("OK".into())),
        StatusCode::Error => {
            add(
                &mut tags,
                "otel.status_code",
                AttrValue::Str("ERROR".into()),
            );
            add(&mut tags, "error", AttrValue::Bool(true));
        }
    }
    if !span.status.message.is_empty() {
        add(
            &mut tags,
            "otel.status_description",
            AttrValue::Str(span.status.message.clone()),
        );
    }
    if !span.trace_state.is_empty() {
        add(
            &mut tags,
            "w3c.tracestate",
            AttrValue::Str(span.trace_state.clone()),
        );
    }
    tags
}

/// One Jaeger JSON key-value: `{"key", "type", "value"}`.
pub fn jaeger_key_value(kv: &KeyValue) -> Value {
    let (kind, value) = match &kv.value {
        AttrValue::Str(s) => ("string", Value::String(s.clone())),
        AttrValue::Bool(b) => ("bool", Value::Bool(*b)),
        AttrValue::Int(i) => ("int64", Value::from(*i)),
        AttrValue::Double(_) => ("float64", kv.value.to_json()),
        AttrValue::Bytes(_) => ("binary", Value::String(kv.value.to_text())),
        AttrValue::Array(_) | AttrValue::Map(_) => ("string", Value::String(kv.value.to_text())),
    };
    json!({"key": kv.key, "type": kind, "value": value})
}

fn key_values(kvs: &[KeyValue]) -> Value {
    Value::Array(kvs.iter().map(jaeger_key_value).collect())
}

/// One span in Jaeger JSON, its process referenced by `process_id`.
pub fn span_json(span: &Span, process_id: &str) -> Value {
    let trace_id = span.trace_id.to_string();
    let mut references = Vec::new();
    if let Some(parent) = span.parent_span_id {
        references.push(
            json!({"refType": "CHILD_OF", "traceID": trace_id, "spanID": parent.to_string()}),
        );
    }
    for reference in &span.references {
        let ref_type = match reference.ref_type {
            RefType::ChildOf => "CHILD_OF",
            RefType::FollowsFrom | RefType::Link => "FOLLOWS_FROM",
        };
        references.push(json!({
            "refType": ref_type,
            "traceID": reference.trace_id.to_string(),
            "spanID": reference.span_id.to_string(),
        }));
    }
    let logs: Vec<Value> = span
        .events
        .iter()
        .map(|event| {
            let mut fields = Vec::with_capacity(event.attributes.len() + 1);
            if !event.name.is_empty() && !event.attributes.iter().any(|kv| kv.key == "event") {
                fields.push(json!({"key": "event", "type": "string", "value": event.name}));
            }
            fields.extend(event.attributes.iter().map(jaeger_key_value));
            json!({"timestamp": event.time_unix_nano / 1_000, "fields": fields})
        })
        .collect();
    let warnings = if span.warnings.is_empty() {
        Value::Null
    } else {
        json!(span.warnings)
    };
    json!({
        "traceID": trace_id,
        "spanID": span.span_id.to_string(),
        "operationName": span.operation_name,
        "references": references,
        "startTime": span.start_micros(),
        "duration": span.duration_micros(),
        "tags": key_values(&jaeger_tags(span)),
        "logs": logs,
        "processID": process_id,
        "warnings": warnings,
        "flags": span.flags,
    })
}

/// Zipkin's shared spans: a client span and the server span that handled it carry the same
/// id. Jaeger's UI needs unique ids, so — as Jaeger's own span-id deduplicator does — the
/// server side gets a fresh id and becomes the client span's child.
fn dedupe_shared_span_ids(spans: &[Span]) -> Vec<Span> {
    use std::collections::HashSet;
    let mut used: HashSet<u64> = spans.iter().map(|s| s.span_id.0).collect();
    let clients: HashSet<u64> = spans
        .iter()
        .filter(|s| s.kind == crate::model::SpanKind::Client)
        .map(|s| s.span_id.0)
        .collect();
    spans
        .iter()
        .map(|span| {
            let shared =
                span.kind == crate::model::SpanKind::Server && clients.contains(&span.span_id.0);
            if !shared {
                return span.clone();
            }
            let mut fresh = span.span_id.0.wrapping_add(1);
            while fresh == 0 || used.contains(&fresh) {
                fresh = fresh.wrapping_add(1);
            }
            used.insert(fresh);
            let mut server = span.clone();
            server.parent_span_id = Some(span.span_id);
            server.span_id = crate::model::SpanId(fresh);
            server.warnings.push(format!(
                "span id {} shared with its client span (Zipkin); shown as {}",
                span.span_id, server.span_id
            ));
            server
        })
        .collect()
}

/// A whole trace in Jaeger JSON: spans in start order, processes deduplicated as `p1`, `p2`, …
pub fn trace_json(trace_id: TraceId, spans: &[Span]) -> Value {
    let spans = dedupe_shared_span_ids(spans);
    let mut processes: Vec<&crate::model::Resource> = Vec::new();
    let mut ordered: Vec<&Span> = spans.iter().collect();
    ordered.sort_by_key(|s| (s.start_unix_nano, s.span_id));
    let mut span_values = Vec::with_capacity(ordered.len());
    for span in ordered {
        let index = match processes.iter().position(|p| **p == span.resource) {
            Some(index) => index,
            None => {
                processes.push(&span.resource);
                processes.len() - 1
            }
        };
        span_values.push(span_json(span, &format!("p{}", index + 1)));
    }
    let mut process_map = Map::new();
    for (index, process) in processes.iter().enumerate() {
        process_map.insert(
            format!("p{}", index + 1),
            json!({"serviceName": process.service_name, "tags": key_values(&process.attributes)}),
        );
    }
    json!({
        "traceID": trace_id.to_string(),
        "spans": span_values,
        "processes": process_map,
        "warnings": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Event, Resource, Scope, SpanId, SpanKind, Status};

    #[test]
    fn zipkin_shared_spans_get_unique_ids() {
        let client = Span {
            trace_id: TraceId(1),
            span_id: SpanId(7),
            parent_span_id: Some(SpanId(1)),
            kind: SpanKind::Client,
            ..Span::default()
        };
        let server = Span {
            kind: SpanKind::Server,
            start_unix_nano: 10,
            ..client.clone()
        };
        let value = trace_json(TraceId(1), &[client, server]);
        let spans = value["spans"].as_array().cloned().unwrap_or_default();
        assert_eq!(spans[0]["spanID"], "0000000000000007");
        assert_eq!(spans[1]["spanID"], "0000000000000008");
        assert_eq!(spans[1]["references"][0]["spanID"], "0000000000000007");
        assert!(
            spans[1]["warnings"][0]
                .as_str()
                .unwrap_or_default()
                .contains("shared")
        );
    }

    #[test]
    fn otlp_fields_become_jaeger_tags_once() {
        let span = Span {
            trace_id: TraceId(5),
            span_id: SpanId(6),
            parent_span_id: Some(SpanId(4)),
            kind: SpanKind::Client,
            status: Status {
                code: StatusCode::Error,
                message: "boom".into(),
            },
            scope: Some(Scope {
                name: "lib".into(),
                ..Scope::default()
            }),
            attributes: vec![KeyValue {
                key: "error".into(),
                value: AttrValue::Bool(true),
            }],
            events: vec![Event {
                time_unix_nano: 2_000,
                name: "retry".into(),
                ..Event::default()
            }],
            resource: Resource {
                service_name: "svc".into(),
                attributes: vec![],
            },
            ..Span::default()
        };
        let value = trace_json(span.trace_id, std::slice::from_ref(&span));
        let tags = &value["spans"][0]["tags"];
        let keys: Vec<&str> = tags
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["key"].as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "error",
                "otel.scope.name",
                "span.kind",
                "otel.status_code",
                "otel.status_description"
            ]
        );
        assert_eq!(value["spans"][0]["references"][0]["refType"], "CHILD_OF");
        assert_eq!(value["spans"][0]["logs"][0]["fields"][0]["value"], "retry");
        assert_eq!(value["spans"][0]["logs"][0]["timestamp"], 2);
        assert_eq!(value["processes"]["p1"]["serviceName"], "svc");
    }
}

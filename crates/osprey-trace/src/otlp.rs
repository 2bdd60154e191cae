//! OTLP traces (protobuf, and OTLP/JSON with hex ids) into the span model.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue as OtlpKeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
use opentelemetry_proto::tonic::trace::v1::{self as otlp_trace, ResourceSpans, ScopeSpans};
use prost::Message;

use crate::model::{
    AttrValue, Event, KeyValue, RefType, Resource, Scope, Span, SpanId, SpanKind, SpanRef, Status,
    StatusCode, TraceId,
};

/// Why an OTLP body could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtlpError {
    /// Not a valid protobuf `ExportTraceServiceRequest`.
    #[error("invalid OTLP protobuf: {0}")]
    Protobuf(String),
    /// Not valid OTLP/JSON.
    #[error("invalid OTLP/JSON: {0}")]
    Json(String),
}

/// Spans decoded from one export request, and the spans that had to be rejected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    /// Valid spans.
    pub spans: Vec<Span>,
    /// How many spans were rejected (invalid ids).
    pub rejected: u64,
    /// Why the first rejected span was rejected.
    pub first_error: Option<String>,
}

/// The link attribute that carries an OpenTracing reference type through OTLP (Jaeger's).
const REF_TYPE_ATTRIBUTE: &str = "opentracing.ref_type";

/// Nested OTLP values deeper than this are cut (with the value replaced by a marker string).
const MAX_VALUE_DEPTH: usize = 16;

/// Decodes a protobuf `ExportTraceServiceRequest`.
pub fn decode_protobuf(body: &[u8]) -> Result<Decoded, OtlpError> {
    let request =
        ExportTraceServiceRequest::decode(body).map_err(|e| OtlpError::Protobuf(e.to_string()))?;
    Ok(from_request(request))
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest`.
pub fn decode_json(body: &[u8]) -> Result<Decoded, OtlpError> {
    let request: ExportTraceServiceRequest =
        crate::zipkin::from_json(body).map_err(OtlpError::Json)?;
    Ok(from_request(request))
}

/// Converts a decoded request; spans with invalid ids are counted, not kept.
pub fn from_request(request: ExportTraceServiceRequest) -> Decoded {
    let mut decoded = Decoded::default();
    for resource_spans in request.resource_spans {
        let (service_name, attributes) = service_and_attributes(
            resource_spans
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default(),
        );
        let resource = Resource {
            // The OTel specification's default when a resource has no service.name.
            service_name: service_name.unwrap_or_else(|| "unknown_service".into()),
            attributes,
        };
        for scope_spans in resource_spans.scope_spans {
            let scope = scope_spans.scope.map(|s| Scope {
                name: s.name,
                version: s.version,
                attributes: s.attributes.into_iter().map(key_value).collect(),
            });
            for otlp in scope_spans.spans {
                match convert_span(otlp, &resource, scope.as_ref()) {
                    Ok(span) => decoded.spans.push(span),
                    Err(reason) => {
                        decoded.rejected += 1;
                        decoded.first_error.get_or_insert(reason);
                    }
                }
            }
        }
    }
    decoded
}

fn convert_span(
    otlp: opentelemetry_proto::tonic::trace::v1::Span,
    resource: &Resource,
    scope: Option<&Scope>,
) -> Result<Span, String> {
    let trace_id = TraceId::from_bytes(&otlp.trace_id)
        .filter(|id| !id.is_zero() && otlp.trace_id.len() == 16)
        .ok_or_else(|| {
            format!(
                "span {:?}: trace id must be 16 bytes and not all zero (got {} bytes)",
                otlp.name,
                otlp.trace_id.len()
            )
        })?;
    let span_id = SpanId::from_bytes(&otlp.span_id)
        .filter(|id| id.0 != 0)
        .ok_or_else(|| {
            format!(
                "span {:?}: span id must be 8 bytes and not all zero (got {} bytes)",
                otlp.name,
                otlp.span_id.len()
            )
        })?;
    let parent_span_id = match otlp.parent_span_id.len() {
        0 => None,
        _ => Some(SpanId::from_bytes(&otlp.parent_span_id).ok_or_else(|| {
            format!(
                "span {:?}: parent span id must be 8 bytes (got {})",
                otlp.name,
                otlp.parent_span_id.len()
            )
        })?)
        .filter(|id| id.0 != 0),
    };
    let mut warnings = Vec::new();
    let duration_nanos = match otlp
        .end_time_unix_nano
        .checked_sub(otlp.start_time_unix_nano)
    {
        Some(d) => d,
        None => {
            warnings.push("end time before start time; duration set to 0".to_string());
            0
        }
    };
    let mut references = Vec::new();
    for link in otlp.links {
        let (Some(link_trace), Some(link_span)) = (
            TraceId::from_bytes(&link.trace_id),
            SpanId::from_bytes(&link.span_id),
        ) else {
            warnings.push("a link with invalid ids was dropped".to_string());
            continue;
        };
        let mut attributes: Vec<KeyValue> = link.attributes.into_iter().map(key_value).collect();
        // Jaeger's convention for OpenTracing references carried as links.
        let ref_type = match attributes
            .iter()
            .position(|kv| kv.key == REF_TYPE_ATTRIBUTE)
        {
            Some(i) => match &attributes[i].value {
                AttrValue::Str(t) if t == "child_of" => {
                    attributes.remove(i);
                    RefType::ChildOf
                }
                AttrValue::Str(t) if t == "follows_from" => {
                    attributes.remove(i);
                    RefType::FollowsFrom
                }
                _ => RefType::Link,
            },
            None => RefType::Link,
        };
        references.push(SpanRef {
            ref_type,
            trace_id: link_trace,
            span_id: link_span,
            trace_state: link.trace_state,
            attributes,
            flags: link.flags,
        });
    }
    let status = otlp.status.map_or_else(Status::default, |s| Status {
        code: match s.code {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        },
        message: s.message,
    });
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        references,
        operation_name: otlp.name,
        kind: SpanKind::from_otlp(otlp.kind),
        start_unix_nano: otlp.start_time_unix_nano,
        duration_nanos,
        status,
        attributes: otlp.attributes.into_iter().map(key_value).collect(),
        events: otlp
            .events
            .into_iter()
            .map(|e| Event {
                time_unix_nano: e.time_unix_nano,
                name: e.name,
                attributes: e.attributes.into_iter().map(key_value).collect(),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        resource: resource.clone(),
        scope: scope.cloned(),
        flags: otlp.flags,
        trace_state: otlp.trace_state,
        dropped_attributes_count: otlp.dropped_attributes_count,
        dropped_events_count: otlp.dropped_events_count,
        dropped_links_count: otlp.dropped_links_count,
        warnings,
    })
}

/// A resource's `service.name` (when a string) and its other attributes.
pub fn service_and_attributes(attributes: Vec<OtlpKeyValue>) -> (Option<String>, Vec<KeyValue>) {
    let mut service = None;
    let mut rest = Vec::with_capacity(attributes.len());
    for kv in attributes.into_iter().map(key_value) {
        match (&kv.key[..], kv.value) {
            ("service.name", AttrValue::Str(name)) if service.is_none() => service = Some(name),
            (_, value) => rest.push(KeyValue { key: kv.key, value }),
        }
    }
    (service, rest)
}

/// An OTLP attribute into the model.
pub fn key_value(kv: OtlpKeyValue) -> KeyValue {
    KeyValue {
        key: kv.key,
        value: any_value(kv.value, 0),
    }
}

fn any_value(value: Option<AnyValue>, depth: usize) -> AttrValue {
    let Some(value) = value.and_then(|v| v.value) else {
        return AttrValue::Str(String::new());
    };
    if depth >= MAX_VALUE_DEPTH {
        return AttrValue::Str(format!(
            "(value nested deeper than {MAX_VALUE_DEPTH} levels)"
        ));
    }
    match value {
        any_value::Value::StringValue(s) => AttrValue::Str(s),
        any_value::Value::BoolValue(b) => AttrValue::Bool(b),
        any_value::Value::IntValue(i) => AttrValue::Int(i),
        any_value::Value::DoubleValue(d) => AttrValue::Double(d),
        any_value::Value::BytesValue(b) => AttrValue::Bytes(b),
        any_value::Value::ArrayValue(array) => AttrValue::Array(
            array
                .values
                .into_iter()
                .map(|v| any_value(Some(v), depth + 1))
                .collect(),
        ),
        any_value::Value::KvlistValue(list) => AttrValue::Map(
            list.values
                .into_iter()
                .map(|kv| KeyValue {
                    key: kv.key,
                    value: any_value(kv.value, depth + 1),
                })
                .collect(),
        ),
        #[allow(unreachable_patterns)]
        _ => AttrValue::Str(String::new()),
    }
}

/// Spans as one OTLP export request (grouped by resource and scope, in first-seen order):
/// what api_v3 answers and what the benchmark sends. `from_request(to_request(s))` gives `s`
/// back for spans with valid ids and no warnings.
pub fn to_request(spans: &[Span]) -> ExportTraceServiceRequest {
    let mut resource_spans: Vec<ResourceSpans> = Vec::new();
    let mut resources: Vec<&Resource> = Vec::new();
    for span in spans {
        let r = match resources.iter().position(|r| **r == span.resource) {
            Some(r) => r,
            None => {
                resources.push(&span.resource);
                let mut attributes = vec![to_key_value(&KeyValue::string(
                    "service.name",
                    span.resource.service_name.clone(),
                ))];
                attributes.extend(span.resource.attributes.iter().map(to_key_value));
                resource_spans.push(ResourceSpans {
                    resource: Some(OtlpResource {
                        attributes,
                        ..OtlpResource::default()
                    }),
                    ..ResourceSpans::default()
                });
                resources.len() - 1
            }
        };
        let scope = span.scope.as_ref().map(|s| InstrumentationScope {
            name: s.name.clone(),
            version: s.version.clone(),
            attributes: s.attributes.iter().map(to_key_value).collect(),
            dropped_attributes_count: 0,
        });
        let scopes = &mut resource_spans[r].scope_spans;
        let index = match scopes.iter().position(|s| s.scope == scope) {
            Some(index) => index,
            None => {
                scopes.push(ScopeSpans {
                    scope,
                    ..ScopeSpans::default()
                });
                scopes.len() - 1
            }
        };
        scopes[index].spans.push(to_otlp_span(span));
    }
    ExportTraceServiceRequest { resource_spans }
}

fn to_otlp_span(span: &Span) -> otlp_trace::Span {
    otlp_trace::Span {
        trace_id: span.trace_id.to_bytes().to_vec(),
        span_id: span.span_id.0.to_be_bytes().to_vec(),
        trace_state: span.trace_state.clone(),
        parent_span_id: span
            .parent_span_id
            .map(|p| p.0.to_be_bytes().to_vec())
            .unwrap_or_default(),
        flags: span.flags,
        name: span.operation_name.clone(),
        kind: span.kind.to_otlp(),
        start_time_unix_nano: span.start_unix_nano,
        end_time_unix_nano: span.start_unix_nano.saturating_add(span.duration_nanos),
        attributes: span.attributes.iter().map(to_key_value).collect(),
        dropped_attributes_count: span.dropped_attributes_count,
        events: span
            .events
            .iter()
            .map(|e| otlp_trace::span::Event {
                time_unix_nano: e.time_unix_nano,
                name: e.name.clone(),
                attributes: e.attributes.iter().map(to_key_value).collect(),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: span.dropped_events_count,
        links: span
            .references
            .iter()
            .map(|r| {
                let mut attributes: Vec<OtlpKeyValue> =
                    r.attributes.iter().map(to_key_value).collect();
                match r.ref_type {
                    RefType::Link => {}
                    RefType::ChildOf => attributes.push(to_key_value(&KeyValue::string(
                        REF_TYPE_ATTRIBUTE,
                        "child_of",
                    ))),
                    RefType::FollowsFrom => attributes.push(to_key_value(&KeyValue::string(
                        REF_TYPE_ATTRIBUTE,
                        "follows_from",
                    ))),
                }
                otlp_trace::span::Link {
                    trace_id: r.trace_id.to_bytes().to_vec(),
                    span_id: r.span_id.0.to_be_bytes().to_vec(),
                    trace_state: r.trace_state.clone(),
                    attributes,
                    dropped_attributes_count: 0,
                    flags: r.flags,
                }
            })
            .collect(),
        dropped_links_count: span.dropped_links_count,
        status: (span.status != Status::default()).then(|| otlp_trace::Status {
            message: span.status.message.clone(),
            code: match span.status.code {
                StatusCode::Unset => 0,
                StatusCode::Ok => 1,
                StatusCode::Error => 2,
            },
        }),
    }
}

/// A model attribute as OTLP.
pub fn to_key_value(kv: &KeyValue) -> OtlpKeyValue {
    OtlpKeyValue {
        key: kv.key.clone(),
        value: Some(to_any_value(&kv.value)),
        ..OtlpKeyValue::default()
    }
}

fn to_any_value(value: &AttrValue) -> AnyValue {
    let value = match value {
        AttrValue::Str(s) => any_value::Value::StringValue(s.clone()),
        AttrValue::Bool(b) => any_value::Value::BoolValue(*b),
        AttrValue::Int(i) => any_value::Value::IntValue(*i),
        AttrValue::Double(d) => any_value::Value::DoubleValue(*d),
        AttrValue::Bytes(b) => any_value::Value::BytesValue(b.clone()),
        AttrValue::Array(items) => any_value::Value::ArrayValue(ArrayValue {
            values: items.iter().map(to_any_value).collect(),
        }),
        AttrValue::Map(entries) => any_value::Value::KvlistValue(KeyValueList {
            values: entries.iter().map(to_key_value).collect(),
        }),
    };
    AnyValue { value: Some(value) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The OTLP/JSON example of the OpenTelemetry protocol repository (examples/trace.json),
    /// abridged: hex ids, integers as strings, enums as numbers.
    const EXAMPLE: &str = r#"{
      "resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
        "scopeSpans": [{
          "scope": {"name": "my.library", "version": "1.0.0",
                    "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "some scope attribute"}}]},
          "spans": [{
            "traceId": "5B8EFFF798038103D269B633813FC60C",
            "spanId": "EEE19B7EC3C1B174",
            "parentSpanId": "EEE19B7EC3C1B173",
            "name": "I'm a server span",
            "startTimeUnixNano": "1544712660000000000",
            "endTimeUnixNano": "1544712661000000000",
            "kind": 2,
            "attributes": [
              {"key": "my.span.attr", "value": {"stringValue": "some value"}},
              {"key": "count", "value": {"intValue": "42"}},
              {"key": "list", "value": {"arrayValue": {"values": [{"boolValue": true}, {"doubleValue": 1.5}]}}}
            ],
            "events": [{"timeUnixNano": "1544712660500000000", "name": "retry",
                        "attributes": [{"key": "attempt", "value": {"intValue": 2}}]}],
            "links": [{"traceId": "5B8EFFF798038103D269B633813FC60D", "spanId": "EEE19B7EC3C1B175",
                       "attributes": [{"key": "why", "value": {"stringValue": "batch"}}]}],
            "status": {"code": 2, "message": "boom"}
          }]
        }]
      }]
    }"#;

    #[test]
    fn otlp_json_example_decodes() {
        let decoded = decode_json(EXAMPLE.as_bytes()).expect("valid example");
        assert_eq!(decoded.rejected, 0);
        let span = &decoded.spans[0];
        assert_eq!(
            span.trace_id.to_string(),
            "5b8efff798038103d269b633813fc60c"
        );
        assert_eq!(
            span.parent_span_id.map(|s| s.to_string()).as_deref(),
            Some("eee19b7ec3c1b173")
        );
        assert_eq!(span.kind, SpanKind::Server);
        assert_eq!(span.duration_nanos, 1_000_000_000);
        assert_eq!(span.resource.service_name, "my.service");
        assert_eq!(span.attributes[1].value, AttrValue::Int(42));
        assert_eq!(
            span.attributes[2].value,
            AttrValue::Array(vec![AttrValue::Bool(true), AttrValue::Double(1.5)])
        );
        assert_eq!(span.events[0].name, "retry");
        assert_eq!(span.references[0].ref_type, RefType::Link);
        assert_eq!(span.references[0].attributes[0].key, "why");
        assert_eq!(span.status.code, StatusCode::Error);
        assert_eq!(
            span.scope.as_ref().map(|s| s.name.as_str()),
            Some("my.library")
        );
    }

    #[test]
    fn invalid_ids_are_counted_not_kept() {
        let body = EXAMPLE.replace(
            "5B8EFFF798038103D269B633813FC60C",
            "00000000000000000000000000000000",
        );
        let decoded = decode_json(body.as_bytes()).expect("parses");
        assert_eq!(decoded.spans.len(), 0);
        assert_eq!(decoded.rejected, 1);
        assert!(decoded.first_error.unwrap_or_default().contains("trace id"));
        let short = EXAMPLE.replace("EEE19B7EC3C1B174", "EEE1");
        assert_eq!(decode_json(short.as_bytes()).expect("parses").rejected, 1);
    }

    #[test]
    fn protobuf_round_trip() {
        let request: ExportTraceServiceRequest =
            serde_json::from_str(EXAMPLE).expect("valid example");
        let bytes = request.encode_to_vec();
        let decoded = decode_protobuf(&bytes).expect("decodes");
        assert_eq!(decoded, decode_json(EXAMPLE.as_bytes()).expect("decodes"));
        assert!(decode_protobuf(&bytes[..bytes.len() - 3]).is_err());
    }

    #[test]
    fn wrong_json_types_are_errors() {
        for body in [
            r#"{"resourceSpans": 5}"#,
            r#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 7}]}]}]}"#,
            r#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}"#,
            "[",
        ] {
            assert!(decode_json(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn model_to_otlp_and_back_is_lossless() {
        let decoded = decode_json(EXAMPLE.as_bytes()).expect("valid example");
        let mut spans = decoded.spans.clone();
        let trace_id = spans[0].trace_id;
        spans[0].references.push(SpanRef {
            ref_type: RefType::FollowsFrom,
            trace_id,
            span_id: SpanId(77),
            trace_state: String::new(),
            attributes: Vec::new(),
            flags: 0,
        });
        let back = from_request(to_request(&spans));
        assert_eq!(back.spans, spans);
    }

    proptest! {
        #[test]
        fn arbitrary_protobuf_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_protobuf(&data);
            let _ = decode_json(&data);
        }
    }
}

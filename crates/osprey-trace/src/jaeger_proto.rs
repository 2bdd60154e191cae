//! Jaeger's protobuf model (`jaeger.api_v2`), as the Jaeger agent and collectors send it to
//! `CollectorService/PostSpans` over gRPC (port 14250), into the span model. The messages are
//! declared here with prost's derive (a dozen fields; no code generation step).

use prost::Message;

use crate::model::{
    AttrValue, Event, KeyValue, RefType, Resource, Span, SpanId, SpanRef, TraceId,
    event_name_from_fields, kind_from_tags,
};

/// `jaeger.api_v2.PostSpansRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct PostSpansRequest {
    /// The batch.
    #[prost(message, optional, tag = "1")]
    pub batch: Option<ProtoBatch>,
}

/// `jaeger.api_v2.PostSpansResponse` (empty).
#[derive(Clone, PartialEq, Message)]
pub struct PostSpansResponse {}

#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct ProtoBatch {
    #[prost(message, repeated, tag = "1")]
    pub spans: Vec<ProtoSpan>,
    #[prost(message, optional, tag = "2")]
    pub process: Option<ProtoProcess>,
}

#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct ProtoProcess {
    #[prost(string, tag = "1")]
    pub service_name: String,
    #[prost(message, repeated, tag = "2")]
    pub tags: Vec<ProtoKeyValue>,
}

#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct ProtoKeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(int32, tag = "2")]
    pub v_type: i32,
    #[prost(string, tag = "3")]
    pub v_str: String,
    #[prost(bool, tag = "4")]
    pub v_bool: bool,
    #[prost(int64, tag = "5")]
    pub v_int64: i64,
    #[prost(double, tag = "6")]
    pub v_float64: f64,
    #[prost(bytes = "vec", tag = "7")]
    pub v_binary: Vec<u8>,
}

/// `google.protobuf.Timestamp` and `google.protobuf.Duration` (same shape).
#[allow(missing_docs)]
#[derive(Clone, Copy, PartialEq, Message)]
pub struct ProtoTime {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct ProtoLog {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<ProtoTime>,
    #[prost(message, repeated, tag = "2")]
    pub fields: Vec<ProtoKeyValue>,
}

#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct ProtoSpanRef {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    #[prost(int32, tag = "3")]
    pub ref_type: i32,
}

#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct ProtoSpan {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    #[prost(string, tag = "3")]
    pub operation_name: String,
    #[prost(message, repeated, tag = "4")]
    pub references: Vec<ProtoSpanRef>,
    #[prost(uint32, tag = "5")]
    pub flags: u32,
    #[prost(message, optional, tag = "6")]
    pub start_time: Option<ProtoTime>,
    #[prost(message, optional, tag = "7")]
    pub duration: Option<ProtoTime>,
    #[prost(message, repeated, tag = "8")]
    pub tags: Vec<ProtoKeyValue>,
    #[prost(message, repeated, tag = "9")]
    pub logs: Vec<ProtoLog>,
    #[prost(message, optional, tag = "10")]
    pub process: Option<ProtoProcess>,
    #[prost(string, tag = "11")]
    pub process_id: String,
    #[prost(string, repeated, tag = "12")]
    pub warnings: Vec<String>,
}

/// Why a `PostSpans` batch was refused: names the span (by position) and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Jaeger api_v2 batch: {0}")]
pub struct JaegerProtoError(pub String);

fn time_nanos(time: Option<ProtoTime>) -> u64 {
    time.map_or(0, |t| {
        u64::try_from(t.seconds)
            .unwrap_or(0)
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::try_from(t.nanos).unwrap_or(0))
    })
}

fn key_value(kv: ProtoKeyValue) -> KeyValue {
    let value = match kv.v_type {
        1 => AttrValue::Bool(kv.v_bool),
        2 => AttrValue::Int(kv.v_int64),
        3 => AttrValue::Double(kv.v_float64),
        4 => AttrValue::Bytes(kv.v_binary),
        _ => AttrValue::Str(kv.v_str),
    };
    KeyValue { key: kv.key, value }
}

fn resource(process: ProtoProcess) -> Resource {
    Resource {
        service_name: process.service_name,
        attributes: process.tags.into_iter().map(key_value).collect(),
    }
}

/// Decodes a `PostSpansRequest` body (what tonic hands over after gRPC framing).
pub fn decode_post_spans(body: &[u8]) -> Result<Vec<Span>, JaegerProtoError> {
    let request = PostSpansRequest::decode(body).map_err(|e| JaegerProtoError(e.to_string()))?;
    from_request(request)
}

/// Converts a decoded `PostSpansRequest`; a span's own process wins over the batch's.
pub fn from_request(request: PostSpansRequest) -> Result<Vec<Span>, JaegerProtoError> {
    let batch = request.batch.unwrap_or_default();
    let batch_process = batch.process.map(resource);
    batch
        .spans
        .into_iter()
        .enumerate()
        .map(|(index, proto)| {
            let at = |what: String| JaegerProtoError(format!("span [{index}]: {what}"));
            let trace_id = TraceId::from_bytes(&proto.trace_id)
                .filter(|id| !id.is_zero())
                .ok_or_else(|| {
                    at(format!(
                        "trace_id has {} bytes (16 expected, not all zero)",
                        proto.trace_id.len()
                    ))
                })?;
            let span_id = SpanId::from_bytes(&proto.span_id).ok_or_else(|| {
                at(format!(
                    "span_id has {} bytes (8 expected)",
                    proto.span_id.len()
                ))
            })?;
            let process = match (proto.process, &batch_process) {
                (Some(p), _) => resource(p),
                (None, Some(p)) => p.clone(),
                (None, None) => {
                    return Err(at("no process, neither on the span nor on the batch".into()));
                }
            };
            let mut references = Vec::with_capacity(proto.references.len());
            for r in proto.references {
                let (Some(ref_trace), Some(ref_span)) = (
                    TraceId::from_bytes(&r.trace_id),
                    SpanId::from_bytes(&r.span_id),
                ) else {
                    return Err(at("a reference has invalid ids".into()));
                };
                references.push(SpanRef {
                    ref_type: if r.ref_type == 1 {
                        RefType::FollowsFrom
                    } else {
                        RefType::ChildOf
                    },
                    trace_id: ref_trace,
                    span_id: ref_span,
                    trace_state: String::new(),
                    attributes: Vec::new(),
                    flags: 0,
                });
            }
            let parent_span_id = references
                .iter()
                .position(|r| r.ref_type == RefType::ChildOf && r.trace_id == trace_id)
                .map(|position| references.remove(position).span_id);
            let attributes: Vec<KeyValue> = proto.tags.into_iter().map(key_value).collect();
            let kind = kind_from_tags(&attributes);
            Ok(Span {
                trace_id,
                span_id,
                parent_span_id,
                references,
                operation_name: proto.operation_name,
                kind,
                start_unix_nano: time_nanos(proto.start_time),
                duration_nanos: time_nanos(proto.duration),
                attributes,
                events: proto
                    .logs
                    .into_iter()
                    .map(|log| {
                        let attributes: Vec<KeyValue> =
                            log.fields.into_iter().map(key_value).collect();
                        let name = event_name_from_fields(&attributes);
                        Event {
                            time_unix_nano: time_nanos(log.timestamp),
                            name,
                            attributes,
                            dropped_attributes_count: 0,
                        }
                    })
                    .collect(),
                resource: process,
                flags: proto.flags,
                warnings: proto.warnings,
                ..Span::default()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> PostSpansRequest {
        PostSpansRequest {
            batch: Some(ProtoBatch {
                process: Some(ProtoProcess {
                    service_name: "api".into(),
                    tags: vec![ProtoKeyValue {
                        key: "hostname".into(),
                        v_str: "h".into(),
                        ..Default::default()
                    }],
                }),
                spans: vec![ProtoSpan {
                    trace_id: vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9],
                    span_id: vec![0, 0, 0, 0, 0, 0, 0, 2],
                    operation_name: "op".into(),
                    references: vec![ProtoSpanRef {
                        trace_id: vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9],
                        span_id: vec![0, 0, 0, 0, 0, 0, 0, 1],
                        ref_type: 0,
                    }],
                    flags: 1,
                    start_time: Some(ProtoTime {
                        seconds: 1_700_000_000,
                        nanos: 5_000,
                    }),
                    duration: Some(ProtoTime {
                        seconds: 0,
                        nanos: 1_500_000,
                    }),
                    tags: vec![
                        ProtoKeyValue {
                            key: "span.kind".into(),
                            v_str: "server".into(),
                            ..Default::default()
                        },
                        ProtoKeyValue {
                            key: "n".into(),
                            v_type: 2,
                            v_int64: 7,
                            ..Default::default()
                        },
                    ],
                    logs: vec![ProtoLog {
                        timestamp: Some(ProtoTime {
                            seconds: 1_700_000_000,
                            nanos: 6_000,
                        }),
                        fields: vec![ProtoKeyValue {
                            key: "event".into(),
                            v_str: "retry".into(),
                            ..Default::default()
                        }],
                    }],
                    ..Default::default()
                }],
            }),
        }
    }

    #[test]
    fn post_spans_decodes() {
        let spans = decode_post_spans(&sample().encode_to_vec()).expect("valid");
        let span = &spans[0];
        assert_eq!(span.trace_id, TraceId(9));
        assert_eq!(span.parent_span_id, Some(SpanId(1)));
        assert!(span.references.is_empty());
        assert_eq!(span.kind, crate::model::SpanKind::Server);
        assert_eq!(span.start_unix_nano, 1_700_000_000_000_005_000);
        assert_eq!(span.duration_nanos, 1_500_000);
        assert_eq!(span.attributes[1].value, AttrValue::Int(7));
        assert_eq!(span.events[0].name, "retry");
        assert_eq!(span.resource.service_name, "api");
    }

    #[test]
    fn invalid_ids_and_missing_process_are_named() {
        let mut request = sample();
        if let Some(batch) = request.batch.as_mut() {
            batch.spans[0].span_id = vec![1, 2];
        }
        let error = from_request(request).expect_err("must fail");
        assert!(error.0.contains("span [0]: span_id"), "{error}");
        let mut request = sample();
        if let Some(batch) = request.batch.as_mut() {
            batch.process = None;
        }
        assert!(
            from_request(request)
                .expect_err("must fail")
                .0
                .contains("process")
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_post_spans(&data);
        }
    }
}

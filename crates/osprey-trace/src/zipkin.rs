//! Zipkin v2 spans (`POST /api/v2/spans`), JSON and proto3, into the span model.
//!
//! Zipkin's conventions as Jaeger maps them: the local endpoint's service name is the service
//! (its address the process tag `ip`, its port `port`); the remote endpoint becomes the tags
//! `peer.service`, `peer.ipv4`/`peer.ipv6` and `peer.port`; tags are string attributes;
//! annotations are events named by their value; `debug` sets flag 2.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use prost::Message;
use serde::Deserialize;

use crate::model::{AttrValue, Event, KeyValue, Resource, Span, SpanId, SpanKind, TraceId};

/// Why a Zipkin body was refused; the message names the span (by position) and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Zipkin v2 {format}: {reason}")]
pub struct ZipkinError {
    /// `JSON` or `proto3`.
    pub format: &'static str,
    /// What is wrong, and where.
    pub reason: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct JsonEndpoint {
    service_name: Option<String>,
    ipv4: Option<String>,
    ipv6: Option<String>,
    port: Option<u16>,
}

#[derive(Debug, Deserialize)]
struct JsonAnnotation {
    timestamp: u64,
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonSpan {
    trace_id: String,
    id: String,
    parent_id: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    timestamp: Option<u64>,
    duration: Option<u64>,
    local_endpoint: Option<JsonEndpoint>,
    remote_endpoint: Option<JsonEndpoint>,
    #[serde(default)]
    annotations: Vec<JsonAnnotation>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    debug: Option<bool>,
    shared: Option<bool>,
}

/// The fields both encodings share, after id parsing.
struct Common {
    trace_id: TraceId,
    span_id: SpanId,
    parent: Option<SpanId>,
    name: String,
    kind: SpanKind,
    timestamp_micros: u64,
    duration_micros: u64,
    local: Endpoint,
    remote: Option<Endpoint>,
    annotations: Vec<(u64, String)>,
    tags: BTreeMap<String, String>,
    debug: bool,
    shared: bool,
}

#[derive(Default)]
struct Endpoint {
    service_name: String,
    ipv4: Option<String>,
    ipv6: Option<String>,
    port: Option<u16>,
}

/// Decodes a JSON array of Zipkin v2 spans.
pub fn decode_json(body: &[u8]) -> Result<Vec<Span>, ZipkinError> {
    let error = |reason: String| ZipkinError {
        format: "JSON",
        reason,
    };
    let spans: Vec<JsonSpan> = from_json(body).map_err(error)?;
    spans
        .into_iter()
        .enumerate()
        .map(|(index, span)| {
            let at = |field: &str, value: &str| {
                error(format!(
                    "span [{index}]: {field} {value:?} is not a valid hex id"
                ))
            };
            let trace_id = TraceId::parse_hex(&span.trace_id)
                .filter(|id| !id.is_zero() && matches!(span.trace_id.len(), 16 | 32))
                .ok_or_else(|| at("traceId", &span.trace_id))?;
            let span_id = SpanId::parse_hex(&span.id)
                .filter(|_| span.id.len() == 16)
                .ok_or_else(|| at("id", &span.id))?;
            let parent = match span.parent_id.as_deref() {
                None | Some("") => None,
                Some(text) => Some(
                    SpanId::parse_hex(text)
                        .filter(|_| text.len() == 16)
                        .ok_or_else(|| at("parentId", text))?,
                ),
            };
            let endpoint = |e: JsonEndpoint| Endpoint {
                service_name: e.service_name.unwrap_or_default(),
                ipv4: e.ipv4,
                ipv6: e.ipv6,
                port: e.port,
            };
            Ok(to_span(Common {
                trace_id,
                span_id,
                parent,
                name: span.name.unwrap_or_default(),
                kind: span
                    .kind
                    .as_deref()
                    .map_or(SpanKind::Unspecified, SpanKind::parse),
                timestamp_micros: span.timestamp.unwrap_or_default(),
                duration_micros: span.duration.unwrap_or_default(),
                local: span.local_endpoint.map(endpoint).unwrap_or_default(),
                remote: span.remote_endpoint.map(endpoint),
                annotations: span
                    .annotations
                    .into_iter()
                    .map(|a| (a.timestamp, a.value))
                    .collect(),
                tags: span.tags,
                debug: span.debug.unwrap_or(false),
                shared: span.shared.unwrap_or(false),
            }))
        })
        .collect()
}

/// Parses JSON, naming the path of a value of the wrong type (`[3].timestamp: …`).
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })?;
    deserializer.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// zipkin.proto3 `ListOfSpans`.
#[derive(Clone, PartialEq, Message)]
pub struct ProtoListOfSpans {
    /// The spans.
    #[prost(message, repeated, tag = "1")]
    pub spans: Vec<ProtoSpan>,
}

/// zipkin.proto3 `Span`.
#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct ProtoSpan {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub parent_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub id: Vec<u8>,
    #[prost(int32, tag = "4")]
    pub kind: i32,
    #[prost(string, tag = "5")]
    pub name: String,
    #[prost(fixed64, tag = "6")]
    pub timestamp: u64,
    #[prost(uint64, tag = "7")]
    pub duration: u64,
    #[prost(message, optional, tag = "8")]
    pub local_endpoint: Option<ProtoEndpoint>,
    #[prost(message, optional, tag = "9")]
    pub remote_endpoint: Option<ProtoEndpoint>,
    #[prost(message, repeated, tag = "10")]
    pub annotations: Vec<ProtoAnnotation>,
    #[prost(btree_map = "string, string", tag = "11")]
    pub tags: BTreeMap<String, String>,
    #[prost(bool, tag = "12")]
    pub debug: bool,
    #[prost(bool, tag = "13")]
    pub shared: bool,
}

/// zipkin.proto3 `Endpoint`.
#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct ProtoEndpoint {
    #[prost(string, tag = "1")]
    pub service_name: String,
    #[prost(bytes = "vec", tag = "2")]
    pub ipv4: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub ipv6: Vec<u8>,
    #[prost(int32, tag = "4")]
    pub port: i32,
}

/// zipkin.proto3 `Annotation`.
#[allow(missing_docs)]
#[derive(Clone, PartialEq, Message)]
pub struct ProtoAnnotation {
    #[prost(fixed64, tag = "1")]
    pub timestamp: u64,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// Decodes a proto3 `ListOfSpans`.
pub fn decode_proto(body: &[u8]) -> Result<Vec<Span>, ZipkinError> {
    let error = |reason: String| ZipkinError {
        format: "proto3",
        reason,
    };
    let list = ProtoListOfSpans::decode(body).map_err(|e| error(e.to_string()))?;
    list.spans
        .into_iter()
        .enumerate()
        .map(|(index, span)| {
            let at =
                |field: &str, len: usize| error(format!("span [{index}]: {field} has {len} bytes"));
            let trace_id = TraceId::from_bytes(&span.trace_id)
                .filter(|id| !id.is_zero())
                .ok_or_else(|| {
                    at(
                        "trace_id (8 or 16 expected, not all zero)",
                        span.trace_id.len(),
                    )
                })?;
            let span_id =
                SpanId::from_bytes(&span.id).ok_or_else(|| at("id (8 expected)", span.id.len()))?;
            let parent = match span.parent_id.len() {
                0 => None,
                len => Some(
                    SpanId::from_bytes(&span.parent_id)
                        .ok_or_else(|| at("parent_id (8 expected)", len))?,
                ),
            };
            let endpoint = |e: ProtoEndpoint| Endpoint {
                service_name: e.service_name,
                ipv4: <[u8; 4]>::try_from(e.ipv4.as_slice())
                    .ok()
                    .map(|b| Ipv4Addr::from(b).to_string()),
                ipv6: <[u8; 16]>::try_from(e.ipv6.as_slice())
                    .ok()
                    .map(|b| Ipv6Addr::from(b).to_string()),
                port: u16::try_from(e.port).ok().filter(|p| *p != 0),
            };
            Ok(to_span(Common {
                trace_id,
                span_id,
                parent,
                name: span.name,
                kind: match span.kind {
                    1 => SpanKind::Client,
                    2 => SpanKind::Server,
                    3 => SpanKind::Producer,
                    4 => SpanKind::Consumer,
                    _ => SpanKind::Unspecified,
                },
                timestamp_micros: span.timestamp,
                duration_micros: span.duration,
                local: span.local_endpoint.map(endpoint).unwrap_or_default(),
                remote: span.remote_endpoint.map(endpoint),
                annotations: span
                    .annotations
                    .into_iter()
                    .map(|a| (a.timestamp, a.value))
                    .collect(),
                tags: span.tags,
                debug: span.debug,
                shared: span.shared,
            }))
        })
        .collect()
}

fn to_span(zipkin: Common) -> Span {
    let mut resource = Resource {
        service_name: if zipkin.local.service_name.is_empty() {
            "unknown_service".into()
        } else {
            zipkin.local.service_name
        },
        attributes: Vec::new(),
    };
    if let Some(ip) = zipkin.local.ipv4.or(zipkin.local.ipv6) {
        resource.attributes.push(KeyValue::string("ip", ip));
    }
    if let Some(port) = zipkin.local.port {
        resource.attributes.push(KeyValue {
            key: "port".into(),
            value: AttrValue::Int(i64::from(port)),
        });
    }
    let mut attributes: Vec<KeyValue> = zipkin
        .tags
        .into_iter()
        .map(|(k, v)| KeyValue::string(k, v))
        .collect();
    if let Some(remote) = zipkin.remote {
        if !remote.service_name.is_empty() {
            attributes.push(KeyValue::string("peer.service", remote.service_name));
        }
        if let Some(ip) = remote.ipv4 {
            attributes.push(KeyValue::string("peer.ipv4", ip));
        }
        if let Some(ip) = remote.ipv6 {
            attributes.push(KeyValue::string("peer.ipv6", ip));
        }
        if let Some(port) = remote.port {
            attributes.push(KeyValue {
                key: "peer.port".into(),
                value: AttrValue::Int(i64::from(port)),
            });
        }
    }
    if zipkin.shared {
        attributes.push(KeyValue {
            key: "zipkin.shared".into(),
            value: AttrValue::Bool(true),
        });
    }
    Span {
        trace_id: zipkin.trace_id,
        span_id: zipkin.span_id,
        parent_span_id: zipkin.parent.filter(|p| p.0 != 0),
        operation_name: zipkin.name,
        kind: zipkin.kind,
        start_unix_nano: zipkin.timestamp_micros.saturating_mul(1_000),
        duration_nanos: zipkin.duration_micros.saturating_mul(1_000),
        attributes,
        events: zipkin
            .annotations
            .into_iter()
            .map(|(timestamp, value)| Event {
                time_unix_nano: timestamp.saturating_mul(1_000),
                name: value,
                ..Event::default()
            })
            .collect(),
        resource,
        flags: if zipkin.debug { 3 } else { 1 },
        ..Span::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EXAMPLE: &str = r#"[{
      "traceId": "5af7183fb1d4cf5f", "parentId": "6b221d5bc9e6496c", "id": "352bff9a74ca9ad2",
      "kind": "CLIENT", "name": "get /api", "timestamp": 1556604172355737, "duration": 1431,
      "localEndpoint": {"serviceName": "frontend", "ipv4": "192.168.99.1", "port": 3306},
      "remoteEndpoint": {"serviceName": "backend", "ipv4": "172.19.0.2", "port": 9000},
      "annotations": [{"timestamp": 1556604172356000, "value": "ws"}],
      "tags": {"http.method": "GET", "http.path": "/api"}
    }]"#;

    #[test]
    fn json_example_decodes() {
        let spans = decode_json(EXAMPLE.as_bytes()).expect("valid");
        let span = &spans[0];
        assert_eq!(span.trace_id.to_string(), "5af7183fb1d4cf5f");
        assert_eq!(
            span.parent_span_id.map(|p| p.to_string()).as_deref(),
            Some("6b221d5bc9e6496c")
        );
        assert_eq!(span.kind, SpanKind::Client);
        assert_eq!(span.resource.service_name, "frontend");
        assert_eq!(span.duration_nanos, 1_431_000);
        assert!(
            span.attributes
                .contains(&KeyValue::string("peer.service", "backend"))
        );
        assert_eq!(span.events[0].name, "ws");
    }

    #[test]
    fn proto_matches_json() {
        let list = ProtoListOfSpans {
            spans: vec![ProtoSpan {
                trace_id: 0x5af7183fb1d4cf5fu64.to_be_bytes().to_vec(),
                parent_id: 0x6b221d5bc9e6496cu64.to_be_bytes().to_vec(),
                id: 0x352bff9a74ca9ad2u64.to_be_bytes().to_vec(),
                kind: 1,
                name: "get /api".into(),
                timestamp: 1556604172355737,
                duration: 1431,
                local_endpoint: Some(ProtoEndpoint {
                    service_name: "frontend".into(),
                    ipv4: vec![192, 168, 99, 1],
                    ipv6: vec![],
                    port: 3306,
                }),
                remote_endpoint: Some(ProtoEndpoint {
                    service_name: "backend".into(),
                    ipv4: vec![172, 19, 0, 2],
                    ipv6: vec![],
                    port: 9000,
                }),
                annotations: vec![ProtoAnnotation {
                    timestamp: 1556604172356000,
                    value: "ws".into(),
                }],
                tags: [("http.method", "GET"), ("http.path", "/api")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                debug: false,
                shared: false,
            }],
        };
        let from_proto = decode_proto(&list.encode_to_vec()).expect("valid");
        assert_eq!(from_proto, decode_json(EXAMPLE.as_bytes()).expect("valid"));
    }

    #[test]
    fn bad_ids_and_types_are_named() {
        let bad_id = EXAMPLE.replace("352bff9a74ca9ad2", "zz");
        let error = decode_json(bad_id.as_bytes()).expect_err("must fail");
        assert!(error.reason.contains("span [0]: id"), "{error}");
        let bad_type = EXAMPLE.replace("1556604172355737", "\"yesterday\"");
        assert!(decode_json(bad_type.as_bytes()).is_err());
        assert!(decode_json(b"{}").is_err());
        let short = ProtoListOfSpans {
            spans: vec![ProtoSpan {
                trace_id: vec![1, 2, 3],
                id: vec![1; 8],
                ..ProtoSpan::default()
            }],
        };
        let error = decode_proto(&short.encode_to_vec()).expect_err("must fail");
        assert!(error.reason.contains("trace_id"), "{error}");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_json(&data);
            let _ = decode_proto(&data);
        }
    }
}

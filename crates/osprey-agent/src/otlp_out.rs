//! Documents as OTLP log records, for destinations that speak OTLP/HTTP (an OpenTelemetry
//! Collector, a vendor's endpoint, an Osprey server's OTLP_HTTP listener) instead of `_bulk`.
//!
//! The names are OpenTelemetry's semantic conventions, as the Collector's own `filelog`
//! receiver and `k8sattributes` processor write them, so that a pipeline built for those sees
//! the usual fields:
//!
//! | document | OTLP |
//! |---|---|
//! | `@timestamp` | `time_unix_nano` (and `observed_time_unix_nano`: when sent) |
//! | `message` | `body` (a string) |
//! | `level` | `severity_text`, and `severity_number` (ERROR = 17, …) |
//! | `stream` | attribute `log.iostream` |
//! | `log.file.path`, `log.offset`, `log.file.fingerprint`, `log.truncated` | attributes of those names |
//! | `trace_id`, `span_id` of a JSON message (hex) | the record's `trace_id`, `span_id` |
//! | `kubernetes.pod_name`, `namespace_name`, `container_name`, `pod_id`, `host`, `docker_id`, `container_image` | resource `k8s.pod.name`, `k8s.namespace.name`, `k8s.container.name`, `k8s.pod.uid`, `k8s.node.name`, `container.id`, `container.image.name` (+ `container.image.tag`) |
//! | `kubernetes.labels.*`, `annotations.*`, `namespace_labels.*` | resource `k8s.pod.label.*`, `k8s.pod.annotation.*`, `k8s.namespace.label.*` |
//! | any other field (a JSON message's own) | an attribute of its name; objects and arrays as OTLP maps and arrays |
//!
//! Records of the same pod and container share one `ResourceLogs`.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::{Map, Value};

use crate::pipeline::Document;

/// The instrumentation scope the records carry.
const SCOPE: &str = "osprey-agent";

/// One export request holding `documents`, stamped as observed at `observed_nanos`.
pub fn export_request(documents: &[&Document], observed_nanos: u64) -> ExportLogsServiceRequest {
    // (the document's `kubernetes` object, its records), in order of first appearance.
    let mut groups: Vec<(Value, Vec<LogRecord>)> = Vec::new();
    for document in documents {
        let mut fields = document.fields();
        let kubernetes = fields.remove("kubernetes").unwrap_or(Value::Null);
        let record = log_record(document, fields, observed_nanos);
        match groups.iter_mut().rev().find(|(k, _)| *k == kubernetes) {
            Some((_, records)) => records.push(record),
            None => groups.push((kubernetes, vec![record])),
        }
    }
    ExportLogsServiceRequest {
        resource_logs: groups
            .into_iter()
            .map(|(kubernetes, log_records)| ResourceLogs {
                resource: Some(Resource {
                    attributes: resource_attributes(&kubernetes),
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(
                        opentelemetry_proto::tonic::common::v1::InstrumentationScope {
                            name: SCOPE.into(),
                            version: env!("CARGO_PKG_VERSION").into(),
                            ..Default::default()
                        },
                    ),
                    log_records,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

fn log_record(document: &Document, mut fields: Map<String, Value>, observed: u64) -> LogRecord {
    let mut record = LogRecord {
        time_unix_nano: u64::try_from(document.time_nanos).unwrap_or(0),
        observed_time_unix_nano: observed,
        ..Default::default()
    };
    fields.remove("@timestamp");
    if let Some(message) = fields.remove("message") {
        record.body = Some(any_value(message));
    }
    if let Some(Value::String(level)) = fields.remove("level") {
        record.severity_number = severity_number(&level);
        record.severity_text = level;
    }
    for (field, width) in [("trace_id", 16), ("span_id", 8)] {
        let id = fields
            .get(field)
            .and_then(Value::as_str)
            .and_then(|hex| hex_bytes(hex, width));
        if let Some(id) = id {
            fields.remove(field);
            if field == "trace_id" {
                record.trace_id = id;
            } else {
                record.span_id = id;
            }
        }
    }
    if let Some(stream) = fields.remove("stream") {
        record
            .attributes
            .push(key_value("log.iostream".into(), stream));
    }
    if let Some(Value::Object(log)) = fields.remove("log") {
        flatten_into(&mut record.attributes, "log", log);
    }
    for (key, value) in fields {
        record.attributes.push(key_value(key, value));
    }
    record
}

/// `log.file.path` and the like stay dotted names (the convention's), not nested maps.
fn flatten_into(attributes: &mut Vec<KeyValue>, prefix: &str, object: Map<String, Value>) {
    for (key, value) in object {
        let name = format!("{prefix}.{key}");
        match value {
            Value::Object(inner) => flatten_into(attributes, &name, inner),
            value => attributes.push(key_value(name, value)),
        }
    }
}

fn resource_attributes(kubernetes: &Value) -> Vec<KeyValue> {
    let Some(object) = kubernetes.as_object() else {
        return Vec::new();
    };
    let mut attributes = Vec::new();
    for (field, name) in [
        ("pod_name", "k8s.pod.name"),
        ("namespace_name", "k8s.namespace.name"),
        ("container_name", "k8s.container.name"),
        ("pod_id", "k8s.pod.uid"),
        ("host", "k8s.node.name"),
        ("docker_id", "container.id"),
    ] {
        if let Some(value) = object.get(field) {
            attributes.push(key_value(name.into(), value.clone()));
        }
    }
    if let Some(Value::String(image)) = object.get("container_image") {
        // `registry:5000/shop/web:1.2` → name `registry:5000/shop/web`, tag `1.2`.
        let name_end = image.rfind('/').map_or(0, |slash| slash + 1);
        match image[name_end..].rfind(':') {
            Some(colon) => {
                let (name, tag) = image.split_at(name_end + colon);
                attributes.push(key_value("container.image.name".into(), name.into()));
                attributes.push(key_value("container.image.tag".into(), tag[1..].into()));
            }
            None => attributes.push(key_value(
                "container.image.name".into(),
                image.as_str().into(),
            )),
        }
    }
    for (field, prefix) in [
        ("labels", "k8s.pod.label"),
        ("annotations", "k8s.pod.annotation"),
        ("namespace_labels", "k8s.namespace.label"),
    ] {
        if let Some(Value::Object(map)) = object.get(field) {
            for (key, value) in map {
                attributes.push(key_value(format!("{prefix}.{key}"), value.clone()));
            }
        }
    }
    attributes
}

fn key_value(key: String, value: Value) -> KeyValue {
    KeyValue {
        key,
        value: Some(any_value(value)),
        ..Default::default()
    }
}

fn any_value(value: Value) -> AnyValue {
    let value = match value {
        Value::Null => None,
        Value::Bool(b) => Some(Any::BoolValue(b)),
        Value::Number(n) => Some(match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Any::IntValue(i),
            (None, Some(f)) => Any::DoubleValue(f),
            // Beyond i64 and not a float: kept exactly, as text.
            (None, None) => Any::StringValue(n.to_string()),
        }),
        Value::String(s) => Some(Any::StringValue(s)),
        Value::Array(items) => Some(Any::ArrayValue(ArrayValue {
            values: items.into_iter().map(any_value).collect(),
        })),
        Value::Object(map) => Some(Any::KvlistValue(KeyValueList {
            values: map.into_iter().map(|(k, v)| key_value(k, v)).collect(),
        })),
    };
    AnyValue { value }
}

/// The severity number of the agent's level names (OTLP data model: TRACE = 1, DEBUG = 5,
/// INFO = 9, WARN = 13, ERROR = 17, FATAL = 21); 0 (unspecified) for others.
fn severity_number(level: &str) -> i32 {
    match level.to_ascii_lowercase().as_str() {
        "trace" => 1,
        "debug" => 5,
        "info" | "information" | "notice" => 9,
        "warn" | "warning" => 13,
        "error" | "err" => 17,
        "fatal" | "critical" | "crit" | "panic" | "emergency" | "alert" => 21,
        _ => 0,
    }
}

/// `width` bytes from hex text of exactly that many bytes; `None` for anything else, and for
/// an all-zero id (which OTLP reads as "none").
fn hex_bytes(hex: &str, width: usize) -> Option<Vec<u8>> {
    if hex.len() != width * 2 {
        return None;
    }
    let bytes = (0..width)
        .map(|i| u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    bytes.iter().any(|&b| b != 0).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tail::{FileKey, Fingerprint};
    use std::path::Path;
    use std::sync::Arc;

    fn document(source: Value, time_nanos: i64) -> Document {
        Document {
            time_nanos,
            source: serde_json::to_vec(&source).unwrap(),
            key: FileKey { dev: 1, ino: 2 },
            fingerprint: Fingerprint { crc: 0, len: 0 },
            path: Arc::from(Path::new("/var/log/containers/x.log")),
            offset: 0,
            end_offset: 0,
        }
    }

    fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Any> {
        attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
    }

    #[test]
    fn a_container_line_becomes_a_record_with_semantic_convention_names() {
        let web = serde_json::json!({"pod_name": "web-1", "namespace_name": "shop",
            "container_name": "nginx", "docker_id": "abc", "container_image": "registry:5000/shop/web:1.2",
            "labels": {"app": "web"}});
        let first = document(
            serde_json::json!({"@timestamp": "2026-11-26T08:00:00Z", "message": "payment failed",
                "level": "error", "stream": "stderr", "user": {"id": 42}, "took_ms": 1.5,
                "trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "0000000000000000",
                "kubernetes": web,
                "log": {"file": {"path": "/var/log/containers/web.log", "fingerprint": "3fa2c1d0"}, "offset": 1234}}),
            1_795_000_000_123_456_789,
        );
        let second = document(
            serde_json::json!({"message": "next", "kubernetes": web}),
            1_795_000_001_000_000_000,
        );
        let other = document(
            serde_json::json!({"message": "elsewhere", "kubernetes": {"pod_name": "db-0"}}),
            1,
        );
        let request = export_request(&[&first, &other, &second], 7);
        assert_eq!(request.resource_logs.len(), 2, "one resource per pod");
        let resource = request.resource_logs[0].resource.as_ref().unwrap();
        let expect = |key, value: &str| {
            assert_eq!(
                attribute(&resource.attributes, key),
                Some(&Any::StringValue(value.into())),
                "{key}"
            );
        };
        expect("k8s.pod.name", "web-1");
        expect("k8s.namespace.name", "shop");
        expect("k8s.container.name", "nginx");
        expect("container.id", "abc");
        expect("container.image.name", "registry:5000/shop/web");
        expect("container.image.tag", "1.2");
        expect("k8s.pod.label.app", "web");
        let records = &request.resource_logs[0].scope_logs[0].log_records;
        assert_eq!(records.len(), 2);
        let record = &records[0];
        assert_eq!(record.time_unix_nano, 1_795_000_000_123_456_789);
        assert_eq!(record.observed_time_unix_nano, 7);
        assert_eq!(
            record.body.as_ref().unwrap().value,
            Some(Any::StringValue("payment failed".into()))
        );
        assert_eq!(
            (record.severity_text.as_str(), record.severity_number),
            ("error", 17)
        );
        assert_eq!(record.trace_id.len(), 16);
        assert!(record.span_id.is_empty(), "an all-zero span id is none");
        assert_eq!(
            attribute(&record.attributes, "span_id"),
            Some(&Any::StringValue("0000000000000000".into())),
            "what is not an id stays a field"
        );
        assert_eq!(
            attribute(&record.attributes, "log.iostream"),
            Some(&Any::StringValue("stderr".into()))
        );
        assert_eq!(
            attribute(&record.attributes, "log.file.path"),
            Some(&Any::StringValue("/var/log/containers/web.log".into()))
        );
        assert_eq!(
            attribute(&record.attributes, "log.offset"),
            Some(&Any::IntValue(1234))
        );
        assert_eq!(
            attribute(&record.attributes, "took_ms"),
            Some(&Any::DoubleValue(1.5))
        );
        let Some(Any::KvlistValue(user)) = attribute(&record.attributes, "user") else {
            panic!("an object field is a map");
        };
        assert_eq!(user.values[0].key, "id");
        assert!(attribute(&record.attributes, "message").is_none());
        assert!(attribute(&record.attributes, "@timestamp").is_none());
    }

    #[test]
    fn severity_numbers_follow_the_data_model() {
        assert_eq!(severity_number("warning"), 13);
        assert_eq!(severity_number("FATAL"), 21);
        assert_eq!(severity_number("debug"), 5);
        assert_eq!(severity_number("chatty"), 0);
        assert_eq!(hex_bytes("0102", 2), Some(vec![1, 2]));
        assert_eq!(hex_bytes("01x2", 2), None);
        assert_eq!(hex_bytes("é1", 1), None);
    }
}

//! OTLP logs (protobuf and JSON) into log-store documents, so that logs sent by OpenTelemetry
//! SDKs sit beside container logs and link to their traces.
//!
//! One log record becomes:
//!
//! ```json
//! {"@timestamp": "2026-11-26T10:00:00.123456789Z", "message": "…", "level": "ERROR",
//!  "severity_number": 17, "trace_id": "…", "span_id": "…", "service": {"name": "cart"},
//!  "resource": {…other resource attributes…}, "attributes": {…}, "scope": {"name": "…"}}
//! ```
//!
//! `trace_id`/`span_id` are in the hex form Jaeger shows (an invalid id is left out: the record
//! is then not associated with a trace, as the OTLP specification says); a string body is the
//! `message`, any other body is kept as JSON under `body` (and as its JSON text in `message`).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;
use serde_json::{Map, Value, json};

use crate::model::{SpanId, TraceId};
use crate::otlp::{key_value, service_and_attributes};

/// The index OTLP logs go to.
pub const OTLP_LOGS_INDEX: &str = "otel-logs";

/// Documents decoded from one export.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodedLogs {
    /// One document per record.
    pub documents: Vec<Map<String, Value>>,
}

/// Decodes a protobuf `ExportLogsServiceRequest`.
pub fn decode_protobuf(body: &[u8]) -> Result<DecodedLogs, String> {
    let request = ExportLogsServiceRequest::decode(body)
        .map_err(|e| format!("invalid OTLP protobuf: {e}"))?;
    Ok(from_request(request))
}

/// Decodes an OTLP/JSON `ExportLogsServiceRequest`.
pub fn decode_json(body: &[u8]) -> Result<DecodedLogs, String> {
    let request: ExportLogsServiceRequest =
        crate::zipkin::from_json(body).map_err(|e| format!("invalid OTLP/JSON: {e}"))?;
    Ok(from_request(request))
}

fn object_of(attributes: impl IntoIterator<Item = crate::model::KeyValue>) -> Map<String, Value> {
    attributes
        .into_iter()
        .filter(|kv| !kv.key.is_empty())
        .map(|kv| (kv.key, kv.value.to_json()))
        .collect()
}

/// Epoch nanoseconds as RFC 3339 UTC (nanosecond precision kept); `None` for 0 (unset).
fn rfc3339_nanos(nanos: u64) -> Option<String> {
    if nanos == 0 {
        return None;
    }
    jiff::Timestamp::from_nanosecond(i128::from(nanos))
        .ok()
        .map(|t| format!("{t:.9}"))
}

/// Converts a decoded request.
pub fn from_request(request: ExportLogsServiceRequest) -> DecodedLogs {
    let mut decoded = DecodedLogs::default();
    for resource_logs in request.resource_logs {
        let (service, attributes) = service_and_attributes(
            resource_logs
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default(),
        );
        let resource = object_of(attributes);
        for scope_logs in resource_logs.scope_logs {
            let scope = scope_logs
                .scope
                .map(|s| json!({"name": s.name, "version": s.version}));
            for record in scope_logs.log_records {
                let mut document = Map::new();
                let time = if record.time_unix_nano > 0 {
                    record.time_unix_nano
                } else {
                    record.observed_time_unix_nano
                };
                if let Some(timestamp) = rfc3339_nanos(time) {
                    document.insert("@timestamp".into(), json!(timestamp));
                }
                match record.body.and_then(|b| b.value) {
                    Some(
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(text),
                    ) => {
                        document.insert("message".into(), json!(text));
                    }
                    Some(other) => {
                        let value = key_value(opentelemetry_proto::tonic::common::v1::KeyValue {
                            key: String::new(),
                            value: Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                                value: Some(other),
                            }),
                            ..Default::default()
                        })
                        .value;
                        document.insert("message".into(), json!(value.to_text()));
                        document.insert("body".into(), value.to_json());
                    }
                    None => {}
                }
                if !record.severity_text.is_empty() {
                    document.insert("level".into(), json!(record.severity_text));
                }
                if record.severity_number != 0 {
                    document.insert("severity_number".into(), json!(record.severity_number));
                }
                // An invalid id means "not associated with a trace" (OTLP specification):
                // the record is kept, without it.
                if let Some(id) = TraceId::from_bytes(&record.trace_id)
                    .filter(|id| record.trace_id.len() == 16 && !id.is_zero())
                {
                    document.insert("trace_id".into(), json!(id.to_string()));
                }
                if let Some(id) = SpanId::from_bytes(&record.span_id).filter(|id| id.0 != 0) {
                    document.insert("span_id".into(), json!(id.to_string()));
                }
                if let Some(service) = &service {
                    document.insert("service".into(), json!({"name": service}));
                }
                if !resource.is_empty() {
                    document.insert("resource".into(), Value::Object(resource.clone()));
                }
                let attributes = object_of(record.attributes.into_iter().map(key_value));
                if !attributes.is_empty() {
                    document.insert("attributes".into(), Value::Object(attributes));
                }
                if let Some(scope) = &scope {
                    document.insert("scope".into(), scope.clone());
                }
                decoded.documents.push(document);
            }
        }
    }
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EXAMPLE: &str = r#"{"resourceLogs": [{
      "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}},
                                  {"key": "k8s.pod.name", "value": {"stringValue": "cart-1"}}]},
      "scopeLogs": [{"scope": {"name": "app.logger"}, "logRecords": [{
        "timeUnixNano": "1544712660300000000", "severityNumber": 17, "severityText": "ERROR",
        "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
        "body": {"stringValue": "payment failed"},
        "attributes": [{"key": "user.id", "value": {"intValue": "42"}}]}]}]}]}"#;

    #[test]
    fn otlp_json_log_becomes_a_document() {
        let decoded = decode_json(EXAMPLE.as_bytes()).expect("valid");
        let document = &decoded.documents[0];
        assert_eq!(document["@timestamp"], "2018-12-13T14:51:00.300000000Z");
        assert_eq!(document["message"], "payment failed");
        assert_eq!(document["level"], "ERROR");
        assert_eq!(document["trace_id"], "5b8efff798038103d269b633813fc60c");
        assert_eq!(document["span_id"], "eee19b7ec3c1b174");
        assert_eq!(document["service"]["name"], "cart");
        assert_eq!(document["resource"]["k8s.pod.name"], "cart-1");
        assert_eq!(document["attributes"]["user.id"], 42);
    }

    #[test]
    fn times_keep_nanoseconds() {
        assert_eq!(
            rfc3339_nanos(1).as_deref(),
            Some("1970-01-01T00:00:00.000000001Z")
        );
        assert_eq!(
            rfc3339_nanos(1_709_208_000_000_000_000).as_deref(),
            Some("2024-02-29T12:00:00.000000000Z")
        );
        assert_eq!(rfc3339_nanos(0), None);
    }

    #[test]
    fn records_with_invalid_ids_are_kept_without_them() {
        let body = EXAMPLE.replace("EEE19B7EC3C1B174", "EEE1").replace(
            "5B8EFFF798038103D269B633813FC60C",
            "00000000000000000000000000000000",
        );
        let decoded = decode_json(body.as_bytes()).expect("parses");
        let document = &decoded.documents[0];
        assert_eq!(document["message"], "payment failed");
        assert!(document.get("trace_id").is_none() && document.get("span_id").is_none());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_protobuf(&data);
            let _ = decode_json(&data);
        }
    }
}

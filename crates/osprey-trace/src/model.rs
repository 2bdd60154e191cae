//! The span model every protocol decodes into. It is a superset of Jaeger's and OTLP's models so
//! that nothing a protocol carries is lost: 64- and 128-bit trace ids, parents and typed
//! references (child-of, follows-from, OTLP links with their attributes), kind, status,
//! attributes of every OTLP type, events, the process/resource, the instrumentation scope and
//! the W3C flags and trace state. Times are nanoseconds since the Unix epoch.
//!
//! Conversions (see `docs/tracing.md` for the full table):
//! - Jaeger Thrift/Jaeger JSON: `parentSpanId` ⇄ `parent_span_id`; references keep their type;
//!   tags ⇄ attributes verbatim; logs ⇄ events (the `event` field, when present, is the name);
//!   `span.kind` tag ⇄ `kind`; process ⇄ resource.
//! - OTLP: every field maps 1:1; on the way out to Jaeger JSON, kind, status, scope and trace
//!   state become the tags Jaeger's own OTLP translator writes (`span.kind`, `otel.status_code`,
//!   `error`, `otel.status_description`, `otel.scope.name`, `otel.scope.version`,
//!   `w3c.tracestate`), and links become `FOLLOWS_FROM` references.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A trace id: 128 bits, of which Jaeger's 64-bit ids use only the low half.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub u128);

impl TraceId {
    /// From Jaeger's two halves.
    pub fn from_halves(high: u64, low: u64) -> TraceId {
        TraceId((u128::from(high) << 64) | u128::from(low))
    }

    /// The most significant 64 bits.
    pub fn high(self) -> u64 {
        (self.0 >> 64) as u64
    }

    /// The least significant 64 bits.
    pub fn low(self) -> u64 {
        self.0 as u64
    }

    /// From 16 bytes (OTLP) or 8 bytes (Zipkin's 64-bit ids).
    pub fn from_bytes(bytes: &[u8]) -> Option<TraceId> {
        match bytes.len() {
            16 => Some(TraceId(u128::from_be_bytes(bytes.try_into().ok()?))),
            8 => Some(TraceId(u128::from(u64::from_be_bytes(
                bytes.try_into().ok()?,
            )))),
            _ => None,
        }
    }

    /// From 1 to 32 hex digits (case-insensitive), as Jaeger and Zipkin print them.
    pub fn parse_hex(text: &str) -> Option<TraceId> {
        parse_hex_u128(text).map(TraceId)
    }

    /// Whether the id is all zeroes (invalid in every protocol).
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The 16 bytes of OTLP.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }
}

/// Jaeger's canonical form: 16 hex digits when the high half is zero, else 32.
impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.high() == 0 {
            write!(f, "{:016x}", self.low())
        } else {
            write!(f, "{:032x}", self.0)
        }
    }
}

/// A span id (64 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub u64);

impl SpanId {
    /// From 8 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<SpanId> {
        Some(SpanId(u64::from_be_bytes(bytes.try_into().ok()?)))
    }

    /// From 1 to 16 hex digits.
    pub fn parse_hex(text: &str) -> Option<SpanId> {
        if text.len() > 16 {
            return None;
        }
        parse_hex_u128(text).map(|v| SpanId(v as u64))
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

fn parse_hex_u128(text: &str) -> Option<u128> {
    if text.is_empty() || text.len() > 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(text, 16).ok()
}

macro_rules! hex_serde {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                <$ty>::parse_hex(&text)
                    .ok_or_else(|| serde::de::Error::custom(format!("invalid id {text:?}")))
            }
        }
    };
}
hex_serde!(TraceId);
hex_serde!(SpanId);

/// An attribute (tag) value of any OTLP or Jaeger type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttrValue {
    /// Text.
    Str(String),
    /// true/false.
    Bool(bool),
    /// 64-bit integer.
    Int(i64),
    /// 64-bit float (NaN and infinities are stored as the strings `"NaN"`, `"Infinity"`,
    /// `"-Infinity"`: JSON numbers cannot hold them).
    Double(#[serde(with = "finite_or_named")] f64),
    /// Raw bytes.
    Bytes(#[serde(with = "base64_bytes")] Vec<u8>),
    /// OTLP array.
    Array(Vec<AttrValue>),
    /// OTLP key-value list.
    Map(Vec<KeyValue>),
}

impl AttrValue {
    /// The value as a string: strings as they are, others as JSON (what Jaeger shows for
    /// OTLP arrays and maps, and what tag search compares against).
    pub fn to_text(&self) -> String {
        match self {
            AttrValue::Str(s) => s.clone(),
            AttrValue::Bool(b) => b.to_string(),
            AttrValue::Int(i) => i.to_string(),
            AttrValue::Double(d) => d.to_string(),
            AttrValue::Bytes(b) => {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(b)
            }
            AttrValue::Array(_) | AttrValue::Map(_) => self.to_json().to_string(),
        }
    }

    /// Plain JSON (arrays and maps as JSON arrays and objects).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            AttrValue::Str(s) => Value::String(s.clone()),
            AttrValue::Bool(b) => Value::Bool(*b),
            AttrValue::Int(i) => Value::from(*i),
            AttrValue::Double(d) => serde_json::Number::from_f64(*d)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(d.to_string())), // NaN, inf: JSON has no number for them
            AttrValue::Bytes(_) => Value::String(self.to_text()),
            AttrValue::Array(items) => Value::Array(items.iter().map(AttrValue::to_json).collect()),
            AttrValue::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|kv| (kv.key.clone(), kv.value.to_json()))
                    .collect(),
            ),
        }
    }
}

mod finite_or_named {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        if value.is_finite() {
            serializer.serialize_f64(*value)
        } else if value.is_nan() {
            serializer.serialize_str("NaN")
        } else if *value > 0.0 {
            serializer.serialize_str("Infinity")
        } else {
            serializer.serialize_str("-Infinity")
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrName {
        Number(f64),
        Name(String),
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        match NumberOrName::deserialize(deserializer)? {
            NumberOrName::Number(value) => Ok(value),
            NumberOrName::Name(name) => match name.as_str() {
                "NaN" => Ok(f64::NAN),
                "Infinity" => Ok(f64::INFINITY),
                "-Infinity" => Ok(f64::NEG_INFINITY),
                other => Err(serde::de::Error::custom(format!(
                    "{other:?} is not a number"
                ))),
            },
        }
    }
}

mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

/// A named attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    /// Name.
    #[serde(rename = "k")]
    pub key: String,
    /// Value.
    #[serde(rename = "v")]
    pub value: AttrValue,
}

impl KeyValue {
    /// A string attribute.
    pub fn string(key: impl Into<String>, value: impl Into<String>) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: AttrValue::Str(value.into()),
        }
    }
}

/// The value of attribute `key`, if present.
pub fn find_attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AttrValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| &kv.value)
}

/// The span kind a Jaeger client wrote in its `span.kind` tag.
pub fn kind_from_tags(tags: &[KeyValue]) -> SpanKind {
    match find_attr(tags, "span.kind") {
        Some(AttrValue::Str(kind)) => SpanKind::parse(kind),
        _ => SpanKind::Unspecified,
    }
}

/// The name of a Jaeger log: its `event` field, by OpenTracing convention.
pub fn event_name_from_fields(fields: &[KeyValue]) -> String {
    match find_attr(fields, "event") {
        Some(AttrValue::Str(name)) => name.clone(),
        _ => String::new(),
    }
}

/// A timed event (OTLP event, Jaeger log, Zipkin annotation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// When, in nanoseconds since the epoch.
    pub time_unix_nano: u64,
    /// Name (OTLP); empty for Jaeger logs without an `event` field.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Attributes (Jaeger log fields).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_attributes_count: u32,
}

/// How a span relates to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefType {
    /// Jaeger/OpenTracing child-of (other than the parent, which is `parent_span_id`).
    ChildOf,
    /// Jaeger/OpenTracing follows-from.
    FollowsFrom,
    /// An OTLP link.
    Link,
}

/// A reference to another span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpanRef {
    /// Kind of reference.
    pub ref_type: RefType,
    /// Trace of the other span.
    pub trace_id: TraceId,
    /// The other span.
    pub span_id: SpanId,
    /// W3C trace state of a link.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub trace_state: String,
    /// Attributes of a link.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<KeyValue>,
    /// W3C flags of a link.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub flags: u32,
}

/// Span kind (OTLP's enumeration; Jaeger's `span.kind` tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SpanKind {
    /// Not given.
    #[default]
    Unspecified,
    /// In-process.
    Internal,
    /// Handles a remote request.
    Server,
    /// Makes a remote request.
    Client,
    /// Sends a message.
    Producer,
    /// Receives a message.
    Consumer,
}

impl SpanKind {
    /// Jaeger's `span.kind` value (empty for unspecified).
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }

    /// From Jaeger's `span.kind` tag or Zipkin's kind (case-insensitive).
    pub fn parse(text: &str) -> SpanKind {
        match text.to_ascii_lowercase().as_str() {
            "internal" => SpanKind::Internal,
            "server" => SpanKind::Server,
            "client" => SpanKind::Client,
            "producer" => SpanKind::Producer,
            "consumer" => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    /// From OTLP's number.
    pub fn from_otlp(value: i32) -> SpanKind {
        match value {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    /// OTLP's number.
    pub fn to_otlp(self) -> i32 {
        match self {
            SpanKind::Unspecified => 0,
            SpanKind::Internal => 1,
            SpanKind::Server => 2,
            SpanKind::Client => 3,
            SpanKind::Producer => 4,
            SpanKind::Consumer => 5,
        }
    }
}

/// OTLP status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum StatusCode {
    /// Not set.
    #[default]
    Unset,
    /// Explicitly OK.
    Ok,
    /// Failed.
    Error,
}

/// Span status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Status {
    /// The code.
    pub code: StatusCode,
    /// Description (for errors).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// The emitting process (Jaeger) or resource (OTLP).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// `service.name`.
    pub service_name: String,
    /// The other process tags / resource attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<KeyValue>,
}

/// OTLP instrumentation scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Scope {
    /// Library name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Library version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Scope attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<KeyValue>,
}

/// One span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    /// Trace.
    pub trace_id: TraceId,
    /// This span.
    pub span_id: SpanId,
    /// The parent (child-of) span; `None` for a root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<SpanId>,
    /// Other references and OTLP links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SpanRef>,
    /// Operation (OTLP: name).
    pub operation_name: String,
    /// Kind.
    #[serde(default, skip_serializing_if = "is_default")]
    pub kind: SpanKind,
    /// Start, nanoseconds since the epoch.
    pub start_unix_nano: u64,
    /// Duration in nanoseconds.
    pub duration_nanos: u64,
    /// Status.
    #[serde(default, skip_serializing_if = "is_default")]
    pub status: Status,
    /// Tags / attributes, in the order sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<KeyValue>,
    /// Logs / events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
    /// Process / resource.
    pub resource: Resource,
    /// Instrumentation scope (OTLP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// Jaeger flags (1 sampled, 2 debug) or W3C trace flags.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub flags: u32,
    /// W3C trace state.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub trace_state: String,
    /// Attributes the sender dropped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_attributes_count: u32,
    /// Events the sender dropped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_events_count: u32,
    /// Links the sender dropped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_links_count: u32,
    /// What the decoder had to repair (shown by Jaeger's UI as warnings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Span {
    /// Start in microseconds (Jaeger's unit).
    pub fn start_micros(&self) -> u64 {
        self.start_unix_nano / 1_000
    }

    /// Duration in microseconds (Jaeger's unit).
    pub fn duration_micros(&self) -> u64 {
        self.duration_nanos / 1_000
    }
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_print_like_jaeger() {
        assert_eq!(
            TraceId::from_halves(0, 0xabc).to_string(),
            "0000000000000abc"
        );
        assert_eq!(
            TraceId::from_halves(1, 2).to_string(),
            "00000000000000010000000000000002"
        );
        assert_eq!(
            TraceId::parse_hex("00000000000000000000000000000abc"),
            Some(TraceId(0xabc))
        );
        assert_eq!(TraceId::parse_hex("xyz"), None);
        assert_eq!(TraceId::parse_hex(&"f".repeat(33)), None);
        assert_eq!(SpanId::parse_hex("00000000000000ff"), Some(SpanId(255)));
    }

    #[test]
    fn span_round_trips_through_json() {
        let span = Span {
            trace_id: TraceId::from_halves(7, 9),
            span_id: SpanId(3),
            parent_span_id: Some(SpanId(2)),
            operation_name: "GET /".into(),
            kind: SpanKind::Server,
            start_unix_nano: 1_700_000_000_000_000_123,
            duration_nanos: 5_000,
            attributes: vec![
                KeyValue::string("http.method", "GET"),
                KeyValue {
                    key: "raw".into(),
                    value: AttrValue::Bytes(vec![0, 255]),
                },
                KeyValue {
                    key: "list".into(),
                    value: AttrValue::Array(vec![AttrValue::Int(1), AttrValue::Double(0.5)]),
                },
            ],
            resource: Resource {
                service_name: "web".into(),
                attributes: vec![],
            },
            ..Span::default()
        };
        let json = serde_json::to_string(&span).expect("serialises");
        let back: Span = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, span);
    }

    #[test]
    fn non_finite_doubles_survive_storage() {
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let kv = KeyValue {
                key: "x".into(),
                value: AttrValue::Double(value),
            };
            let back: KeyValue =
                serde_json::from_str(&serde_json::to_string(&kv).expect("serialises"))
                    .expect("parses");
            match back.value {
                AttrValue::Double(d) => {
                    assert!(d.to_bits() == value.to_bits() || (d.is_nan() && value.is_nan()))
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

//! The binary form of a span in the log and in blocks: the whole model, losslessly (non-finite
//! doubles, bytes, nested arrays and maps included), in LEB128 varints and length-prefixed
//! strings. Decoding treats its input as untrusted — a corrupt page must give an error, never a
//! panic or an absurd allocation: every length is checked against the bytes left.

use osprey_trace::model::{
    AttrValue, Event, KeyValue, RefType, Resource, Scope, SpanKind, SpanRef, Status, StatusCode,
};
use osprey_trace::{Span, SpanId, TraceId};

/// Why bytes are not a span.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt span at byte {offset}: {what}")]
pub struct CodecError {
    /// Where, from the start of the input.
    pub offset: usize,
    /// What was wrong.
    pub what: &'static str,
}

/// Nesting of attribute arrays/maps beyond this is refused (OTLP allows any depth).
const MAX_DEPTH: usize = 32;

// Presence bits of the span header.
const HAS_PARENT: u8 = 1;
const HAS_SCOPE: u8 = 2;

/// Appends `value` as an LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

fn put_attributes(out: &mut Vec<u8>, attributes: &[KeyValue]) {
    put_varint(out, attributes.len() as u64);
    for kv in attributes {
        put_str(out, &kv.key);
        put_value(out, &kv.value);
    }
}

fn put_value(out: &mut Vec<u8>, value: &AttrValue) {
    match value {
        AttrValue::Str(s) => {
            out.push(0);
            put_str(out, s);
        }
        AttrValue::Bool(b) => {
            out.push(1);
            out.push(u8::from(*b));
        }
        AttrValue::Int(i) => {
            out.push(2);
            put_varint(out, ((i << 1) ^ (i >> 63)) as u64); // zigzag: small negatives stay short
        }
        AttrValue::Double(d) => {
            out.push(3);
            out.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        AttrValue::Bytes(b) => {
            out.push(4);
            put_varint(out, b.len() as u64);
            out.extend_from_slice(b);
        }
        AttrValue::Array(items) => {
            out.push(5);
            put_varint(out, items.len() as u64);
            for item in items {
                put_value(out, item);
            }
        }
        AttrValue::Map(entries) => {
            out.push(6);
            put_attributes(out, entries);
        }
    }
}

fn kind_code(kind: SpanKind) -> u8 {
    kind.to_otlp() as u8
}

fn status_code(code: StatusCode) -> u8 {
    match code {
        StatusCode::Unset => 0,
        StatusCode::Ok => 1,
        StatusCode::Error => 2,
    }
}

/// Appends the binary form of `span`.
pub fn encode_span(span: &Span, out: &mut Vec<u8>) {
    out.extend_from_slice(&span.trace_id.0.to_be_bytes());
    out.extend_from_slice(&span.span_id.0.to_be_bytes());
    let mut presence = 0;
    if span.parent_span_id.is_some() {
        presence |= HAS_PARENT;
    }
    if span.scope.is_some() {
        presence |= HAS_SCOPE;
    }
    out.push(presence);
    if let Some(parent) = span.parent_span_id {
        out.extend_from_slice(&parent.0.to_be_bytes());
    }
    put_varint(out, span.references.len() as u64);
    for reference in &span.references {
        out.push(match reference.ref_type {
            RefType::ChildOf => 0,
            RefType::FollowsFrom => 1,
            RefType::Link => 2,
        });
        out.extend_from_slice(&reference.trace_id.0.to_be_bytes());
        out.extend_from_slice(&reference.span_id.0.to_be_bytes());
        put_str(out, &reference.trace_state);
        put_attributes(out, &reference.attributes);
        put_varint(out, u64::from(reference.flags));
    }
    put_str(out, &span.operation_name);
    out.push(kind_code(span.kind));
    put_varint(out, span.start_unix_nano);
    put_varint(out, span.duration_nanos);
    out.push(status_code(span.status.code));
    put_str(out, &span.status.message);
    put_attributes(out, &span.attributes);
    put_varint(out, span.events.len() as u64);
    for event in &span.events {
        put_varint(out, event.time_unix_nano);
        put_str(out, &event.name);
        put_attributes(out, &event.attributes);
        put_varint(out, u64::from(event.dropped_attributes_count));
    }
    put_str(out, &span.resource.service_name);
    put_attributes(out, &span.resource.attributes);
    if let Some(scope) = &span.scope {
        put_str(out, &scope.name);
        put_str(out, &scope.version);
        put_attributes(out, &scope.attributes);
    }
    put_varint(out, u64::from(span.flags));
    put_str(out, &span.trace_state);
    put_varint(out, u64::from(span.dropped_attributes_count));
    put_varint(out, u64::from(span.dropped_events_count));
    put_varint(out, u64::from(span.dropped_links_count));
    put_varint(out, span.warnings.len() as u64);
    for warning in &span.warnings {
        put_str(out, warning);
    }
}

/// A bounds-checked cursor over untrusted bytes.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads from the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// The current offset.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn error(&self, what: &'static str) -> CodecError {
        CodecError {
            offset: self.pos,
            what,
        }
    }

    /// `n` raw bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.bytes.len() - self.pos < n {
            return Err(self.error("truncated"));
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    /// One byte.
    pub fn byte(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }

    /// A big-endian u64.
    pub fn u64_be(&mut self) -> Result<u64, CodecError> {
        let bytes = self.take(8)?;
        Ok(u64::from_be_bytes(bytes.try_into().unwrap_or([0; 8])))
    }

    /// A big-endian u128.
    pub fn u128_be(&mut self) -> Result<u128, CodecError> {
        let bytes = self.take(16)?;
        Ok(u128::from_be_bytes(bytes.try_into().unwrap_or([0; 16])))
    }

    /// An LEB128 varint.
    pub fn varint(&mut self) -> Result<u64, CodecError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error("varint longer than 10 bytes"))
    }

    fn u32_varint(&mut self) -> Result<u32, CodecError> {
        u32::try_from(self.varint()?).map_err(|_| self.error("value exceeds 32 bits"))
    }

    /// A count of items each at least `min_item_bytes` long: never more than the bytes left
    /// could hold, so a corrupt count cannot make us allocate.
    pub fn count(&mut self, min_item_bytes: usize) -> Result<usize, CodecError> {
        let count = self.varint()?;
        let left = (self.bytes.len() - self.pos) / min_item_bytes.max(1);
        usize::try_from(count)
            .ok()
            .filter(|c| *c <= left)
            .ok_or_else(|| self.error("count exceeds the bytes left"))
    }

    /// A length-prefixed UTF-8 string.
    pub(crate) fn string(&mut self) -> Result<String, CodecError> {
        let len = self.count(1)?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.error("string is not UTF-8"))
    }

    fn attributes(&mut self, depth: usize) -> Result<Vec<KeyValue>, CodecError> {
        let count = self.count(2)?;
        let mut attributes = Vec::with_capacity(count);
        for _ in 0..count {
            let key = self.string()?;
            let value = self.value(depth)?;
            attributes.push(KeyValue { key, value });
        }
        Ok(attributes)
    }

    fn value(&mut self, depth: usize) -> Result<AttrValue, CodecError> {
        if depth > MAX_DEPTH {
            return Err(self.error("attribute nesting too deep"));
        }
        Ok(match self.byte()? {
            0 => AttrValue::Str(self.string()?),
            1 => AttrValue::Bool(self.byte()? != 0),
            2 => {
                let zigzag = self.varint()?;
                AttrValue::Int(((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64))
            }
            3 => {
                let bits = self.take(8)?;
                AttrValue::Double(f64::from_bits(u64::from_le_bytes(
                    bits.try_into().unwrap_or([0; 8]),
                )))
            }
            4 => {
                let len = self.count(1)?;
                AttrValue::Bytes(self.take(len)?.to_vec())
            }
            5 => {
                let count = self.count(1)?;
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                AttrValue::Array(items)
            }
            6 => AttrValue::Map(self.attributes(depth + 1)?),
            _ => return Err(self.error("unknown attribute type")),
        })
    }

    /// One span, as `encode_span` wrote it.
    pub fn span(&mut self) -> Result<Span, CodecError> {
        let trace_id = TraceId(self.u128_be()?);
        let span_id = SpanId(self.u64_be()?);
        let presence = self.byte()?;
        let parent_span_id = if presence & HAS_PARENT != 0 {
            Some(SpanId(self.u64_be()?))
        } else {
            None
        };
        let reference_count = self.count(28)?;
        let mut references = Vec::with_capacity(reference_count);
        for _ in 0..reference_count {
            let ref_type = match self.byte()? {
                0 => RefType::ChildOf,
                1 => RefType::FollowsFrom,
                2 => RefType::Link,
                _ => return Err(self.error("unknown reference type")),
            };
            references.push(SpanRef {
                ref_type,
                trace_id: TraceId(self.u128_be()?),
                span_id: SpanId(self.u64_be()?),
                trace_state: self.string()?,
                attributes: self.attributes(0)?,
                flags: self.u32_varint()?,
            });
        }
        let operation_name = self.string()?;
        let kind = SpanKind::from_otlp(i32::from(self.byte()?));
        let start_unix_nano = self.varint()?;
        let duration_nanos = self.varint()?;
        let code = match self.byte()? {
            0 => StatusCode::Unset,
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => return Err(self.error("unknown status code")),
        };
        let status = Status {
            code,
            message: self.string()?,
        };
        let attributes = self.attributes(0)?;
        let event_count = self.count(4)?;
        let mut events = Vec::with_capacity(event_count);
        for _ in 0..event_count {
            events.push(Event {
                time_unix_nano: self.varint()?,
                name: self.string()?,
                attributes: self.attributes(0)?,
                dropped_attributes_count: self.u32_varint()?,
            });
        }
        let resource = Resource {
            service_name: self.string()?,
            attributes: self.attributes(0)?,
        };
        let scope = if presence & HAS_SCOPE != 0 {
            Some(Scope {
                name: self.string()?,
                version: self.string()?,
                attributes: self.attributes(0)?,
            })
        } else {
            None
        };
        let flags = self.u32_varint()?;
        let trace_state = self.string()?;
        let dropped_attributes_count = self.u32_varint()?;
        let dropped_events_count = self.u32_varint()?;
        let dropped_links_count = self.u32_varint()?;
        let warning_count = self.count(1)?;
        let mut warnings = Vec::with_capacity(warning_count);
        for _ in 0..warning_count {
            warnings.push(self.string()?);
        }
        Ok(Span {
            trace_id,
            span_id,
            parent_span_id,
            references,
            operation_name,
            kind,
            start_unix_nano,
            duration_nanos,
            status,
            attributes,
            events,
            resource,
            scope,
            flags,
            trace_state,
            dropped_attributes_count,
            dropped_events_count,
            dropped_links_count,
            warnings,
        })
    }
}

/// Every span in `bytes` (spans back to back).
pub fn decode_spans(bytes: &[u8]) -> Result<Vec<Span>, CodecError> {
    let mut reader = Reader::new(bytes);
    let mut spans = Vec::new();
    while !reader.is_empty() {
        spans.push(reader.span()?);
    }
    Ok(spans)
}

/// The trace id at the start of an encoded span, without decoding the rest.
pub fn peek_trace_id(encoded: &[u8]) -> Option<TraceId> {
    encoded
        .get(..16)
        .and_then(|b| b.try_into().ok())
        .map(|b| TraceId(u128::from_be_bytes(b)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value_strategy() -> impl Strategy<Value = AttrValue> {
        let leaf = prop_oneof![
            ".{0,12}".prop_map(AttrValue::Str),
            any::<bool>().prop_map(AttrValue::Bool),
            any::<i64>().prop_map(AttrValue::Int),
            any::<f64>().prop_map(AttrValue::Double),
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(AttrValue::Bytes),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(AttrValue::Array),
                proptest::collection::vec(
                    ("[a-z.]{1,6}", inner).prop_map(|(key, value)| KeyValue { key, value }),
                    0..4
                )
                .prop_map(AttrValue::Map),
            ]
        })
    }

    fn attributes_strategy() -> impl Strategy<Value = Vec<KeyValue>> {
        proptest::collection::vec(
            ("[a-z._]{0,10}", value_strategy()).prop_map(|(key, value)| KeyValue { key, value }),
            0..5,
        )
    }

    pub(crate) fn span_strategy() -> impl Strategy<Value = Span> {
        (
            (
                any::<u128>(),
                any::<u64>(),
                proptest::option::of(any::<u64>()),
            ),
            (".{0,20}", 0i32..6, any::<u64>(), any::<u64>(), 0u8..3),
            attributes_strategy(),
            proptest::collection::vec(
                (
                    any::<u64>(),
                    "[a-z]{0,6}",
                    attributes_strategy(),
                    any::<u32>(),
                ),
                0..3,
            ),
            ("[a-z-]{0,10}", attributes_strategy()),
            proptest::option::of(("[a-z]{0,5}", "[0-9.]{0,5}", attributes_strategy())),
            (
                any::<u32>(),
                any::<u32>(),
                proptest::collection::vec(".{0,8}", 0..2),
            ),
            proptest::collection::vec(
                (0u8..3, any::<u128>(), any::<u64>(), attributes_strategy()),
                0..3,
            ),
        )
            .prop_map(
                |(
                    (trace, span, parent),
                    (operation, kind, start, duration, status),
                    attributes,
                    events,
                    (service, resource_attributes),
                    scope,
                    (flags, dropped, warnings),
                    references,
                )| Span {
                    trace_id: TraceId(trace),
                    span_id: SpanId(span),
                    parent_span_id: parent.map(SpanId),
                    references: references
                        .into_iter()
                        .map(|(kind, trace, span, attributes)| SpanRef {
                            ref_type: [RefType::ChildOf, RefType::FollowsFrom, RefType::Link]
                                [kind as usize],
                            trace_id: TraceId(trace),
                            span_id: SpanId(span),
                            trace_state: String::new(),
                            attributes,
                            flags,
                        })
                        .collect(),
                    operation_name: operation,
                    kind: SpanKind::from_otlp(kind),
                    start_unix_nano: start,
                    duration_nanos: duration,
                    status: Status {
                        code: [StatusCode::Unset, StatusCode::Ok, StatusCode::Error]
                            [status as usize],
                        message: "m".repeat(status as usize),
                    },
                    attributes,
                    events: events
                        .into_iter()
                        .map(|(time, name, attributes, dropped)| Event {
                            time_unix_nano: time,
                            name,
                            attributes,
                            dropped_attributes_count: dropped,
                        })
                        .collect(),
                    resource: Resource {
                        service_name: service,
                        attributes: resource_attributes,
                    },
                    scope: scope.map(|(name, version, attributes)| Scope {
                        name,
                        version,
                        attributes,
                    }),
                    flags,
                    trace_state: "k=v".repeat((flags % 2) as usize),
                    dropped_attributes_count: dropped,
                    dropped_events_count: dropped / 2,
                    dropped_links_count: dropped / 3,
                    warnings,
                },
            )
    }

    /// Equality that treats NaN as equal to NaN bit for bit (the codec keeps the bits).
    fn same(a: &Span, b: &Span) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    proptest! {
        #[test]
        fn every_span_round_trips(span in span_strategy()) {
            let mut bytes = Vec::new();
            encode_span(&span, &mut bytes);
            let back = decode_spans(&bytes).expect("decodes");
            prop_assert_eq!(back.len(), 1);
            prop_assert!(same(&back[0], &span), "{:?} != {:?}", back[0], span);
            prop_assert_eq!(peek_trace_id(&bytes), Some(span.trace_id));
        }

        #[test]
        fn truncated_or_corrupt_input_is_an_error_not_a_panic(
            span in span_strategy(), cut in any::<prop::sample::Index>(), flip in any::<u8>()
        ) {
            let mut bytes = Vec::new();
            encode_span(&span, &mut bytes);
            let cut = cut.index(bytes.len());
            prop_assert!(decode_spans(&bytes[..cut]).is_err() || cut == 0);
            let mut corrupt = bytes.clone();
            corrupt[cut] ^= flip;
            let _ = decode_spans(&corrupt);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_spans(&bytes);
        }
    }

    #[test]
    fn absurd_counts_are_refused_before_allocating() {
        let mut bytes = vec![0u8; 25]; // ids + presence
        put_varint(&mut bytes, u64::MAX / 2); // reference count
        let error = decode_spans(&bytes).expect_err("refused");
        assert_eq!(error.what, "count exceeds the bytes left");
        assert_eq!(error.offset, 34);
    }
}

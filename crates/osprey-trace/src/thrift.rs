//! Jaeger's Thrift payloads, in both wire protocols Jaeger clients use: compact (UDP 6831) and
//! binary (UDP 6832, and `POST /api/traces` on 14268).
//!
//! The reader is written for untrusted input rather than generated: every length is checked
//! against the bytes that remain before anything is allocated, nesting is bounded, unknown
//! fields are skipped (newer clients add `seqNo` and `stats` to a batch), and a required field
//! that is missing, or a list sent as another type, is an error that names it.

use crate::model::{
    AttrValue, Event, KeyValue, RefType, Resource, Span, SpanId, SpanRef, TraceId,
    event_name_from_fields, kind_from_tags,
};

/// Which Thrift wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TCompactProtocol.
    Compact,
    /// TBinaryProtocol.
    Binary,
}

/// Why a payload was rejected; the message says what and where (byte offset).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Thrift {protocol} payload at byte {offset}: {reason}")]
pub struct ThriftError {
    /// `compact` or `binary`.
    pub protocol: &'static str,
    /// Where the reader stopped.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

/// A decoded `jaeger.Batch`: the process and its spans.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Spans with the process folded in as their resource.
    pub spans: Vec<Span>,
}

/// Nesting deeper than this is refused (Jaeger's structures are at most four deep).
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TType {
    Bool,
    Byte,
    I16,
    I32,
    I64,
    Double,
    Binary,
    List,
    Set,
    Map,
    Struct,
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    protocol: Protocol,
    /// Compact protocol: the last field id of each open struct (ids are delta-encoded).
    last_field_ids: Vec<i16>,
    /// Compact protocol: a boolean field carries its value in its header.
    pending_bool: Option<bool>,
}

type Result<T> = std::result::Result<T, ThriftError>;

impl<'a> Reader<'a> {
    fn new(data: &'a [u8], protocol: Protocol) -> Reader<'a> {
        Reader {
            data,
            pos: 0,
            protocol,
            last_field_ids: Vec::new(),
            pending_bool: None,
        }
    }

    fn error(&self, reason: impl Into<String>) -> ThriftError {
        ThriftError {
            protocol: match self.protocol {
                Protocol::Compact => "compact",
                Protocol::Binary => "binary",
            },
            offset: self.pos,
            reason: reason.into(),
        }
    }

    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.error(format!(
                "needs {n} bytes but only {} remain (truncated?)",
                self.remaining()
            )));
        }
        let slice = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = self.u8()?;
            if shift == 63 && byte > 1 {
                return Err(self.error("varint overflows 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error("varint longer than 10 bytes"))
    }

    fn zigzag(&mut self) -> Result<i64> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn read_i16(&mut self) -> Result<i16> {
        match self.protocol {
            Protocol::Compact => {
                i16::try_from(self.zigzag()?).map_err(|_| self.error("i16 out of range"))
            }
            Protocol::Binary => Ok(i16::from_be_bytes(
                self.bytes(2)?.try_into().unwrap_or_default(),
            )),
        }
    }

    fn read_i32(&mut self) -> Result<i32> {
        match self.protocol {
            Protocol::Compact => {
                i32::try_from(self.zigzag()?).map_err(|_| self.error("i32 out of range"))
            }
            Protocol::Binary => Ok(i32::from_be_bytes(
                self.bytes(4)?.try_into().unwrap_or_default(),
            )),
        }
    }

    fn read_i64(&mut self) -> Result<i64> {
        match self.protocol {
            Protocol::Compact => self.zigzag(),
            Protocol::Binary => Ok(i64::from_be_bytes(
                self.bytes(8)?.try_into().unwrap_or_default(),
            )),
        }
    }

    fn read_double(&mut self) -> Result<f64> {
        let raw: [u8; 8] = self.bytes(8)?.try_into().unwrap_or_default();
        Ok(match self.protocol {
            Protocol::Compact => f64::from_le_bytes(raw),
            Protocol::Binary => f64::from_be_bytes(raw),
        })
    }

    fn read_bool(&mut self) -> Result<bool> {
        if let Some(value) = self.pending_bool.take() {
            return Ok(value);
        }
        // Compact list elements are 1 (true) or 2/0 (false); binary booleans are 0/1.
        Ok(self.u8()? == 1)
    }

    fn read_length(&mut self) -> Result<usize> {
        let length = match self.protocol {
            Protocol::Compact => self.varint()?,
            Protocol::Binary => {
                let n = self.read_i32()?;
                u64::try_from(n).map_err(|_| self.error(format!("negative length {n}")))?
            }
        };
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        if length > self.remaining() {
            return Err(self.error(format!(
                "length {length} exceeds the {} bytes that remain",
                self.remaining()
            )));
        }
        Ok(length)
    }

    fn read_binary(&mut self) -> Result<&'a [u8]> {
        let n = self.read_length()?;
        self.bytes(n)
    }

    fn read_string(&mut self) -> Result<String> {
        // Thrift strings should be UTF-8; keep what is readable rather than drop the span.
        Ok(String::from_utf8_lossy(self.read_binary()?).into_owned())
    }

    fn compact_type(&self, nibble: u8) -> Result<TType> {
        Ok(match nibble {
            1 | 2 => TType::Bool,
            3 => TType::Byte,
            4 => TType::I16,
            5 => TType::I32,
            6 => TType::I64,
            7 => TType::Double,
            8 => TType::Binary,
            9 => TType::List,
            10 => TType::Set,
            11 => TType::Map,
            12 => TType::Struct,
            other => return Err(self.error(format!("unknown compact type {other}"))),
        })
    }

    fn binary_type(&self, byte: u8) -> Result<TType> {
        Ok(match byte {
            2 => TType::Bool,
            3 => TType::Byte,
            4 => TType::Double,
            6 => TType::I16,
            8 => TType::I32,
            10 => TType::I64,
            11 => TType::Binary,
            12 => TType::Struct,
            13 => TType::Map,
            14 => TType::Set,
            15 => TType::List,
            other => return Err(self.error(format!("unknown binary type {other}"))),
        })
    }

    fn struct_begin(&mut self) -> Result<()> {
        if self.last_field_ids.len() >= MAX_DEPTH {
            return Err(self.error(format!("nesting deeper than {MAX_DEPTH}")));
        }
        self.last_field_ids.push(0);
        Ok(())
    }

    fn struct_end(&mut self) {
        self.last_field_ids.pop();
    }

    /// The next field's type and id, or `None` at the struct's end.
    fn field(&mut self) -> Result<Option<(TType, i16)>> {
        match self.protocol {
            Protocol::Binary => {
                let byte = self.u8()?;
                if byte == 0 {
                    return Ok(None);
                }
                let ttype = self.binary_type(byte)?;
                let id = self.read_i16()?;
                Ok(Some((ttype, id)))
            }
            Protocol::Compact => {
                let byte = self.u8()?;
                if byte == 0 {
                    return Ok(None);
                }
                let nibble = byte & 0x0f;
                let ttype = self.compact_type(nibble)?;
                let delta = byte >> 4;
                let last = self.last_field_ids.last().copied().unwrap_or(0);
                let id = if delta == 0 {
                    self.read_i16()?
                } else {
                    last.checked_add(i16::from(delta))
                        .ok_or_else(|| self.error("field id overflows"))?
                };
                if let Some(slot) = self.last_field_ids.last_mut() {
                    *slot = id;
                }
                if ttype == TType::Bool {
                    self.pending_bool = Some(nibble == 1);
                }
                Ok(Some((ttype, id)))
            }
        }
    }

    /// A list or set header: element type and count (bounded by the bytes that remain).
    fn list_begin(&mut self) -> Result<(TType, usize)> {
        let (ttype, count) = match self.protocol {
            Protocol::Binary => {
                let byte = self.u8()?;
                let ttype = self.binary_type(byte)?;
                let n = self.read_i32()?;
                let n =
                    u64::try_from(n).map_err(|_| self.error(format!("negative list size {n}")))?;
                (ttype, n)
            }
            Protocol::Compact => {
                let byte = self.u8()?;
                let ttype = self.compact_type(byte & 0x0f)?;
                let n = if byte >> 4 == 15 {
                    self.varint()?
                } else {
                    u64::from(byte >> 4)
                };
                (ttype, n)
            }
        };
        // Every element takes at least one byte on the wire.
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        if count > self.remaining() {
            return Err(self.error(format!(
                "list of {count} elements cannot fit in the {} bytes that remain",
                self.remaining()
            )));
        }
        Ok((ttype, count))
    }

    fn map_begin(&mut self) -> Result<(TType, TType, usize)> {
        let (k, v, n) = match self.protocol {
            Protocol::Binary => {
                let (k, v) = (self.u8()?, self.u8()?);
                let (k, v) = (self.binary_type(k)?, self.binary_type(v)?);
                let n = self.read_i32()?;
                let n =
                    u64::try_from(n).map_err(|_| self.error(format!("negative map size {n}")))?;
                (k, v, n)
            }
            Protocol::Compact => {
                let n = self.varint()?;
                if n == 0 {
                    return Ok((TType::Byte, TType::Byte, 0));
                }
                let types = self.u8()?;
                (
                    self.compact_type(types >> 4)?,
                    self.compact_type(types & 0x0f)?,
                    n,
                )
            }
        };
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if n > self.remaining() {
            return Err(self.error(format!(
                "map of {n} entries cannot fit in the {} bytes that remain",
                self.remaining()
            )));
        }
        Ok((k, v, n))
    }

    fn skip(&mut self, ttype: TType, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("nesting deeper than {MAX_DEPTH}")));
        }
        match ttype {
            TType::Bool => {
                self.read_bool()?;
            }
            TType::Byte => {
                self.u8()?;
            }
            TType::I16 => {
                self.read_i16()?;
            }
            TType::I32 => {
                self.read_i32()?;
            }
            TType::I64 => {
                self.read_i64()?;
            }
            TType::Double => {
                self.read_double()?;
            }
            TType::Binary => {
                self.read_binary()?;
            }
            TType::List | TType::Set => {
                let (element, count) = self.list_begin()?;
                for _ in 0..count {
                    self.skip(element, depth + 1)?;
                }
            }
            TType::Map => {
                let (k, v, count) = self.map_begin()?;
                for _ in 0..count {
                    self.skip(k, depth + 1)?;
                    self.skip(v, depth + 1)?;
                }
            }
            TType::Struct => {
                self.struct_begin()?;
                while let Some((field_type, _)) = self.field()? {
                    self.skip(field_type, depth + 1)?;
                }
                self.struct_end();
            }
        }
        Ok(())
    }

    fn list_of<T>(
        &mut self,
        ttype: TType,
        mut element: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<Vec<T>> {
        if ttype != TType::List {
            return Err(self.error(format!("expected a list, got a {ttype:?}")));
        }
        let (element_type, count) = self.list_begin()?;
        if element_type != TType::Struct {
            for _ in 0..count {
                self.skip(element_type, 1)?;
            }
            return Err(self.error("list elements must be structs"));
        }
        let mut items = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            items.push(element(self)?);
        }
        Ok(items)
    }

    fn tag(&mut self) -> Result<KeyValue> {
        self.struct_begin()?;
        let mut key = None;
        let mut vtype = None;
        let (mut v_str, mut v_double, mut v_bool, mut v_long, mut v_binary) =
            (None, None, None, None, None);
        while let Some((ttype, id)) = self.field()? {
            match (id, ttype) {
                (1, TType::Binary) => key = Some(self.read_string()?),
                (2, TType::I32) => vtype = Some(self.read_i32()?),
                (3, TType::Binary) => v_str = Some(self.read_string()?),
                (4, TType::Double) => v_double = Some(self.read_double()?),
                (5, TType::Bool) => v_bool = Some(self.read_bool()?),
                (6, TType::I64) => v_long = Some(self.read_i64()?),
                (7, TType::Binary) => v_binary = Some(self.read_binary()?.to_vec()),
                (_, other) => self.skip(other, 1)?,
            }
        }
        self.struct_end();
        let key = key.ok_or_else(|| self.error("Tag without its required key (field 1)"))?;
        let value = match vtype {
            Some(0) => AttrValue::Str(v_str.unwrap_or_default()),
            Some(1) => AttrValue::Double(v_double.unwrap_or_default()),
            Some(2) => AttrValue::Bool(v_bool.unwrap_or_default()),
            Some(3) => AttrValue::Int(v_long.unwrap_or_default()),
            Some(4) => AttrValue::Bytes(v_binary.unwrap_or_default()),
            Some(other) => {
                return Err(self.error(format!("Tag {key:?} has unknown vType {other}")));
            }
            None => {
                return Err(self.error(format!("Tag {key:?} without its required vType (field 2)")));
            }
        };
        Ok(KeyValue { key, value })
    }

    fn log(&mut self) -> Result<Event> {
        self.struct_begin()?;
        let mut event = Event::default();
        let mut has_timestamp = false;
        while let Some((ttype, id)) = self.field()? {
            match (id, ttype) {
                (1, TType::I64) => {
                    event.time_unix_nano = micros_to_nanos(self.read_i64()?);
                    has_timestamp = true;
                }
                (2, t) => event.attributes = self.list_of(t, Self::tag)?,
                (_, other) => self.skip(other, 1)?,
            }
        }
        self.struct_end();
        if !has_timestamp {
            return Err(self.error("Log without its required timestamp (field 1)"));
        }
        event.name = event_name_from_fields(&event.attributes);
        Ok(event)
    }

    fn span_ref(&mut self) -> Result<SpanRef> {
        self.struct_begin()?;
        let (mut ref_type, mut low, mut high, mut span) = (0, 0i64, 0i64, None);
        while let Some((ttype, id)) = self.field()? {
            match (id, ttype) {
                (1, TType::I32) => ref_type = self.read_i32()?,
                (2, TType::I64) => low = self.read_i64()?,
                (3, TType::I64) => high = self.read_i64()?,
                (4, TType::I64) => span = Some(self.read_i64()?),
                (_, other) => self.skip(other, 1)?,
            }
        }
        self.struct_end();
        let span_id = span.ok_or_else(|| self.error("SpanRef without its spanId (field 4)"))?;
        Ok(SpanRef {
            ref_type: if ref_type == 1 {
                RefType::FollowsFrom
            } else {
                RefType::ChildOf
            },
            trace_id: TraceId::from_halves(high as u64, low as u64),
            span_id: SpanId(span_id as u64),
            trace_state: String::new(),
            attributes: Vec::new(),
            flags: 0,
        })
    }

    fn span(&mut self) -> Result<Span> {
        self.struct_begin()?;
        let mut span = Span::default();
        let (mut low, mut high, mut span_id, mut parent) = (None, 0i64, None, 0i64);
        let (mut start, mut duration, mut has_name) = (None, None, false);
        while let Some((ttype, id)) = self.field()? {
            match (id, ttype) {
                (1, TType::I64) => low = Some(self.read_i64()?),
                (2, TType::I64) => high = self.read_i64()?,
                (3, TType::I64) => span_id = Some(self.read_i64()?),
                (4, TType::I64) => parent = self.read_i64()?,
                (5, TType::Binary) => {
                    span.operation_name = self.read_string()?;
                    has_name = true;
                }
                (6, t) => span.references = self.list_of(t, Self::span_ref)?,
                (7, TType::I32) => span.flags = self.read_i32()? as u32,
                (8, TType::I64) => start = Some(self.read_i64()?),
                (9, TType::I64) => duration = Some(self.read_i64()?),
                (10, t) => span.attributes = self.list_of(t, Self::tag)?,
                (11, t) => span.events = self.list_of(t, Self::log)?,
                (_, other) => self.skip(other, 1)?,
            }
        }
        self.struct_end();
        let low = low.ok_or_else(|| self.error("Span without its traceIdLow (field 1)"))?;
        let span_id = span_id.ok_or_else(|| self.error("Span without its spanId (field 3)"))?;
        if !has_name {
            return Err(self.error("Span without its operationName (field 5)"));
        }
        let start = start.ok_or_else(|| self.error("Span without its startTime (field 8)"))?;
        let mut duration =
            duration.ok_or_else(|| self.error("Span without its duration (field 9)"))?;
        span.trace_id = TraceId::from_halves(high as u64, low as u64);
        span.span_id = SpanId(span_id as u64);
        if parent != 0 {
            span.parent_span_id = Some(SpanId(parent as u64));
        }
        normalise_references(&mut span);
        span.start_unix_nano = micros_to_nanos(start);
        if duration < 0 {
            span.warnings
                .push(format!("negative duration {duration}µs set to 0"));
            duration = 0;
        }
        span.duration_nanos = micros_to_nanos(duration);
        span.kind = kind_from_tags(&span.attributes);
        Ok(span)
    }

    fn process(&mut self) -> Result<Resource> {
        self.struct_begin()?;
        let mut resource = Resource::default();
        let mut has_name = false;
        while let Some((ttype, id)) = self.field()? {
            match (id, ttype) {
                (1, TType::Binary) => {
                    resource.service_name = self.read_string()?;
                    has_name = true;
                }
                (2, t) => resource.attributes = self.list_of(t, Self::tag)?,
                (_, other) => self.skip(other, 1)?,
            }
        }
        self.struct_end();
        if !has_name {
            return Err(self.error("Process without its serviceName (field 1)"));
        }
        Ok(resource)
    }

    fn batch(&mut self) -> Result<Batch> {
        self.struct_begin()?;
        let mut process = None;
        let mut spans = None;
        while let Some((ttype, id)) = self.field()? {
            match (id, ttype) {
                (1, TType::Struct) => process = Some(self.process()?),
                (2, t) => spans = Some(self.list_of(t, Self::span)?),
                (_, other) => self.skip(other, 1)?,
            }
        }
        self.struct_end();
        let process = process.ok_or_else(|| self.error("Batch without its process (field 1)"))?;
        let mut spans = spans.ok_or_else(|| self.error("Batch without its spans (field 2)"))?;
        for span in &mut spans {
            span.resource = process.clone();
        }
        Ok(Batch { spans })
    }

    /// A message envelope: returns the method name.
    fn message_begin(&mut self) -> Result<String> {
        match self.protocol {
            Protocol::Compact => {
                let protocol_id = self.u8()?;
                if protocol_id != 0x82 {
                    return Err(self.error(format!(
                        "not a compact-protocol message (protocol id 0x{protocol_id:02x}, expected 0x82)"
                    )));
                }
                let version_and_type = self.u8()?;
                if version_and_type & 0x1f != 1 {
                    return Err(self.error("unsupported compact-protocol version"));
                }
                let _seq_id = self.varint()?;
                self.read_string()
            }
            Protocol::Binary => {
                let first = self.read_i32()?;
                if first < 0 {
                    if (first as u32) & 0xffff_0000 != 0x8001_0000 {
                        return Err(self.error("unsupported binary-protocol version"));
                    }
                    let name = self.read_string()?;
                    let _seq_id = self.read_i32()?;
                    Ok(name)
                } else {
                    // Old non-strict header: name length first.
                    self.pos -= 4;
                    let name = self.read_string()?;
                    let _message_type = self.u8()?;
                    let _seq_id = self.read_i32()?;
                    Ok(name)
                }
            }
        }
    }
}

fn micros_to_nanos(micros: i64) -> u64 {
    u64::try_from(micros).unwrap_or(0).saturating_mul(1_000)
}

/// Jaeger clients send the parent both as `parentSpanId` and, sometimes, as a reference. As in
/// Jaeger's own converter, `parentSpanId` is the child-of parent only when no reference names
/// that span already (jaeger-client sets it to the first reference even when that reference is
/// follows-from); a child-of reference to the parent is kept once, as `parent_span_id`.
fn normalise_references(span: &mut Span) {
    let trace = span.trace_id;
    if let Some(parent) = span.parent_span_id {
        match span
            .references
            .iter()
            .position(|r| r.span_id == parent && r.trace_id == trace)
        {
            Some(position) if span.references[position].ref_type == RefType::ChildOf => {
                span.references.remove(position);
            }
            Some(_) => span.parent_span_id = None,
            None => {}
        }
    } else if let Some(position) = span
        .references
        .iter()
        .position(|r| r.ref_type == RefType::ChildOf && r.trace_id == trace)
    {
        span.parent_span_id = Some(span.references.remove(position).span_id);
    }
}

/// Decodes a bare `jaeger.Batch` struct (the body of `POST /api/traces`).
pub fn decode_batch(data: &[u8], protocol: Protocol) -> std::result::Result<Batch, ThriftError> {
    let mut reader = Reader::new(data, protocol);
    reader.batch()
}

/// Decodes an agent datagram: an `Agent.emitBatch` message whose argument 1 is the batch.
/// `emitZipkinBatch` (Zipkin v1 spans, long deprecated) is refused with a clear error.
pub fn decode_emit_batch(
    data: &[u8],
    protocol: Protocol,
) -> std::result::Result<Batch, ThriftError> {
    let mut reader = Reader::new(data, protocol);
    let name = reader.message_begin()?;
    if name != "emitBatch" {
        return Err(reader.error(format!(
            "unsupported agent method {name:?} (only emitBatch is served)"
        )));
    }
    reader.struct_begin()?;
    let mut batch = None;
    while let Some((ttype, id)) = reader.field()? {
        match (id, ttype) {
            (1, TType::Struct) => batch = Some(reader.batch()?),
            (_, other) => reader.skip(other, 1)?,
        }
    }
    reader.struct_end();
    batch.ok_or_else(|| reader.error("emitBatch without its batch argument (field 1)"))
}

/// Test and benchmark support: a Thrift writer for the same structures, in either protocol.
pub mod encode {
    use super::Protocol;
    use crate::model::{AttrValue, KeyValue, RefType, Span};

    /// Writes Thrift values.
    pub struct Writer {
        /// The bytes written so far.
        pub out: Vec<u8>,
        protocol: Protocol,
        last_ids: Vec<i16>,
    }

    // Compact type nibbles, binary type bytes.
    const BOOL: (u8, u8) = (1, 2);
    const I32: (u8, u8) = (5, 8);
    const I64: (u8, u8) = (6, 10);
    const DOUBLE: (u8, u8) = (7, 4);
    const BINARY: (u8, u8) = (8, 11);
    const LIST: (u8, u8) = (9, 15);
    const STRUCT: (u8, u8) = (12, 12);

    impl Writer {
        /// An empty writer.
        pub fn new(protocol: Protocol) -> Writer {
            Writer {
                out: Vec::new(),
                protocol,
                last_ids: vec![0],
            }
        }

        fn varint(&mut self, mut v: u64) {
            while v >= 0x80 {
                self.out.push((v as u8) | 0x80);
                v >>= 7;
            }
            self.out.push(v as u8);
        }

        fn zigzag(&mut self, v: i64) {
            self.varint(((v << 1) ^ (v >> 63)) as u64);
        }

        fn field(&mut self, ttype: (u8, u8), id: i16, bool_value: Option<bool>) {
            match self.protocol {
                Protocol::Binary => {
                    self.out.push(ttype.1);
                    self.out.extend_from_slice(&id.to_be_bytes());
                }
                Protocol::Compact => {
                    let nibble = match bool_value {
                        Some(true) => 1,
                        Some(false) => 2,
                        None => ttype.0,
                    };
                    let last = self.last_ids.last().copied().unwrap_or(0);
                    let delta = id - last;
                    if (1..=15).contains(&delta) {
                        self.out.push(((delta as u8) << 4) | nibble);
                    } else {
                        self.out.push(nibble);
                        self.zigzag(i64::from(id));
                    }
                    if let Some(slot) = self.last_ids.last_mut() {
                        *slot = id;
                    }
                }
            }
        }

        fn stop(&mut self) {
            self.out.push(0);
        }

        /// Field `id` holding an i32.
        pub fn i32_field(&mut self, id: i16, v: i32) {
            self.field(I32, id, None);
            match self.protocol {
                Protocol::Binary => self.out.extend_from_slice(&v.to_be_bytes()),
                Protocol::Compact => self.zigzag(i64::from(v)),
            }
        }

        /// Field `id` holding an i64.
        pub fn i64_field(&mut self, id: i16, v: i64) {
            self.field(I64, id, None);
            self.i64_value(v);
        }

        fn i64_value(&mut self, v: i64) {
            match self.protocol {
                Protocol::Binary => self.out.extend_from_slice(&v.to_be_bytes()),
                Protocol::Compact => self.zigzag(v),
            }
        }

        fn binary_value(&mut self, bytes: &[u8]) {
            match self.protocol {
                Protocol::Binary => self
                    .out
                    .extend_from_slice(&(bytes.len() as i32).to_be_bytes()),
                Protocol::Compact => self.varint(bytes.len() as u64),
            }
            self.out.extend_from_slice(bytes);
        }

        /// Field `id` holding a string or binary.
        pub fn binary_field(&mut self, id: i16, bytes: &[u8]) {
            self.field(BINARY, id, None);
            self.binary_value(bytes);
        }

        fn list_header(&mut self, element: (u8, u8), count: usize) {
            match self.protocol {
                Protocol::Binary => {
                    self.out.push(element.1);
                    self.out.extend_from_slice(&(count as i32).to_be_bytes());
                }
                Protocol::Compact => {
                    if count < 15 {
                        self.out.push(((count as u8) << 4) | element.0);
                    } else {
                        self.out.push(0xf0 | element.0);
                        self.varint(count as u64);
                    }
                }
            }
        }

        fn struct_begin(&mut self) {
            self.last_ids.push(0);
        }

        fn struct_end(&mut self) {
            self.stop();
            self.last_ids.pop();
        }

        fn tags(&mut self, id: i16, tags: &[KeyValue]) {
            self.field(LIST, id, None);
            self.list_header(STRUCT, tags.len());
            for tag in tags {
                self.struct_begin();
                self.binary_field(1, tag.key.as_bytes());
                match &tag.value {
                    AttrValue::Str(s) => {
                        self.i32_field(2, 0);
                        self.binary_field(3, s.as_bytes());
                    }
                    AttrValue::Double(d) => {
                        self.i32_field(2, 1);
                        self.field(DOUBLE, 4, None);
                        match self.protocol {
                            Protocol::Binary => self.out.extend_from_slice(&d.to_be_bytes()),
                            Protocol::Compact => self.out.extend_from_slice(&d.to_le_bytes()),
                        }
                    }
                    AttrValue::Bool(b) => {
                        self.i32_field(2, 2);
                        self.field(BOOL, 5, Some(*b));
                        if self.protocol == Protocol::Binary {
                            self.out.push(u8::from(*b));
                        }
                    }
                    AttrValue::Int(i) => {
                        self.i32_field(2, 3);
                        self.i64_field(6, *i);
                    }
                    AttrValue::Bytes(b) => {
                        self.i32_field(2, 4);
                        self.binary_field(7, b);
                    }
                    other => {
                        self.i32_field(2, 0);
                        self.binary_field(3, other.to_text().as_bytes());
                    }
                }
                self.struct_end();
            }
        }

        /// A whole `jaeger.Batch` struct (as a field value when `field_id` is set).
        pub fn batch(&mut self, field_id: Option<i16>, spans: &[Span]) {
            if let Some(id) = field_id {
                self.field(STRUCT, id, None);
            }
            self.struct_begin();
            let process = spans
                .first()
                .map(|s| s.resource.clone())
                .unwrap_or_default();
            self.field(STRUCT, 1, None);
            self.struct_begin();
            self.binary_field(1, process.service_name.as_bytes());
            self.tags(2, &process.attributes);
            self.struct_end();
            self.field(LIST, 2, None);
            self.list_header(STRUCT, spans.len());
            for span in spans {
                self.struct_begin();
                self.i64_field(1, span.trace_id.low() as i64);
                self.i64_field(2, span.trace_id.high() as i64);
                self.i64_field(3, span.span_id.0 as i64);
                self.i64_field(4, span.parent_span_id.map_or(0, |p| p.0 as i64));
                self.binary_field(5, span.operation_name.as_bytes());
                if !span.references.is_empty() {
                    self.field(LIST, 6, None);
                    self.list_header(STRUCT, span.references.len());
                    for r in &span.references {
                        self.struct_begin();
                        self.i32_field(1, i32::from(r.ref_type == RefType::FollowsFrom));
                        self.i64_field(2, r.trace_id.low() as i64);
                        self.i64_field(3, r.trace_id.high() as i64);
                        self.i64_field(4, r.span_id.0 as i64);
                        self.struct_end();
                    }
                }
                self.i32_field(7, span.flags as i32);
                self.i64_field(8, (span.start_unix_nano / 1000) as i64);
                self.i64_field(9, (span.duration_nanos / 1000) as i64);
                self.tags(10, &span.attributes);
                self.field(LIST, 11, None);
                self.list_header(STRUCT, span.events.len());
                for event in &span.events {
                    self.struct_begin();
                    self.i64_field(1, (event.time_unix_nano / 1000) as i64);
                    self.tags(2, &event.attributes);
                    self.struct_end();
                }
                self.struct_end();
            }
            self.struct_end();
        }

        /// An `Agent.emitBatch` oneway message, as a Jaeger client sends it over UDP.
        pub fn emit_batch(protocol: Protocol, spans: &[Span]) -> Vec<u8> {
            let mut writer = Writer::new(protocol);
            match protocol {
                Protocol::Compact => {
                    writer.out.extend_from_slice(&[0x82, (4 << 5) | 1]);
                    writer.varint(1);
                    writer.binary_value(b"emitBatch");
                }
                Protocol::Binary => {
                    writer
                        .out
                        .extend_from_slice(&(0x8001_0000u32 | 4).to_be_bytes());
                    writer.binary_value(b"emitBatch");
                    writer.out.extend_from_slice(&1i32.to_be_bytes());
                }
            }
            writer.struct_begin();
            writer.batch(Some(1), spans);
            writer.struct_end();
            writer.out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::encode::Writer;
    use super::*;
    use crate::model::{Resource, Span, SpanKind};
    use proptest::prelude::*;

    fn sample_spans() -> Vec<Span> {
        let resource = Resource {
            service_name: "flask-app".into(),
            attributes: vec![
                KeyValue::string("hostname", "node-1"),
                KeyValue::string("jaeger.version", "Python-4.8.0"),
            ],
        };
        let root = Span {
            trace_id: TraceId::from_halves(0, 0x1234),
            span_id: SpanId(0x1234),
            operation_name: "remote".into(),
            kind: SpanKind::Server,
            start_unix_nano: 1_700_000_000_000_000_000,
            duration_nanos: 25_000_000,
            flags: 1,
            attributes: vec![
                KeyValue::string("span.kind", "server"),
                KeyValue {
                    key: "http.status_code".into(),
                    value: AttrValue::Int(200),
                },
                KeyValue {
                    key: "error".into(),
                    value: AttrValue::Bool(false),
                },
                KeyValue {
                    key: "ratio".into(),
                    value: AttrValue::Double(0.25),
                },
                KeyValue {
                    key: "blob".into(),
                    value: AttrValue::Bytes(vec![1, 2, 3]),
                },
            ],
            events: vec![Event {
                time_unix_nano: 1_700_000_000_001_000_000,
                name: "cache miss".into(),
                attributes: vec![
                    KeyValue::string("event", "cache miss"),
                    KeyValue {
                        key: "attempt".into(),
                        value: AttrValue::Int(2),
                    },
                ],
                dropped_attributes_count: 0,
            }],
            resource: resource.clone(),
            ..Span::default()
        };
        let child = Span {
            trace_id: root.trace_id,
            span_id: SpanId(0x5678),
            parent_span_id: Some(root.span_id),
            references: vec![SpanRef {
                ref_type: RefType::FollowsFrom,
                trace_id: root.trace_id,
                span_id: SpanId(0x9999),
                trace_state: String::new(),
                attributes: vec![],
                flags: 0,
            }],
            operation_name: "github-api".into(),
            start_unix_nano: 1_700_000_000_002_000_000,
            duration_nanos: 10_000_000,
            flags: 1,
            resource,
            ..Span::default()
        };
        vec![root, child]
    }

    #[test]
    fn emit_batch_round_trips_in_both_protocols() {
        for protocol in [Protocol::Compact, Protocol::Binary] {
            let spans = sample_spans();
            let bytes = Writer::emit_batch(protocol, &spans);
            let batch = decode_emit_batch(&bytes, protocol).expect("decodes");
            assert_eq!(batch.spans, spans, "{protocol:?}");
        }
    }

    #[test]
    fn a_follows_from_parent_is_not_a_child_of_parent() {
        let mut spans = sample_spans();
        // What jaeger-client sends for a span whose only reference is follows-from.
        spans[1].references[0].span_id = spans[0].span_id;
        let bytes = Writer::emit_batch(Protocol::Compact, &spans);
        let batch = decode_emit_batch(&bytes, Protocol::Compact).expect("decodes");
        assert_eq!(batch.spans[1].parent_span_id, None);
        assert_eq!(batch.spans[1].references[0].ref_type, RefType::FollowsFrom);
    }

    #[test]
    fn bare_batch_decodes() {
        let spans = sample_spans();
        let mut writer = Writer::new(Protocol::Binary);
        writer.batch(None, &spans);
        let batch = decode_batch(&writer.out, Protocol::Binary).expect("decodes");
        assert_eq!(batch.spans.len(), 2);
        assert_eq!(batch.spans[1].parent_span_id, Some(SpanId(0x1234)));
    }

    #[test]
    fn truncation_is_an_error_that_says_so() {
        let bytes = Writer::emit_batch(Protocol::Compact, &sample_spans());
        for cut in [1, 5, bytes.len() / 2, bytes.len() - 1] {
            let error = decode_emit_batch(&bytes[..cut], Protocol::Compact)
                .expect_err("truncated input must fail");
            assert!(error.reason.contains("remain"), "{error}");
        }
    }

    #[test]
    fn a_field_of_the_wrong_type_is_an_error() {
        // A batch whose spans field (2) is a string: binary protocol, type 11.
        let mut writer = Writer::new(Protocol::Binary);
        writer.batch(None, &sample_spans());
        let bytes = writer.out;
        let at = bytes
            .windows(4)
            .position(|w| w == [15, 0, 2, 12])
            .expect("the spans list header");
        let mut damaged = bytes[..at].to_vec();
        damaged.extend_from_slice(&[11, 0, 2, 0, 0, 0, 1, b'x', 0]);
        let error = decode_batch(&damaged, Protocol::Binary).expect_err("must fail");
        assert!(error.reason.contains("expected a list"), "{error}");
    }

    #[test]
    fn absurd_lengths_are_refused_before_allocating() {
        // Compact emitBatch header, then a batch whose span list claims 2^40 elements.
        let mut bytes = vec![0x82, 0x81, 0x01, 9];
        bytes.extend_from_slice(b"emitBatch");
        bytes.push(0x1c); // field 1, struct (the batch)
        bytes.push(0x1c); // field 1, struct (process)
        bytes.extend_from_slice(&[0x18, 1, b's', 0]); // serviceName "s", stop
        bytes.push(0x19); // field 2, list
        bytes.extend_from_slice(&[0xfc, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
        let error = decode_emit_batch(&bytes, Protocol::Compact).expect_err("must fail");
        assert!(error.reason.contains("cannot fit"), "{error}");
    }

    #[test]
    fn missing_required_fields_are_named() {
        let mut writer = Writer::new(Protocol::Binary);
        writer.out.push(0); // an empty Batch struct
        let error = decode_batch(&writer.out, Protocol::Binary).expect_err("must fail");
        assert!(error.reason.contains("process"), "{error}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        // A batch whose field 9 is a struct nested 100 levels deep (binary protocol).
        let mut bytes = Vec::new();
        for _ in 0..100 {
            bytes.extend_from_slice(&[12, 0, 9]);
        }
        let error = decode_batch(&bytes, Protocol::Binary).expect_err("must fail");
        assert!(error.reason.contains("nesting"), "{error}");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_emit_batch(&data, Protocol::Compact);
            let _ = decode_emit_batch(&data, Protocol::Binary);
            let _ = decode_batch(&data, Protocol::Binary);
        }

        #[test]
        fn mutated_batches_never_panic(position in 0usize..400, byte in any::<u8>(), compact in any::<bool>()) {
            let protocol = if compact { Protocol::Compact } else { Protocol::Binary };
            let mut bytes = Writer::emit_batch(protocol, &sample_spans());
            let at = position % bytes.len();
            bytes[at] = byte;
            let _ = decode_emit_batch(&bytes, protocol);
        }
    }
}

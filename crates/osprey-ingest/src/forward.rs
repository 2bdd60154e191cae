//! The Fluentd forward protocol (v1), as Fluentd's `out_forward`, Fluent Bit's `forward`
//! output and the `fluent-logger` libraries speak it: a TCP stream of MessagePack arrays, each
//! one of
//!
//! - Message: `[tag, time, record, option?]`
//! - Forward: `[tag, [[time, record], …], option?]`
//! - PackedForward: `[tag, bin|str of concatenated [time, record] arrays, option?]`
//! - CompressedPackedForward: the same, gzipped, with `option.compressed == "gzip"`.
//!
//! `time` is an integer (seconds), a float (seconds), or the EventTime extension (type 0:
//! seconds and nanoseconds, big-endian u32s); Fluent Bit 2.1+ may send `[time, metadata]` in
//! its place. When `option.chunk` is set, the sender waits for `{"ack": chunk}` and resends
//! the message if the answer does not come.
//!
//! Input is untrusted: `message_len` frames the stream without allocating, decoding is bounded
//! in depth (rmpv) and in decompressed size.

use std::io::Read;

use base64::Engine;
use rmpv::Value as Pack;
use serde_json::{Map, Value};

/// Nesting beyond this is refused.
const MAX_DEPTH: usize = 64;

/// Why bytes are not a forward message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid forward message: {0}")]
pub struct ForwardError(pub String);

fn invalid(what: impl Into<String>) -> ForwardError {
    ForwardError(what.into())
}

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardEvent {
    /// Event time, nanoseconds since the epoch.
    pub time_nanos: i64,
    /// The record, as JSON.
    pub record: Map<String, Value>,
}

/// Which of the protocol's modes a message used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `[tag, time, record]`.
    Message,
    /// `[tag, [[time, record], …]]`.
    Forward,
    /// `[tag, packed entries]`.
    PackedForward,
    /// `[tag, gzipped packed entries, {"compressed": "gzip"}]`.
    CompressedPackedForward,
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardMessage {
    /// The tag.
    pub tag: String,
    /// The events, in order.
    pub events: Vec<ForwardEvent>,
    /// The chunk id to acknowledge, when the sender asked for an acknowledgement.
    pub chunk: Option<String>,
    /// The mode.
    pub mode: Mode,
}

/// The length of the MessagePack value at the start of `bytes`: `Ok(None)` when more bytes
/// are needed. Skips over the value without decoding it (strings and binaries in one step),
/// so it is cheap to ask again as more bytes arrive.
pub fn message_len(bytes: &[u8]) -> Result<Option<usize>, ForwardError> {
    let mut pos = 0usize;
    // Values still to skip at each open level (the top level holds one).
    let mut levels: Vec<u64> = vec![1];
    let need = |pos: usize, n: usize| pos.checked_add(n).filter(|end| *end <= bytes.len());
    while let Some(left) = levels.last_mut() {
        if *left == 0 {
            levels.pop();
            continue;
        }
        *left -= 1;
        let Some(&marker) = bytes.get(pos) else {
            return Ok(None);
        };
        pos += 1;
        // (bytes to skip after the marker, values it contains)
        let read_len = |pos: usize, size: usize| -> Option<u64> {
            let field = bytes.get(pos..pos + size)?;
            Some(field.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
        };
        let (skip, children): (u64, u64) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, 2 * u64::from(marker & 0x0f)),
            0x90..=0x9f => (0, u64::from(marker & 0x0f)),
            0xa0..=0xbf => (u64::from(marker & 0x1f), 0),
            0xc1 => {
                return Err(invalid(format!(
                    "byte 0xc1 (never used) at offset {}",
                    pos - 1
                )));
            }
            0xc4 | 0xd9 => match read_len(pos, 1) {
                Some(n) => (1 + n, 0),
                None => return Ok(None),
            },
            0xc5 | 0xda => match read_len(pos, 2) {
                Some(n) => (2 + n, 0),
                None => return Ok(None),
            },
            0xc6 | 0xdb => match read_len(pos, 4) {
                Some(n) => (4 + n, 0),
                None => return Ok(None),
            },
            0xc7 => match read_len(pos, 1) {
                Some(n) => (2 + n, 0),
                None => return Ok(None),
            },
            0xc8 => match read_len(pos, 2) {
                Some(n) => (3 + n, 0),
                None => return Ok(None),
            },
            0xc9 => match read_len(pos, 4) {
                Some(n) => (5 + n, 0),
                None => return Ok(None),
            },
            0xca => (4, 0),
            0xcb => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xce | 0xd2 => (4, 0),
            0xcf | 0xd3 => (8, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => match read_len(pos, 2) {
                Some(n) => (2, n),
                None => return Ok(None),
            },
            0xdd => match read_len(pos, 4) {
                Some(n) => (4, n),
                None => return Ok(None),
            },
            0xde => match read_len(pos, 2) {
                Some(n) => (2, 2 * n),
                None => return Ok(None),
            },
            0xdf => match read_len(pos, 4) {
                Some(n) => (4, 2 * n),
                None => return Ok(None),
            },
        };
        let Ok(skip) = usize::try_from(skip) else {
            return Err(invalid("length beyond the address space"));
        };
        match need(pos, skip) {
            Some(end) => pos = end,
            None => return Ok(None),
        }
        if children > 0 {
            if levels.len() > MAX_DEPTH {
                return Err(invalid(format!("nested deeper than {MAX_DEPTH}")));
            }
            levels.push(children);
        }
    }
    Ok(Some(pos))
}

/// Decodes one whole message (as framed by `message_len`). Compressed entries are inflated up
/// to `max_inflated` bytes.
pub fn decode_message(bytes: &[u8], max_inflated: usize) -> Result<ForwardMessage, ForwardError> {
    let mut reader = bytes;
    let value = rmpv::decode::read_value_with_max_depth(&mut reader, MAX_DEPTH)
        .map_err(|e| invalid(format!("not MessagePack: {e}")))?;
    let Pack::Array(items) = value else {
        return Err(invalid("a message is an array [tag, …]"));
    };
    let mut items = items.into_iter();
    let tag = match items.next() {
        Some(Pack::String(tag)) => tag
            .into_str()
            .ok_or_else(|| invalid("the tag is not UTF-8"))?,
        _ => return Err(invalid("the first element (the tag) must be a string")),
    };
    let second = items
        .next()
        .ok_or_else(|| invalid("a message has at least two elements"))?;
    let rest: Vec<Pack> = items.collect();
    let (events, option, mode) = match second {
        Pack::Array(entries) => {
            let option = rest.into_iter().next();
            let events = entries
                .into_iter()
                .enumerate()
                .map(|(i, entry)| {
                    entry_event(entry).map_err(|e| invalid(format!("entry {i}: {}", e.0)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            (events, option, Mode::Forward)
        }
        Pack::Binary(packed) => packed_events(&packed, rest.into_iter().next(), max_inflated)?,
        Pack::String(packed) => {
            packed_events(packed.as_bytes(), rest.into_iter().next(), max_inflated)?
        }
        time => {
            let mut rest = rest.into_iter();
            let record = rest
                .next()
                .ok_or_else(|| invalid("a Message is [tag, time, record]"))?;
            let option = rest.next();
            let event = event(time, record)?;
            (vec![event], option, Mode::Message)
        }
    };
    let chunk = match option {
        Some(Pack::Map(entries)) => entries
            .into_iter()
            .find(|(k, _)| k.as_str() == Some("chunk"))
            .and_then(|(_, v)| v.as_str().map(str::to_string)),
        Some(Pack::Nil) | None => None,
        Some(_) => return Err(invalid("the option element must be a map")),
    };
    Ok(ForwardMessage {
        tag,
        events,
        chunk,
        mode,
    })
}

fn packed_events(
    packed: &[u8],
    option: Option<Pack>,
    max_inflated: usize,
) -> Result<(Vec<ForwardEvent>, Option<Pack>, Mode), ForwardError> {
    let compressed = match &option {
        Some(Pack::Map(entries)) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some("compressed"))
            .map(|(_, v)| v.as_str().unwrap_or_default().to_string()),
        _ => None,
    };
    let inflated;
    let (entries, mode) = match compressed.as_deref() {
        None | Some("text") => (packed, Mode::PackedForward),
        Some("gzip") => {
            // Fluent Bit and Fluentd may concatenate gzip members: read them all.
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(packed)
                .take(max_inflated as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| invalid(format!("compressed entries do not inflate: {e}")))?;
            if out.len() > max_inflated {
                return Err(invalid(format!(
                    "compressed entries inflate to more than {max_inflated} bytes"
                )));
            }
            inflated = out;
            (inflated.as_slice(), Mode::CompressedPackedForward)
        }
        Some(other) => return Err(invalid(format!("unknown compression {other:?}"))),
    };
    let mut events = Vec::new();
    let mut rest = entries;
    while !rest.is_empty() {
        let index = events.len();
        let entry = rmpv::decode::read_value_with_max_depth(&mut rest, MAX_DEPTH)
            .map_err(|e| invalid(format!("packed entry {index}: not MessagePack: {e}")))?;
        events.push(
            entry_event(entry).map_err(|e| invalid(format!("packed entry {index}: {}", e.0)))?,
        );
    }
    Ok((events, option, mode))
}

fn entry_event(entry: Pack) -> Result<ForwardEvent, ForwardError> {
    match entry {
        Pack::Array(pair) if pair.len() >= 2 => {
            let mut pair = pair.into_iter();
            let time = pair.next().unwrap_or(Pack::Nil);
            let record = pair.next().unwrap_or(Pack::Nil);
            event(time, record)
        }
        _ => Err(invalid("an entry is [time, record]")),
    }
}

fn event(time: Pack, record: Pack) -> Result<ForwardEvent, ForwardError> {
    let time_nanos = event_time(&time)?;
    let Pack::Map(entries) = record else {
        return Err(invalid("the record must be a map"));
    };
    let mut record = Map::new();
    for (key, value) in entries {
        record.insert(key_text(key), to_json(value));
    }
    Ok(ForwardEvent { time_nanos, record })
}

/// Seconds (integer or float), EventTime (extension 0), or Fluent Bit's `[time, metadata]`.
fn event_time(time: &Pack) -> Result<i64, ForwardError> {
    match time {
        Pack::Integer(seconds) => seconds
            .as_i64()
            .and_then(|s| s.checked_mul(1_000_000_000))
            .ok_or_else(|| invalid("the time is out of range")),
        Pack::F32(_) | Pack::F64(_) => {
            let seconds = time.as_f64().unwrap_or(f64::NAN);
            let nanos = seconds * 1e9;
            if nanos.is_finite() && nanos.abs() < 9.2e18 {
                Ok(nanos as i64)
            } else {
                Err(invalid("the time is out of range"))
            }
        }
        Pack::Ext(0, bytes) if bytes.len() == 8 => {
            let seconds = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            let nanos = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
            Ok(i64::from(seconds) * 1_000_000_000 + i64::from(nanos.min(999_999_999)))
        }
        Pack::Array(pair) if !pair.is_empty() && !matches!(pair[0], Pack::Array(_)) => {
            event_time(&pair[0])
        }
        _ => Err(invalid(
            "the time must be seconds or an EventTime (extension type 0, 8 bytes)",
        )),
    }
}

fn key_text(key: Pack) -> String {
    match key {
        Pack::String(s) => match s.into_str() {
            Some(s) => s,
            None => String::from("\u{fffd}"),
        },
        Pack::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
        other => to_json(other).to_string(),
    }
}

/// A MessagePack value as JSON: raw bytes as (lossy) UTF-8 text — Fluentd's own convention
/// for `bin` strings — and non-finite floats as their names.
fn to_json(value: Pack) -> Value {
    match value {
        Pack::Nil => Value::Null,
        Pack::Boolean(b) => Value::Bool(b),
        Pack::Integer(i) => match (i.as_i64(), i.as_u64()) {
            (Some(v), _) => Value::from(v),
            (None, Some(v)) => Value::from(v),
            _ => Value::Null,
        },
        Pack::F32(f) => float(f64::from(f)),
        Pack::F64(f) => float(f),
        Pack::String(s) => match s.into_str() {
            Some(s) => Value::String(s),
            None => Value::String(String::from("\u{fffd}")),
        },
        Pack::Binary(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
        Pack::Array(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Pack::Map(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| (key_text(k), to_json(v)))
                .collect(),
        ),
        Pack::Ext(kind, bytes) => serde_json::json!({
            "ext": kind,
            "data": base64::engine::general_purpose::STANDARD.encode(bytes),
        }),
    }
}

fn float(value: f64) -> Value {
    serde_json::Number::from_f64(value)
        .map(Value::Number)
        .unwrap_or_else(|| Value::String(value.to_string()))
}

/// The acknowledgement of a chunk: `{"ack": chunk}`.
pub fn ack(chunk: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunk.len() + 8);
    let value = Pack::Map(vec![(Pack::from("ack"), Pack::from(chunk))]);
    // Writing to a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, &value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pack(value: &Pack) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, value).expect("encodes");
        out
    }

    fn event_time_ext(seconds: u32, nanos: u32) -> Pack {
        let mut bytes = seconds.to_be_bytes().to_vec();
        bytes.extend_from_slice(&nanos.to_be_bytes());
        Pack::Ext(0, bytes)
    }

    fn record(message: &str) -> Pack {
        Pack::Map(vec![
            (Pack::from("message"), Pack::from(message)),
            (Pack::from("n"), Pack::from(7)),
            (
                Pack::Binary(b"raw".to_vec()),
                Pack::Binary(b"bytes".to_vec()),
            ),
        ])
    }

    fn entries() -> Vec<Pack> {
        (0..3)
            .map(|i| {
                Pack::Array(vec![
                    event_time_ext(1_700_000_000 + i, 5),
                    record(&format!("m{i}")),
                ])
            })
            .collect()
    }

    fn option(chunk: &str, compressed: bool) -> Pack {
        let mut entries = vec![(Pack::from("chunk"), Pack::from(chunk))];
        if compressed {
            entries.push((Pack::from("compressed"), Pack::from("gzip")));
        }
        Pack::Map(entries)
    }

    #[test]
    fn every_mode_decodes() {
        let message = pack(&Pack::Array(vec![
            Pack::from("app.web"),
            Pack::from(1_700_000_000),
            record("hello"),
            option("c1", false),
        ]));
        let decoded = decode_message(&message, 1 << 20).expect("message");
        assert_eq!(decoded.mode, Mode::Message);
        assert_eq!(decoded.tag, "app.web");
        assert_eq!(decoded.chunk.as_deref(), Some("c1"));
        assert_eq!(decoded.events[0].time_nanos, 1_700_000_000_000_000_000);
        assert_eq!(decoded.events[0].record["message"], "hello");
        assert_eq!(decoded.events[0].record["raw"], "bytes");

        let forward = pack(&Pack::Array(vec![Pack::from("t"), Pack::Array(entries())]));
        let decoded = decode_message(&forward, 1 << 20).expect("forward");
        assert_eq!(decoded.mode, Mode::Forward);
        assert_eq!(decoded.events.len(), 3);
        assert_eq!(decoded.events[2].time_nanos, 1_700_000_002_000_000_005);
        assert_eq!(decoded.chunk, None);

        let packed: Vec<u8> = entries().iter().flat_map(pack).collect();
        let message = pack(&Pack::Array(vec![
            Pack::from("t"),
            Pack::Binary(packed.clone()),
            option("c2", false),
        ]));
        let decoded = decode_message(&message, 1 << 20).expect("packed");
        assert_eq!(decoded.mode, Mode::PackedForward);
        assert_eq!(decoded.events[1].record["message"], "m1");

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &packed).expect("gzip");
        let message = pack(&Pack::Array(vec![
            Pack::from("t"),
            Pack::Binary(gz.finish().expect("gzip")),
            option("c3", true),
        ]));
        let decoded = decode_message(&message, 1 << 20).expect("compressed");
        assert_eq!(decoded.mode, Mode::CompressedPackedForward);
        assert_eq!(decoded.events.len(), 3);
        assert_eq!(decoded.chunk.as_deref(), Some("c3"));
        let error = decode_message(&message, 10).expect_err("bomb");
        assert!(error.0.contains("more than 10 bytes"), "{error}");
    }

    #[test]
    fn fluent_bit_metadata_times_and_float_times() {
        let entry = Pack::Array(vec![
            Pack::Array(vec![event_time_ext(1, 2), Pack::Map(vec![])]),
            record("x"),
        ]);
        let message = pack(&Pack::Array(vec![
            Pack::from("t"),
            Pack::Array(vec![entry]),
        ]));
        assert_eq!(
            decode_message(&message, 1 << 20).expect("decodes").events[0].time_nanos,
            1_000_000_002
        );
        let message = pack(&Pack::Array(vec![
            Pack::from("t"),
            Pack::F64(1.5),
            record("x"),
        ]));
        assert_eq!(
            decode_message(&message, 1 << 20).expect("decodes").events[0].time_nanos,
            1_500_000_000
        );
    }

    #[test]
    fn bad_messages_say_what_is_wrong() {
        let cases = [
            (Pack::from(1), "array"),
            (Pack::Array(vec![Pack::from(1), Pack::from(2)]), "tag"),
            (Pack::Array(vec![Pack::from("t")]), "at least two"),
            (
                Pack::Array(vec![
                    Pack::from("t"),
                    Pack::from(1),
                    Pack::from("not a map"),
                ]),
                "record must be a map",
            ),
            (
                Pack::Array(vec![Pack::from("t"), Pack::from("x"), Pack::Map(vec![])]),
                "packed entry 0",
            ),
            (
                Pack::Array(vec![Pack::from("t"), Pack::Array(vec![Pack::from(1)])]),
                "entry 0",
            ),
            (
                Pack::Array(vec![Pack::from("t"), Pack::Nil, record("x")]),
                "time must be",
            ),
        ];
        for (value, needle) in cases {
            let error = decode_message(&pack(&value), 1 << 20).expect_err("refused");
            assert!(error.0.contains(needle), "{error} lacks {needle:?}");
        }
    }

    #[test]
    fn framing_finds_message_ends_and_waits_for_more() {
        let one = pack(&Pack::Array(vec![
            Pack::from("t"),
            Pack::from(1),
            record("hello"),
        ]));
        let two = pack(&Pack::Array(vec![
            Pack::from("t"),
            Pack::Binary(vec![7; 70_000]),
        ]));
        let mut stream = one.clone();
        stream.extend_from_slice(&two);
        assert_eq!(message_len(&stream), Ok(Some(one.len())));
        assert_eq!(message_len(&stream[one.len()..]), Ok(Some(two.len())));
        for cut in 0..one.len() {
            assert_eq!(message_len(&one[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(message_len(&two[..two.len() - 1]), Ok(None));
        assert!(message_len(&[0xc1]).is_err());
        let deep: Vec<u8> = std::iter::repeat_n(0x91, 100).collect();
        assert!(message_len(&deep).is_err());
    }

    #[test]
    fn acks_are_msgpack_maps() {
        let bytes = ack("abc");
        let value = rmpv::decode::read_value(&mut bytes.as_slice()).expect("decodes");
        assert_eq!(
            value,
            Pack::Map(vec![(Pack::from("ack"), Pack::from("abc"))])
        );
    }

    fn pack_strategy() -> impl Strategy<Value = Pack> {
        let leaf = prop_oneof![
            Just(Pack::Nil),
            any::<bool>().prop_map(Pack::from),
            any::<i64>().prop_map(Pack::from),
            any::<u64>().prop_map(Pack::from),
            any::<f64>().prop_map(Pack::F64),
            ".{0,40}".prop_map(|s| Pack::from(s.as_str())),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(Pack::Binary),
            (any::<i8>(), proptest::collection::vec(any::<u8>(), 0..20))
                .prop_map(|(t, b)| Pack::Ext(t, b)),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..20).prop_map(Pack::Array),
                proptest::collection::vec((inner.clone(), inner), 0..8).prop_map(Pack::Map),
            ]
        })
    }

    proptest! {
        #[test]
        fn framing_agrees_with_the_decoder(value in pack_strategy(), extra in proptest::collection::vec(any::<u8>(), 0..8)) {
            let mut bytes = pack(&value);
            let len = bytes.len();
            bytes.extend_from_slice(&extra);
            prop_assert_eq!(message_len(&bytes), Ok(Some(len)));
            for cut in [0, len / 3, len / 2, len - 1] {
                prop_assert_eq!(message_len(&bytes[..cut]), Ok(None));
            }
            let _ = decode_message(&bytes[..len], 1 << 20);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(Some(len)) = message_len(&bytes) {
                prop_assert!(len <= bytes.len());
            }
            let _ = decode_message(&bytes, 1 << 16);
        }
    }
}

//! The Elasticsearch `_bulk` NDJSON body: action lines, each followed by a source line
//! (except `delete`). Decoding is per item: one bad line fails only its own item.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// What a bulk item asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkOp {
    /// Add or replace.
    Index,
    /// Add; fail if the id exists.
    Create,
    /// Remove by id.
    Delete,
    /// Merge a partial document into an existing one.
    Update,
}

impl BulkOp {
    /// The action name, as used in responses.
    pub fn name(self) -> &'static str {
        match self {
            BulkOp::Index => "index",
            BulkOp::Create => "create",
            BulkOp::Delete => "delete",
            BulkOp::Update => "update",
        }
    }
}

/// The body of an `update` action.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateBody {
    /// Fields to merge into the stored document.
    pub doc: Option<Map<String, Value>>,
    /// Create the document from `doc` when it does not exist.
    pub doc_as_upsert: bool,
    /// The document to create when it does not exist.
    pub upsert: Option<Map<String, Value>>,
}

/// One decoded bulk item.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkItem {
    /// The operation.
    pub op: BulkOp,
    /// Target index from the action line, if given (else the URL's).
    pub index: Option<String>,
    /// Document id, if given.
    pub id: Option<String>,
    /// The source line exactly as sent, for `index` and `create`: checked to be one JSON
    /// object, not parsed (the store parses it once, as it maps it).
    pub source: Option<Vec<u8>>,
    /// The source's top-level `@timestamp` value, which picks its day partition.
    pub timestamp: Option<Value>,
    /// For `update`.
    pub update: Option<UpdateBody>,
}

/// An item that could not be decoded; the rest of the request goes on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct BulkItemError {
    /// The operation, when the action line was readable.
    pub op: Option<BulkOp>,
    /// Target index, when known.
    pub index: Option<String>,
    /// Id, when known.
    pub id: Option<String>,
    /// 1-based line number in the request body.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Decodes a whole `_bulk` body. Empty lines are skipped, as Elasticsearch does.
pub fn decode_bulk(body: &[u8]) -> Vec<Result<BulkItem, BulkItemError>> {
    let mut lines = body
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim_ascii()))
        .filter(|(_, line)| !line.is_empty())
        .peekable();
    let mut items = Vec::new();
    while let Some((line_number, action_line)) = lines.next() {
        let action = match parse_action(action_line) {
            Ok(action) => action,
            Err(reason) => {
                // The next line is this item's source unless it reads as an action itself.
                if lines
                    .peek()
                    .is_some_and(|(_, next)| parse_action(next).is_err())
                {
                    lines.next();
                }
                items.push(Err(BulkItemError {
                    op: None,
                    index: None,
                    id: None,
                    line: line_number,
                    reason,
                }));
                continue;
            }
        };
        let (op, index, id) = action;
        let fail = |line: usize, reason: String| BulkItemError {
            op: Some(op),
            index: index.clone(),
            id: id.clone(),
            line,
            reason,
        };
        if op == BulkOp::Delete {
            if id.is_none() {
                items.push(Err(fail(line_number, "delete requires an [_id]".into())));
            } else {
                items.push(Ok(BulkItem {
                    op,
                    index,
                    id,
                    source: None,
                    timestamp: None,
                    update: None,
                }));
            }
            continue;
        }
        let Some((source_line_number, source_line)) = lines.next() else {
            items.push(Err(fail(
                line_number,
                format!("the {} action has no source line after it", op.name()),
            )));
            continue;
        };
        if op != BulkOp::Update {
            match check_object(source_line) {
                Ok(timestamp) => items.push(Ok(BulkItem {
                    op,
                    index,
                    id,
                    source: Some(source_line.to_vec()),
                    timestamp,
                    update: None,
                })),
                Err(reason) => items.push(Err(fail(source_line_number, reason))),
            }
            continue;
        }
        let object = match parse_object(source_line) {
            Ok(object) => object,
            Err(reason) => {
                items.push(Err(fail(source_line_number, reason)));
                continue;
            }
        };
        if id.is_none() {
            items.push(Err(fail(line_number, "update requires an [_id]".into())));
            continue;
        }
        match update_body(object) {
            Ok(update) => items.push(Ok(BulkItem {
                op,
                index,
                id,
                source: None,
                timestamp: None,
                update: Some(update),
            })),
            Err(reason) => items.push(Err(fail(source_line_number, reason))),
        }
    }
    items
}

/// Checks that `line` is one JSON object, as [`parse_object`] would read it but without
/// building it, and returns its top-level `@timestamp` value (the last one when repeated, as
/// a parsed object keeps). Errors name the problem and its position as `parse_object` does.
pub fn check_object(line: &[u8]) -> Result<Option<Value>, String> {
    if line.trim_ascii_start().first() != Some(&b'{') {
        // Not an object: the full parse says what it is instead (a rare path).
        return parse_object(line).map(|object| object.get(TIMESTAMP).cloned());
    }
    serde_json::from_slice::<TimestampOf>(line)
        .map(|found| found.0)
        .map_err(|e| format!("malformed JSON: {e}"))
}

const TIMESTAMP: &str = "@timestamp";

/// The top-level `@timestamp` of an object; every other value is only checked.
struct TimestampOf(Option<Value>);

impl<'de> Deserialize<'de> for TimestampOf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TimestampVisitor)
    }
}

struct TimestampVisitor;

impl<'de> Visitor<'de> for TimestampVisitor {
    type Value = TimestampOf;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TimestampOf, A::Error> {
        let mut timestamp = None;
        while let Some(IsTimestamp(is_timestamp)) = map.next_key()? {
            if is_timestamp {
                timestamp = Some(map.next_value::<Value>()?);
            } else {
                map.next_value::<Checked>()?;
            }
        }
        Ok(TimestampOf(timestamp))
    }
}

/// Any JSON value, read as a `Value` reads it (so errors name the same places) but not kept.
/// (`IgnoredAny` skips strings by another path, which reports positions one column off.)
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_key::<Checked>()?.is_some() {
            map.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}

/// Whether an object key is `@timestamp` (escaped spellings included).
struct IsTimestamp(bool);

impl<'de> Deserialize<'de> for IsTimestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = IsTimestamp;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E>(self, key: &str) -> Result<IsTimestamp, E> {
                Ok(IsTimestamp(key == TIMESTAMP))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Parses a JSON object, naming the position of a syntax error.
pub fn parse_object(line: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(format!(
            "expected a JSON object but found {}",
            json_kind(&other)
        )),
        Err(e) => Err(format!("malformed JSON: {e}")),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

type Action = (BulkOp, Option<String>, Option<String>);

fn parse_action(line: &[u8]) -> Result<Action, String> {
    let object = parse_object(line).map_err(|e| format!("action line: {e}"))?;
    if object.len() != 1 {
        return Err(format!(
            "an action line must have exactly one key (index, create, delete, update), found {}",
            object.len()
        ));
    }
    let (name, meta) = object.into_iter().next().expect("one key");
    let op = match name.as_str() {
        "index" => BulkOp::Index,
        "create" => BulkOp::Create,
        "delete" => BulkOp::Delete,
        "update" => BulkOp::Update,
        other => {
            return Err(format!(
                "unknown bulk action [{other}]; expected index, create, delete or update"
            ));
        }
    };
    let Value::Object(meta) = meta else {
        return Err(format!(
            "the [{name}] action must be an object, found {}",
            json_kind(&meta)
        ));
    };
    let string_field = |key: &str| -> Result<Option<String>, String> {
        match meta.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) if key == "_id" => Ok(Some(n.to_string())),
            Some(other) => Err(format!(
                "[{key}] must be a string, found {}",
                json_kind(other)
            )),
        }
    };
    let index = string_field("_index")?;
    let id = string_field("_id")?;
    if let Some(id) = &id {
        if id.is_empty() {
            return Err("[_id] must not be empty".into());
        }
        if id.len() > 512 {
            return Err(format!(
                "[_id] is too long ({} bytes); the limit is 512",
                id.len()
            ));
        }
    }
    Ok((op, index, id))
}

fn update_body(mut object: Map<String, Value>) -> Result<UpdateBody, String> {
    if object.contains_key("script") {
        return Err("scripted updates are not supported; send a partial [doc]".into());
    }
    let take_object = |object: &mut Map<String, Value>,
                       key: &str|
     -> Result<Option<Map<String, Value>>, String> {
        match object.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(other) => Err(format!(
                "[{key}] must be an object, found {}",
                json_kind(&other)
            )),
        }
    };
    let doc = take_object(&mut object, "doc")?;
    let upsert = take_object(&mut object, "upsert")?;
    let doc_as_upsert = object
        .get("doc_as_upsert")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if doc.is_none() && upsert.is_none() {
        return Err("an update needs a [doc] or an [upsert]".into());
    }
    Ok(UpdateBody {
        doc,
        doc_as_upsert,
        upsert,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_action_and_keeps_source_bytes() {
        let body = b"{\"index\":{\"_index\":\"logs\",\"_type\":\"_doc\"}}\n{\"b\":1,  \"a\":2}\n\
{\"create\":{\"_id\":\"x\"}}\n{\"m\":\"hi\"}\n{\"delete\":{\"_id\":\"y\"}}\n\
{\"update\":{\"_id\":\"x\"}}\n{\"doc\":{\"m\":\"there\"}}\n";
        let items: Vec<_> = decode_bulk(body)
            .into_iter()
            .map(|i| i.expect("valid"))
            .collect();
        assert_eq!(items.len(), 4);
        assert_eq!(
            items[0].source.as_deref(),
            Some(&b"{\"b\":1,  \"a\":2}"[..])
        );
        assert_eq!(items[0].index.as_deref(), Some("logs"));
        assert_eq!(items[1].op, BulkOp::Create);
        assert_eq!(items[2].op, BulkOp::Delete);
        assert!(items[3].update.as_ref().expect("update").doc.is_some());
    }

    #[test]
    fn one_bad_line_fails_only_its_item() {
        let body = b"{\"index\":{}}\n{\"a\":1}\n{\"index\":{}}\n{broken\n{\"index\":{}}\n[1,2]\n{\"index\":{}}\n{\"c\":3}\n";
        let items = decode_bulk(body);
        assert_eq!(items.len(), 4);
        assert!(items[0].is_ok() && items[3].is_ok());
        let e = items[1].as_ref().expect_err("broken");
        assert_eq!(e.line, 4);
        assert!(e.reason.contains("malformed JSON"), "{e}");
        assert!(
            items[2]
                .as_ref()
                .expect_err("array")
                .reason
                .contains("found an array")
        );
    }

    #[test]
    fn bad_action_line_skips_its_source() {
        let body = b"{\"indx\":{}}\n{\"a\":1}\n{\"index\":{}}\n{\"b\":2}\n";
        let items = decode_bulk(body);
        assert_eq!(items.len(), 2);
        assert!(
            items[0]
                .as_ref()
                .expect_err("unknown")
                .reason
                .contains("unknown bulk action [indx]")
        );
        assert!(items[1].is_ok());
    }
}

//! Field types per index, learnt the way Elasticsearch's dynamic mapping learns them, and the
//! conversion of a JSON document into the values each storage field receives.
//!
//! A value whose type conflicts with the mapping never loses its document: it stays in
//! `_source`, is searchable as text where it can be, and its path is recorded in `_ignored`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::json_node::JsonNode;

/// The time field every index partitions on.
pub const TIMESTAMP_FIELD: &str = "@timestamp";

/// Strings longer than this are not indexed in the `.keyword` sub-field (ES's `ignore_above`).
pub const KEYWORD_IGNORE_ABOVE: usize = 256;

/// Leaves of a `flattened` field longer than this are kept in `_source` only (a stack trace
/// or an SQL statement in a tag is not an exact-match key).
pub const FLATTENED_IGNORE_ABOVE: usize = 4096;

/// The type of one field path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Analysed text; `keyword` when it has the exact `.keyword` sub-field.
    Text {
        /// Has a `.keyword` sub-field.
        keyword: bool,
    },
    /// Exact string.
    Keyword,
    /// Integer.
    Long,
    /// Floating point.
    Float,
    /// true/false.
    Boolean,
    /// Date, stored as epoch milliseconds.
    Date,
    /// An object whose fields are mapped under its dotted path.
    Object,
    /// An object mapped `"enabled": false`: kept in `_source`, never indexed.
    Disabled,
    /// Elasticsearch's `flattened`: every leaf below is an exact keyword (`path.to.leaf`),
    /// whatever its JSON type; no text analysis, no type conflicts.
    Flattened,
}

impl FieldType {
    /// The Elasticsearch type name.
    pub fn es_name(self) -> &'static str {
        match self {
            FieldType::Text { .. } => "text",
            FieldType::Keyword => "keyword",
            FieldType::Long => "long",
            FieldType::Float => "float",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Object | FieldType::Disabled => "object",
            FieldType::Flattened => "flattened",
        }
    }

    fn from_es_name(name: &str) -> Option<FieldType> {
        Some(match name {
            "text" | "match_only_text" => FieldType::Text { keyword: false },
            "keyword" | "constant_keyword" | "wildcard" | "ip" | "version" => FieldType::Keyword,
            "long" | "integer" | "short" | "byte" | "unsigned_long" => FieldType::Long,
            "float" | "double" | "half_float" | "scaled_float" => FieldType::Float,
            "boolean" => FieldType::Boolean,
            "date" | "date_nanos" => FieldType::Date,
            "object" | "nested" => FieldType::Object,
            "flattened" => FieldType::Flattened,
            _ => return None,
        })
    }
}

/// The mapping of one index: dotted path → type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexMapping {
    /// Every known field.
    pub fields: BTreeMap<String, FieldType>,
}

/// A typed value for the exact-value (`k`) storage field.
#[derive(Debug, Clone, PartialEq)]
pub enum ExactValue {
    /// Keyword string.
    Str(String),
    /// Integer.
    I64(i64),
    /// Float.
    F64(f64),
    /// Boolean.
    Bool(bool),
    /// Date in epoch milliseconds.
    Date(i64),
}

/// A document split into what each storage field receives.
#[derive(Debug, Default, PartialEq)]
pub struct MappedDocument {
    /// Analysed text values by path.
    pub text: Vec<(String, String)>,
    /// Exact values by path (keyword strings are under the text field's own path).
    pub exact: Vec<(String, ExactValue)>,
    /// Paths of values that have no exact value (for `exists`, which finds the others through
    /// their columns), and their parent object paths.
    pub names: Vec<String>,
    /// Paths whose value conflicted with the mapping.
    pub ignored: Vec<String>,
    /// The `@timestamp` value, when present and valid.
    pub timestamp: Option<i64>,
}

/// An explicit mapping that cannot be understood.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("mapping of [{path}]: {reason}")]
pub struct MappingError {
    /// Field path.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

impl IndexMapping {
    /// Reads `{"properties": {...}}` as Elasticsearch accepts it in `PUT index` and templates.
    pub fn from_es_mappings(mappings: &Value) -> Result<IndexMapping, MappingError> {
        let mut mapping = IndexMapping::default();
        if let Some(properties) = mappings.get("properties") {
            mapping.merge_properties("", properties)?;
        }
        Ok(mapping)
    }

    /// Adds explicit properties; existing fields keep their type.
    pub fn merge_properties(
        &mut self,
        prefix: &str,
        properties: &Value,
    ) -> Result<(), MappingError> {
        let properties = properties.as_object().ok_or_else(|| MappingError {
            path: prefix.trim_end_matches('.').to_string(),
            reason: "[properties] must be an object".into(),
        })?;
        for (name, spec) in properties {
            let path = format!("{prefix}{name}");
            let type_name = spec.get("type").and_then(Value::as_str);
            let field_type = match type_name {
                None if spec.get("properties").is_some() => FieldType::Object,
                None => FieldType::Object,
                Some(t) => FieldType::from_es_name(t).ok_or_else(|| MappingError {
                    path: path.clone(),
                    reason: format!("unsupported field type [{t}]"),
                })?,
            };
            let field_type = match field_type {
                FieldType::Object if spec.get("enabled") == Some(&Value::Bool(false)) => {
                    FieldType::Disabled
                }
                FieldType::Text { .. } => FieldType::Text {
                    keyword: spec.pointer("/fields/keyword/type").and_then(Value::as_str)
                        == Some("keyword"),
                },
                other => other,
            };
            self.fields.entry(path.clone()).or_insert(field_type);
            if let Some(children) = spec.get("properties") {
                self.merge_properties(&format!("{path}."), children)?;
            }
        }
        Ok(())
    }

    /// The type of `path`, if mapped.
    pub fn get(&self, path: &str) -> Option<FieldType> {
        self.fields.get(path).copied()
    }

    /// Maps a document, learning new fields. Returns whether the mapping changed.
    pub fn map_document(&mut self, document: &Map<String, Value>) -> (MappedDocument, bool) {
        self.map_node(&JsonNode::from_map(document))
    }

    /// Maps a document from its JSON text (parsed once, borrowing its strings); text that is
    /// not a JSON object maps to nothing.
    pub fn map_source(&mut self, source: &[u8]) -> (MappedDocument, bool) {
        match JsonNode::parse(source) {
            Ok(node @ JsonNode::Object(_)) => self.map_node(&node),
            _ => (MappedDocument::default(), false),
        }
    }

    /// Maps a parsed document (an object; anything else maps to nothing).
    pub fn map_node(&mut self, document: &JsonNode<'_>) -> (MappedDocument, bool) {
        let mut mapped = MappedDocument::default();
        let mut changed = false;
        if let JsonNode::Object(members) = document {
            let mut path = String::new();
            self.map_object(&mut path, members, &mut mapped, &mut changed);
        }
        mapped.names.sort();
        mapped.names.dedup();
        (mapped, changed)
    }

    /// Maps the members of an object at `path` (empty at the root). `path` is one buffer for
    /// the whole walk, restored before returning.
    fn map_object(
        &mut self,
        path: &mut String,
        members: &[(Cow<'_, str>, JsonNode<'_>)],
        out: &mut MappedDocument,
        changed: &mut bool,
    ) {
        let parent = path.len();
        for (key, value) in members {
            if key.is_empty() {
                continue;
            }
            if parent > 0 {
                path.push('.');
            }
            path.push_str(key);
            self.map_value(path, value, out, changed);
            path.truncate(parent);
        }
    }

    fn map_value(
        &mut self,
        path: &mut String,
        value: &JsonNode<'_>,
        out: &mut MappedDocument,
        changed: &mut bool,
    ) {
        // One lookup of `path` per value (this is the ingest hot path): disabled and flattened
        // fields are recognised where the type is looked up anyway.
        match value {
            JsonNode::Null => {}
            JsonNode::Array(items) => {
                for item in items {
                    self.map_value(path, item, out, changed);
                }
            }
            JsonNode::Object(members) => {
                match self.fields.get(path.as_str()) {
                    Some(FieldType::Object) => {}
                    Some(FieldType::Disabled) => return,
                    Some(FieldType::Flattened) => {
                        self.map_flattened(path, value, out);
                        return;
                    }
                    Some(_) => out.ignored.push(path.clone()),
                    None => {
                        self.fields.insert(path.clone(), FieldType::Object);
                        *changed = true;
                    }
                }
                self.map_object(path, members, out, changed);
            }
            scalar => {
                let field_type = match self.fields.get(path.as_str()) {
                    Some(FieldType::Disabled) => return,
                    Some(FieldType::Flattened) => {
                        self.map_flattened(path, scalar, out);
                        return;
                    }
                    Some(t) => *t,
                    None => {
                        let t = detect_type(path, scalar);
                        self.fields.insert(path.clone(), t);
                        *changed = true;
                        t
                    }
                };
                let columns_before = (out.exact.len(), out.timestamp);
                if !convert_scalar(path, scalar, field_type, out) {
                    out.ignored.push(path.clone());
                    // The value is still findable as text, as a conflicting string would be.
                    if let Some(text) = scalar_text(scalar) {
                        out.text.push((path.clone(), text));
                    }
                }
                if (out.exact.len(), out.timestamp) == columns_before {
                    push_names(path, out);
                }
            }
        }
    }

    /// The leaves of a `flattened` field: exact keywords under their dotted paths.
    fn map_flattened(&self, path: &mut String, value: &JsonNode<'_>, out: &mut MappedDocument) {
        match value {
            JsonNode::Null => {}
            JsonNode::Array(items) => {
                for item in items {
                    self.map_flattened(path, item, out);
                }
            }
            JsonNode::Object(members) => {
                let parent = path.len();
                for (key, child) in members {
                    if !key.is_empty() {
                        path.push('.');
                        path.push_str(key);
                        self.map_flattened(path, child, out);
                        path.truncate(parent);
                    }
                }
            }
            scalar => {
                // Leaves are not added to the mapping (it would grow with every new key, the
                // very thing `flattened` prevents); queries resolve them through the parent.
                match scalar_text(scalar) {
                    Some(text) if text.chars().count() <= FLATTENED_IGNORE_ABOVE => {
                        out.exact.push((path.clone(), ExactValue::Str(text)));
                    }
                    _ => push_names(path, out),
                }
            }
        }
    }

    /// Whether a strict ancestor of `path` is `flattened`: the path is then an exact keyword.
    pub fn under_flattened(&self, path: &str) -> bool {
        path.char_indices()
            .filter(|(_, c)| *c == '.')
            .any(|(i, _)| self.fields.get(&path[..i]) == Some(&FieldType::Flattened))
    }

    /// The Elasticsearch `_mapping` body: nested `properties`.
    pub fn to_es_json(&self) -> Value {
        let mut root = Map::new();
        for (path, field_type) in &self.fields {
            if self.under_flattened(path) {
                continue;
            }
            let mut node = &mut root;
            let mut parts = path.split('.').peekable();
            while let Some(part) = parts.next() {
                let entry = node.entry(part.to_string()).or_insert_with(|| json!({}));
                if parts.peek().is_none() {
                    let spec = entry.as_object_mut().expect("mapping node is an object");
                    match field_type {
                        FieldType::Object => {
                            spec.entry("properties").or_insert_with(|| json!({}));
                        }
                        FieldType::Disabled => {
                            spec.insert("type".into(), json!("object"));
                            spec.insert("enabled".into(), json!(false));
                        }
                        FieldType::Flattened => {
                            spec.insert("type".into(), json!("flattened"));
                        }
                        FieldType::Text { keyword: true } => {
                            spec.insert("type".into(), json!("text"));
                            spec.insert(
                                "fields".into(),
                                json!({"keyword": {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}}),
                            );
                        }
                        other => {
                            spec.insert("type".into(), json!(other.es_name()));
                        }
                    }
                    break;
                }
                let spec = entry.as_object_mut().expect("mapping node is an object");
                node = spec
                    .entry("properties")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .expect("properties is an object");
            }
        }
        json!({ "properties": root })
    }
}

/// Records a value that left no exact value behind (long text, a conflicting value) under its
/// path and every parent object's: `exists` finds every other value through its column.
fn push_names(path: &str, out: &mut MappedDocument) {
    out.names.push(path.to_string());
    for (i, _) in path.char_indices().filter(|(_, c)| *c == '.') {
        out.names.push(path[..i].to_string());
    }
}

fn scalar_text(value: &JsonNode<'_>) -> Option<String> {
    match value {
        JsonNode::Str(s) => Some(s.to_string()),
        JsonNode::Number(n) => Some(n.to_string()),
        JsonNode::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Elasticsearch's dynamic type for a first-seen value.
fn detect_type(path: &str, value: &JsonNode<'_>) -> FieldType {
    match value {
        JsonNode::Bool(_) => FieldType::Boolean,
        JsonNode::Number(n) if n.is_i64() || n.is_u64() => FieldType::Long,
        JsonNode::Number(_) => FieldType::Float,
        JsonNode::Str(s) if path == TIMESTAMP_FIELD || looks_like_date(s) => {
            if parse_date_millis(s).is_some() {
                FieldType::Date
            } else {
                FieldType::Text { keyword: true }
            }
        }
        _ => FieldType::Text { keyword: true },
    }
}

/// ES date detection only considers strings shaped like `yyyy-MM-dd...` or `yyyy/MM/dd...`.
fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && (b[4] == b'-' || b[4] == b'/')
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b[4]
        && b[8..10].iter().all(u8::is_ascii_digit)
}

/// Parses a date value: ISO 8601, or `yyyy/MM/dd HH:mm:ss`, as UTC when no offset is given.
pub fn parse_date_millis(text: &str) -> Option<i64> {
    let normalized;
    let text = if text.len() >= 10 && text.as_bytes()[4] == b'/' {
        normalized = text.replacen('/', "-", 2);
        normalized.as_str()
    } else {
        text
    };
    osprey_query::date_math::parse_date(text, &TimeZone::UTC)
        .ok()
        .map(|t| t.as_millisecond())
}

/// Converts a scalar into the storage values of its mapped type; false on a type conflict.
fn convert_scalar(
    path: &str,
    value: &JsonNode<'_>,
    field_type: FieldType,
    out: &mut MappedDocument,
) -> bool {
    let exact = |out: &mut MappedDocument, v: ExactValue| out.exact.push((path.to_string(), v));
    match (field_type, value) {
        (FieldType::Text { keyword }, _) => {
            let Some(text) = scalar_text(value) else {
                return false;
            };
            if keyword && text.chars().count() <= KEYWORD_IGNORE_ABOVE {
                exact(out, ExactValue::Str(text.clone()));
            }
            out.text.push((path.to_string(), text));
            true
        }
        (FieldType::Keyword, _) => {
            let Some(text) = scalar_text(value) else {
                return false;
            };
            exact(out, ExactValue::Str(text));
            true
        }
        (FieldType::Long, JsonNode::Number(n)) => {
            let v = n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.trunc() as i64)
            });
            v.map(|v| exact(out, ExactValue::I64(v))).is_some()
        }
        (FieldType::Long, JsonNode::Str(s)) => match s.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => {
                exact(out, ExactValue::I64(f.trunc() as i64));
                true
            }
            _ => false,
        },
        (FieldType::Float, JsonNode::Number(n)) => {
            n.as_f64().map(|f| exact(out, ExactValue::F64(f))).is_some()
        }
        (FieldType::Float, JsonNode::Str(s)) => match s.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => {
                exact(out, ExactValue::F64(f));
                true
            }
            _ => false,
        },
        (FieldType::Boolean, JsonNode::Bool(b)) => {
            exact(out, ExactValue::Bool(*b));
            true
        }
        (FieldType::Boolean, JsonNode::Str(s)) if s == "true" || s == "false" => {
            exact(out, ExactValue::Bool(s == "true"));
            true
        }
        (FieldType::Date, JsonNode::Number(_) | JsonNode::Str(_)) => {
            let millis = match value {
                JsonNode::Number(n) => n.as_i64(),
                JsonNode::Str(s) => parse_date_millis(s),
                _ => None,
            };
            match millis {
                Some(millis) => {
                    if path == TIMESTAMP_FIELD {
                        out.timestamp = Some(millis);
                    } else {
                        exact(out, ExactValue::Date(millis));
                    }
                    true
                }
                None => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().expect("object").clone()
    }

    #[test]
    fn disabled_objects_are_kept_out_of_the_index() {
        let mut m = IndexMapping::from_es_mappings(
            &json!({"properties": {"raw": {"type": "object", "enabled": false}}}),
        )
        .expect("valid mapping");
        let long = "x".repeat(KEYWORD_IGNORE_ABOVE + 1);
        let (d, _) = m.map_document(&doc(json!({"raw": {"a": 1, "b": long}, "c": {"d": long}})));
        assert_eq!(m.get("raw"), Some(FieldType::Disabled));
        assert_eq!(m.get("raw.a"), None);
        assert_eq!(d.names, vec!["c".to_string(), "c.d".to_string()]);
        assert_eq!(
            m.to_es_json()["properties"]["raw"],
            json!({"type": "object", "enabled": false})
        );
    }

    #[test]
    fn flattened_leaves_are_keywords_whatever_their_type() {
        let mut m =
            IndexMapping::from_es_mappings(&json!({"properties": {"tag": {"type": "flattened"}}}))
                .expect("valid mapping");
        let (d, _) = m.map_document(&doc(json!({"tag": {"http.status_code": 200, "error": true, "db": {"statement": "SELECT 1"}}})));
        // Leaves stay out of the mapping; they resolve through their flattened parent.
        assert_eq!(m.get("tag.http.status_code"), None);
        assert!(m.under_flattened("tag.db.statement") && !m.under_flattened("tag"));
        assert!(d.exact.contains(&(
            "tag.http.status_code".to_string(),
            ExactValue::Str("200".into())
        )));
        assert!(
            d.exact
                .contains(&("tag.error".to_string(), ExactValue::Str("true".into())))
        );
        assert!(d.text.is_empty() && d.ignored.is_empty());
        // A later string value for the same leaf is no conflict.
        let (d, _) = m.map_document(&doc(json!({"tag": {"http.status_code": "oops"}})));
        assert!(d.ignored.is_empty());
        assert_eq!(
            m.to_es_json()["properties"]["tag"],
            json!({"type": "flattened"})
        );
    }

    #[test]
    fn learns_types_like_elasticsearch() {
        let mut m = IndexMapping::default();
        let (d, changed) = m.map_document(&doc(json!({
            "@timestamp": "2026-11-25T10:00:00.123Z",
            "status": 200, "took": 1.5, "ok": true, "msg": "Hello World",
            "kubernetes": {"labels": {"app": "flask"}}, "when": "2026-11-24"
        })));
        assert!(changed);
        assert_eq!(d.timestamp, Some(1_795_600_800_123));
        assert_eq!(m.get("status"), Some(FieldType::Long));
        assert_eq!(m.get("took"), Some(FieldType::Float));
        assert_eq!(m.get("ok"), Some(FieldType::Boolean));
        assert_eq!(m.get("msg"), Some(FieldType::Text { keyword: true }));
        assert_eq!(m.get("kubernetes"), Some(FieldType::Object));
        assert_eq!(
            m.get("kubernetes.labels.app"),
            Some(FieldType::Text { keyword: true })
        );
        assert_eq!(m.get("when"), Some(FieldType::Date));
        // Every value has an exact value (a column), which is what `exists` reads.
        assert!(d.names.is_empty(), "{:?}", d.names);
        let es = m.to_es_json();
        assert_eq!(
            es.pointer(
                "/properties/kubernetes/properties/labels/properties/app/fields/keyword/type"
            ),
            Some(&json!("keyword"))
        );
    }

    #[test]
    fn conflicts_keep_the_document() {
        let mut m = IndexMapping::default();
        m.map_document(&doc(json!({"status": 200, "a": {"b": 1}})));
        let (d, _) = m.map_document(&doc(json!({"status": "n/a", "a": "flat"})));
        assert_eq!(d.ignored, vec!["status".to_string(), "a".to_string()]);
        assert!(d.text.contains(&("status".to_string(), "n/a".to_string())));
        let (d, _) = m.map_document(&doc(json!({"status": "404"})));
        assert_eq!(d.exact, vec![("status".to_string(), ExactValue::I64(404))]);
    }

    #[test]
    fn long_strings_skip_the_keyword() {
        let mut m = IndexMapping::default();
        let (d, _) = m.map_document(&doc(json!({"m": "x".repeat(300)})));
        assert!(d.exact.is_empty());
        assert_eq!(d.text.len(), 1);
    }
}

//! `_source` stored without the strings its keyword columns already hold.
//!
//! Most of a log document's bytes are string values that the exact-value column (`k.PATH`)
//! keeps anyway for aggregations, sorting and exact matches: the message, request ids, pod
//! names. The doc store keeps the document as sent with each such value (quotes included)
//! replaced by one [`HOLE`] byte, and [`SourceReader`] reads the value back from the column
//! when the document is fetched, so `_source` is still returned byte for byte while the doc
//! store shrinks to about a quarter.
//!
//! A value is left out only when the round trip is certain: a string member of an object (not
//! inside an array), the only value at its path anywhere in the document, exactly the value
//! the mapping gave the column, and written in the canonical JSON escaping that is re-created
//! on the way back. Valid JSON never contains a raw 0x01 byte, so a stored document without
//! one is whole (as is everything written before holes existed).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use tantivy::columnar::StrColumn;
use tantivy::index::SegmentId;
use tantivy::{DocAddress, DocId, Searcher, SegmentOrdinal};

use crate::error::{Result, StoreError};
use crate::mapping::ExactValue;
use crate::partition::field_names;

/// Stands in a stored `_source` for a string value read back from its keyword column.
pub const HOLE: u8 = 0x01;

/// Values left out of one document at most: each costs a dictionary lookup when the document
/// is fetched (up to 14 µs for a large dictionary here), so a document with hundreds of
/// keyword fields keeps all but its longest values in place.
const MAX_HOLES: usize = 32;

/// Deeper documents are refused by serde_json (128) long before this.
const MAX_DEPTH: usize = 512;

/// Why a stored `_source` could not be rebuilt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoleError {
    /// The stored bytes are not the JSON skeleton that was written.
    #[error("stored _source is damaged near byte {0}")]
    Malformed(usize),
    /// The column that holds a left-out value has none for this document.
    #[error("stored _source lacks the keyword value of [{0}]")]
    MissingValue(String),
}

/// What the walk found at one value position.
#[derive(Debug, Clone, Copy)]
enum Leaf {
    /// A string; `start..end` spans its quotes; `escaped` when it contains a backslash.
    Str {
        start: usize,
        end: usize,
        escaped: bool,
    },
    /// A hole at this byte.
    Hole { at: usize },
    /// A number, literal, object or array.
    Other,
}

/// Walks a JSON document (or a skeleton with holes), calling `visit` with the dotted path
/// (keys joined with `.`, as the mapping names fields) of every scalar value and whether it
/// sits inside an array. Lenient where leniency cannot mislead: it checks structure, not
/// number syntax.
struct Walker<'a, F> {
    bytes: &'a [u8],
    pos: usize,
    path: String,
    visit: F,
}

impl<'a, F> Walker<'a, F>
where
    F: FnMut(&str, Leaf, bool) -> Result<(), HoleError>,
{
    fn walk(bytes: &'a [u8], visit: F) -> Result<(), HoleError> {
        let mut walker = Walker {
            bytes,
            pos: 0,
            path: String::new(),
            visit,
        };
        walker.value(0, false)
    }

    fn malformed(&self) -> HoleError {
        HoleError::Malformed(self.pos)
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize, in_array: bool) -> Result<(), HoleError> {
        self.skip_whitespace();
        match self.bytes.get(self.pos) {
            None => Err(self.malformed()),
            Some(b'{') if depth < MAX_DEPTH => {
                self.pos += 1;
                self.object(depth + 1, in_array)
            }
            Some(b'[') if depth < MAX_DEPTH => {
                self.pos += 1;
                self.array(depth + 1)
            }
            Some(b'{' | b'[') => Err(self.malformed()),
            Some(b'"') => {
                let (start, end, escaped) = self.string()?;
                (self.visit)(
                    &self.path,
                    Leaf::Str {
                        start,
                        end,
                        escaped,
                    },
                    in_array,
                )
            }
            Some(&HOLE) => {
                let at = self.pos;
                self.pos += 1;
                (self.visit)(&self.path, Leaf::Hole { at }, in_array)
            }
            Some(_) => {
                let start = self.pos;
                while let Some(b) = self.bytes.get(self.pos) {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r' | b'"')
                        || *b == HOLE
                    {
                        break;
                    }
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(self.malformed());
                }
                (self.visit)(&self.path, Leaf::Other, in_array)
            }
        }
    }

    fn object(&mut self, depth: usize, in_array: bool) -> Result<(), HoleError> {
        let parent_len = self.path.len();
        let is_root = depth == 1;
        self.skip_whitespace();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_whitespace();
            if self.bytes.get(self.pos) != Some(&b'"') {
                return Err(self.malformed());
            }
            let (start, end, escaped) = self.string()?;
            if !is_root {
                self.path.push('.');
            }
            let bytes = self.bytes;
            self.push_key(&bytes[start..end], escaped)?;
            self.skip_whitespace();
            if self.bytes.get(self.pos) != Some(&b':') {
                return Err(self.malformed());
            }
            self.pos += 1;
            self.value(depth, in_array)?;
            self.path.truncate(parent_len);
            if self.comma_or_close(b'}')? {
                return Ok(());
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), HoleError> {
        self.skip_whitespace();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            (self.visit)(&self.path, Leaf::Other, true)?;
            return Ok(());
        }
        loop {
            self.value(depth, true)?;
            if self.comma_or_close(b']')? {
                return Ok(());
            }
        }
    }

    /// Consumes the `,` between members or the `close` after the last; true when closed.
    fn comma_or_close(&mut self, close: u8) -> Result<bool, HoleError> {
        self.skip_whitespace();
        match self.bytes.get(self.pos) {
            Some(b',') => {
                self.pos += 1;
                Ok(false)
            }
            Some(&b) if b == close => {
                self.pos += 1;
                Ok(true)
            }
            _ => Err(self.malformed()),
        }
    }

    /// Consumes a string at `pos` (on its opening quote); returns the span with its quotes.
    fn string(&mut self) -> Result<(usize, usize, bool), HoleError> {
        let start = self.pos;
        let mut escaped = false;
        let mut at = start + 1;
        loop {
            let rest = self.bytes.get(at..).ok_or_else(|| self.malformed())?;
            match memchr::memchr2(b'"', b'\\', rest) {
                None => {
                    self.pos = self.bytes.len();
                    return Err(self.malformed());
                }
                Some(offset) if rest[offset] == b'\\' => {
                    escaped = true;
                    at += offset + 2;
                }
                Some(offset) => {
                    self.pos = at + offset + 1;
                    return Ok((start, self.pos, escaped));
                }
            }
        }
    }

    /// Appends a key (its quoted span) to the path, unescaped.
    fn push_key(&mut self, quoted: &[u8], escaped: bool) -> Result<(), HoleError> {
        if escaped {
            let key: String = serde_json::from_slice(quoted).map_err(|_| self.malformed())?;
            self.path.push_str(&key);
        } else {
            let key =
                std::str::from_utf8(&quoted[1..quoted.len() - 1]).map_err(|_| self.malformed())?;
            self.path.push_str(key);
        }
        Ok(())
    }
}

/// A path whose column is read back unambiguously: no empty segment (the mapping skips empty
/// keys), no backslash (column paths treat it as an escape), no control character (tantivy
/// separates JSON path segments with one).
fn is_plain_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('.')
        && !path.ends_with('.')
        && !path.contains("..")
        && !path.bytes().any(|b| b == b'\\' || b < 0x20)
}

/// One path that may leave its value out.
struct Candidate<'a> {
    path: &'a str,
    value: &'a str,
    /// Exact values the mapping gave this path (one is required).
    exact_values: u32,
    /// Scalar values the walk found at this path (one is required).
    seen: u32,
    /// The quoted span of the value, when it is a string written canonically.
    span: Option<(usize, usize)>,
}

/// The `_source` to store for a document whose exact values are `exact`: the bytes with every
/// value its column holds left out, or `None` when nothing can be left out (or `source` is not
/// a JSON object this module understands).
pub fn punch(source: &[u8], exact: &[(String, ExactValue)]) -> Option<Vec<u8>> {
    let mut candidates: Vec<Candidate<'_>> = exact
        .iter()
        .map(|(path, value)| Candidate {
            path,
            value: match value {
                ExactValue::Str(s) => s,
                _ => "",
            },
            // Non-string exact values count as a second value: never left out.
            exact_values: if matches!(value, ExactValue::Str(_)) {
                1
            } else {
                2
            },
            seen: 0,
            span: None,
        })
        .collect();
    if candidates.is_empty() || memchr::memchr(HOLE, source).is_some() {
        return None;
    }
    candidates.sort_by(|a, b| a.path.cmp(b.path));
    candidates.dedup_by(|later, first| {
        let same = later.path == first.path;
        if same {
            first.exact_values += later.exact_values;
        }
        same
    });
    candidates.retain(|c| c.exact_values == 1 && is_plain_path(c.path));
    if candidates.is_empty() {
        return None;
    }
    let mut canonical = Vec::new();
    let walked = Walker::walk(source, |path, leaf, in_array| {
        let Ok(i) = candidates.binary_search_by(|c| c.path.cmp(path)) else {
            return Ok(());
        };
        let candidate = &mut candidates[i];
        candidate.seen += 1;
        if let Leaf::Str {
            start,
            end,
            escaped,
        } = leaf
            && !in_array
        {
            let written = &source[start..end];
            let same = if escaped {
                canonical.clear();
                serde_json::to_writer(&mut canonical, candidate.value).is_ok()
                    && canonical == written
            } else {
                &written[1..written.len() - 1] == candidate.value.as_bytes()
            };
            if same {
                candidate.span = Some((start, end));
            }
        }
        Ok(())
    });
    walked.ok()?;
    let mut spans: Vec<(usize, usize)> = candidates
        .iter()
        .filter(|c| c.seen == 1)
        .filter_map(|c| c.span)
        .collect();
    if spans.is_empty() {
        return None;
    }
    if spans.len() > MAX_HOLES {
        // The longest values save the most; the rest stay in place.
        spans.sort_unstable_by_key(|(start, end)| std::cmp::Reverse(end - start));
        spans.truncate(MAX_HOLES);
    }
    spans.sort_unstable();
    let mut stored = Vec::with_capacity(source.len());
    let mut copied = 0;
    for (start, end) in spans {
        stored.extend_from_slice(&source[copied..start]);
        stored.push(HOLE);
        copied = end;
    }
    stored.extend_from_slice(&source[copied..]);
    Some(stored)
}

/// Whether stored `_source` bytes have values left out.
pub fn has_holes(stored: &[u8]) -> bool {
    memchr::memchr(HOLE, stored).is_some()
}

/// Rebuilds `_source` from its stored skeleton, asking `value_of` for the value at each hole's
/// path.
pub fn fill(
    stored: &[u8],
    mut value_of: impl FnMut(&str) -> Option<String>,
) -> Result<Vec<u8>, HoleError> {
    let mut source = Vec::with_capacity(stored.len() * 2);
    let mut copied = 0;
    Walker::walk(stored, |path, leaf, _| {
        if let Leaf::Hole { at } = leaf {
            let value = value_of(path).ok_or_else(|| HoleError::MissingValue(path.into()))?;
            source.extend_from_slice(&stored[copied..at]);
            serde_json::to_writer(&mut source, &value).expect("writing to a Vec cannot fail");
            copied = at + 1;
        }
        Ok(())
    })?;
    source.extend_from_slice(&stored[copied..]);
    Ok(source)
}

/// Bytes of rebuilt `_source` kept by [`FilledSources`].
const FILLED_SOURCES_BYTES: usize = 8 << 20;

/// Sources rebuilt from their holes, kept so that hits read again (the next page, an
/// auto-refresh, the same search) cost no dictionary lookups — the counterpart of the
/// decompressed doc-store blocks tantivy keeps. Segments are immutable, so an entry never goes
/// stale; the oldest go first once the budget is spent.
#[derive(Default)]
pub struct FilledSources {
    inner: Mutex<FilledInner>,
}

#[derive(Default)]
struct FilledInner {
    sources: HashMap<(SegmentId, DocId), Arc<[u8]>>,
    order: VecDeque<(SegmentId, DocId)>,
    bytes: usize,
}

impl FilledSources {
    fn get(&self, key: &(SegmentId, DocId)) -> Option<Arc<[u8]>> {
        self.inner.lock().sources.get(key).cloned()
    }

    fn insert(&self, key: (SegmentId, DocId), source: Arc<[u8]>) {
        let mut inner = self.inner.lock();
        inner.bytes += source.len();
        match inner.sources.insert(key, source) {
            Some(replaced) => inner.bytes -= replaced.len(),
            None => inner.order.push_back(key),
        }
        while inner.bytes > FILLED_SOURCES_BYTES {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(gone) = inner.sources.remove(&oldest) {
                inner.bytes -= gone.len();
            }
        }
    }
}

/// Reads hits' `_source` back whole, filling holes from the keyword columns of their
/// segments; columns are opened once per segment and path for all the hits it reads.
pub struct SourceReader<'a> {
    searcher: &'a Searcher,
    filled: &'a FilledSources,
    columns: HashMap<(SegmentOrdinal, String), Option<StrColumn>>,
}

impl<'a> SourceReader<'a> {
    /// A reader for hits of `searcher`, keeping what it rebuilds in `filled`.
    pub fn new(searcher: &'a Searcher, filled: &'a FilledSources) -> SourceReader<'a> {
        SourceReader {
            searcher,
            filled,
            columns: HashMap::new(),
        }
    }

    /// The `_source` of the document at `address`, given its stored bytes.
    pub fn source(&mut self, address: DocAddress, stored: &[u8]) -> Result<Vec<u8>> {
        if !has_holes(stored) {
            return Ok(stored.to_vec());
        }
        let segment = self.searcher.segment_reader(address.segment_ord);
        let key = (segment.segment_id(), address.doc_id);
        if let Some(source) = self.filled.get(&key) {
            return Ok(source.to_vec());
        }
        let columns = &mut self.columns;
        let mut value = String::new();
        let source = fill(stored, |path| {
            let column = columns
                .entry((address.segment_ord, path.to_string()))
                .or_insert_with(|| {
                    segment
                        .fast_fields()
                        .str(&format!("{}.{path}", field_names::EXACT))
                        .ok()
                        .flatten()
                })
                .as_ref()?;
            let mut ords = column.term_ords(address.doc_id);
            let ord = ords.next()?;
            value.clear();
            column
                .ord_to_str(ord, &mut value)
                .ok()?
                .then(|| value.clone())
        })
        .map_err(|e| {
            StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("document {address:?}: {e}"),
            ))
        })?;
        self.filled.insert(key, Arc::from(source.as_slice()));
        Ok(source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    use crate::mapping::IndexMapping;

    /// Punches `source` as ingest does and fills it back from what the mapping gave the
    /// columns, as a fetch does.
    fn round_trip(mapping: &mut IndexMapping, source: &[u8]) -> (Option<Vec<u8>>, Vec<u8>) {
        let document: Map<String, Value> = serde_json::from_slice(source).expect("JSON object");
        let (mapped, _) = mapping.map_document(&document);
        let stored = punch(source, &mapped.exact);
        let back = match &stored {
            None => source.to_vec(),
            Some(stored) => fill(stored, |path| {
                let values: Vec<&String> = mapped
                    .exact
                    .iter()
                    .filter(|(p, _)| p == path)
                    .filter_map(|(_, v)| match v {
                        ExactValue::Str(s) => Some(s),
                        _ => None,
                    })
                    .collect();
                // A hole must stand for the path's only value.
                (values.len() == 1).then(|| values[0].clone())
            })
            .expect("fills"),
        };
        (stored, back)
    }

    #[test]
    fn leaves_out_keyword_strings_and_rebuilds_them() {
        let mut mapping = IndexMapping::default();
        let source = br#"{"@timestamp":"2026-11-23T00:00:00Z","message":"GET /x \"quoted\"","level":"INFO","n":5,"kubernetes":{"pod_name":"web-1","labels":{"app":"web"}},"tags":["a","b"]}"#;
        let (stored, back) = round_trip(&mut mapping, source);
        let stored = stored.expect("something left out");
        assert_eq!(back, source.to_vec());
        let stored = String::from_utf8(stored).unwrap();
        assert_eq!(
            stored,
            "{\"@timestamp\":\"2026-11-23T00:00:00Z\",\"message\":\u{1},\"level\":\u{1},\"n\":5,\
             \"kubernetes\":{\"pod_name\":\u{1},\"labels\":{\"app\":\u{1}}},\"tags\":[\"a\",\"b\"]}"
        );
    }

    #[test]
    fn keeps_what_would_not_round_trip() {
        let mut mapping = IndexMapping::default();
        // Non-canonical escapes, a long string (no keyword value), a duplicate path (dotted
        // key and object), a duplicate key, and an empty key.
        let long = "x".repeat(300);
        let source = format!(
            r#"{{"a":"\u0041","b":"{long}","c.d":"1","c":{{"d":"2"}},"e":"x","e":"y","":{{"f":"z"}},"f":"z"}}"#
        );
        let (stored, back) = round_trip(&mut mapping, source.as_bytes());
        assert_eq!(back, source.as_bytes());
        let stored = String::from_utf8(stored.expect("f is left out")).unwrap();
        assert!(stored.contains(r#""a":"\u0041""#), "{stored}");
        assert!(stored.contains(&long));
        assert!(stored.contains(r#""c.d":"1","c":{"d":"2"}"#), "{stored}");
        assert!(stored.contains(r#""e":"x","e":"y""#), "{stored}");
        assert!(stored.ends_with("\"f\":\u{1}}"), "{stored}");
    }

    #[test]
    fn wide_documents_leave_out_only_their_longest_values() {
        let mut mapping = IndexMapping::default();
        let members: Vec<String> = (0..100)
            .map(|i| format!(r#""f{i}":"{}""#, "v".repeat(i + 1)))
            .collect();
        let source = format!("{{{}}}", members.join(","));
        let (stored, back) = round_trip(&mut mapping, source.as_bytes());
        assert_eq!(back, source.as_bytes());
        let stored = String::from_utf8(stored.expect("holes")).unwrap();
        assert_eq!(stored.matches('\u{1}').count(), MAX_HOLES);
        assert!(
            stored.contains(r#""f67":"#) && stored.contains("\"f68\":\u{1}"),
            "{stored}"
        );
    }

    #[test]
    fn conflicting_types_keep_their_bytes() {
        let mut mapping = IndexMapping::default();
        round_trip(&mut mapping, br#"{"status":200}"#);
        let source = br#"{"status":"OK"}"#;
        let (stored, back) = round_trip(&mut mapping, source);
        assert_eq!(stored, None);
        assert_eq!(back, source.to_vec());
    }

    #[test]
    fn damaged_skeletons_are_errors() {
        assert_eq!(
            fill(b"{\"a\":\x01", |_| Some("x".into())),
            Err(HoleError::Malformed(6))
        );
        assert_eq!(
            fill(b"{\"a\":\x01}", |_| None),
            Err(HoleError::MissingValue("a".into()))
        );
        assert_eq!(
            fill(b"{\"a\":\x01}", |_| Some("\"".into())).unwrap(),
            br#"{"a":"\""}"#
        );
    }

    #[test]
    fn filled_sources_keep_the_newest_within_budget() {
        let cache = FilledSources::default();
        let segment = SegmentId::generate_random();
        let source: Arc<[u8]> = Arc::from(vec![b'x'; 1 << 20].as_slice());
        for doc in 0..10 {
            cache.insert((segment, doc), source.clone());
        }
        assert!(cache.inner.lock().bytes <= FILLED_SOURCES_BYTES);
        assert!(cache.get(&(segment, 0)).is_none(), "the oldest went first");
        assert_eq!(cache.get(&(segment, 9)).as_deref(), Some(&*source));
        // Inserting a key again does not count it twice.
        cache.insert((segment, 9), source.clone());
        let inner = cache.inner.lock();
        assert_eq!(inner.order.len(), inner.sources.len());
        let held: usize = inner.sources.values().map(|s| s.len()).sum();
        assert_eq!(inner.bytes, held);
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just("a.b".to_string()),
            Just("".to_string()),
            Just("é\"\\".to_string()),
            "[a-c.]{0,3}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(Value::from),
            "[a-z \"\\\\\u{1}\n/é😀]{0,12}".prop_map(Value::String),
            Just(Value::String("y".repeat(257))),
        ];
        leaf.prop_recursive(4, 32, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..5)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    /// Re-spells a serialised document the ways other JSON writers do: spaces, `\uXXXX`
    /// escapes, repeated keys.
    fn respell(compact: &str, style: u8) -> String {
        match style % 4 {
            0 => compact.to_string(),
            1 => compact.replace(':', " : ").replace(',', ",\n  "),
            2 => compact.replace("\\\"", "\\u0022"),
            _ => compact.replacen('{', "{\"a\":\"dup\",", 1),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever the document, what is stored fills back to the bytes as sent, across
        /// documents that teach the mapping conflicting types.
        #[test]
        fn every_document_round_trips(
            documents in prop::collection::vec(
                (prop::collection::vec((any::<u8>(), json_value()), 0..6), any::<u8>()),
                1..4,
            ),
        ) {
            let mut mapping = IndexMapping::default();
            for (members, style) in documents {
                let object: Map<String, Value> = members
                    .into_iter()
                    .map(|(k, v)| (["a", "b", "a.b", "c"][k as usize % 4].to_string(), v))
                    .collect();
                let compact = serde_json::to_string(&Value::Object(object)).unwrap();
                let source = respell(&compact, style);
                prop_assume!(serde_json::from_str::<Map<String, Value>>(&source).is_ok());
                let (_, back) = round_trip(&mut mapping, source.as_bytes());
                prop_assert_eq!(String::from_utf8(back).unwrap(), source);
            }
        }

        /// Arbitrary bytes never panic the walker.
        #[test]
        fn fill_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = fill(&bytes, |path| Some(path.to_string()));
        }
    }
}

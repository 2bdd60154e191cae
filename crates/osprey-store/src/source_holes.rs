//! `_source` stored without the values its columns already hold.
//!
//! Most of a log document's bytes are values that the columns keep anyway for aggregations,
//! sorting and exact matches: the message, request ids and pod names in the keyword columns
//! (`k.PATH`), numbers in the numeric ones, `@timestamp` in `_ts`. The doc store keeps the
//! document as sent with each such value (quotes included) replaced by one hole byte that says
//! which kind of value it stood for ([`Hole`]), and [`SourceReader`] reads the value back from
//! the column when the document is fetched, so `_source` is still returned byte for byte while
//! the doc store shrinks to a fraction.
//!
//! A value is left out only when the round trip is certain: a member of an object (not inside
//! an array), the only value at its path anywhere in the document, exactly the value the
//! mapping gave the column, and written exactly as it is written back (canonical JSON escaping,
//! the shortest decimal form of a number, `@timestamp` in one of two RFC 3339 UTC forms). Valid
//! JSON never contains a raw byte below 0x09, so a stored document without one is whole (as is
//! everything written before holes existed).

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::io::Write as _;
use std::sync::Arc;

use parking_lot::Mutex;
use tantivy::columnar::{Column, DynamicColumn, StrColumn};
use tantivy::index::SegmentId;
use tantivy::{DateTime, DocAddress, DocId, Searcher, SegmentOrdinal};

use crate::error::{Result, StoreError};
use crate::mapping::{ExactValue, TIMESTAMP_FIELD};
use crate::partition::field_names;

/// What a hole stands for; its byte in the stored skeleton says how the value is read back and
/// written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Hole {
    /// A string of the keyword column `k.PATH`, JSON-escaped as serde_json writes it.
    Str = 0x01,
    /// An integer of the numeric column `k.PATH`, in decimal.
    Int = 0x02,
    /// A float of the numeric column `k.PATH`, in serde_json's shortest form (`17.53`, `1.0`).
    Float = 0x03,
    /// `@timestamp` from `_ts`, as `"2026-11-23T00:00:00.027Z"`.
    TimestampMillis = 0x04,
    /// `@timestamp` from `_ts`, whole seconds, as `"2026-11-23T00:00:00Z"`.
    TimestampSeconds = 0x05,
}

impl Hole {
    /// Every kind, in the order of their bytes (from 0x01).
    const ALL: [Hole; 5] = [
        Hole::Str,
        Hole::Int,
        Hole::Float,
        Hole::TimestampMillis,
        Hole::TimestampSeconds,
    ];

    /// The byte that stands for the value in the stored skeleton.
    pub fn byte(self) -> u8 {
        self as u8
    }

    fn from_byte(byte: u8) -> Option<Hole> {
        Hole::ALL.get(usize::from(byte.wrapping_sub(1))).copied()
    }
}

/// A value read back from a column for a hole.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValue<S = String> {
    /// From a keyword column.
    Str(S),
    /// From an integer column.
    Int(i64),
    /// From a float column.
    Float(f64),
    /// From `_ts`, in milliseconds since the epoch.
    Millis(i64),
}

/// Integers beyond this are not left out: a column of mixed numeric types is read back as
/// floats, which hold integers exactly only up to 2^53.
const MAX_EXACT_INT: i64 = 1 << 53;

/// Writes `value` as a hole of kind `hole` is written back; false when the kinds disagree.
fn write_value<S: AsRef<str>>(hole: Hole, value: &ColumnValue<S>, out: &mut Vec<u8>) -> bool {
    match (hole, value) {
        (Hole::Str, ColumnValue::Str(s)) => {
            serde_json::to_writer(&mut *out, s.as_ref()).expect("writing to a Vec cannot fail");
        }
        (Hole::Int, ColumnValue::Int(v)) => {
            out.extend_from_slice(itoa::Buffer::new().format(*v).as_bytes());
        }
        (Hole::Float, ColumnValue::Float(v)) if v.is_finite() => {
            serde_json::to_writer(&mut *out, v).expect("writing to a Vec cannot fail");
        }
        (Hole::TimestampMillis, ColumnValue::Millis(millis)) => {
            return write_timestamp(*millis, true, out);
        }
        (Hole::TimestampSeconds, ColumnValue::Millis(millis)) if millis.rem_euclid(1000) == 0 => {
            return write_timestamp(*millis, false, out);
        }
        _ => return false,
    }
    true
}

/// Writes `millis` as a quoted RFC 3339 UTC time, `"YYYY-MM-DDTHH:MM:SS[.sss]Z"`; false
/// outside years 0000-9999.
fn write_timestamp(millis: i64, with_millis: bool, out: &mut Vec<u8>) -> bool {
    let Ok(timestamp) = jiff::Timestamp::from_millisecond(millis) else {
        return false;
    };
    let time = jiff::tz::Offset::UTC.to_datetime(timestamp);
    if time.year() < 0 {
        return false;
    }
    write!(
        out,
        "\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        time.year(),
        time.month(),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    )
    .expect("writing to a Vec cannot fail");
    if with_millis {
        write!(out, ".{:03}", time.millisecond()).expect("writing to a Vec cannot fail");
    }
    out.extend_from_slice(b"Z\"");
    true
}

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
    /// The column that holds a left-out value has none (of its kind) for this document.
    #[error("stored _source lacks the column value of [{0}]")]
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
    Hole { at: usize, hole: Hole },
    /// A number, `true`, `false` or `null` spanning `start..end`.
    Literal { start: usize, end: usize },
    /// An empty array.
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
            Some(&byte) if let Some(hole) = Hole::from_byte(byte) => {
                let at = self.pos;
                self.pos += 1;
                (self.visit)(&self.path, Leaf::Hole { at, hole }, in_array)
            }
            Some(_) => {
                let start = self.pos;
                while let Some(b) = self.bytes.get(self.pos) {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r' | b'"')
                        || Hole::from_byte(*b).is_some()
                    {
                        break;
                    }
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(self.malformed());
                }
                let end = self.pos;
                (self.visit)(&self.path, Leaf::Literal { start, end }, in_array)
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
    let mut previous = b'.';
    for &b in path.as_bytes() {
        if b == b'\\' || b < 0x20 || (b == b'.' && previous == b'.') {
            return false;
        }
        previous = b;
    }
    previous != b'.'
}

/// A 64-bit hash of a path (FxHash, as tantivy uses). Candidates are sorted and looked up (once
/// per leaf of the document) by it: comparing the paths themselves, through `memcmp`, was a
/// third of `punch`'s time.
fn path_key(path: &str) -> u64 {
    rustc_hash::FxBuildHasher.hash_one(path)
}

/// One path that may leave its value out.
struct Candidate<'a> {
    /// [`path_key`] of `path`: candidates are found by it, without comparing strings.
    key: u64,
    path: &'a str,
    /// The value the column holds (`None`: a kind that is never left out).
    value: Option<ColumnValue<&'a str>>,
    /// Values the mapping gave this path's columns (one is required).
    column_values: u32,
    /// Scalar values the walk found at this path (one is required).
    seen: u32,
    /// The value's span and the hole that re-creates it exactly, when one does.
    hole: Option<(usize, usize, Hole)>,
}

/// The kinds of hole that may stand for `value`, in order of preference.
fn holes_for(value: &ColumnValue<&str>) -> &'static [Hole] {
    match value {
        ColumnValue::Str(_) => &[Hole::Str],
        ColumnValue::Int(_) => &[Hole::Int],
        ColumnValue::Float(_) => &[Hole::Float],
        ColumnValue::Millis(_) => &[Hole::TimestampMillis, Hole::TimestampSeconds],
    }
}

/// The `_source` to store for a document whose column values are `exact` (and `timestamp` in
/// `_ts`): the bytes with every value its columns hold left out, or `None` when nothing can be
/// left out (or `source` is not a JSON object this module understands).
pub fn punch(
    source: &[u8],
    exact: &[(String, ExactValue)],
    timestamp: Option<i64>,
) -> Option<Vec<u8>> {
    let mut candidates: Vec<Candidate<'_>> = exact
        .iter()
        .map(|(path, value)| Candidate {
            key: path_key(path),
            path,
            value: match value {
                ExactValue::Str(s) => Some(ColumnValue::Str(s.as_str())),
                ExactValue::I64(v) if v.unsigned_abs() <= MAX_EXACT_INT.unsigned_abs() => {
                    Some(ColumnValue::Int(*v))
                }
                ExactValue::F64(v) => Some(ColumnValue::Float(*v)),
                _ => None,
            },
            column_values: 1,
            seen: 0,
            hole: None,
        })
        .collect();
    if let Some(millis) = timestamp {
        candidates.push(Candidate {
            key: path_key(TIMESTAMP_FIELD),
            path: TIMESTAMP_FIELD,
            value: Some(ColumnValue::Millis(millis)),
            column_values: 1,
            seen: 0,
            hole: None,
        });
    }
    if candidates.is_empty() || has_holes(source) {
        return None;
    }
    // Ordered by path key; paths are compared only when their keys are equal.
    candidates.sort_unstable_by(|a, b| a.key.cmp(&b.key).then_with(|| a.path.cmp(b.path)));
    candidates.dedup_by(|later, first| {
        let same = later.key == first.key && later.path == first.path;
        if same {
            first.column_values += later.column_values;
        }
        same
    });
    candidates.retain(|c| c.column_values == 1 && c.value.is_some() && is_plain_path(c.path));
    if candidates.is_empty() {
        return None;
    }
    let mut canonical = Vec::new();
    let walked = Walker::walk(source, |path, leaf, in_array| {
        let key = path_key(path);
        let first = candidates.partition_point(|c| c.key < key);
        let Some(candidate) = candidates[first..]
            .iter_mut()
            .take_while(|c| c.key == key)
            .find(|c| c.path == path)
        else {
            return Ok(());
        };
        candidate.seen += 1;
        let Some(value) = &candidate.value else {
            return Ok(());
        };
        let (start, end) = match leaf {
            _ if in_array => return Ok(()),
            Leaf::Str {
                start,
                end,
                escaped,
            } => {
                if let (ColumnValue::Str(s), false) = (value, escaped) {
                    // Unescaped as written and equal: serde_json writes it the same way.
                    if &source[start + 1..end - 1] == s.as_bytes() {
                        candidate.hole = Some((start, end, Hole::Str));
                    }
                    return Ok(());
                }
                (start, end)
            }
            Leaf::Literal { start, end } => (start, end),
            Leaf::Hole { .. } | Leaf::Other => return Ok(()),
        };
        for &hole in holes_for(value) {
            canonical.clear();
            if write_value(hole, value, &mut canonical) && canonical == source[start..end] {
                candidate.hole = Some((start, end, hole));
                break;
            }
        }
        Ok(())
    });
    walked.ok()?;
    let mut holes: Vec<(usize, usize, Hole)> = candidates
        .iter()
        .filter(|c| c.seen == 1)
        .filter_map(|c| c.hole)
        .collect();
    if holes.is_empty() {
        return None;
    }
    if holes.len() > MAX_HOLES {
        // The longest values save the most; the rest stay in place.
        holes.sort_unstable_by_key(|(start, end, _)| std::cmp::Reverse(end - start));
        holes.truncate(MAX_HOLES);
    }
    holes.sort_unstable_by_key(|(start, _, _)| *start);
    let mut stored = Vec::with_capacity(source.len());
    let mut copied = 0;
    for (start, end, hole) in holes {
        stored.extend_from_slice(&source[copied..start]);
        stored.push(hole.byte());
        copied = end;
    }
    stored.extend_from_slice(&source[copied..]);
    Some(stored)
}

/// Whether stored `_source` bytes have values left out.
pub fn has_holes(stored: &[u8]) -> bool {
    stored.iter().any(|&b| Hole::from_byte(b).is_some())
}

/// Rebuilds `_source` from its stored skeleton, asking `value_of` for the value of each hole
/// (its path and kind).
pub fn fill(
    stored: &[u8],
    mut value_of: impl FnMut(&str, Hole) -> Option<ColumnValue>,
) -> Result<Vec<u8>, HoleError> {
    let mut source = Vec::with_capacity(stored.len() * 2);
    let mut copied = 0;
    Walker::walk(stored, |path, leaf, _| {
        if let Leaf::Hole { at, hole } = leaf {
            source.extend_from_slice(&stored[copied..at]);
            let written = value_of(path, hole).is_some_and(|v| write_value(hole, &v, &mut source));
            if !written {
                return Err(HoleError::MissingValue(path.into()));
            }
            copied = at + 1;
        }
        Ok(())
    })?;
    source.extend_from_slice(&stored[copied..]);
    Ok(source)
}

/// The value a hole at `path` stands for in a document not yet indexed: what its columns will
/// hold (`exact`, and `timestamp` for `_ts`), when that is one value of the hole's kind. Fills
/// a punched document without an index, to check the round trip.
pub fn mapped_value(
    exact: &[(String, ExactValue)],
    timestamp: Option<i64>,
    path: &str,
    hole: Hole,
) -> Option<ColumnValue> {
    if matches!(hole, Hole::TimestampMillis | Hole::TimestampSeconds) {
        return (path == TIMESTAMP_FIELD)
            .then_some(timestamp)
            .flatten()
            .map(ColumnValue::Millis);
    }
    let mut values = exact.iter().filter(|(p, _)| p == path).map(|(_, v)| v);
    let value = match (values.next()?, hole) {
        (ExactValue::Str(s), Hole::Str) => ColumnValue::Str(s.clone()),
        (ExactValue::I64(v), Hole::Int) => ColumnValue::Int(*v),
        (ExactValue::F64(v), Hole::Float) => ColumnValue::Float(*v),
        _ => return None,
    };
    // A hole stands for its path's only value.
    values.next().is_none().then_some(value)
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

/// Which column a hole's value is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum HoleColumnKind {
    Str,
    Numbers,
    Timestamps,
}

impl HoleColumnKind {
    fn of(hole: Hole) -> HoleColumnKind {
        match hole {
            Hole::Str => HoleColumnKind::Str,
            Hole::Int | Hole::Float => HoleColumnKind::Numbers,
            Hole::TimestampMillis | Hole::TimestampSeconds => HoleColumnKind::Timestamps,
        }
    }
}

/// A column that values left out of `_source` are read back from.
enum HoleColumn {
    Str(StrColumn),
    Numbers(DynamicColumn),
    Timestamps(Column<DateTime>),
}

impl HoleColumn {
    fn open(
        segment: &tantivy::SegmentReader,
        path: &str,
        kind: HoleColumnKind,
    ) -> Option<HoleColumn> {
        let fast_fields = segment.fast_fields();
        let column = format!("{}.{path}", field_names::EXACT);
        match kind {
            HoleColumnKind::Str => fast_fields.str(&column).ok().flatten().map(HoleColumn::Str),
            HoleColumnKind::Numbers => fast_fields
                .dynamic_column_handles(&column)
                .ok()?
                .into_iter()
                .filter(|handle| handle.column_type().numerical_type().is_some())
                .find_map(|handle| handle.open().ok())
                .map(HoleColumn::Numbers),
            HoleColumnKind::Timestamps => fast_fields
                .date(field_names::TIMESTAMP)
                .ok()
                .map(HoleColumn::Timestamps),
        }
    }

    fn value(&self, doc: DocId, hole: Hole, scratch: &mut String) -> Option<ColumnValue> {
        match (self, hole) {
            (HoleColumn::Str(column), _) => {
                let ord = column.term_ords(doc).next()?;
                scratch.clear();
                column
                    .ord_to_str(ord, scratch)
                    .ok()?
                    .then(|| ColumnValue::Str(scratch.clone()))
            }
            // A column holds one numeric type per segment; merges may widen integers to floats.
            (HoleColumn::Numbers(column), Hole::Int) => match column {
                DynamicColumn::I64(c) => c.first(doc),
                DynamicColumn::U64(c) => c.first(doc).and_then(|v| i64::try_from(v).ok()),
                DynamicColumn::F64(c) => c
                    .first(doc)
                    .filter(|v| v.fract() == 0.0 && v.abs() <= MAX_EXACT_INT as f64)
                    .map(|v| v as i64),
                _ => None,
            }
            .map(ColumnValue::Int),
            (HoleColumn::Numbers(column), _) => match column {
                DynamicColumn::F64(c) => c.first(doc),
                DynamicColumn::I64(c) => c.first(doc).map(|v| v as f64),
                DynamicColumn::U64(c) => c.first(doc).map(|v| v as f64),
                _ => None,
            }
            .map(ColumnValue::Float),
            (HoleColumn::Timestamps(column), _) => column
                .first(doc)
                .map(|t| ColumnValue::Millis(t.into_timestamp_millis())),
        }
    }
}

/// Reads hits' `_source` back whole, filling holes from the columns of their segments;
/// columns are opened once per segment, path and kind for all the hits it reads.
pub struct SourceReader<'a> {
    searcher: &'a Searcher,
    filled: &'a FilledSources,
    columns: HashMap<(SegmentOrdinal, String, HoleColumnKind), Option<HoleColumn>>,
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
        let mut scratch = String::new();
        let source = fill(stored, |path, hole| {
            let kind = HoleColumnKind::of(hole);
            columns
                .entry((address.segment_ord, path.to_string(), kind))
                .or_insert_with(|| HoleColumn::open(segment, path, kind))
                .as_ref()?
                .value(address.doc_id, hole, &mut scratch)
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
        let stored = punch(source, &mapped.exact, mapped.timestamp);
        let back = match &stored {
            None => source.to_vec(),
            Some(stored) => fill(stored, |path, hole| {
                mapped_value(&mapped.exact, mapped.timestamp, path, hole)
            })
            .expect("fills"),
        };
        (stored, back)
    }

    #[test]
    fn plain_paths_have_no_empty_segment_escape_or_control_character() {
        for plain in ["a", "kubernetes.labels.app", "@timestamp", "a.b-c_d"] {
            assert!(is_plain_path(plain), "{plain}");
        }
        for odd in ["", ".a", "a.", "a..b", "a\\b", "a\u{1}b", "."] {
            assert!(!is_plain_path(odd), "{odd:?}");
        }
        assert_ne!(
            path_key("kubernetes.pod_name"),
            path_key("kubernetes.pod_namf")
        );
        assert_ne!(
            path_key("a"),
            path_key("a\0"),
            "the length is part of the key"
        );
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
            "{\"@timestamp\":\u{5},\"message\":\u{1},\"level\":\u{1},\"n\":\u{2},\
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
            fill(b"{\"a\":\x01", |_, _| Some(ColumnValue::Str("x".into()))),
            Err(HoleError::Malformed(6))
        );
        assert_eq!(
            fill(b"{\"a\":\x01}", |_, _| None),
            Err(HoleError::MissingValue("a".into()))
        );
        assert_eq!(
            fill(b"{\"a\":\x01}", |_, _| Some(ColumnValue::Str("\"".into()))).unwrap(),
            br#"{"a":"\""}"#
        );
    }

    #[test]
    fn a_value_of_another_kind_is_an_error() {
        assert_eq!(
            fill(b"{\"a\":\x02}", |_, _| Some(ColumnValue::Str("7".into()))),
            Err(HoleError::MissingValue("a".into()))
        );
        assert_eq!(
            fill(b"{\"a\":\x05}", |_, _| Some(ColumnValue::Millis(1))),
            Err(HoleError::MissingValue("a".into())),
            "a time with milliseconds has no whole-second form"
        );
        assert_eq!(
            fill(b"{\"a\":\x02,\"b\":\x03}", |path, _| Some(if path == "a" {
                ColumnValue::Int(-7)
            } else {
                ColumnValue::Float(0.5)
            }))
            .unwrap(),
            br#"{"a":-7,"b":0.5}"#
        );
    }

    #[test]
    fn leaves_out_numbers_and_timestamps_written_canonically() {
        let mut mapping = IndexMapping::default();
        let source = br#"{"@timestamp":"2026-11-23T00:00:00.027Z","status":200,"duration_ms":17.53,"ratio":1.0,"delta":-3}"#;
        let (stored, back) = round_trip(&mut mapping, source);
        assert_eq!(back, source.to_vec());
        assert_eq!(
            String::from_utf8(stored.expect("holes")).unwrap(),
            "{\"@timestamp\":\u{4},\"status\":\u{2},\"duration_ms\":\u{3},\"ratio\":\u{3},\"delta\":\u{2}}"
        );
        // Spellings that the columns' values would not write back stay in place.
        let source = br#"{"@timestamp":"2026-11-23T00:00:00.000+00:00","status":2e2,"duration_ms":17.530,"ratio":1,"delta":-0,"big":9007199254740993}"#;
        let (stored, back) = round_trip(&mut mapping, source);
        assert_eq!(back, source.to_vec());
        assert_eq!(stored.map(String::from_utf8), None);
    }

    #[test]
    fn hole_bytes_name_their_kind() {
        for hole in [
            Hole::Str,
            Hole::Int,
            Hole::Float,
            Hole::TimestampMillis,
            Hole::TimestampSeconds,
        ] {
            assert_eq!(Hole::from_byte(hole.byte()), Some(hole));
        }
        // Whitespace is the only control character valid JSON has outside strings.
        for byte in [0x00, b'\t', b'\n', b'\r', b' ', b'"', 0x06] {
            assert_eq!(Hole::from_byte(byte), None);
        }
    }

    #[test]
    fn timestamps_are_written_as_rfc3339_utc() {
        let mut out = Vec::new();
        assert!(write_timestamp(1_795_600_800_123, true, &mut out));
        assert_eq!(out, br#""2026-11-25T10:00:00.123Z""#);
        out.clear();
        assert!(write_timestamp(-1, true, &mut out));
        assert_eq!(out, br#""1969-12-31T23:59:59.999Z""#);
        out.clear();
        assert!(write_timestamp(951_782_400_000, false, &mut out));
        assert_eq!(out, br#""2000-02-29T00:00:00Z""#);
        assert!(
            !write_timestamp(253_402_300_800_000, true, &mut out),
            "year 10000"
        );
        assert!(
            !write_timestamp(-62_167_219_200_001, true, &mut out),
            "year -1"
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
            any::<f64>().prop_map(Value::from),
            (-(1i64 << 60)..(1i64 << 60)).prop_map(Value::from),
            (-62_167_219_200_000i64..253_402_300_800_000, any::<bool>()).prop_map(
                |(millis, whole)| {
                    let millis = if whole {
                        millis - millis.rem_euclid(1000)
                    } else {
                        millis
                    };
                    let mut quoted = Vec::new();
                    write_timestamp(millis, !whole, &mut quoted);
                    serde_json::from_slice(&quoted).unwrap()
                }
            ),
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
                    .map(|(k, v)| (["a", "b", "a.b", "@timestamp"][k as usize % 4].to_string(), v))
                    .collect();
                let compact = serde_json::to_string(&Value::Object(object)).unwrap();
                let source = respell(&compact, style);
                prop_assume!(serde_json::from_str::<Map<String, Value>>(&source).is_ok());
                let (_, back) = round_trip(&mut mapping, source.as_bytes());
                prop_assert_eq!(String::from_utf8(back).unwrap(), source);
            }
        }

        /// The timestamp writer agrees with jiff on every millisecond of years 0000-9999.
        #[test]
        fn timestamps_agree_with_jiff(millis in -62_167_219_200_000i64..253_402_300_800_000) {
            let mut out = Vec::new();
            prop_assert!(write_timestamp(millis, true, &mut out));
            let expected = jiff::Timestamp::from_millisecond(millis)
                .unwrap()
                .strftime("\"%Y-%m-%dT%H:%M:%S%.3fZ\"")
                .to_string();
            prop_assert_eq!(String::from_utf8(out).unwrap(), expected);
        }

        /// Arbitrary bytes never panic the walker.
        #[test]
        fn fill_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = fill(&bytes, |path, _| Some(ColumnValue::Str(path.to_string())));
        }
    }
}

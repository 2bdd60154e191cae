//! Range queries over columnar numbers and dates that count without materialising documents.
//!
//! tantivy answers a range over a fast field by scanning the column and, for columns that only
//! some documents have, translating every matching row id into a document id. Counting the
//! matches (`hits.total`, `_count`, `size: 0`) does not need the document ids: in a segment
//! without deletes, a single-valued column has exactly one row per document that has a value,
//! so the number of matching documents is the number of matching rows. That skips the
//! translation, which profiles showed to be the larger half of a range query on a sparse field.
//!
//! Finding the documents themselves still goes through tantivy's own range query, so the two
//! can never disagree on *which* documents match; a property test checks they agree on how many.

use std::collections::{HashMap, VecDeque};
use std::ops::{Bound, RangeInclusive};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

use tantivy::columnar::{Cardinality, ColumnType, MonotonicallyMappableToU64, NumericalType};
use tantivy::index::SegmentId;
use tantivy::query::{
    BitSetDocSet, ConstScoreQuery, ConstScorer, EmptyScorer, EnableScoring, Explanation, Query,
    RangeQuery, Scorer, Weight,
};
use tantivy::schema::Type;
use tantivy::{BitSet, DateTime, DocId, DocSet, Score, SegmentReader, Term};

/// How many rows to scan per call, to bound the row-id buffer.
const SCAN_CHUNK: u32 = 1 << 16;

/// A constant-score range over a numeric or date column (`status:[500 TO 599]`,
/// `@timestamp:>now-1h`). Matches exactly what tantivy's `RangeQuery` matches.
#[derive(Clone, Debug)]
pub(crate) struct ColumnRangeQuery {
    lower: Bound<Term>,
    upper: Bound<Term>,
}

impl ColumnRangeQuery {
    /// A range between two terms of the same field (and JSON path).
    pub(crate) fn new(lower: Bound<Term>, upper: Bound<Term>) -> ColumnRangeQuery {
        ColumnRangeQuery { lower, upper }
    }
}

impl Query for ColumnRangeQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let matching = ConstScoreQuery::new(
            Box::new(RangeQuery::new(self.lower.clone(), self.upper.clone())),
            1.0,
        );
        Ok(Box::new(ColumnRangeWeight {
            matching: matching.weight(enable_scoring)?,
            lower: self.lower.clone(),
            upper: self.upper.clone(),
        }))
    }
}

struct ColumnRangeWeight {
    matching: Box<dyn Weight>,
    lower: Bound<Term>,
    upper: Bound<Term>,
}

impl Weight for ColumnRangeWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        self.matching.scorer(reader, boost)
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.matching.explain(reader, doc)
    }

    fn count(&self, reader: &SegmentReader) -> tantivy::Result<u32> {
        match self.count_rows(reader)? {
            Some(count) => Ok(count),
            None => self.matching.count(reader),
        }
    }
}

impl ColumnRangeWeight {
    /// The number of matching documents counted on rows, or `None` when that would not equal
    /// the number of documents (deletes, multi-valued columns) or the bounds are not numeric.
    fn count_rows(&self, reader: &SegmentReader) -> tantivy::Result<Option<u32>> {
        if reader.alive_bitset().is_some() {
            return Ok(None);
        }
        let Some(term) = bound_term(&self.lower).or_else(|| bound_term(&self.upper)) else {
            return Ok(None);
        };
        let Some(kind) = value_kind(term) else {
            return Ok(None);
        };
        let allowed: &[ColumnType] = match kind {
            Type::Date => &[ColumnType::DateTime],
            _ => &[ColumnType::F64, ColumnType::I64, ColumnType::U64],
        };
        let path = term.get_full_path(reader.schema());
        let Some((column, column_type)) = reader
            .fast_fields()
            .u64_lenient_for_type(Some(allowed), &path)?
        else {
            return Ok(Some(0));
        };
        if column.get_cardinality() == Cardinality::Multivalued {
            return Ok(None);
        }
        let domain = match column_type {
            ColumnType::DateTime => Domain::Date,
            other => match other.numerical_type() {
                Some(NumericalType::I64) => Domain::I64,
                Some(NumericalType::U64) => Domain::U64,
                Some(NumericalType::F64) => Domain::F64,
                None => return Ok(None),
            },
        };
        let (Some(lower), Some(upper)) = (number_bound(&self.lower), number_bound(&self.upper))
        else {
            return Ok(None);
        };
        let Some(range) = domain.mapped_range(lower, upper) else {
            return Ok(Some(0));
        };
        if *range.start() > column.max_value() || *range.end() < column.min_value() {
            return Ok(Some(0));
        }
        let rows = column.values.num_vals();
        // A copy too big to keep would be rebuilt (and sorted) on every count: scan instead.
        let fits = (rows as usize).saturating_mul(std::mem::size_of::<u64>()) <= SORTED_CACHE_BYTES;
        if rows >= SORTED_MIN_ROWS && fits {
            let key = (reader.segment_id(), path, kind == Type::Date);
            let sorted = SORTED_COLUMNS.get_or_build(key, || {
                let mut values = vec![0u64; rows as usize];
                column.values.get_range(0, &mut values);
                values.sort_unstable();
                values.into()
            });
            let below = sorted.partition_point(|v| v < range.start());
            let through = sorted.partition_point(|v| v <= range.end());
            return Ok(Some((through - below) as u32));
        }
        let mut hits = Vec::new();
        let mut count = 0u32;
        let mut start = 0u32;
        while start < rows {
            let end = start.saturating_add(SCAN_CHUNK).min(rows);
            hits.clear();
            column
                .values
                .get_row_ids_for_value_range(range.clone(), start..end, &mut hits);
            count += hits.len() as u32;
            start = end;
        }
        Ok(Some(count))
    }
}

/// A range over a boolean column (`flag:true`): tantivy's range query does not read boolean
/// values inside JSON fields, so this one scans the column itself.
#[derive(Clone, Debug)]
pub(crate) struct BoolColumnQuery {
    lower: Bound<Term>,
    upper: Bound<Term>,
}

impl BoolColumnQuery {
    /// A range between two boolean terms of the same JSON path (false < true).
    pub(crate) fn new(lower: Bound<Term>, upper: Bound<Term>) -> BoolColumnQuery {
        BoolColumnQuery { lower, upper }
    }

    /// The `u64` values (false = 0, true = 1) within the bounds.
    fn values(&self) -> Option<RangeInclusive<u64>> {
        let value = |term: &Term| typed_value(term).map(|(_, raw)| raw.min(1));
        let lo = match &self.lower {
            Bound::Unbounded => 0,
            Bound::Included(term) => value(term)?,
            Bound::Excluded(term) => value(term)? + 1,
        };
        let hi = match &self.upper {
            Bound::Unbounded => 1,
            Bound::Included(term) => value(term)?,
            Bound::Excluded(term) => value(term)?.checked_sub(1)?,
        };
        (lo <= hi).then_some(lo..=hi)
    }
}

impl Query for BoolColumnQuery {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(BoolColumnWeight {
            path_term: bound_term(&self.lower)
                .or_else(|| bound_term(&self.upper))
                .cloned(),
            values: self.values(),
        }))
    }
}

struct BoolColumnWeight {
    path_term: Option<Term>,
    values: Option<RangeInclusive<u64>>,
}

impl Weight for BoolColumnWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let (Some(term), Some(values)) = (&self.path_term, &self.values) else {
            return Ok(Box::new(EmptyScorer));
        };
        let path = term.get_full_path(reader.schema());
        let Some((column, _)) = reader
            .fast_fields()
            .u64_lenient_for_type(Some(&[ColumnType::Bool]), &path)?
        else {
            return Ok(Box::new(EmptyScorer));
        };
        // tantivy's bit-packed columns clamp a range below their minimum to the minimum
        // (`false` would match a segment where every value is `true`): rule that out first.
        if *values.start() > column.max_value() || *values.end() < column.min_value() {
            return Ok(Box::new(EmptyScorer));
        }
        let mut docs = Vec::new();
        column.get_docids_for_value_range(values.clone(), 0..reader.max_doc(), &mut docs);
        let mut matching = BitSet::with_max_value(reader.max_doc());
        for doc in docs {
            matching.insert(doc);
        }
        Ok(Box::new(ConstScorer::new(
            BitSetDocSet::from(matching),
            boost,
        )))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument(format!(
                "document {doc} does not match"
            )));
        }
        Ok(Explanation::new("BoolColumnQuery", scorer.score()))
    }
}

/// Columns at least this long are counted on a sorted copy; shorter ones are scanned.
const SORTED_MIN_ROWS: u32 = 32 * 1024;

/// Memory the sorted copies may take together (8 bytes a value).
const SORTED_CACHE_BYTES: usize = 64 << 20;

type SortedKey = (SegmentId, String, bool);

/// Sorted copies of the columns that range counts read, one per segment and column. Segments
/// are immutable, so a copy never goes stale; counting a range on one is two binary searches
/// instead of a scan of every value (a memory-resident stand-in for Lucene's points index).
/// Copies of merged-away segments age out first-in, first-out within the budget.
struct SortedColumns {
    inner: Mutex<SortedCache>,
}

#[derive(Default)]
struct SortedCache {
    columns: HashMap<SortedKey, Arc<[u64]>>,
    order: VecDeque<SortedKey>,
    bytes: usize,
}

static SORTED_COLUMNS: LazyLock<SortedColumns> = LazyLock::new(|| SortedColumns {
    inner: Mutex::new(SortedCache::default()),
});

impl SortedColumns {
    fn get_or_build(&self, key: SortedKey, build: impl FnOnce() -> Arc<[u64]>) -> Arc<[u64]> {
        if let Some(found) = self.inner.lock().columns.get(&key) {
            return found.clone();
        }
        // Built outside the lock: two searches may both build it, and one copy is kept.
        let built = build();
        let size = built.len() * std::mem::size_of::<u64>();
        if size > SORTED_CACHE_BYTES {
            return built;
        }
        let mut cache = self.inner.lock();
        while cache.bytes + size > SORTED_CACHE_BYTES {
            let Some(oldest) = cache.order.pop_front() else {
                break;
            };
            if let Some(evicted) = cache.columns.remove(&oldest) {
                cache.bytes -= evicted.len() * std::mem::size_of::<u64>();
            }
        }
        if cache.columns.insert(key.clone(), built.clone()).is_none() {
            cache.order.push_back(key);
            cache.bytes += size;
        }
        built
    }
}

fn number_bound(bound: &Bound<Term>) -> Option<Bound<Number>> {
    Some(match bound {
        Bound::Included(term) => Bound::Included(bound_value(term)?),
        Bound::Excluded(term) => Bound::Excluded(bound_value(term)?),
        Bound::Unbounded => Bound::Unbounded,
    })
}

fn bound_term(bound: &Bound<Term>) -> Option<&Term> {
    match bound {
        Bound::Included(term) | Bound::Excluded(term) => Some(term),
        Bound::Unbounded => None,
    }
}

/// The value type a bound term carries (looking inside JSON terms) and its `u64`-mapped value.
fn typed_value(term: &Term) -> Option<(Type, u64)> {
    let value = term.value();
    let typ = value.json_path_type().unwrap_or_else(|| value.typ());
    let bytes = term.serialized_value_bytes();
    // Fast values end every term that carries one: eight big-endian bytes.
    let raw = bytes.get(bytes.len().checked_sub(8)?..)?;
    Some((typ, u64::from_be_bytes(raw.try_into().ok()?)))
}

fn value_kind(term: &Term) -> Option<Type> {
    let (typ, _) = typed_value(term)?;
    matches!(typ, Type::I64 | Type::U64 | Type::F64 | Type::Date).then_some(typ)
}

/// A bound's value as a number; dates as nanoseconds since the epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Number {
    Int(i128),
    Float(f64),
}

/// `None` unless the term carries a usable number (NaN bounds go the slow, exact way).
fn bound_value(term: &Term) -> Option<Number> {
    let (typ, raw) = typed_value(term)?;
    let number = match typ {
        Type::I64 => Number::Int(i64::from_u64(raw).into()),
        Type::U64 => Number::Int(raw.into()),
        Type::Date => Number::Int(DateTime::from_u64(raw).into_timestamp_nanos().into()),
        Type::F64 => Number::Float(Some(f64::from_u64(raw)).filter(|f| !f.is_nan())?),
        _ => return None,
    };
    Some(number)
}

/// The value space of a column, before tantivy maps it monotonically onto `u64`.
#[derive(Clone, Copy, Debug)]
enum Domain {
    I64,
    U64,
    F64,
    /// Nanoseconds since the epoch, as `i64`.
    Date,
}

impl Domain {
    /// The inclusive `u64`-mapped range of column values that satisfy both bounds, or `None`
    /// when no value can.
    fn mapped_range(
        self,
        lower: Bound<Number>,
        upper: Bound<Number>,
    ) -> Option<RangeInclusive<u64>> {
        match self {
            Domain::F64 => {
                // Excluded bounds step in the mapped space, as tantivy does: -0.0 sorts just
                // below 0.0 there.
                let lo = match lower {
                    Bound::Unbounded => 0,
                    Bound::Included(n) => as_f64(n).to_u64(),
                    Bound::Excluded(n) => as_f64(n).to_u64().checked_add(1)?,
                };
                let hi = match upper {
                    Bound::Unbounded => u64::MAX,
                    Bound::Included(n) => as_f64(n).to_u64(),
                    Bound::Excluded(n) => as_f64(n).to_u64().checked_sub(1)?,
                };
                (lo <= hi).then_some(lo..=hi)
            }
            Domain::I64 | Domain::Date => {
                let (lo, hi) = integer_bounds(lower, upper, i64::MIN.into(), i64::MAX.into())?;
                Some((lo as i64).to_u64()..=(hi as i64).to_u64())
            }
            Domain::U64 => {
                let (lo, hi) = integer_bounds(lower, upper, 0, u64::MAX.into())?;
                Some(lo as u64..=hi as u64)
            }
        }
    }
}

fn as_f64(number: Number) -> f64 {
    match number {
        Number::Int(i) => i as f64,
        Number::Float(f) => f,
    }
}

/// The smallest and largest integers in `[min, max]` within the bounds.
pub(crate) fn integer_bounds(
    lower: Bound<Number>,
    upper: Bound<Number>,
    min: i128,
    max: i128,
) -> Option<(i128, i128)> {
    // `as i128` saturates, so infinite and huge floats clamp like any out-of-range integer.
    let lo = match lower {
        Bound::Unbounded => min,
        Bound::Included(Number::Int(i)) => i,
        Bound::Excluded(Number::Int(i)) => i + 1,
        Bound::Included(Number::Float(f)) => f.ceil() as i128,
        Bound::Excluded(Number::Float(f)) => (f.floor() as i128).saturating_add(1),
    };
    let hi = match upper {
        Bound::Unbounded => max,
        Bound::Included(Number::Int(i)) => i,
        Bound::Excluded(Number::Int(i)) => i - 1,
        Bound::Included(Number::Float(f)) => f.floor() as i128,
        Bound::Excluded(Number::Float(f)) => (f.ceil() as i128).saturating_sub(1),
    };
    let (lo, hi) = (lo.max(min), hi.min(max));
    (lo <= hi).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tantivy::collector::Count;
    use tantivy::schema::{FAST, JsonObjectOptions, Schema};
    use tantivy::{Index, IndexWriter, TantivyDocument};

    use super::*;

    #[derive(Clone, Debug)]
    enum Stored {
        Int(i64),
        Uint(u64),
        Float(f64),
    }

    fn integer() -> impl Strategy<Value = Stored> {
        prop_oneof![
            (-50i64..50).prop_map(Stored::Int),
            (0u64..50).prop_map(Stored::Uint),
            prop_oneof![Just(u64::MAX), Just(i64::MAX as u64 + 3)].prop_map(Stored::Uint),
        ]
    }

    fn float() -> impl Strategy<Value = Stored> {
        prop_oneof![
            (-50.0f64..50.0).prop_map(Stored::Float),
            prop_oneof![Just(2.5f64), Just(-0.0), Just(0.0), Just(1e300)].prop_map(Stored::Float),
        ]
    }

    fn bound_of(
        value: impl Strategy<Value = Stored> + Clone,
    ) -> impl Strategy<Value = Bound<Stored>> {
        prop_oneof![
            1 => Just(Bound::Unbounded),
            3 => value.clone().prop_map(Bound::Included),
            3 => value.prop_map(Bound::Excluded),
        ]
    }

    fn integer_bound() -> impl Strategy<Value = Bound<Stored>> {
        bound_of(prop_oneof![
            (-60i64..60).prop_map(Stored::Int),
            prop_oneof![Just(i64::MAX), Just(i64::MIN)].prop_map(Stored::Int),
        ])
    }

    fn float_bound() -> impl Strategy<Value = Bound<Stored>> {
        bound_of(prop_oneof![
            (-60.0f64..60.0).prop_map(Stored::Float),
            prop_oneof![
                Just(2.5f64),
                Just(-0.0),
                Just(0.0),
                Just(f64::INFINITY),
                Just(-1e30)
            ]
            .prop_map(Stored::Float),
        ])
    }

    fn json_term(field: tantivy::schema::Field, value: &Stored) -> Term {
        let mut term = Term::from_field_json_path(field, "n", false);
        match *value {
            Stored::Int(i) => term.append_type_and_fast_value(i),
            Stored::Uint(u) => term.append_type_and_fast_value(u),
            Stored::Float(f) => term.append_type_and_fast_value(f),
        }
        term
    }

    /// Counts through tantivy's own scorer and through the row-count path.
    fn both_counts(index: &Index, query: &ColumnRangeQuery) -> (usize, u32) {
        let searcher = index.reader().unwrap().searcher();
        let weight = query
            .weight(EnableScoring::disabled_from_searcher(&searcher))
            .unwrap();
        let by_rows: u32 = searcher
            .segment_readers()
            .iter()
            .map(|reader| weight.count(reader).unwrap())
            .sum();
        let by_documents = searcher
            .segment_readers()
            .iter()
            .map(|reader| {
                let mut scorer = weight.scorer(reader, 1.0).unwrap();
                let mut n = 0;
                while scorer.doc() != tantivy::TERMINATED {
                    if reader
                        .alive_bitset()
                        .is_none_or(|a| a.is_alive(scorer.doc()))
                    {
                        n += 1;
                    }
                    scorer.advance();
                }
                n
            })
            .sum::<usize>();
        let _ = searcher.search(query, &Count).unwrap();
        (by_documents, by_rows)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever numeric type the column ended up with, and bounds as compilation makes
        /// them (integers for long fields, floats for float fields), counting rows gives the
        /// number of documents tantivy's range query finds.
        #[test]
        fn row_count_equals_document_count(
            (values, lower, upper) in prop_oneof![
                // A long field: integer values (signed or not), integer bounds.
                (
                    prop::collection::vec(prop::option::weighted(0.6, integer()), 1..80),
                    integer_bound(),
                    integer_bound(),
                ),
                // A float field: float values, float bounds.
                (
                    prop::collection::vec(prop::option::weighted(0.6, float()), 1..80),
                    float_bound(),
                    float_bound(),
                ),
            ],
        ) {
            // Compilation turns an unbounded range into an `exists` query.
            prop_assume!(!matches!((&lower, &upper), (Bound::Unbounded, Bound::Unbounded)));
            let mut builder = Schema::builder();
            let field = builder.add_json_field("k", JsonObjectOptions::from(FAST));
            let index = Index::create_in_ram(builder.build());
            let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
            for value in &values {
                let doc = match value {
                    None => TantivyDocument::default(),
                    Some(v) => {
                        let number = match *v {
                            Stored::Int(i) => serde_json::json!(i),
                            Stored::Uint(u) => serde_json::json!(u),
                            Stored::Float(f) => serde_json::json!(f),
                        };
                        TantivyDocument::parse_json(
                            &index.schema(),
                            &serde_json::json!({"k": {"n": number}}).to_string(),
                        )
                        .unwrap()
                    }
                };
                writer.add_document(doc).unwrap();
            }
            writer.commit().unwrap();
            let query = ColumnRangeQuery::new(
                lower.as_ref().map(|v| json_term(field, v)),
                upper.as_ref().map(|v| json_term(field, v)),
            );
            let (by_documents, by_rows) = both_counts(&index, &query);
            prop_assert_eq!(by_documents, by_rows as usize);
        }

        /// Same for a date field, with bounds either side of and on stored values.
        #[test]
        fn date_row_count_equals_document_count(
            millis in prop::collection::vec(prop::option::weighted(0.7, -5_000i64..5_000), 1..60),
            lower in prop::option::weighted(0.8, (-6_000i64..6_000, any::<bool>())),
            upper in prop::option::weighted(0.8, (-6_000i64..6_000, any::<bool>())),
        ) {
            prop_assume!(lower.is_some() || upper.is_some());
            let mut builder = Schema::builder();
            let options = tantivy::schema::DateOptions::from(FAST)
                .set_precision(tantivy::schema::DateTimePrecision::Milliseconds);
            let field = builder.add_date_field("_ts", options);
            let index = Index::create_in_ram(builder.build());
            let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
            for value in &millis {
                let mut doc = TantivyDocument::default();
                if let Some(ms) = value {
                    doc.add_date(field, DateTime::from_timestamp_millis(*ms));
                }
                writer.add_document(doc).unwrap();
            }
            writer.commit().unwrap();
            let bound = |b: Option<(i64, bool)>| match b {
                None => Bound::Unbounded,
                Some((ms, inclusive)) => {
                    let term = Term::from_field_date(field, DateTime::from_timestamp_millis(ms));
                    if inclusive { Bound::Included(term) } else { Bound::Excluded(term) }
                }
            };
            let query = ColumnRangeQuery::new(bound(lower), bound(upper));
            let (by_documents, by_rows) = both_counts(&index, &query);
            prop_assert_eq!(by_documents, by_rows as usize);
        }
    }

    /// Long columns are counted on their sorted copy, built on first use and then reused.
    #[test]
    fn long_columns_count_on_a_sorted_copy() {
        let mut builder = Schema::builder();
        let field = builder.add_json_field("k", JsonObjectOptions::from(FAST));
        let index = Index::create_in_ram(builder.build());
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 50_000_000).unwrap();
        let rows = SORTED_MIN_ROWS as i64 + 5_000;
        for i in 0..rows * 2 {
            // Every other document has the value: a sparse column, in scrambled order.
            let json = if i % 2 == 0 {
                serde_json::json!({"k": {"n": (i * 7919) % 1000 - 500}})
            } else {
                serde_json::json!({"k": {}})
            };
            let doc = TantivyDocument::parse_json(&index.schema(), &json.to_string()).unwrap();
            writer.add_document(doc).unwrap();
        }
        writer.commit().unwrap();
        for (lower, upper) in [
            (Bound::Included(-500), Bound::Included(499)),
            (Bound::Excluded(-3), Bound::Included(250)),
            (Bound::Unbounded, Bound::Excluded(0)),
            (Bound::Included(499), Bound::Unbounded),
            (Bound::Included(600), Bound::Unbounded),
        ] {
            let query = ColumnRangeQuery::new(
                lower.map(|v| json_term(field, &Stored::Int(v))),
                upper.map(|v| json_term(field, &Stored::Int(v))),
            );
            let (by_documents, by_rows) = both_counts(&index, &query);
            assert_eq!(by_documents, by_rows as usize, "{lower:?}..{upper:?}");
        }
        let segment = index.reader().unwrap().searcher().segment_readers()[0].segment_id();
        let cached =
            SORTED_COLUMNS
                .inner
                .lock()
                .columns
                .contains_key(&(segment, "k.n".to_string(), false));
        assert!(cached, "the sorted copy was kept");
    }

    #[test]
    fn deleted_documents_are_not_counted() {
        let mut builder = Schema::builder();
        let id = builder.add_u64_field("id", tantivy::schema::INDEXED | FAST);
        let index = Index::create_in_ram(builder.build());
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        for i in 0..10u64 {
            let mut doc = TantivyDocument::default();
            doc.add_u64(id, i);
            writer.add_document(doc).unwrap();
        }
        writer.commit().unwrap();
        writer.delete_term(Term::from_field_u64(id, 3));
        writer.commit().unwrap();
        let query = ColumnRangeQuery::new(
            Bound::Included(Term::from_field_u64(id, 2)),
            Bound::Excluded(Term::from_field_u64(id, 6)),
        );
        let searcher = index.reader().unwrap().searcher();
        assert_eq!(searcher.search(&query, &Count).unwrap(), 3);
    }
}

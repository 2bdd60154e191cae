//! Searches over many indexes and partitions: index-name expressions, sorted top hits with
//! `search_after`, totals, and aggregations merged across partitions.

use std::cmp::Ordering;
use std::sync::Arc;

use jiff::Timestamp;
use osprey_query::QueryAst;
use serde_json::Value;
use tantivy::Order;
use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::columnar::StrColumn;
use tantivy::query::{AllQuery, EnableScoring, Query, TermQuery};
use tantivy::schema::Value as _;
use tantivy::{
    DateTime, DocAddress, DocId, Score, Searcher, SegmentOrdinal, SegmentReader, TERMINATED,
    TantivyDocument,
};

use crate::column_range::ColumnRangeQuery;
use crate::compile::{CompileContext, Target, resolve_field};
use crate::engine::{LiveIndex, Store};
use crate::error::{Result, StoreError};
use crate::mapping::IndexMapping;
use crate::partition::field_names;
use crate::source_holes::SourceReader;

const MILLIS_PER_DAY: i64 = 86_400_000;

/// One partition to search, with the query compiled for its index.
type SearchUnit = (Arc<LiveIndex>, Arc<dyn Query>, Searcher);

/// Runs `work` on every item, spread over the machine's cores (partitions are searched in
/// parallel, as Elasticsearch searches shards); results keep the items' order.
fn in_parallel<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    // `available_parallelism` reads the cgroup quota files on every call: once is enough.
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let threads = cores.min(items.len());
    if threads <= 1 {
        return items.iter().map(&work).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let mut chunks = items.chunks(chunk);
        let first = chunks.next().unwrap_or_default();
        let handles: Vec<_> = chunks
            .map(|c| scope.spawn(|| c.iter().map(&work).collect::<Vec<R>>()))
            .collect();
        let mut results: Vec<R> = first.iter().map(&work).collect();
        for handle in handles {
            // A panic in a search thread is a bug; surface it on the caller's thread.
            results.extend(
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        results
    })
}

/// The `@timestamp` interval a query requires, when `@timestamp` is a date in this index.
fn time_interval(query: &QueryAst, mapping: &IndexMapping, now: Timestamp) -> (i64, i64) {
    match mapping.get(crate::mapping::TIMESTAMP_FIELD) {
        Some(crate::mapping::FieldType::Date) => crate::compile::required_time_interval(query, now),
        _ => (i64::MIN, i64::MAX),
    }
}

/// Whether a day partition can hold documents in the interval (documents are placed in the
/// partition of their own `@timestamp` day).
fn overlaps(day: i64, (lo, hi): (i64, i64)) -> bool {
    let start = day.saturating_mul(MILLIS_PER_DAY);
    let end = start.saturating_add(MILLIS_PER_DAY - 1);
    end >= lo && start <= hi
}

/// Whether `text` matches a pattern where `*` is any run of characters.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let (middle, last) = rest.rsplit_once('*').unwrap_or(("", rest));
    for part in middle.split('*').filter(|part| !part.is_empty()) {
        // The leftmost match leaves the most text for what follows.
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

/// Sort order of one key.
#[derive(Debug, Clone, PartialEq)]
pub struct SortSpec {
    /// Field name, `_score` or `_doc`.
    pub field: String,
    /// Descending order.
    pub descending: bool,
}

/// Whether and how far to count hits exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrackTotalHits {
    /// Count exactly.
    Exact,
    /// Count exactly up to this many, then say "at least".
    UpTo(u64),
    /// Do not report a total.
    Off,
}

/// A search over one or more indexes.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The query.
    pub query: QueryAst,
    /// Hits to skip.
    pub from: usize,
    /// Hits to return.
    pub size: usize,
    /// Sort keys; empty means by score.
    pub sort: Vec<SortSpec>,
    /// Sort values of the last hit of the previous page.
    pub search_after: Option<Vec<Value>>,
    /// Elasticsearch aggregations.
    pub aggregations: Option<Value>,
    /// Total hit counting.
    pub track_total_hits: TrackTotalHits,
    /// "now" for date math.
    pub now: Timestamp,
}

/// One hit.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Index name.
    pub index: String,
    /// Document id.
    pub id: String,
    /// Relevance score (when sorting by score).
    pub score: Option<f32>,
    /// Source bytes exactly as ingested.
    pub source: Vec<u8>,
    /// Sort values (when sorting by fields).
    pub sort: Vec<Value>,
}

/// The answer to a search.
#[derive(Debug, Clone)]
pub struct SearchResponse {
    /// Total hits, and whether it is exact (`eq`) or a lower bound (`gte`).
    pub total: Option<(u64, bool)>,
    /// Highest score.
    pub max_score: Option<f32>,
    /// The page of hits.
    pub hits: Vec<Hit>,
    /// Aggregation results (ES JSON).
    pub aggregations: Option<Value>,
    /// Number of partitions searched (reported as shards).
    pub shards: usize,
}

#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum SortValue {
    Int(i64),
    Float(f64),
    Str(String),
    Missing,
}

impl SortValue {
    fn to_json(&self) -> Value {
        match self {
            SortValue::Int(i) => Value::from(*i),
            SortValue::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
            SortValue::Str(s) => Value::from(s.clone()),
            SortValue::Missing => Value::Null,
        }
    }

    fn compare(&self, other: &SortValue, descending: bool) -> Ordering {
        let ordering = match (self, other) {
            // Missing values sort last in both directions, as in Elasticsearch.
            (SortValue::Missing, SortValue::Missing) => return Ordering::Equal,
            (SortValue::Missing, _) => return Ordering::Greater,
            (_, SortValue::Missing) => return Ordering::Less,
            (SortValue::Int(a), SortValue::Int(b)) => a.cmp(b),
            (SortValue::Str(a), SortValue::Str(b)) => a.cmp(b),
            (a, b) => a
                .as_f64()
                .partial_cmp(&b.as_f64())
                .unwrap_or(Ordering::Equal),
        };
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    }

    fn as_f64(&self) -> f64 {
        match self {
            SortValue::Int(i) => *i as f64,
            SortValue::Float(f) => *f,
            _ => f64::NAN,
        }
    }
}

#[derive(Debug, Clone)]
enum SortKey {
    Score,
    Doc,
    Timestamp,
    Number(String),
    Date(String),
    Keyword(String),
    /// An unmapped field: every value missing.
    Unmapped,
}

enum KeyReader {
    Score,
    Doc,
    Date(Option<tantivy::columnar::Column<DateTime>>),
    I64(Option<tantivy::columnar::Column<i64>>),
    F64(Option<tantivy::columnar::Column<f64>>),
    Str(Option<StrColumn>),
    Missing,
}

/// Top-N by arbitrary sort keys, honouring `search_after`.
#[derive(Clone)]
struct SortedTopCollector {
    keys: Arc<Vec<(SortKey, bool)>>,
    limit: usize,
    after: Option<Arc<Vec<SortValue>>>,
}

type Ranked = (Vec<SortValue>, DocAddress);

fn compare_ranked(keys: &[(SortKey, bool)], a: &Ranked, b: &Ranked) -> Ordering {
    for (i, (_, descending)) in keys.iter().enumerate() {
        let o = a.0[i].compare(&b.0[i], *descending);
        if o != Ordering::Equal {
            return o;
        }
    }
    a.1.cmp(&b.1)
}

fn compare_values(keys: &[(SortKey, bool)], a: &[SortValue], b: &[SortValue]) -> Ordering {
    for (i, (_, descending)) in keys.iter().enumerate() {
        let o = a[i].compare(&b[i], *descending);
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

struct SortedTopSegment {
    keys: Arc<Vec<(SortKey, bool)>>,
    readers: Vec<KeyReader>,
    segment: SegmentOrdinal,
    limit: usize,
    after: Option<Arc<Vec<SortValue>>>,
    top: Vec<Ranked>,
}

impl Collector for SortedTopCollector {
    type Fruit = Vec<Ranked>;
    type Child = SortedTopSegment;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SortedTopSegment> {
        let fast = reader.fast_fields();
        let readers = self
            .keys
            .iter()
            .map(|(key, _)| {
                Ok(match key {
                    SortKey::Score => KeyReader::Score,
                    SortKey::Doc => KeyReader::Doc,
                    SortKey::Timestamp => {
                        KeyReader::Date(fast.column_opt::<DateTime>(field_names::TIMESTAMP)?)
                    }
                    SortKey::Date(path) => {
                        KeyReader::Date(fast.column_opt::<DateTime>(&exact_path(path))?)
                    }
                    SortKey::Number(path) => {
                        let name = exact_path(path);
                        match fast.column_opt::<i64>(&name)? {
                            Some(c) => KeyReader::I64(Some(c)),
                            None => KeyReader::F64(fast.column_opt::<f64>(&name)?),
                        }
                    }
                    SortKey::Keyword(path) => KeyReader::Str(fast.str(&exact_path(path))?),
                    SortKey::Unmapped => KeyReader::Missing,
                })
            })
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(SortedTopSegment {
            keys: self.keys.clone(),
            readers,
            segment,
            limit: self.limit,
            after: self.after.clone(),
            top: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        self.keys.iter().any(|(k, _)| matches!(k, SortKey::Score))
    }

    fn merge_fruits(&self, fruits: Vec<Vec<Ranked>>) -> tantivy::Result<Vec<Ranked>> {
        let mut all: Vec<Ranked> = fruits.into_iter().flatten().collect();
        all.sort_by(|a, b| compare_ranked(&self.keys, a, b));
        all.truncate(self.limit);
        Ok(all)
    }
}

fn exact_path(path: &str) -> String {
    format!("{}.{path}", field_names::EXACT)
}

impl SegmentCollector for SortedTopSegment {
    type Fruit = Vec<Ranked>;

    fn collect(&mut self, doc: DocId, score: Score) {
        if self.limit == 0 {
            return;
        }
        let values: Vec<SortValue> = self
            .readers
            .iter()
            .map(|reader| match reader {
                KeyReader::Score => SortValue::Float(f64::from(score)),
                KeyReader::Doc => SortValue::Int((i64::from(self.segment) << 32) | i64::from(doc)),
                KeyReader::Date(Some(c)) => c.first(doc).map_or(SortValue::Missing, |d| {
                    SortValue::Int(d.into_timestamp_millis())
                }),
                KeyReader::I64(Some(c)) => c.first(doc).map_or(SortValue::Missing, SortValue::Int),
                KeyReader::F64(Some(c)) => {
                    c.first(doc).map_or(SortValue::Missing, SortValue::Float)
                }
                KeyReader::Str(Some(c)) => match c.ords().first(doc) {
                    Some(ord) => {
                        let mut text = String::new();
                        match c.ord_to_str(ord, &mut text) {
                            Ok(true) => SortValue::Str(text),
                            _ => SortValue::Missing,
                        }
                    }
                    None => SortValue::Missing,
                },
                _ => SortValue::Missing,
            })
            .collect();
        if let Some(after) = &self.after
            && compare_values(&self.keys, &values, after) != Ordering::Greater
        {
            return;
        }
        self.top.push((values, DocAddress::new(self.segment, doc)));
        if self.top.len() >= self.limit.saturating_mul(2).max(64) {
            self.top.sort_by(|a, b| compare_ranked(&self.keys, a, b));
            self.top.truncate(self.limit);
        }
    }

    fn harvest(mut self) -> Vec<Ranked> {
        self.top.sort_by(|a, b| compare_ranked(&self.keys, a, b));
        self.top.truncate(self.limit);
        self.top
    }
}

/// Cheaper collectors for the most common searches: tantivy's own top-score (with block-max
/// pruning) and top-by-fast-field collectors, or a bare count for `size: 0`.
#[derive(Clone, Copy)]
enum FastPath {
    CountOnly,
    Score,
    TimestampDescending,
    General,
}

fn collect_top(
    searcher: &Searcher,
    query: &dyn Query,
    general: &SortedTopCollector,
    fast_path: FastPath,
) -> tantivy::Result<(usize, Vec<Ranked>)> {
    Ok(match fast_path {
        FastPath::CountOnly => (query.count(searcher)?, Vec::new()),
        FastPath::Score if is_constant_score(query) => (
            searcher.search(query, &Count)?,
            first_matches(searcher, query, general.limit)?,
        ),
        FastPath::Score => {
            let top = TopDocs::with_limit(general.limit).order_by_score();
            // A term query counts from its document frequency and finds its best hits with
            // block-max pruning, each only when asked alone: together they visit every match.
            let (count, hits) = if query.is::<TermQuery>() {
                (
                    searcher.search(query, &Count)?,
                    searcher.search(query, &top)?,
                )
            } else {
                searcher.search(query, &(Count, top))?
            };
            (
                count,
                hits.into_iter()
                    .map(|(score, address)| (vec![SortValue::Float(f64::from(score))], address))
                    .collect(),
            )
        }
        FastPath::TimestampDescending => {
            let top = TopDocs::with_limit(general.limit)
                .order_by_fast_field::<DateTime>(field_names::TIMESTAMP, Order::Desc);
            let (count, hits) = searcher.search(query, &(Count, top))?;
            let ranked = hits
                .into_iter()
                .map(|(ts, address)| {
                    let value = ts.map_or(SortValue::Missing, |t| {
                        SortValue::Int(t.into_timestamp_millis())
                    });
                    (vec![value], address)
                })
                .collect();
            (count, ranked)
        }
        FastPath::General => searcher.search(query, &(Count, general.clone()))?,
    })
}

/// Whether every match scores the same, so the best hits are simply the first ones, and the
/// matches can be counted without visiting them (column ranges, all documents). Other
/// constant-score queries (wildcards, regexes) would expand their terms twice.
fn is_constant_score(query: &dyn Query) -> bool {
    query.is::<ColumnRangeQuery>() || query.is::<AllQuery>()
}

/// The first `limit` live matches in index order, with their (constant) score: what a top-score
/// collector keeps when all scores tie, without visiting the remaining matches.
fn first_matches(
    searcher: &Searcher,
    query: &dyn Query,
    limit: usize,
) -> tantivy::Result<Vec<Ranked>> {
    let mut hits = Vec::new();
    if limit == 0 {
        return Ok(hits);
    }
    let weight = query.weight(EnableScoring::enabled_from_searcher(searcher))?;
    for (ord, reader) in searcher.segment_readers().iter().enumerate() {
        let mut scorer = weight.scorer(reader, 1.0)?;
        let alive = reader.alive_bitset();
        let mut doc = scorer.doc();
        while doc != TERMINATED {
            if alive.is_none_or(|alive| alive.is_alive(doc)) {
                let score = SortValue::Float(f64::from(scorer.score()));
                hits.push((vec![score], DocAddress::new(ord as SegmentOrdinal, doc)));
                if hits.len() == limit {
                    return Ok(hits);
                }
            }
            doc = scorer.advance();
        }
    }
    Ok(hits)
}

fn sort_key(spec: &SortSpec, mapping: &IndexMapping) -> SortKey {
    match spec.field.as_str() {
        "_score" => return SortKey::Score,
        "_doc" | "_shard_doc" => return SortKey::Doc,
        _ => {}
    }
    match resolve_field(&spec.field, mapping).first() {
        Some(Target::Timestamp) => SortKey::Timestamp,
        Some(Target::Long(p) | Target::Float(p) | Target::Boolean(p)) => SortKey::Number(p.clone()),
        Some(Target::Date(p)) => SortKey::Date(p.clone()),
        Some(Target::Keyword(p) | Target::Text(p)) => SortKey::Keyword(p.clone()),
        _ => SortKey::Unmapped,
    }
}

fn after_value(value: &Value) -> SortValue {
    match value {
        Value::Number(n) => n.as_i64().map_or_else(
            || SortValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            SortValue::Int,
        ),
        Value::String(s) => SortValue::Str(s.clone()),
        Value::Bool(b) => SortValue::Int(i64::from(*b)),
        _ => SortValue::Missing,
    }
}

impl Store {
    /// Resolves an index expression: comma list, `*` patterns, `-excluded`, `_all`.
    pub fn resolve_indices(
        &self,
        expression: &str,
        ignore_unavailable: bool,
    ) -> Result<Vec<Arc<LiveIndex>>> {
        let indexes = self.shared.indexes.read();
        let mut chosen: Vec<String> = Vec::new();
        for part in expression
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            if let Some(excluded) = part.strip_prefix('-') {
                chosen.retain(|name| !wildcard_match(excluded, name));
                continue;
            }
            if part == "_all" || part.contains('*') {
                let pattern = if part == "_all" { "*" } else { part };
                for name in indexes.keys().filter(|n| wildcard_match(pattern, n)) {
                    if !chosen.contains(name) {
                        chosen.push(name.clone());
                    }
                }
            } else if indexes.contains_key(part) {
                if !chosen.iter().any(|c| c == part) {
                    chosen.push(part.to_string());
                }
            } else if !ignore_unavailable {
                return Err(StoreError::IndexNotFound(part.to_string()));
            }
        }
        Ok(chosen
            .iter()
            .filter_map(|n| indexes.get(n).cloned())
            .collect())
    }

    /// The union of the mappings of several indexes (first type wins).
    pub fn merged_mapping(indexes: &[Arc<LiveIndex>]) -> IndexMapping {
        let mut merged = IndexMapping::default();
        for index in indexes {
            for (path, field_type) in &index.mapping.read().fields {
                merged.fields.entry(path.clone()).or_insert(*field_type);
            }
        }
        merged
    }

    /// The partitions a query must search (non-empty, within its time range), each with the
    /// query compiled for its index.
    fn search_units(
        &self,
        indexes: &[Arc<LiveIndex>],
        query: &QueryAst,
        now: Timestamp,
    ) -> Result<Vec<SearchUnit>> {
        let mut units = Vec::new();
        for index in indexes {
            let (compiled, interval) = self.compile_for(index, query, now)?;
            let compiled: Arc<dyn Query> = Arc::from(compiled);
            for partition in index.partitions.read().values() {
                if !overlaps(partition.key.day, interval) {
                    continue;
                }
                let searcher = partition.reader.searcher();
                if searcher.num_docs() > 0 {
                    units.push((index.clone(), compiled.clone(), searcher));
                }
            }
        }
        Ok(units)
    }

    /// The query compiled for one index's mapping, and the `@timestamp` interval it requires.
    fn compile_for(
        &self,
        index: &LiveIndex,
        query: &QueryAst,
        now: Timestamp,
    ) -> Result<(Box<dyn Query>, (i64, i64))> {
        let mapping = index.mapping.read().clone();
        let context = CompileContext {
            fields: &self.shared.fields,
            mapping: &mapping,
            index_name: &index.name,
            now,
        };
        Ok((context.compile(query)?, time_interval(query, &mapping, now)))
    }

    /// Counts matching documents.
    pub fn count(
        &self,
        indexes: &[Arc<LiveIndex>],
        query: &QueryAst,
        now: Timestamp,
    ) -> Result<u64> {
        self.before_search()?;
        let units = self.search_units(indexes, query, now)?;
        let counts = in_parallel(&units, |(_, query, searcher)| {
            searcher.search(query.as_ref(), &Count)
        });
        counts
            .into_iter()
            .try_fold(0u64, |total, count| Ok(total + count? as u64))
    }

    /// Runs a search.
    pub fn search(
        &self,
        indexes: &[Arc<LiveIndex>],
        request: &SearchRequest,
    ) -> Result<SearchResponse> {
        self.before_search()?;
        let merged = Self::merged_mapping(indexes);
        let mut keys: Vec<(SortKey, bool)> = request
            .sort
            .iter()
            .map(|s| (sort_key(s, &merged), s.descending))
            .collect();
        if keys.is_empty() {
            keys.push((SortKey::Score, true));
        }
        let sort_by_score_only = request.sort.is_empty();
        let keys = Arc::new(keys);
        let after = match &request.search_after {
            Some(values) => {
                if values.len() != keys.len() {
                    return Err(StoreError::BadRequest(format!(
                        "search_after has {} values but sort has {} keys",
                        values.len(),
                        keys.len()
                    )));
                }
                Some(Arc::new(values.iter().map(after_value).collect::<Vec<_>>()))
            }
            None => None,
        };
        let limit = request.from.saturating_add(request.size);
        let fast_path = match (keys.as_slice(), &after) {
            (_, _) if limit == 0 => FastPath::CountOnly,
            ([(SortKey::Score, true)], None) => FastPath::Score,
            ([(SortKey::Timestamp, true)], None) => FastPath::TimestampDescending,
            _ => FastPath::General,
        };
        let collector = SortedTopCollector {
            keys: keys.clone(),
            limit,
            after,
        };
        let mut searchers: Vec<(Arc<LiveIndex>, Searcher)> = Vec::new();
        let mut ranked: Vec<(Vec<SortValue>, usize, DocAddress)> = Vec::new();
        let mut total = 0u64;
        let mut aggregation_parts = Vec::new();
        let aggregation_plan = match &request.aggregations {
            Some(aggs) => {
                let days = indexes
                    .iter()
                    .flat_map(|i| i.partitions.read().keys().copied().collect::<Vec<_>>());
                let (min, max) =
                    days.fold((i64::MAX, i64::MIN), |(lo, hi), d| (lo.min(d), hi.max(d)));
                let span =
                    (min <= max).then(|| (min * MILLIS_PER_DAY, (max + 1) * MILLIS_PER_DAY - 1));
                Some(crate::aggs::plan(aggs, &merged, request.now, span)?)
            }
            None => None,
        };
        let units = self.search_units(indexes, &request.query, request.now)?;
        let results = in_parallel(&units, |(_, query, searcher)| -> Result<_> {
            let (count, top) = collect_top(searcher, query.as_ref(), &collector, fast_path)?;
            let aggregations = match &aggregation_plan {
                Some(plan) => Some(plan.collect(searcher, query.as_ref())?),
                None => None,
            };
            Ok((count, top, aggregations))
        });
        for ((index, _, searcher), result) in units.into_iter().zip(results) {
            let (count, top, aggregations) = result?;
            let ordinal = searchers.len();
            total += count as u64;
            ranked.extend(
                top.into_iter()
                    .map(|(values, address)| (values, ordinal, address)),
            );
            aggregation_parts.extend(aggregations);
            searchers.push((index, searcher));
        }
        ranked.sort_by(|a, b| {
            compare_values(&keys, &a.0, &b.0)
                .then_with(|| a.1.cmp(&b.1))
                .then_with(|| a.2.cmp(&b.2))
        });
        let page: Vec<_> = ranked
            .into_iter()
            .skip(request.from)
            .take(request.size)
            .collect();
        let fields = &self.shared.fields;
        let mut hits = Vec::with_capacity(page.len());
        let mut max_score: Option<f32> = None;
        let mut sources: Vec<SourceReader<'_>> = searchers
            .iter()
            .map(|(_, searcher)| SourceReader::new(searcher, &self.shared.filled_sources))
            .collect();
        for (values, ordinal, address) in page {
            let (index, searcher) = &searchers[ordinal];
            let doc: TantivyDocument = searcher.doc(address)?;
            let id = doc
                .get_first(fields.id)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            let stored = doc
                .get_first(fields.source)
                .and_then(|v| v.as_bytes())
                .unwrap_or(b"{}");
            let source = sources[ordinal].source(address, stored)?;
            let score = keys
                .iter()
                .position(|(k, _)| matches!(k, SortKey::Score))
                .map(|i| values[i].as_f64() as f32);
            if let Some(s) = score {
                max_score = Some(max_score.map_or(s, |m: f32| m.max(s)));
            }
            let sort = if sort_by_score_only {
                Vec::new()
            } else {
                values.iter().map(SortValue::to_json).collect()
            };
            hits.push(Hit {
                index: index.name.clone(),
                id,
                score,
                source,
                sort,
            });
        }
        let aggregations = match aggregation_plan {
            Some(plan) => Some(plan.finish(aggregation_parts)?),
            None => None,
        };
        let total = match request.track_total_hits {
            TrackTotalHits::Exact => Some((total, true)),
            TrackTotalHits::UpTo(limit) if total > limit => Some((limit, false)),
            TrackTotalHits::UpTo(_) => Some((total, true)),
            TrackTotalHits::Off => None,
        };
        Ok(SearchResponse {
            total,
            max_score,
            hits,
            aggregations,
            shards: searchers.len().max(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("logstash-*", "logstash-2026.11.25"));
        assert!(wildcard_match("*", "x"));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b", "ac"));
        assert!(wildcard_match("exact", "exact"));
        assert!(wildcard_match("_s*e", "_source"));
        assert!(wildcard_match("a*b*c", "aXbYc"));
        assert!(!wildcard_match("a*b*c", "aXcYb"));
        assert!(!wildcard_match("ab*ba", "aba"));
        assert!(wildcard_match("status", "status") && !wildcard_match("status", "statuses"));
    }
}

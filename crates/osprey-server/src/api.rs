//! The native JSON API under `/api/v1` on the HTTP listener: what the web UI (and the CLI)
//! use. Described in `docs/openapi.yaml`; every error is `{"error": {"message", ...}}` with a
//! 4xx status that says what is wrong and where (`column` for a query, `field` for a body
//! member).
//!
//! It is a thin layer over the store: a Discover search is one store search (page of hits
//! plus the hit-count histogram as a `date_histogram` aggregation), built from a query string
//! (Lucene or KQL), filter pills and a time range.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use osprey_query::date_math::{Rounding, eval_date_math};
use osprey_query::{
    BoolQuery, QueryAst, QueryStringOptions, Value as QueryValue, parse_dsl, parse_kql,
    parse_query_string,
};
use osprey_store::mapping::FieldType;
use osprey_store::{SearchRequest, SortSpec, TrackTotalHits};
use osprey_store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::AppState;

/// Most hits one page may ask for (Kibana's sample size is 500).
const MAX_PAGE: usize = 500;
/// Most values the completion and top-values answers list.
const MAX_VALUES: usize = 50;
/// A histogram has at most about this many buckets.
const TARGET_BUCKETS: i64 = 60;
/// Nice histogram intervals, smallest first, in milliseconds.
const INTERVALS_MS: [i64; 20] = [
    1,
    10,
    100,
    1_000,
    5_000,
    10_000,
    30_000,
    60_000,
    5 * 60_000,
    10 * 60_000,
    30 * 60_000,
    3_600_000,
    3 * 3_600_000,
    6 * 3_600_000,
    12 * 3_600_000,
    86_400_000,
    7 * 86_400_000,
    14 * 86_400_000,
    30 * 86_400_000,
    365 * 86_400_000,
];

/// An error of the native API: status, message and where.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    /// The body member at fault (`query`, `filters[2].value`, ...).
    field: Option<String>,
    /// 1-based character column in a query string.
    column: Option<usize>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            field: None,
            column: None,
        }
    }

    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn at(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        let status = StatusCode::from_u16(error.class().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(%error, "store error in the native API");
        }
        ApiError {
            status,
            message: error.to_string(),
            field: None,
            column: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"message": self.message});
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        if let Some(column) = self.column {
            error["column"] = json!(column);
        }
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Where the native API is mounted on the HTTP listener.
pub const PREFIX: &str = "/api/v1";

/// The routes of the native API (under [`PREFIX`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/data-views", get(data_views))
        .route("/fields", get(fields))
        .route("/logs/search", post(search_logs))
        .route("/logs/values", get(field_values))
        .route("/query/validate", post(validate_query))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no such endpoint of the native API (see docs/openapi.yaml)",
            )
        })
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal task failed: {error}"),
        )
    })?
}

/// Parses a JSON body into `T`, naming the member at fault.
fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let error = ApiError::bad(format!("invalid request body: {}", error.inner()));
        if path == "." { error } else { error.at(path) }
    })
}

/// The pattern an index belongs to: its name with a trailing date (`-2026.11.27`,
/// `_2026-11`, `.20261127`) replaced by `*`, as Kibana users name their data views.
pub fn index_pattern(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut end = bytes.len();
    // Strip digit groups and date separators from the end while they look like a date.
    while end > 0 && (bytes[end - 1].is_ascii_digit() || b".-_".contains(&bytes[end - 1])) {
        end -= 1;
    }
    let digits = bytes[end..].iter().filter(|b| b.is_ascii_digit()).count();
    if digits < 6 || end == 0 {
        return name.to_string();
    }
    // Keep the separator before the date: `logstash-2026.11.27` → `logstash-*`.
    let date_start = bytes[end..]
        .iter()
        .position(u8::is_ascii_digit)
        .map_or(end, |p| end + p);
    format!("{}*", &name[..date_start])
}

fn is_hidden(name: &str) -> bool {
    name.starts_with('.') || name == "osprey-spans"
}

/// The time field of a mapping: `@timestamp` when it is a date, else the first date field.
fn time_field(fields: &BTreeMap<String, FieldType>) -> Option<String> {
    if fields.get("@timestamp") == Some(&FieldType::Date) {
        return Some("@timestamp".into());
    }
    fields
        .iter()
        .find(|(_, t)| **t == FieldType::Date)
        .map(|(name, _)| name.clone())
}

/// What the data views list says of one index pattern.
#[derive(Default)]
struct ViewInfo {
    indexes: Vec<String>,
    time_field: Option<String>,
    newest_day: Option<i64>,
}

/// `GET /api/v1/data-views`: one view per index pattern (indexes with a date suffix grouped),
/// newest data first; the default is `logstash-*` when it exists, else the first.
async fn data_views(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let store = state.store.clone();
    blocking(move || {
        let mut views: BTreeMap<String, ViewInfo> = BTreeMap::new();
        for index in store.indexes() {
            if is_hidden(&index.name) {
                continue;
            }
            let view = views.entry(index_pattern(&index.name)).or_default();
            view.indexes.push(index.name.clone());
            if view.time_field.is_none() {
                view.time_field = time_field(&index.mapping.read().fields);
            }
            let newest = index.partitions.read().keys().next_back().copied();
            view.newest_day = view.newest_day.max(newest);
        }
        let mut list: Vec<(String, ViewInfo)> = views.into_iter().collect();
        list.sort_by(|a, b| b.1.newest_day.cmp(&a.1.newest_day).then_with(|| a.0.cmp(&b.0)));
        let default = list
            .iter()
            .find(|(pattern, _)| pattern == "logstash-*")
            .or_else(|| list.first())
            .map(|(pattern, _)| pattern.clone());
        let views: Vec<Value> = list
            .into_iter()
            .map(|(pattern, mut view)| {
                view.indexes.sort();
                json!({"id": pattern, "title": pattern, "time_field": view.time_field, "indexes": view.indexes})
            })
            .collect();
        Ok(Json(json!({"data_views": views, "default": default})))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldsParams {
    index: String,
}

/// The field that holds a field's exact values, for aggregations: `f.keyword` for text with a
/// keyword sub-field; `None` when there is none (long text).
fn aggregatable(name: &str, field_type: FieldType) -> Option<String> {
    match field_type {
        FieldType::Text { keyword: true } => Some(format!("{name}.keyword")),
        FieldType::Text { keyword: false }
        | FieldType::Object
        | FieldType::Disabled
        | FieldType::Flattened => None,
        _ => Some(name.to_string()),
    }
}

/// `GET /api/v1/fields?index=PATTERN`: the fields of the mapping, with their types.
async fn fields(
    State(state): State<AppState>,
    Query(params): Query<FieldsParams>,
) -> ApiResult<Json<Value>> {
    let store = state.store.clone();
    blocking(move || {
        let indexes = resolve(&store, &params.index)?;
        let mapping = Store::merged_mapping(&indexes);
        let fields: Vec<Value> = mapping
            .fields
            .iter()
            .filter(|(name, t)| !matches!(t, FieldType::Object) && !name.ends_with(".keyword"))
            .map(|(name, t)| {
                json!({
                    "name": name,
                    "type": t.es_name(),
                    "aggregatable": aggregatable(name, *t),
                })
            })
            .collect();
        Ok(Json(json!({
            "index": params.index,
            "time_field": time_field(&mapping.fields),
            "fields": fields,
        })))
    })
    .await
}

fn resolve(
    store: &Store,
    pattern: &str,
) -> ApiResult<Vec<std::sync::Arc<osprey_store::LiveIndex>>> {
    if pattern.trim().is_empty() {
        return Err(ApiError::bad("an index pattern is required").at("index"));
    }
    Ok(store
        .resolve_indices(pattern, true)?
        .into_iter()
        .filter(|index| !is_hidden(&index.name) || pattern.starts_with('.'))
        .collect())
}

/// Query language of the query bar.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Classic Lucene query string, as Elasticsearch's `query_string`.
    #[default]
    Lucene,
    /// Kibana Query Language.
    Kql,
}

/// A filter pill.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// The field (with `value`: the value must match as a phrase; without: the field exists).
    #[serde(default)]
    pub field: Option<String>,
    /// The value.
    #[serde(default)]
    pub value: Option<Value>,
    /// A query string instead of a field and value (an edited pill).
    #[serde(default)]
    pub query: Option<String>,
    /// Exclude instead of include.
    #[serde(default)]
    pub negate: bool,
    /// Kept in the list but not applied.
    #[serde(default)]
    pub disabled: bool,
}

/// A sort key of the results.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sort {
    field: String,
    #[serde(default)]
    order: Option<String>,
}

/// `POST /api/v1/logs/search`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSearch {
    /// Index pattern (a data view's id).
    pub index: String,
    /// The query bar's text; empty matches everything.
    #[serde(default)]
    pub query: String,
    /// Its language.
    #[serde(default)]
    pub language: Language,
    /// Filter pills.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// Start of the time range: date math (`now-15m`), an ISO date or epoch milliseconds.
    #[serde(default)]
    pub from: Option<Value>,
    /// End of the time range.
    #[serde(default)]
    pub to: Option<Value>,
    /// The time field (default: the data view's).
    #[serde(default)]
    pub time_field: Option<String>,
    /// Hits per page (default 100, at most 500).
    #[serde(default)]
    pub size: Option<usize>,
    /// Sort keys (default: the time field, newest first).
    #[serde(default)]
    pub sort: Vec<Sort>,
    /// The `sort` values of the last hit of the previous page.
    #[serde(default)]
    pub search_after: Option<Vec<Value>>,
    /// Compute the hit-count histogram (default true).
    #[serde(default)]
    pub histogram: Option<bool>,
}

fn parse_query(text: &str, language: Language, field: &str) -> ApiResult<QueryAst> {
    if text.trim().is_empty() {
        return Ok(QueryAst::MatchAll);
    }
    match language {
        Language::Lucene => {
            parse_query_string(text, &QueryStringOptions::default()).map_err(|error| ApiError {
                status: StatusCode::BAD_REQUEST,
                message: error.to_string(),
                field: Some(field.into()),
                column: Some(error.column),
            })
        }
        Language::Kql => parse_kql(text, &[]).map_err(|error| ApiError {
            status: StatusCode::BAD_REQUEST,
            message: error.to_string(),
            field: Some(field.into()),
            column: Some(error.column),
        }),
    }
}

fn filter_query(filter: &Filter, at: &str) -> ApiResult<QueryAst> {
    if let Some(query) = &filter.query {
        return parse_query(query, Language::Lucene, &format!("{at}.query"));
    }
    let Some(field) = filter.field.as_deref().filter(|f| !f.is_empty()) else {
        return Err(ApiError::bad("a filter needs a field or a query").at(at));
    };
    let dsl = match &filter.value {
        None | Some(Value::Null) => json!({"exists": {"field": field}}),
        Some(value @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
            json!({"match_phrase": {field: value}})
        }
        Some(_) => {
            return Err(
                ApiError::bad("a filter's value must be a string, a number or a boolean")
                    .at(format!("{at}.value")),
            );
        }
    };
    parse_dsl(&dsl).map_err(|e| ApiError::bad(e.to_string()).at(at))
}

/// A bound of the time range in epoch milliseconds.
fn time_bound(value: &Value, now: Timestamp, rounding: Rounding, at: &str) -> ApiResult<i64> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| ApiError::bad("epoch milliseconds must be an integer").at(at)),
        Value::String(text) => eval_date_math(text, now, &TimeZone::UTC, rounding)
            .map_err(|e| ApiError::bad(e.to_string()).at(at)),
        _ => Err(ApiError::bad("a time bound is date math, a date or epoch milliseconds").at(at)),
    }
}

/// The histogram interval for a time span: the smallest nice interval giving at most about
/// [`TARGET_BUCKETS`] buckets.
pub fn auto_interval(span_ms: i64) -> i64 {
    INTERVALS_MS
        .iter()
        .copied()
        .find(|interval| span_ms / interval <= TARGET_BUCKETS)
        .unwrap_or(INTERVALS_MS[INTERVALS_MS.len() - 1])
}

/// Words and patterns the query looks for, for highlighting matches in the UI.
fn highlight_terms(query: &QueryAst, out: &mut Vec<String>) {
    match query {
        QueryAst::Bool(b) => {
            for q in b.must.iter().chain(&b.should).chain(&b.filter) {
                highlight_terms(q, out);
            }
        }
        QueryAst::Term { value, .. } => out.push(query_value_text(value)),
        QueryAst::Terms { values, .. } => out.extend(values.iter().map(query_value_text)),
        QueryAst::Match { text, .. }
        | QueryAst::MatchPhrase { text, .. }
        | QueryAst::MatchPhrasePrefix { text, .. } => out.push(text.clone()),
        QueryAst::Prefix { prefix, .. } => out.push(format!("{prefix}*")),
        QueryAst::Wildcard { pattern, .. } => out.push(pattern.clone()),
        QueryAst::Fuzzy { value, .. } => out.push(value.clone()),
        QueryAst::Boost { query, .. } | QueryAst::ConstantScore { query, .. } => {
            highlight_terms(query, out)
        }
        _ => {}
    }
}

fn query_value_text(value: &QueryValue) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// The whole query of a Discover search: the bar, the enabled pills and the time range.
struct BuiltQuery {
    query: QueryAst,
    highlight: Vec<String>,
    range: Option<(i64, i64)>,
}

fn build_query(
    request: &LogSearch,
    time_field: Option<&str>,
    now: Timestamp,
) -> ApiResult<BuiltQuery> {
    let bar = parse_query(&request.query, request.language, "query")?;
    let mut highlight = Vec::new();
    highlight_terms(&bar, &mut highlight);
    let mut clauses = BoolQuery::default();
    if bar != QueryAst::MatchAll {
        clauses.must.push(bar);
    }
    for (i, filter) in request.filters.iter().enumerate() {
        if filter.disabled {
            continue;
        }
        let query = filter_query(filter, &format!("filters[{i}]"))?;
        if filter.negate {
            clauses.must_not.push(query);
        } else {
            if let Some(Value::String(value)) = &filter.value {
                highlight.push(value.clone());
            }
            clauses.filter.push(query);
        }
    }
    let mut range = None;
    if let Some(time_field) = time_field {
        let from = request
            .from
            .as_ref()
            .map(|v| time_bound(v, now, Rounding::Down, "from"))
            .transpose()?;
        let to = request
            .to
            .as_ref()
            .map(|v| time_bound(v, now, Rounding::Up, "to"))
            .transpose()?;
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            return Err(ApiError::bad("the time range ends before it starts").at("from"));
        }
        if from.is_some() || to.is_some() {
            let mut bounds = serde_json::Map::new();
            if let Some(from) = from {
                bounds.insert("gte".into(), json!(from));
            }
            if let Some(to) = to {
                bounds.insert("lte".into(), json!(to));
            }
            bounds.insert("format".into(), json!("epoch_millis"));
            let dsl = json!({"range": {time_field: bounds}});
            clauses
                .filter
                .push(parse_dsl(&dsl).map_err(|e| ApiError::bad(e.to_string()).at("from"))?);
        }
        if let (Some(from), Some(to)) = (from, to) {
            range = Some((from, to));
        }
    }
    let query = if clauses == BoolQuery::default() {
        QueryAst::MatchAll
    } else {
        QueryAst::Bool(clauses)
    };
    Ok(BuiltQuery {
        query,
        highlight,
        range,
    })
}

/// `POST /api/v1/logs/search`: a page of hits, newest first by default, with the total and
/// the hit-count histogram over the time range.
async fn search_logs(State(state): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let started = Instant::now();
    let request: LogSearch = parse_body(&body)?;
    let size = request.size.unwrap_or(100);
    if size > MAX_PAGE {
        return Err(ApiError::bad(format!(
            "size is {size}: at most {MAX_PAGE} hits per page (page on with search_after)"
        ))
        .at("size"));
    }
    let store = state.store.clone();
    let metrics = state.metrics.clone();
    blocking(move || {
        let indexes = resolve(&store, &request.index)?;
        let mapping = Store::merged_mapping(&indexes);
        let time_field = request
            .time_field
            .clone()
            .or_else(|| time_field(&mapping.fields));
        let now = Timestamp::now();
        let built = build_query(&request, time_field.as_deref(), now)?;
        let sort: Vec<SortSpec> = if request.sort.is_empty() {
            time_field
                .iter()
                .map(|f| SortSpec {
                    field: f.clone(),
                    descending: true,
                })
                .collect()
        } else {
            request
                .sort
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let descending = match s.order.as_deref() {
                        None | Some("desc") => true,
                        Some("asc") => false,
                        Some(other) => {
                            return Err(ApiError::bad(format!(
                                "sort order is {other:?}: it is \"asc\" or \"desc\""
                            ))
                            .at(format!("sort[{i}].order")));
                        }
                    };
                    Ok(SortSpec {
                        field: s.field.clone(),
                        descending,
                    })
                })
                .collect::<ApiResult<_>>()?
        };
        let histogram = match (&time_field, built.range) {
            (Some(field), Some((from, to))) if request.histogram.unwrap_or(true) => {
                let interval = auto_interval(to - from);
                Some((
                    interval,
                    json!({"histogram": {"date_histogram": {
                        "field": field,
                        "fixed_interval": format!("{interval}ms"),
                        "min_doc_count": 0,
                        "extended_bounds": {"min": from - from.rem_euclid(interval), "max": to},
                    }}}),
                ))
            }
            _ => None,
        };
        let search = SearchRequest {
            query: built.query,
            from: 0,
            size,
            sort,
            search_after: request.search_after.clone(),
            aggregations: histogram.as_ref().map(|(_, aggs)| aggs.clone()),
            track_total_hits: TrackTotalHits::Exact,
            now,
        };
        let response = store.search(&indexes, &search)?;
        metrics.record_search(started.elapsed());
        let buckets: Vec<(i64, u64)> = response
            .aggregations
            .as_ref()
            .and_then(|aggs| aggs["histogram"]["buckets"].as_array())
            .map(|buckets| {
                buckets
                    .iter()
                    .filter_map(|b| {
                        let key = b["key"]
                            .as_i64()
                            .or_else(|| b["key"].as_f64().map(|k| k as i64));
                        Some((key?, b["doc_count"].as_u64()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (total, exact) = response.total.unwrap_or((0, true));
        let answer = SearchAnswer {
            took_ms: started.elapsed().as_secs_f64() * 1000.0,
            total: Total {
                value: total,
                relation: if exact { "eq" } else { "gte" },
            },
            time_field: time_field.as_deref(),
            // The stored bytes go out as they are, as `_search` sends them: no parse and print.
            hits: response
                .hits
                .iter()
                .map(|hit| HitAnswer {
                    index: &hit.index,
                    id: &hit.id,
                    source: serde_json::from_slice(&hit.source).ok(),
                    sort: &hit.sort,
                })
                .collect(),
            highlight: &built.highlight,
            histogram: histogram.map(|(interval, _)| {
                let (from, to) = built.range.unwrap_or_default();
                Histogram {
                    interval_ms: interval,
                    from,
                    to,
                    buckets,
                }
            }),
        };
        let bytes = serde_json::to_vec(&answer).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot write the answer: {e}"),
            )
        })?;
        Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response())
    })
    .await
}

/// The answer of `POST /api/v1/logs/search` (`LogSearchResult` in `docs/openapi.yaml`).
#[derive(Serialize)]
struct SearchAnswer<'a> {
    took_ms: f64,
    total: Total,
    time_field: Option<&'a str>,
    hits: Vec<HitAnswer<'a>>,
    highlight: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    histogram: Option<Histogram>,
}

#[derive(Serialize)]
struct Total {
    value: u64,
    relation: &'static str,
}

#[derive(Serialize)]
struct HitAnswer<'a> {
    #[serde(rename = "_index")]
    index: &'a str,
    #[serde(rename = "_id")]
    id: &'a str,
    #[serde(rename = "_source")]
    source: Option<&'a RawValue>,
    sort: &'a [Value],
}

#[derive(Serialize)]
struct Histogram {
    interval_ms: i64,
    from: i64,
    to: i64,
    /// `[start ms, count]` pairs.
    buckets: Vec<(i64, u64)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValuesParams {
    index: String,
    field: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    size: Option<usize>,
}

/// `GET /api/v1/logs/values?index=&field=&prefix=`: the most frequent values of a field
/// (starting with `prefix`) in the time range, for completion in the query bar.
async fn field_values(
    State(state): State<AppState>,
    Query(params): Query<ValuesParams>,
) -> ApiResult<Json<Value>> {
    let size = params.size.unwrap_or(10).min(MAX_VALUES);
    let store = state.store.clone();
    blocking(move || {
        let indexes = resolve(&store, &params.index)?;
        let mapping = Store::merged_mapping(&indexes);
        let Some(field_type) = mapping.fields.get(&params.field).copied() else {
            return Err(ApiError::bad(format!(
                "{:?} is not a field of {}",
                params.field, params.index
            ))
            .at("field"));
        };
        let Some(exact) = aggregatable(&params.field, field_type) else {
            return Ok(Json(json!({"field": params.field, "values": []})));
        };
        let search = LogSearch {
            index: params.index.clone(),
            query: String::new(),
            language: Language::Lucene,
            filters: Vec::new(),
            from: params.from.clone().map(Value::String),
            to: params.to.clone().map(Value::String),
            time_field: None,
            size: Some(0),
            sort: Vec::new(),
            search_after: None,
            histogram: Some(false),
        };
        let now = Timestamp::now();
        let mut built = build_query(&search, time_field(&mapping.fields).as_deref(), now)?;
        if !params.prefix.is_empty()
            && matches!(field_type, FieldType::Text { .. } | FieldType::Keyword)
        {
            let prefix = parse_dsl(
                &json!({"prefix": {&exact: {"value": params.prefix, "case_insensitive": true}}}),
            )
            .map_err(|e| ApiError::bad(e.to_string()).at("prefix"))?;
            built.query = QueryAst::Bool(BoolQuery {
                filter: vec![built.query, prefix],
                ..BoolQuery::default()
            });
        }
        let request = SearchRequest {
            query: built.query,
            from: 0,
            size: 0,
            sort: Vec::new(),
            search_after: None,
            aggregations: Some(json!({"values": {"terms": {"field": exact, "size": size}}})),
            track_total_hits: TrackTotalHits::Off,
            now,
        };
        let response = store.search(&indexes, &request)?;
        let values: Vec<Value> = response
            .aggregations
            .as_ref()
            .and_then(|aggs| aggs["values"]["buckets"].as_array())
            .map(|buckets| {
                buckets
                    .iter()
                    .map(|b| json!({"value": b["key"], "count": b["doc_count"]}))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Json(json!({"field": params.field, "values": values})))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Validate {
    query: String,
    #[serde(default)]
    language: Language,
}

/// `POST /api/v1/query/validate`: whether a query parses, and if not, where and why.
async fn validate_query(body: Bytes) -> ApiResult<Json<Value>> {
    let request: Validate = parse_body(&body)?;
    Ok(Json(
        match parse_query(&request.query, request.language, "query") {
            Ok(_) => json!({"valid": true}),
            Err(error) => {
                json!({"valid": false, "message": error.message, "column": error.column})
            }
        },
    ))
}

/// Parses a `POST /api/v1/logs/search` body and builds its query as the handler does (with
/// `@timestamp` as the time field), for the fuzz target `native_search`: any bytes give a
/// query or a 4xx error naming where, never a panic.
#[doc(hidden)]
pub fn build_search_body(body: &[u8]) -> Result<(), (u16, Option<String>)> {
    let request: LogSearch =
        parse_body(&Bytes::copy_from_slice(body)).map_err(|e| (e.status.as_u16(), e.field))?;
    build_query(&request, Some("@timestamp"), Timestamp::UNIX_EPOCH)
        .map(|_| ())
        .map_err(|e| (e.status.as_u16(), e.field))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn index_patterns_match_their_indexes(name in "[a-z][a-z0-9._-]{0,12}([-_.][0-9]{4}[.-][0-9]{2}([.-][0-9]{2})?)?") {
            let pattern = index_pattern(&name);
            prop_assert!(osprey_store::wildcard_match(&pattern, &name), "{pattern} does not match {name}");
            prop_assert!(!pattern.is_empty());
        }

        #[test]
        fn any_search_body_is_a_query_or_a_client_error(
            query in ".{0,40}",
            field in proptest::option::of("[a-z.@]{0,8}"),
            value in proptest::option::of(prop_oneof![
                Just(json!(null)), any::<i64>().prop_map(|n| json!(n)), ".{0,12}".prop_map(|s| json!(s)),
                Just(json!([1])), Just(json!({"a": 1})),
            ]),
            from in proptest::option::of(prop_oneof![".{0,12}".prop_map(|s| json!(s)), any::<i64>().prop_map(|n| json!(n))]),
            kql in any::<bool>(),
        ) {
            let mut body = json!({"index": "x", "query": query, "language": if kql { "kql" } else { "lucene" }});
            let mut filter = serde_json::Map::new();
            if let Some(field) = field { filter.insert("field".into(), json!(field)); }
            if let Some(value) = value { filter.insert("value".into(), value); }
            body["filters"] = json!([filter]);
            if let Some(from) = from { body["from"] = from; }
            let bytes = serde_json::to_vec(&body).expect("JSON");
            if let Err((status, field)) = build_search_body(&bytes) {
                prop_assert_eq!(status, 400);
                prop_assert!(field.is_some(), "a 400 names the member at fault");
            }
        }
    }

    #[test]
    fn index_patterns_group_dated_indexes() {
        assert_eq!(index_pattern("logstash-2026.11.27"), "logstash-*");
        assert_eq!(index_pattern("app_logs-2026-11"), "app_logs-*");
        assert_eq!(index_pattern("events.20261127"), "events.*");
        assert_eq!(index_pattern("orders"), "orders");
        assert_eq!(index_pattern("v2-12"), "v2-12");
        assert_eq!(index_pattern("2026.11.27"), "2026.11.27");
    }

    #[test]
    fn auto_interval_keeps_buckets_few() {
        assert_eq!(auto_interval(15 * 60_000), 30_000);
        assert_eq!(auto_interval(24 * 3_600_000), 30 * 60_000);
        assert_eq!(auto_interval(7 * 86_400_000), 3 * 3_600_000);
        for span in [1, 999, 60_000, 3_600_000, 86_400_000 * 400] {
            let buckets = span / auto_interval(span);
            assert!(buckets <= TARGET_BUCKETS, "{span}: {buckets}");
        }
    }

    fn search(body: Value) -> LogSearch {
        serde_json::from_value(body).expect("valid request")
    }

    #[test]
    fn filters_become_clauses_and_disabled_ones_are_left_out() {
        let request = search(json!({
            "index": "logs-*",
            "query": "level:error",
            "filters": [
                {"field": "pod", "value": "web-1"},
                {"field": "pod", "value": "web-2", "negate": true},
                {"field": "pod", "value": "web-3", "disabled": true},
                {"field": "trace_id"},
            ],
            "from": "now-15m", "to": "now",
        }));
        let now: Timestamp = "2026-11-27T12:00:00Z".parse().expect("date");
        let built = build_query(&request, Some("@timestamp"), now).expect("builds");
        let QueryAst::Bool(b) = built.query else {
            panic!("a bool query");
        };
        assert_eq!(b.must.len(), 1);
        assert_eq!(b.must_not.len(), 1);
        // web-1, exists(trace_id), the time range.
        assert_eq!(b.filter.len(), 3);
        let (from, to) = built.range.expect("a range");
        assert_eq!(to - from, 15 * 60_000);
        assert!(built.highlight.contains(&"error".to_string()));
        assert!(built.highlight.contains(&"web-1".to_string()));
        assert!(!built.highlight.contains(&"web-2".to_string()));
    }

    #[test]
    fn query_errors_say_where() {
        let request = search(json!({"index": "x", "query": "level:(error"}));
        let error = build_query(&request, None, Timestamp::now())
            .err()
            .expect("an error");
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.field.as_deref(), Some("query"));
        assert!(error.column.is_some());
        let request = search(json!({"index": "x", "filters": [{"negate": true}]}));
        let error = build_query(&request, None, Timestamp::now())
            .err()
            .expect("an error");
        assert_eq!(error.field.as_deref(), Some("filters[0]"));
        let request = search(json!({"index": "x", "from": "now-1h", "to": "now-2h"}));
        let error = build_query(&request, Some("@timestamp"), Timestamp::now())
            .err()
            .expect("an error");
        assert_eq!(error.field.as_deref(), Some("from"));
    }

    #[test]
    fn unknown_members_are_named() {
        let error = parse_body::<LogSearch>(&Bytes::from_static(
            br#"{"index": "x", "filters": [{"feild": "a"}]}"#,
        ))
        .expect_err("an error");
        assert_eq!(error.field.as_deref(), Some("filters[0].feild"));
        assert!(error.message.contains("unknown field"), "{}", error.message);
    }
}

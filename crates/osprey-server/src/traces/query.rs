//! JAEGER_QUERY: the HTTP API of Jaeger's query service, with Jaeger's exact JSON, so that the
//! Jaeger UI and Grafana's Jaeger data source work against Osprey.
//!
//! Every answer is `{"data": …, "total": n, "limit": 0, "offset": 0, "errors": null}`; errors
//! are `{"data": null, …, "errors": [{"code": 400, "msg": "…"}]}` with the same HTTP status.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use osprey_query::QueryAst;
use osprey_query::{BoolQuery, Bound, RangeQuery, Value as QueryValue};
use osprey_spanstore::{TraceQuery, TraceStore};
use osprey_store::{SearchRequest, SortSpec, Store, StoreError, TrackTotalHits};
use osprey_trace::jaeger::trace_json;
use osprey_trace::{Span, TraceId};
use serde_json::{Value, json};

use super::{SpanStore, store_error};

/// A query-API failure.
#[derive(Debug)]
pub struct QueryError {
    status: StatusCode,
    message: String,
}

impl QueryError {
    fn bad_request(message: impl Into<String>) -> QueryError {
        QueryError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<StoreError> for QueryError {
    fn from(error: StoreError) -> QueryError {
        let status = StatusCode::from_u16(error.class().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(%error, "trace query failed");
        }
        QueryError {
            status,
            message: error.to_string(),
        }
    }
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({
                "data": null, "total": 0, "limit": 0, "offset": 0,
                "errors": [{"code": self.status.as_u16(), "msg": self.message}]
            })),
        )
            .into_response()
    }
}

type QueryResult = Result<Response, QueryError>;

fn envelope(data: Value, total: usize) -> Response {
    axum::Json(json!({"data": data, "total": total, "limit": 0, "offset": 0, "errors": null}))
        .into_response()
}

/// A trace id from a URL: 1 to 32 hex digits, not all zero.
fn parse_trace_id(text: &str) -> Result<TraceId, QueryError> {
    TraceId::parse_hex(text)
        .filter(|id| !id.is_zero())
        .ok_or_else(|| {
            QueryError::bad_request(format!(
                "{text:?} is not a trace id: 1 to 32 hex digits, not all zero"
            ))
        })
}

/// Traces as Jaeger's answer.
fn traces_envelope(traces: &[(TraceId, Vec<Span>)]) -> Response {
    let data: Vec<Value> = traces
        .iter()
        .map(|(id, spans)| trace_json(*id, spans))
        .collect();
    let total = data.len();
    envelope(Value::Array(data), total)
}

/// The operations of a service, of one span kind or all, as `{"name", "spanKind"}`.
fn operations_of(spans: &SpanStore, service: &str, kind: &str) -> Vec<Value> {
    spans
        .catalogue()
        .operations(service)
        .into_iter()
        .filter(|(_, k)| kind.is_empty() || k == kind)
        .map(|(name, k)| json!({"name": name, "spanKind": k}))
        .collect()
}

/// A search with no aggregations and no total, as every trace query is.
pub(crate) fn search_request(query: QueryAst, size: usize, sort: Vec<SortSpec>) -> SearchRequest {
    SearchRequest {
        query,
        from: 0,
        size,
        sort,
        search_after: None,
        aggregations: None,
        track_total_hits: TrackTotalHits::Off,
        now: jiff::Timestamp::now(),
    }
}

fn sort(field: &str, descending: bool) -> SortSpec {
    SortSpec {
        field: field.into(),
        descending,
    }
}

/// The routes of the Jaeger query API.
pub fn router(spans: Arc<SpanStore>) -> Router {
    Router::new()
        .route("/api/services", get(services))
        .route(
            "/api/services/{service}/operations",
            get(service_operations),
        )
        .route("/api/operations", get(operations))
        .route("/api/traces", get(find_traces))
        .route("/api/traces/{trace_id}", get(get_trace))
        .route("/api/traces/{trace_id}/logs", get(trace_logs))
        .route("/api/dependencies", get(dependencies))
        .route("/api/v3/services", get(v3_services))
        .route("/api/v3/operations", get(v3_operations))
        .route("/api/v3/traces", get(v3_find_traces))
        .route("/api/v3/traces/{trace_id}", get(v3_get_trace))
        .fallback(|| async {
            QueryError {
                status: StatusCode::NOT_FOUND,
                message: "no such endpoint of the Jaeger query API".into(),
            }
        })
        .with_state(spans)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, QueryError> + Send + 'static,
) -> Result<T, QueryError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| QueryError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("internal task failed: {e}"),
        })?
}

async fn services(State(spans): State<Arc<SpanStore>>) -> Response {
    let services = spans.catalogue().services();
    let total = services.len();
    envelope(json!(services), total)
}

async fn service_operations(
    State(spans): State<Arc<SpanStore>>,
    Path(service): Path<String>,
) -> Response {
    let mut names: Vec<String> = spans
        .catalogue()
        .operations(&service)
        .into_iter()
        .map(|(op, _)| op)
        .collect();
    names.dedup();
    let total = names.len();
    envelope(json!(names), total)
}

async fn operations(State(spans): State<Arc<SpanStore>>, RawQuery(query): RawQuery) -> QueryResult {
    let params = Params::parse(query.as_deref());
    let service = params
        .first("service")
        .ok_or_else(|| QueryError::bad_request("parameter 'service' is required"))?;
    let kind = params.first("spanKind").unwrap_or_default();
    let operations = operations_of(&spans, service, kind);
    let total = operations.len();
    Ok(envelope(json!(operations), total))
}

async fn get_trace(
    State(spans): State<Arc<SpanStore>>,
    Path(trace_id): Path<String>,
    RawQuery(query): RawQuery,
) -> QueryResult {
    let id = parse_trace_id(&trace_id)?;
    let params = Params::parse(query.as_deref());
    let window = time_window_micros(&params, false)?;
    let traces = spans.traces.clone();
    let trace = blocking(move || load_traces(&traces, &[id], window)).await?;
    match trace.into_iter().next() {
        Some((id, spans)) => Ok(envelope(json!([trace_json(id, &spans)]), 1)),
        None => Err(QueryError {
            status: StatusCode::NOT_FOUND,
            message: "trace not found".into(),
        }),
    }
}

/// Fields of log documents that carry a trace id / a span id, as loggers and shippers name them
/// (OTLP logs, OpenTelemetry log correlation, ECS, Jaeger-style camel case).
const TRACE_ID_FIELDS: [&str; 5] = ["trace_id", "traceID", "traceId", "trace.id", "otelTraceID"];
const SPAN_ID_FIELDS: [&str; 5] = ["span_id", "spanID", "spanId", "span.id", "otelSpanID"];
/// At most this many log lines per request.
const MAX_TRACE_LOGS: usize = 10_000;

/// `GET /api/traces/{id}/logs[?spanID=&limit=]` (an Osprey extension): the log documents of
/// every index (spans excepted) that carry this trace id — and this span id, when given —
/// oldest first. The search is limited to the trace's time span (±5 minutes) when the trace
/// is stored.
async fn trace_logs(
    State(spans): State<Arc<SpanStore>>,
    Path(trace_id): Path<String>,
    RawQuery(query): RawQuery,
) -> QueryResult {
    let id = parse_trace_id(&trace_id)?;
    let params = Params::parse(query.as_deref());
    let span_id = params
        .first("spanID")
        .map(|text| {
            osprey_trace::SpanId::parse_hex(text)
                .ok_or_else(|| QueryError::bad_request(format!("spanID {text:?} is not a span id")))
        })
        .transpose()?;
    let limit = match params.first("limit") {
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| QueryError::bad_request(format!("limit {text:?} is not a number")))?
            .min(MAX_TRACE_LOGS),
        None => 1_000,
    };
    let (store, traces) = (spans.store.clone(), spans.traces.clone());
    let logs = blocking(move || {
        // The trace's time span, when it is stored.
        let window = load_traces(&traces, &[id], None)?
            .first()
            .map(|(_, spans)| {
                let first = spans.iter().map(|s| s.start_micros()).min().unwrap_or(0);
                let last = spans
                    .iter()
                    .map(|s| s.start_micros().saturating_add(s.duration_micros()))
                    .max()
                    .unwrap_or(0);
                (first, last)
            });
        Ok(find_trace_logs(&store, id, span_id, window, limit)?)
    })
    .await?;
    let total = logs.len();
    Ok(envelope(Value::Array(logs), total))
}

fn id_terms(fields: &[&str], forms: &[String]) -> QueryAst {
    QueryAst::Bool(BoolQuery {
        should: fields
            .iter()
            .map(|field| QueryAst::Terms {
                field: (*field).to_string(),
                values: forms.iter().map(|f| QueryValue::Str(f.clone())).collect(),
            })
            .collect(),
        minimum_should_match: Some(1),
        ..BoolQuery::default()
    })
}

/// Log documents with this trace id (and span id), within five minutes of the trace's time
/// span (`extent`, microseconds) when the trace is stored.
fn find_trace_logs(
    store: &Store,
    trace_id: TraceId,
    span_id: Option<osprey_trace::SpanId>,
    extent: Option<(u64, u64)>,
    limit: usize,
) -> Result<Vec<Value>, StoreError> {
    let margin = 300_000_000; // 5 minutes, in microseconds: clocks and shippers lag
    let window =
        extent.map(|(first, last)| (first.saturating_sub(margin), last.saturating_add(margin)));
    // Both spellings of a 64-bit id: Jaeger's 16 digits and the zero-padded 32 of OTel loggers.
    let mut forms = vec![trace_id.to_string(), format!("{:032x}", trace_id.0)];
    forms.dedup();
    let mut filter = vec![id_terms(&TRACE_ID_FIELDS, &forms)];
    if let Some(span_id) = span_id {
        filter.push(id_terms(&SPAN_ID_FIELDS, &[span_id.to_string()]));
    }
    if let Some(window) = window {
        filter.push(time_range(window));
    }
    // Not the span index of earlier versions (its documents are spans, not logs).
    let indexes: Vec<_> = store
        .resolve_indices("*", true)?
        .into_iter()
        .filter(|index| index.name != "osprey-spans")
        .collect();
    let request = search_request(
        QueryAst::Bool(BoolQuery {
            filter,
            ..BoolQuery::default()
        }),
        limit,
        vec![sort("@timestamp", false)],
    );
    let response = store.search(&indexes, &request)?;
    Ok(response
        .hits
        .into_iter()
        .map(|hit| {
            let source: Value = serde_json::from_slice(&hit.source).unwrap_or(Value::Null);
            json!({"index": hit.index, "id": hit.id, "source": source})
        })
        .collect())
}

async fn find_traces(
    State(spans): State<Arc<SpanStore>>,
    RawQuery(query): RawQuery,
) -> QueryResult {
    let params = Params::parse(query.as_deref());
    let traces = spans.traces.clone();
    // `traceID=` (repeatable) asks for those traces, as the UI's "compare" does.
    let ids: Vec<TraceId> = params
        .all("traceID")
        .map(parse_trace_id)
        .collect::<Result<_, _>>()?;
    if !ids.is_empty() {
        let traces = blocking(move || load_traces(&traces, &ids, None)).await?;
        return Ok(traces_envelope(&traces));
    }
    let search = TraceSearch::from_params(&params)?;
    let traces = blocking(move || search.run(&traces)).await?;
    Ok(traces_envelope(&traces))
}

async fn dependencies(
    State(spans): State<Arc<SpanStore>>,
    RawQuery(query): RawQuery,
) -> QueryResult {
    let params = Params::parse(query.as_deref());
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let end_ms = match params.first("endTs") {
        Some(text) => text.parse::<i64>().map_err(|_| {
            QueryError::bad_request(format!("endTs {text:?} is not epoch milliseconds"))
        })?,
        None => now_ms,
    };
    let lookback_ms = match params.first("lookback") {
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|ms| *ms >= 0)
            .ok_or_else(|| {
                QueryError::bad_request(format!("lookback {text:?} is not milliseconds"))
            })?,
        None => 24 * 3_600_000,
    };
    let start_ms = end_ms.checked_sub(lookback_ms).ok_or_else(|| {
        QueryError::bad_request(format!(
            "endTs {end_ms} minus lookback {lookback_ms} is out of range"
        ))
    })?;
    let traces = spans.traces.clone();
    let links = blocking(move || Ok(dependency_links(&traces, start_ms, end_ms))).await?;
    let total = links.len();
    Ok(envelope(Value::Array(links), total))
}

// ---------------------------------------------------------------- api_v3 (OTLP-shaped)

fn v3_error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({"error": {"httpCode": status.as_u16(), "message": message.into()}})),
    )
        .into_response()
}

fn v3_result(traces: &[(TraceId, Vec<Span>)]) -> Response {
    let spans: Vec<Span> = traces
        .iter()
        .flat_map(|(_, spans)| spans.iter().cloned())
        .collect();
    let request = osprey_trace::otlp::to_request(&spans);
    axum::Json(json!({"result": {"resourceSpans": request.resource_spans}})).into_response()
}

async fn v3_services(State(spans): State<Arc<SpanStore>>) -> Response {
    axum::Json(json!({"services": spans.catalogue().services()})).into_response()
}

async fn v3_operations(State(spans): State<Arc<SpanStore>>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref());
    let Some(service) = params.first("service") else {
        return v3_error(StatusCode::BAD_REQUEST, "parameter 'service' is required");
    };
    let kind = params.first("span_kind").unwrap_or_default();
    let operations = operations_of(&spans, service, kind);
    axum::Json(json!({"operations": operations})).into_response()
}

async fn v3_get_trace(
    State(spans): State<Arc<SpanStore>>,
    Path(trace_id): Path<String>,
) -> Response {
    let Some(id) = TraceId::parse_hex(&trace_id).filter(|id| !id.is_zero()) else {
        return v3_error(
            StatusCode::BAD_REQUEST,
            format!("{trace_id:?} is not a trace id"),
        );
    };
    let traces = spans.traces.clone();
    match blocking(move || load_traces(&traces, &[id], None)).await {
        Ok(traces) if traces.is_empty() => v3_error(StatusCode::NOT_FOUND, "trace not found"),
        Ok(traces) => v3_result(&traces),
        Err(error) => v3_error(error.status, error.message),
    }
}

/// `GET /api/v3/traces?query.service_name=…&query.operation_name=…&query.start_time_min=RFC3339
/// &query.start_time_max=…&query.duration_min=100ms&query.duration_max=…&query.num_traces=20`
/// and `query.attributes={"k":"v"}`.
async fn v3_find_traces(
    State(spans): State<Arc<SpanStore>>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref());
    let time = |key: &str| -> Result<Option<u64>, QueryError> {
        params
            .first(key)
            .map(|text| {
                text.parse::<jiff::Timestamp>()
                    .map(|t| t.as_microsecond().max(0) as u64)
                    .map_err(|e| {
                        QueryError::bad_request(format!(
                            "{key} {text:?} is not an RFC 3339 time: {e}"
                        ))
                    })
            })
            .transpose()
    };
    let mut translated: Vec<(String, String)> = Vec::new();
    for (from, to) in [
        ("query.service_name", "service"),
        ("query.operation_name", "operation"),
        ("query.duration_min", "minDuration"),
        ("query.duration_max", "maxDuration"),
        ("query.num_traces", "limit"),
        ("query.attributes", "tags"),
    ] {
        if let Some(value) = params.first(from) {
            translated.push((to.to_string(), value.to_string()));
        }
    }
    let window = match (time("query.start_time_min"), time("query.start_time_max")) {
        (Ok(min), Ok(max)) => (min, max),
        (Err(error), _) | (_, Err(error)) => return v3_error(error.status, error.message),
    };
    if let Some(min) = window.0 {
        translated.push(("start".into(), min.to_string()));
    }
    if let Some(max) = window.1 {
        translated.push(("end".into(), max.to_string()));
    }
    let search = match TraceSearch::from_params(&Params(translated)) {
        Ok(search) => search,
        Err(error) => {
            return v3_error(
                error.status,
                error.message.replace("'service'", "'query.service_name'"),
            );
        }
    };
    let traces = spans.traces.clone();
    match blocking(move || search.run(&traces)).await {
        Ok(traces) => v3_result(&traces),
        Err(error) => v3_error(error.status, error.message),
    }
}

// ---------------------------------------------------------------- parameters

/// Query parameters in order, repeated keys kept.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: Option<&str>) -> Params {
        Params(query.map(form_urlencoded_pairs).unwrap_or_default())
    }

    fn first(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A Go duration (`1.5s`, `100ms`, `250us`, `1h30m`) in microseconds, as Jaeger parses
/// `minDuration`/`maxDuration`.
fn parse_go_duration_micros(text: &str) -> Option<u64> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_end == 0 {
            return None;
        }
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "ns" => 0.001,
            "us" | "µs" | "μs" => 1.0,
            "ms" => 1_000.0,
            "s" => 1_000_000.0,
            "m" => 60_000_000.0,
            "h" => 3_600_000_000.0,
            _ => return None,
        };
        total += number * factor;
        rest = &rest[unit_end..];
    }
    (total.is_finite() && total >= 0.0).then_some(total as u64)
}

/// `start`/`end` (epoch microseconds) or `lookback` (`1h`, `2d`; `custom` means start/end).
fn time_window_micros(
    params: &Params,
    default_lookback: bool,
) -> Result<Option<(u64, u64)>, QueryError> {
    let parse = |key: &str| -> Result<Option<u64>, QueryError> {
        params
            .first(key)
            .map(|text| {
                text.parse::<u64>().map_err(|_| {
                    QueryError::bad_request(format!("{key} {text:?} is not epoch microseconds"))
                })
            })
            .transpose()
    };
    let now = jiff::Timestamp::now().as_microsecond().max(0) as u64;
    let end = parse("end")?;
    let start = parse("start")?;
    let lookback = match params.first("lookback") {
        None | Some("custom") => None,
        Some(text) => {
            let days = |suffix: char, days: u64| {
                text.strip_suffix(suffix)
                    .and_then(|n| n.parse::<u64>().ok())
                    .and_then(|n| n.checked_mul(days * 86_400_000_000))
            };
            let micros = days('d', 1)
                .or_else(|| days('w', 7))
                .or_else(|| parse_go_duration_micros(text));
            Some(micros.ok_or_else(|| {
                QueryError::bad_request(format!(
                    "lookback {text:?} is not a duration (1h, 2d, 30m)"
                ))
            })?)
        }
    };
    Ok(match (start, end, lookback) {
        (None, None, None) if !default_lookback => None,
        (start, end, lookback) => {
            let end = end.unwrap_or(now);
            let start =
                start.unwrap_or_else(|| end.saturating_sub(lookback.unwrap_or(3_600_000_000)));
            Some((start, end))
        }
    })
}

// ---------------------------------------------------------------- search

struct TraceSearch {
    service: String,
    operation: Option<String>,
    tags: Vec<(String, String)>,
    window: (u64, u64),
    min_duration: Option<u64>,
    max_duration: Option<u64>,
    limit: usize,
}

impl TraceSearch {
    fn from_params(params: &Params) -> Result<TraceSearch, QueryError> {
        let service = params
            .first("service")
            .ok_or_else(|| QueryError::bad_request("parameter 'service' is required"))?
            .to_string();
        let mut tags = Vec::new();
        if let Some(json_tags) = params.first("tags") {
            let map: BTreeMap<String, Value> = serde_json::from_str(json_tags).map_err(|e| {
                QueryError::bad_request(format!(
                    "tags {json_tags:?} is not a JSON object of strings: {e}"
                ))
            })?;
            for (key, value) in map {
                let value = match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                tags.push((key, value));
            }
        }
        for tag in params.all("tag") {
            let (key, value) = tag
                .split_once(':')
                .ok_or_else(|| QueryError::bad_request(format!("tag {tag:?} is not key:value")))?;
            tags.push((key.to_string(), value.to_string()));
        }
        let duration = |key: &str| -> Result<Option<u64>, QueryError> {
            params
                .first(key)
                .map(|text| {
                    parse_go_duration_micros(text).ok_or_else(|| {
                        QueryError::bad_request(format!(
                            "{key} {text:?} is not a duration (e.g. 100ms, 1.5s, 250us)"
                        ))
                    })
                })
                .transpose()
        };
        let limit = match params.first("limit") {
            Some(text) => text
                .parse::<usize>()
                .map_err(|_| QueryError::bad_request(format!("limit {text:?} is not a number")))?,
            None => 100, // Jaeger's default
        };
        let window = time_window_micros(params, true)?.unwrap_or((0, u64::MAX));
        if window.0 > window.1 {
            return Err(QueryError::bad_request("start is after end"));
        }
        Ok(TraceSearch {
            service,
            operation: params.first("operation").map(str::to_string),
            tags,
            window,
            min_duration: duration("minDuration")?,
            max_duration: duration("maxDuration")?,
            limit: limit.clamp(1, 1_500),
        })
    }

    /// The newest `limit` traces with a span matching every condition, each whole.
    fn run(&self, traces: &TraceStore) -> Result<Vec<(TraceId, Vec<Span>)>, QueryError> {
        let micros_to_nanos = |micros: u64| micros.saturating_mul(1_000);
        let query = TraceQuery {
            service: self.service.clone(),
            operation: self.operation.clone(),
            tags: self.tags.clone(),
            start_min: micros_to_nanos(self.window.0),
            start_max: micros_to_nanos(self.window.1).saturating_add(999),
            duration_min: self.min_duration.map(micros_to_nanos),
            duration_max: self
                .max_duration
                .map(|d| micros_to_nanos(d).saturating_add(999)),
            limit: self.limit,
        };
        Ok(traces.find_traces(&query).map_err(store_error)?)
    }
}

fn time_range((start, end): (u64, u64)) -> QueryAst {
    // Milliseconds on @timestamp let the store skip whole day partitions.
    QueryAst::Range(RangeQuery {
        field: "@timestamp".into(),
        lower: Bound::Included(QueryValue::Int((start / 1_000).min(i64::MAX as u64) as i64)),
        upper: Bound::Included(QueryValue::Int(
            end.div_ceil(1_000).min(i64::MAX as u64) as i64
        )),
        format: Some("epoch_millis".into()),
        time_zone: None,
    })
}

/// Every stored span of these traces (optionally only those starting in a window, epoch
/// microseconds), grouped by trace, in the order of `ids`; traces without spans are left out.
pub fn load_traces(
    traces: &TraceStore,
    ids: &[TraceId],
    window: Option<(u64, u64)>,
) -> Result<Vec<(TraceId, Vec<Span>)>, QueryError> {
    let mut found = traces.traces(ids).map_err(store_error)?;
    if let Some((start, end)) = window {
        for (_, spans) in &mut found {
            spans.retain(|s| (start..=end).contains(&s.start_micros()));
        }
        found.retain(|(_, spans)| !spans.is_empty());
    }
    Ok(found)
}

/// Service-to-service call counts in a window (epoch milliseconds): a span whose parent
/// (same trace) belongs to another service is one call from the parent's service to the
/// span's. Counted when spans are stored, per minute.
fn dependency_links(traces: &TraceStore, start_ms: i64, end_ms: i64) -> Vec<Value> {
    let nanos = |ms: i64| u64::try_from(ms).unwrap_or(0).saturating_mul(1_000_000);
    traces
        .dependencies(nanos(start_ms), nanos(end_ms).saturating_add(999_999))
        .into_iter()
        .map(|(parent, child, count)| json!({"parent": parent, "child": child, "callCount": count}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration_micros("1.5s"), Some(1_500_000));
        assert_eq!(parse_go_duration_micros("100ms"), Some(100_000));
        assert_eq!(parse_go_duration_micros("250us"), Some(250));
        assert_eq!(parse_go_duration_micros("1h30m"), Some(5_400_000_000));
        assert_eq!(parse_go_duration_micros("fast"), None);
        assert_eq!(parse_go_duration_micros("10"), None);
    }

    #[test]
    fn time_windows_from_start_end_and_lookback() {
        let window = |query: &str| time_window_micros(&Params::parse(Some(query)), true);
        assert_eq!(window("start=10&end=20").expect("valid"), Some((10, 20)));
        assert_eq!(
            window("end=100000000000&lookback=1h").expect("valid"),
            Some((100_000_000_000 - 3_600_000_000, 100_000_000_000))
        );
        assert_eq!(
            window("end=1000000000000&lookback=2d").expect("valid"),
            Some((1_000_000_000_000 - 172_800_000_000, 1_000_000_000_000))
        );
        assert_eq!(
            window("end=1000000000000&lookback=1w").expect("valid"),
            Some((1_000_000_000_000 - 604_800_000_000, 1_000_000_000_000))
        );
        // A lookback of "custom" (the UI's) means start/end decide.
        assert_eq!(
            window("start=5&end=6&lookback=custom").expect("valid"),
            Some((5, 6))
        );
        assert_eq!(
            time_window_micros(&Params::parse(None), false).expect("valid"),
            None
        );
        for bad in [
            "lookback=forever",
            "lookback=1µ",
            "lookback=µ",
            "start=yesterday",
            "lookback=99999999999999999999d",
        ] {
            let error = window(bad).expect_err(bad);
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn query_parameters_keep_repeats_and_decode() {
        let params = Params::parse(Some(
            "traceID=ab&traceID=cd&tags=%7B%22a%22%3A%221%22%7D&x=a+b",
        ));
        assert_eq!(params.all("traceID").collect::<Vec<_>>(), ["ab", "cd"]);
        assert_eq!(params.first("tags"), Some("{\"a\":\"1\"}"));
        assert_eq!(params.first("x"), Some("a b"));
    }
}

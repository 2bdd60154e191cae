//! Elasticsearch aggregations on tantivy's aggregation framework. Requests are rewritten to
//! storage field names (`status` → `k.status`, `@timestamp` → `_ts`), calendar intervals become
//! fixed intervals (minute..week) or computed ranges (month, quarter, year), partial results
//! of every partition are merged, and responses are reshaped to Elasticsearch's format.

use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, ToSpan, Zoned};
use osprey_query::date_math::{Rounding, eval_date_math, parse_time_zone};
use serde_json::{Map, Value, json};
use tantivy::Searcher;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;
use tantivy::aggregation::{
    AggContextParams, AggregationLimitsGuard, DistributedAggregationCollector,
};
use tantivy::query::Query;

use crate::compile::{Target, resolve_field};
use crate::error::{Result, StoreError};
use crate::mapping::IndexMapping;
use crate::partition::field_names;

/// How a translated aggregation's result is turned back into Elasticsearch's shape.
#[derive(Debug, Clone)]
enum Reshape {
    /// Nothing to do, except in children.
    Plain,
    /// A date histogram: integer keys, `key_as_string` in the zone.
    DateHistogram {
        zone: TimeZone,
        format: Option<String>,
    },
    /// A metric over a date field: tantivy answers in nanoseconds, Elasticsearch in millis.
    DateMetric,
    /// A calendar histogram computed as a range aggregation.
    CalendarRanges {
        zone: TimeZone,
        format: Option<String>,
        min_doc_count: u64,
        trim: bool,
    },
}

#[derive(Debug, Clone)]
struct Node {
    reshape: Reshape,
    children: Vec<(String, Node)>,
}

/// Translated aggregations by name, and how to reshape each result.
type Translated = (Map<String, Value>, Vec<(String, Node)>);

/// A translated aggregation request.
pub(crate) struct AggregationPlan {
    request: Aggregations,
    nodes: Vec<(String, Node)>,
}

fn bad(message: impl Into<String>) -> StoreError {
    StoreError::BadRequest(message.into())
}

/// Translates an ES `aggs` object. `time_span` bounds the `@timestamp` values of the data.
pub(crate) fn plan(
    aggs: &Value,
    mapping: &IndexMapping,
    now: Timestamp,
    time_span: Option<(i64, i64)>,
) -> Result<AggregationPlan> {
    let (translated, nodes) = translate_all(aggs, mapping, now, time_span, "aggs")?;
    let request: Aggregations = serde_json::from_value(Value::Object(translated))
        .map_err(|e| bad(format!("unsupported aggregation request: {e}")))?;
    Ok(AggregationPlan { request, nodes })
}

fn translate_all(
    aggs: &Value,
    mapping: &IndexMapping,
    now: Timestamp,
    span: Option<(i64, i64)>,
    path: &str,
) -> Result<Translated> {
    let aggs = aggs
        .as_object()
        .ok_or_else(|| bad(format!("[{path}] must be an object")))?;
    let mut out = Map::new();
    let mut nodes = Vec::new();
    for (name, body) in aggs {
        let (translated, node) =
            translate_one(name, body, mapping, now, span, &format!("{path}.{name}"))?;
        out.insert(name.clone(), translated);
        nodes.push((name.clone(), node));
    }
    Ok((out, nodes))
}

fn storage_field(field: &str, mapping: &IndexMapping, kind: &str) -> Result<(String, bool)> {
    match resolve_field(field, mapping).first() {
        Some(Target::Timestamp) => Ok((field_names::TIMESTAMP.to_string(), true)),
        Some(Target::Date(p)) => Ok((format!("{}.{p}", field_names::EXACT), true)),
        Some(Target::Keyword(p) | Target::Long(p) | Target::Float(p) | Target::Boolean(p)) => {
            Ok((format!("{}.{p}", field_names::EXACT), false))
        }
        Some(Target::Text(_)) => Err(bad(format!(
            "[{kind}] on text field [{field}]: text fields are not available for aggregations; use [{field}.keyword]"
        ))),
        // Unmapped fields aggregate to nothing, as in Elasticsearch.
        _ => Ok((format!("{}.{field}", field_names::EXACT), false)),
    }
}

fn date_millis(value: &Value, now: Timestamp, zone: &TimeZone, rounding: Rounding) -> Result<f64> {
    match value {
        Value::Number(n) => n.as_f64().ok_or_else(|| bad("bad number")),
        Value::String(s) => eval_date_math(s, now, zone, rounding)
            .map(|m| m as f64)
            .map_err(|e| bad(e.to_string())),
        _ => Err(bad("dates must be strings or epoch milliseconds")),
    }
}

fn translate_one(
    name: &str,
    body: &Value,
    mapping: &IndexMapping,
    now: Timestamp,
    span: Option<(i64, i64)>,
    path: &str,
) -> Result<(Value, Node)> {
    let object = body
        .as_object()
        .ok_or_else(|| bad(format!("[{path}] must be an object")))?;
    let mut out = Map::new();
    let mut children = Vec::new();
    let mut reshape = Reshape::Plain;
    for (key, params) in object {
        match key.as_str() {
            "aggs" | "aggregations" => {
                let (sub, nodes) = translate_all(params, mapping, now, span, path)?;
                out.insert("aggs".into(), Value::Object(sub));
                children = nodes;
            }
            "meta" => {}
            kind => {
                let mut params = params
                    .as_object()
                    .cloned()
                    .ok_or_else(|| bad(format!("[{path}.{kind}] must be an object")))?;
                let is_date = if let Some(field) = params
                    .get("field")
                    .and_then(Value::as_str)
                    .map(String::from)
                {
                    let (storage, is_date) = storage_field(&field, mapping, kind)?;
                    params.insert("field".into(), Value::from(storage));
                    is_date
                } else {
                    false
                };
                let (kind, translated_params, node_reshape) =
                    translate_kind(kind, params, is_date, now, span, path)?;
                reshape = node_reshape;
                out.insert(kind, Value::Object(translated_params));
            }
        }
    }
    let _ = name;
    Ok((Value::Object(out), Node { reshape, children }))
}

fn translate_kind(
    kind: &str,
    mut params: Map<String, Value>,
    is_date: bool,
    now: Timestamp,
    span: Option<(i64, i64)>,
    path: &str,
) -> Result<(String, Map<String, Value>, Reshape)> {
    match kind {
        "date_histogram" => {
            let zone = match params.remove("time_zone").as_ref().and_then(Value::as_str) {
                Some(z) => parse_time_zone(z).map_err(|e| bad(e.to_string()))?,
                None => TimeZone::UTC,
            };
            let format = params
                .remove("format")
                .and_then(|f| f.as_str().map(String::from));
            for bounds in ["extended_bounds", "hard_bounds"] {
                if let Some(Value::Object(b)) = params.get(bounds).cloned() {
                    let mut converted = Map::new();
                    if let Some(min) = b.get("min") {
                        converted.insert(
                            "min".into(),
                            json!(date_millis(min, now, &zone, Rounding::Down)?),
                        );
                    }
                    if let Some(max) = b.get("max") {
                        converted.insert(
                            "max".into(),
                            json!(date_millis(max, now, &zone, Rounding::Up)?),
                        );
                    }
                    params.insert(bounds.into(), Value::Object(converted));
                }
            }
            let legacy = params.remove("interval");
            let calendar = params.remove("calendar_interval").or_else(|| {
                legacy
                    .as_ref()
                    .and_then(Value::as_str)
                    .filter(|i| calendar_unit(i).is_some())
                    .map(Value::from)
            });
            let zone_offset_ms = zone.to_offset(now).seconds() as i64 * 1000;
            if let Some(calendar) = calendar {
                let calendar = calendar
                    .as_str()
                    .ok_or_else(|| bad("[calendar_interval] must be a string"))?
                    .to_string();
                let unit = calendar_unit(&calendar).ok_or_else(|| {
                    bad(format!("[{path}] unknown calendar_interval [{calendar}]"))
                })?;
                match unit {
                    CalendarUnit::Fixed(ms, epoch_shift_ms) => {
                        params.insert("fixed_interval".into(), Value::from(format!("{ms}ms")));
                        let offset = epoch_shift_ms - zone_offset_ms;
                        if offset != 0 {
                            params.insert("offset".into(), Value::from(format!("{offset}ms")));
                        }
                    }
                    CalendarUnit::Months(months) => {
                        return calendar_ranges(params, months, zone, format, span, now);
                    }
                }
            } else {
                let fixed = params.remove("fixed_interval").or(legacy).ok_or_else(|| {
                    bad(format!(
                        "[{path}] date_histogram needs [fixed_interval] or [calendar_interval]"
                    ))
                })?;
                params.insert("fixed_interval".into(), fixed);
                if zone_offset_ms != 0 && !params.contains_key("offset") {
                    params.insert(
                        "offset".into(),
                        Value::from(format!("{}ms", -zone_offset_ms)),
                    );
                }
            }
            params.remove("keyed");
            Ok((
                "date_histogram".into(),
                params,
                Reshape::DateHistogram { zone, format },
            ))
        }
        "range" | "date_range" => {
            let zone = match params.remove("time_zone").as_ref().and_then(Value::as_str) {
                Some(z) => parse_time_zone(z).map_err(|e| bad(e.to_string()))?,
                None => TimeZone::UTC,
            };
            params.remove("format");
            if let Some(Value::Array(ranges)) = params.get_mut("ranges") {
                for range in ranges.iter_mut().filter_map(Value::as_object_mut) {
                    for bound in ["from", "to"] {
                        if let Some(v) = range.get(bound).cloned() {
                            if v.is_null() {
                                range.remove(bound);
                            } else if is_date || v.is_string() {
                                let millis = if is_date {
                                    // tantivy's range aggregation takes dates in nanoseconds.
                                    date_millis(&v, now, &zone, Rounding::Down)? * 1e6
                                } else {
                                    v.as_str()
                                        .and_then(|s| s.parse().ok())
                                        .ok_or_else(|| bad("range bounds must be numbers"))?
                                };
                                range.insert(bound.into(), json!(millis));
                            }
                        }
                    }
                }
            }
            Ok(("range".into(), params, Reshape::Plain))
        }
        "terms" => {
            for unsupported in ["include", "exclude", "script"] {
                if params.contains_key(unsupported) {
                    return Err(bad(format!(
                        "[{path}] terms [{unsupported}] is not supported"
                    )));
                }
            }
            params.remove("execution_hint");
            params.remove("collect_mode");
            params.remove("show_term_doc_count_error");
            Ok(("terms".into(), params, Reshape::Plain))
        }
        "avg" | "min" | "max" | "sum" | "stats" | "extended_stats" | "value_count"
        | "cardinality" | "percentiles" | "histogram" => {
            params.remove("format");
            params.remove("precision_threshold");
            let date_metric = is_date && matches!(kind, "avg" | "min" | "max" | "stats" | "sum");
            Ok((
                kind.into(),
                params,
                if date_metric {
                    Reshape::DateMetric
                } else {
                    Reshape::Plain
                },
            ))
        }
        other => Err(bad(format!(
            "[{path}] aggregation type [{other}] is not supported"
        ))),
    }
}

enum CalendarUnit {
    /// A fixed length in ms, and the shift that aligns buckets (weeks start on Monday).
    Fixed(i64, i64),
    Months(i64),
}

fn calendar_unit(interval: &str) -> Option<CalendarUnit> {
    const MINUTE: i64 = 60_000;
    Some(match interval {
        "1s" | "second" => CalendarUnit::Fixed(1000, 0),
        "1m" | "minute" => CalendarUnit::Fixed(MINUTE, 0),
        "1h" | "hour" => CalendarUnit::Fixed(60 * MINUTE, 0),
        "1d" | "day" => CalendarUnit::Fixed(1440 * MINUTE, 0),
        // 1970-01-01 was a Thursday: Monday-aligned weeks start 3 days earlier.
        "1w" | "week" => CalendarUnit::Fixed(7 * 1440 * MINUTE, -3 * 1440 * MINUTE),
        "1M" | "month" => CalendarUnit::Months(1),
        "1q" | "quarter" => CalendarUnit::Months(3),
        "1y" | "year" => CalendarUnit::Months(12),
        _ => return None,
    })
}

/// Month, quarter and year buckets have varying lengths: compute their boundaries in the zone
/// over the data's time span (or the extended bounds) and count with a range aggregation.
fn calendar_ranges(
    mut params: Map<String, Value>,
    months: i64,
    zone: TimeZone,
    format: Option<String>,
    span: Option<(i64, i64)>,
    now: Timestamp,
) -> Result<(String, Map<String, Value>, Reshape)> {
    let extended = params.remove("extended_bounds");
    let min_doc_count = params
        .remove("min_doc_count")
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    params.remove("hard_bounds");
    params.remove("offset");
    let bound = |key: &str| {
        extended
            .as_ref()
            .and_then(|e| e.get(key))
            .and_then(Value::as_f64)
            .map(|f| f as i64)
    };
    let (data_min, data_max) = span.unwrap_or((0, now.as_millisecond()));
    let start = bound("min").map_or(data_min, |m| m.min(data_min));
    let end = bound("max").map_or(data_max, |m| m.max(data_max));
    let to_zoned = |ms: i64| {
        Timestamp::from_millisecond(ms)
            .map(|t| t.to_zoned(zone.clone()))
            .map_err(|e| bad(e.to_string()))
    };
    let first = to_zoned(start)?;
    let month_index =
        (i64::from(first.year()) * 12 + i64::from(first.month()) - 1) / months * months;
    let mut cursor: Zoned =
        jiff::civil::date((month_index / 12) as i16, (month_index % 12 + 1) as i8, 1)
            .to_zoned(zone.clone())
            .map_err(|e| bad(e.to_string()))?;
    let step: Span = months.months();
    let mut ranges = Vec::new();
    while cursor.timestamp().as_millisecond() <= end && ranges.len() < 10_000 {
        let next = cursor.checked_add(step).map_err(|e| bad(e.to_string()))?;
        // tantivy's range aggregation takes dates in nanoseconds.
        let nanos = |z: &Zoned| z.timestamp().as_millisecond() as f64 * 1e6;
        ranges.push(json!({"from": nanos(&cursor), "to": nanos(&next)}));
        cursor = next;
    }
    let field = params.remove("field").unwrap_or(Value::Null);
    let mut out = Map::new();
    out.insert("field".into(), field);
    out.insert("ranges".into(), Value::Array(ranges));
    Ok((
        "range".into(),
        out,
        Reshape::CalendarRanges {
            zone,
            format,
            min_doc_count,
            trim: extended.is_none(),
        },
    ))
}

impl AggregationPlan {
    /// Partial results of one partition.
    pub(crate) fn collect(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
    ) -> Result<IntermediateAggregationResults> {
        let collector = DistributedAggregationCollector::from_aggs(self.request.clone(), context());
        Ok(searcher.search(query, &collector)?)
    }

    /// Merges partial results and shapes them like Elasticsearch.
    pub(crate) fn finish(self, parts: Vec<IntermediateAggregationResults>) -> Result<Value> {
        let mut merged = IntermediateAggregationResults::default();
        for part in parts {
            merged.merge_fruits(part)?;
        }
        let results = merged.into_final_result(self.request, context().limits)?;
        let mut json = serde_json::to_value(results).map_err(|e| bad(e.to_string()))?;
        if let Some(object) = json.as_object_mut() {
            reshape_all(object, &self.nodes);
        }
        Ok(json)
    }
}

fn context() -> AggContextParams {
    AggContextParams::new(
        AggregationLimitsGuard::new(Some(512 << 20), Some(65_000)),
        Default::default(),
    )
}

fn reshape_all(results: &mut Map<String, Value>, nodes: &[(String, Node)]) {
    for (name, node) in nodes {
        if let Some(Value::Object(result)) = results.get_mut(name) {
            reshape(result, node);
        }
    }
}

fn format_key(millis: i64, zone: &TimeZone, format: Option<&str>) -> String {
    if format == Some("epoch_millis") {
        return millis.to_string();
    }
    match Timestamp::from_millisecond(millis) {
        Ok(t) if *zone == TimeZone::UTC => t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Ok(t) => t
            .to_zoned(zone.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
            .to_string(),
        Err(_) => millis.to_string(),
    }
}

fn reshape(result: &mut Map<String, Value>, node: &Node) {
    match &node.reshape {
        Reshape::Plain => {}
        Reshape::DateHistogram { zone, format } => {
            if let Some(Value::Array(buckets)) = result.get_mut("buckets") {
                for bucket in buckets.iter_mut().filter_map(Value::as_object_mut) {
                    if let Some(key) = bucket.get("key").and_then(Value::as_f64) {
                        let millis = key as i64;
                        bucket.insert("key".into(), Value::from(millis));
                        bucket.insert(
                            "key_as_string".into(),
                            Value::from(format_key(millis, zone, format.as_deref())),
                        );
                    }
                }
            }
        }
        Reshape::DateMetric => {
            for key in ["value", "min", "max", "avg", "sum"] {
                if let Some(v) = result.get(key).and_then(Value::as_f64) {
                    let millis = (v / 1e6).round() as i64;
                    result.insert(key.into(), Value::from(millis));
                    if key != "sum" {
                        result.insert(
                            format!("{key}_as_string"),
                            Value::from(format_key(millis, &TimeZone::UTC, None)),
                        );
                    }
                }
            }
        }
        Reshape::CalendarRanges {
            zone,
            format,
            min_doc_count,
            trim,
        } => {
            let ranges = match result.remove("buckets") {
                Some(Value::Array(buckets)) => buckets,
                _ => Vec::new(),
            };
            let mut buckets: Vec<Value> = ranges
                .into_iter()
                .filter_map(|b| {
                    let mut b = match b {
                        Value::Object(b) => b,
                        _ => return None,
                    };
                    let from = (b.get("from").and_then(Value::as_f64)? / 1e6) as i64;
                    b.remove("from");
                    b.remove("to");
                    b.remove("from_as_string");
                    b.remove("to_as_string");
                    b.insert("key".into(), Value::from(from));
                    b.insert(
                        "key_as_string".into(),
                        Value::from(format_key(from, zone, format.as_deref())),
                    );
                    Some(Value::Object(b))
                })
                .collect();
            let count = |b: &Value| b.get("doc_count").and_then(Value::as_u64).unwrap_or(0);
            if *trim {
                while buckets.first().is_some_and(|b| count(b) == 0) {
                    buckets.remove(0);
                }
                while buckets.last().is_some_and(|b| count(b) == 0) {
                    buckets.pop();
                }
            }
            buckets.retain(|b| count(b) >= *min_doc_count);
            result.insert("buckets".into(), Value::Array(buckets));
        }
    }
    if node.children.is_empty() {
        return;
    }
    let buckets: Vec<&mut Map<String, Value>> = match result.get_mut("buckets") {
        Some(Value::Array(buckets)) => buckets
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .collect(),
        Some(Value::Object(keyed)) => keyed
            .values_mut()
            .filter_map(Value::as_object_mut)
            .collect(),
        _ => vec![result],
    };
    for bucket in buckets {
        reshape_all(bucket, &node.children);
    }
}

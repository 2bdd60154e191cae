//! `_search`, `_msearch` and `_count`: request parsing and Elasticsearch-shaped responses.

use std::collections::HashMap;
use std::time::Instant;

use jiff::Timestamp;
use osprey_query::{QueryAst, QueryStringOptions, parse_dsl, parse_query_string};
use osprey_store::{SearchRequest, SearchResponse, SortSpec, TrackTotalHits};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::error::{EsError, EsResult};

/// `_source` filtering.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceFilter {
    pub(crate) enabled: bool,
    pub(crate) includes: Vec<String>,
    pub(crate) excludes: Vec<String>,
}

impl SourceFilter {
    fn all() -> SourceFilter {
        SourceFilter {
            enabled: true,
            ..SourceFilter::default()
        }
    }

    fn is_identity(&self) -> bool {
        self.enabled && self.includes.is_empty() && self.excludes.is_empty()
    }

    pub(crate) fn from_params(params: &HashMap<String, String>) -> Option<SourceFilter> {
        let split = |v: &String| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        };
        let mut filter = match params.get("_source").map(String::as_str) {
            Some("false") => return Some(SourceFilter::default()),
            Some("true") | None => SourceFilter::all(),
            Some(list) => SourceFilter {
                enabled: true,
                includes: split(&list.to_string()),
                excludes: Vec::new(),
            },
        };
        if let Some(v) = params.get("_source_includes") {
            filter.includes = split(v);
        }
        if let Some(v) = params.get("_source_excludes") {
            filter.excludes = split(v);
        }
        let touched = ["_source", "_source_includes", "_source_excludes"]
            .iter()
            .any(|k| params.contains_key(*k));
        touched.then_some(filter)
    }

    fn from_json(value: &Value) -> EsResult<SourceFilter> {
        let list = |v: Option<&Value>| -> Vec<String> {
            match v {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect(),
                _ => Vec::new(),
            }
        };
        Ok(match value {
            Value::Bool(enabled) => SourceFilter {
                enabled: *enabled,
                ..SourceFilter::default()
            },
            Value::String(_) | Value::Array(_) => SourceFilter {
                enabled: true,
                includes: list(Some(value)),
                excludes: Vec::new(),
            },
            Value::Object(o) => SourceFilter {
                enabled: true,
                includes: list(o.get("includes").or_else(|| o.get("include"))),
                excludes: list(o.get("excludes").or_else(|| o.get("exclude"))),
            },
            _ => {
                return Err(EsError::bad_request(
                    "parsing_exception",
                    "[_source] must be a boolean, string, array or object",
                ));
            }
        })
    }

    /// Applies the filter to a source; `None` when sources are disabled.
    pub(crate) fn apply(&self, source: &[u8]) -> Option<Box<RawValue>> {
        if !self.enabled {
            return None;
        }
        let text = String::from_utf8_lossy(source).into_owned();
        if self.is_identity() {
            // Byte for byte, as ingested.
            return RawValue::from_string(text).ok();
        }
        let Ok(Value::Object(object)) = serde_json::from_str::<Value>(&text) else {
            return RawValue::from_string(text).ok();
        };
        let filtered = filter_object(&object, "", &self.includes, &self.excludes);
        RawValue::from_string(Value::Object(filtered).to_string()).ok()
    }
}

fn path_matches(patterns: &[String], path: &str) -> bool {
    patterns
        .iter()
        .any(|p| osprey_store::wildcard_match(p, path))
}

fn is_prefix_of_pattern(patterns: &[String], path: &str) -> bool {
    patterns
        .iter()
        .any(|p| p.starts_with(&format!("{path}.")) || p.starts_with('*'))
}

fn filter_object(
    object: &Map<String, Value>,
    prefix: &str,
    includes: &[String],
    excludes: &[String],
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in object {
        let path = format!("{prefix}{key}");
        if path_matches(excludes, &path) {
            continue;
        }
        let included = includes.is_empty()
            || path_matches(includes, &path)
            || includes.iter().any(|p| p == &format!("{path}.*"));
        match value {
            Value::Object(child)
                if (!included || !excludes.is_empty())
                    && (included || is_prefix_of_pattern(includes, &path)) =>
            {
                let inner_includes: Vec<String> = if included {
                    Vec::new()
                } else {
                    includes.to_vec()
                };
                let filtered = filter_object(child, &format!("{path}."), &inner_includes, excludes);
                if !filtered.is_empty() || included {
                    out.insert(key.clone(), Value::Object(filtered));
                }
            }
            _ if included => {
                out.insert(key.clone(), value.clone());
            }
            _ => {}
        }
    }
    out
}

/// A parsed search body plus the parts that shape the response.
pub(crate) struct ParsedSearch {
    pub(crate) request: SearchRequest,
    pub(crate) source: SourceFilter,
    pub(crate) total_as_int: bool,
}

fn usize_param(value: &Value, name: &str) -> EsResult<usize> {
    match value {
        Value::Number(n) => n.as_u64().map(|n| n as usize),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        EsError::bad_request(
            "parsing_exception",
            format!("[{name}] must be a non-negative integer"),
        )
    })
}

fn parse_sort(value: &Value) -> EsResult<Vec<SortSpec>> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut specs = Vec::new();
    for item in items {
        match item {
            Value::String(s) => {
                let (field, order) = s.split_once(':').unwrap_or((s.as_str(), ""));
                specs.push(spec(
                    field,
                    if order.is_empty() { None } else { Some(order) },
                )?);
            }
            Value::Object(o) => {
                for (field, options) in o {
                    let order = match options {
                        Value::String(s) => Some(s.as_str()),
                        Value::Object(opts) => opts.get("order").and_then(Value::as_str),
                        _ => None,
                    };
                    specs.push(spec(field, order)?);
                }
            }
            _ => {
                return Err(EsError::bad_request(
                    "parsing_exception",
                    "[sort] entries must be strings or objects",
                ));
            }
        }
    }
    Ok(specs)
}

fn spec(field: &str, order: Option<&str>) -> EsResult<SortSpec> {
    let descending = match order.map(str::to_ascii_lowercase).as_deref() {
        None => field == "_score",
        Some("desc") => true,
        Some("asc") => false,
        Some(other) => {
            return Err(EsError::bad_request(
                "parsing_exception",
                format!("[sort] order must be asc or desc, not [{other}]"),
            ));
        }
    };
    Ok(SortSpec {
        field: field.to_string(),
        descending,
    })
}

/// Builds a search from the JSON body and URL parameters.
pub(crate) fn parse_search(
    body: &Value,
    params: &HashMap<String, String>,
) -> EsResult<ParsedSearch> {
    let empty = Map::new();
    let object = match body {
        Value::Object(o) => o,
        Value::Null => &empty,
        _ => {
            return Err(EsError::bad_request(
                "parsing_exception",
                "the search body must be a JSON object",
            ));
        }
    };
    let mut query = match object.get("query") {
        Some(q) => {
            parse_dsl(q).map_err(|e| EsError::bad_request("parsing_exception", e.to_string()))?
        }
        None => QueryAst::MatchAll,
    };
    if let Some(q) = params.get("q") {
        let mut options = QueryStringOptions::default();
        if let Some(df) = params.get("df") {
            options.default_fields = vec![df.clone()];
        }
        if params
            .get("default_operator")
            .is_some_and(|o| o.eq_ignore_ascii_case("and"))
        {
            options.default_operator = osprey_query::Operator::And;
        }
        query = parse_query_string(q, &options).map_err(|e| {
            EsError::bad_request(
                "query_shard_exception",
                format!("Failed to parse query [{q}]: {e}"),
            )
        })?;
    }
    let from = match params
        .get("from")
        .map(|v| Value::String(v.clone()))
        .or_else(|| object.get("from").cloned())
    {
        Some(v) => usize_param(&v, "from")?,
        None => 0,
    };
    let size = match params
        .get("size")
        .map(|v| Value::String(v.clone()))
        .or_else(|| object.get("size").cloned())
    {
        Some(v) => usize_param(&v, "size")?,
        None => 10,
    };
    if from + size > 10_000 {
        return Err(EsError::bad_request(
            "illegal_argument_exception",
            format!(
                "Result window is too large, from + size must be less than or equal to: [10000] but was [{}]. Use search_after to page through more results.",
                from + size
            ),
        ));
    }
    let sort = match params.get("sort") {
        Some(s) => parse_sort(&Value::Array(
            s.split(',').map(|p| Value::from(p.to_string())).collect(),
        ))?,
        None => match object.get("sort") {
            Some(v) => parse_sort(v)?,
            None => Vec::new(),
        },
    };
    let search_after = match object.get("search_after") {
        Some(Value::Array(values)) => Some(values.clone()),
        Some(_) => {
            return Err(EsError::bad_request(
                "parsing_exception",
                "[search_after] must be an array",
            ));
        }
        None => None,
    };
    let aggregations = object
        .get("aggs")
        .or_else(|| object.get("aggregations"))
        .cloned();
    let track = params
        .get("track_total_hits")
        .map(|v| Value::String(v.clone()))
        .or_else(|| object.get("track_total_hits").cloned());
    let track_total_hits = match track {
        None => TrackTotalHits::UpTo(10_000),
        Some(Value::Bool(true)) => TrackTotalHits::Exact,
        Some(Value::Bool(false)) => TrackTotalHits::Off,
        Some(Value::Number(n)) => TrackTotalHits::UpTo(n.as_u64().unwrap_or(10_000)),
        Some(Value::String(s)) => match s.as_str() {
            "true" => TrackTotalHits::Exact,
            "false" => TrackTotalHits::Off,
            n => TrackTotalHits::UpTo(n.parse().unwrap_or(10_000)),
        },
        Some(_) => {
            return Err(EsError::bad_request(
                "parsing_exception",
                "[track_total_hits] must be a boolean or integer",
            ));
        }
    };
    let mut source = match object.get("_source") {
        Some(v) => SourceFilter::from_json(v)?,
        None => SourceFilter::all(),
    };
    if let Some(from_params) = SourceFilter::from_params(params) {
        source = from_params;
    }
    let total_as_int = params
        .get("rest_total_hits_as_int")
        .is_some_and(|v| v != "false");
    Ok(ParsedSearch {
        request: SearchRequest {
            query,
            from,
            size,
            sort,
            search_after,
            aggregations,
            track_total_hits,
            now: Timestamp::now(),
        },
        source,
        total_as_int,
    })
}

#[derive(Serialize)]
struct HitJson<'a> {
    _index: &'a str,
    _id: &'a str,
    _score: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    _source: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "<[Value]>::is_empty")]
    sort: &'a [Value],
}

/// Renders a search response in Elasticsearch's shape.
pub(crate) fn render(
    response: &SearchResponse,
    source: &SourceFilter,
    total_as_int: bool,
    started: Instant,
) -> Value {
    let hits: Vec<Value> = response
        .hits
        .iter()
        .map(|hit| {
            let json = HitJson {
                _index: &hit.index,
                _id: &hit.id,
                _score: hit.score,
                _source: source.apply(&hit.source),
                sort: &hit.sort,
            };
            serde_json::to_value(json).unwrap_or(Value::Null)
        })
        .collect();
    let mut hits_object = Map::new();
    if let Some((value, exact)) = response.total {
        if total_as_int {
            hits_object.insert("total".into(), json!(value));
        } else {
            hits_object.insert(
                "total".into(),
                json!({"value": value, "relation": if exact { "eq" } else { "gte" }}),
            );
        }
    }
    hits_object.insert("max_score".into(), json!(response.max_score));
    hits_object.insert("hits".into(), Value::Array(hits));
    let mut out = json!({
        "took": started.elapsed().as_millis() as u64,
        "timed_out": false,
        "_shards": {"total": response.shards, "successful": response.shards, "skipped": 0, "failed": 0},
        "hits": Value::Object(hits_object),
    });
    if let Some(aggs) = &response.aggregations {
        out["aggregations"] = aggs.clone();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_filtering() {
        let filter = SourceFilter {
            enabled: true,
            includes: vec!["kubernetes.*".into(), "message".into()],
            excludes: vec!["kubernetes.labels".into()],
        };
        let out = filter
            .apply(br#"{"message":"m","level":"x","kubernetes":{"pod":"p","labels":{"a":"b"}}}"#)
            .expect("enabled");
        assert_eq!(out.get(), r#"{"message":"m","kubernetes":{"pod":"p"}}"#);
        let identity = SourceFilter::all()
            .apply(br#"{"b":1,  "a":2}"#)
            .expect("enabled");
        assert_eq!(identity.get(), r#"{"b":1,  "a":2}"#);
    }

    #[test]
    fn sort_forms() {
        let specs =
            parse_sort(&json!(["@timestamp", {"status": "desc"}, {"_score": {"order": "asc"}}]))
                .expect("valid");
        assert_eq!(specs.len(), 3);
        assert!(!specs[0].descending && specs[1].descending && !specs[2].descending);
        assert!(parse_sort(&json!({"a": "sideways"})).is_err());
    }
}

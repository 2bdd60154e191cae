//! Elasticsearch query DSL (JSON) to [`QueryAst`].
//!
//! Errors name the JSON path of the offending clause, e.g. `[query.bool.must[1].range]`.

use serde_json::{Map, Value as Json};

use crate::ast::{BoolQuery, Bound, Operator, QueryAst, RangeQuery, Value};
use crate::kql::parse_kql;
use crate::lucene::{QueryStringOptions, parse_query_string};

/// A query the DSL parser rejects, with where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("[{path}] {message}")]
pub struct DslError {
    /// JSON path of the clause, dotted.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

fn err(path: &str, message: impl Into<String>) -> DslError {
    DslError {
        path: path.to_string(),
        message: message.into(),
    }
}

/// Parses the value of a `query` key.
pub fn parse_dsl(query: &Json) -> Result<QueryAst, DslError> {
    parse_at(query, "query")
}

fn parse_at(query: &Json, path: &str) -> Result<QueryAst, DslError> {
    let object = query
        .as_object()
        .ok_or_else(|| err(path, "query must be a JSON object"))?;
    if object.len() != 1 {
        return Err(err(
            path,
            format!(
                "a query object must have exactly one key (the query type), found {}",
                object.len()
            ),
        ));
    }
    let (kind, body) = object.iter().next().expect("one key");
    let here = format!("{path}.{kind}");
    let here = here.as_str();
    match kind.as_str() {
        "match_all" => Ok(boosted(QueryAst::MatchAll, body)),
        "match_none" => Ok(QueryAst::MatchNone),
        "bool" => parse_bool(body, here),
        "term" => {
            let (field, params) = single_field(body, here)?;
            let value = param_or_self(params, "value", here)?;
            Ok(boosted(
                QueryAst::Term {
                    field,
                    value: scalar(value, here)?,
                },
                params,
            ))
        }
        "terms" => {
            let object = body
                .as_object()
                .ok_or_else(|| err(here, "expected an object"))?;
            let (field, values) = object
                .iter()
                .find(|(k, _)| k.as_str() != "boost")
                .ok_or_else(|| err(here, "expected a field name"))?;
            let values = values
                .as_array()
                .ok_or_else(|| err(here, format!("[{field}] expected an array of values")))?
                .iter()
                .map(|v| scalar(v, here))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(boosted(
                QueryAst::Terms {
                    field: field.clone(),
                    values,
                },
                body,
            ))
        }
        "match" => {
            let (field, params) = single_field(body, here)?;
            let text = scalar(param_or_self(params, "query", here)?, here)?.to_text();
            let operator = operator(params.get("operator"), here)?;
            let fuzziness = fuzziness(params.get("fuzziness"), &text);
            Ok(boosted(
                QueryAst::Match {
                    field,
                    text,
                    operator,
                    fuzziness,
                },
                params,
            ))
        }
        "match_phrase" => {
            let (field, params) = single_field(body, here)?;
            let text = scalar(param_or_self(params, "query", here)?, here)?.to_text();
            let slop = params.get("slop").and_then(Json::as_u64).unwrap_or(0) as u32;
            Ok(boosted(QueryAst::MatchPhrase { field, text, slop }, params))
        }
        "match_phrase_prefix" => {
            let (field, params) = single_field(body, here)?;
            let text = scalar(param_or_self(params, "query", here)?, here)?.to_text();
            Ok(boosted(QueryAst::MatchPhrasePrefix { field, text }, params))
        }
        "multi_match" => parse_multi_match(body, here),
        "query_string" | "simple_query_string" => parse_query_string_clause(body, here),
        // Osprey's extension: a KQL query as its own clause.
        "kql" => {
            let mut body = body.clone();
            if let Some(object) = body.as_object_mut() {
                object.insert("language".into(), Json::String("kql".into()));
            }
            parse_query_string_clause(&body, here)
        }
        "range" => {
            let (field, params) = single_field(body, here)?;
            let params = params
                .as_object()
                .ok_or_else(|| err(here, "expected an object of bounds"))?;
            let mut lower = Bound::Unbounded;
            let mut upper = Bound::Unbounded;
            for (key, value) in params {
                let value_at = |v: &Json| scalar(v, &format!("{here}.{key}"));
                match key.as_str() {
                    "gte" => lower = Bound::Included(value_at(value)?),
                    "gt" => lower = Bound::Excluded(value_at(value)?),
                    "lte" => upper = Bound::Included(value_at(value)?),
                    "lt" => upper = Bound::Excluded(value_at(value)?),
                    "from" if !value.is_null() => lower = Bound::Included(value_at(value)?),
                    "to" if !value.is_null() => upper = Bound::Included(value_at(value)?),
                    "from" | "to" | "boost" | "format" | "time_zone" | "relation"
                    | "include_lower" | "include_upper" => {}
                    other => return Err(err(here, format!("unknown range parameter [{other}]"))),
                }
            }
            if params.get("include_lower") == Some(&Json::Bool(false)) {
                lower = exclusive(lower);
            }
            if params.get("include_upper") == Some(&Json::Bool(false)) {
                upper = exclusive(upper);
            }
            let format = params
                .get("format")
                .and_then(Json::as_str)
                .map(String::from);
            let time_zone = params
                .get("time_zone")
                .and_then(Json::as_str)
                .map(String::from);
            Ok(QueryAst::Range(RangeQuery {
                field,
                lower,
                upper,
                format,
                time_zone,
            }))
        }
        "exists" => {
            let field = body
                .get("field")
                .and_then(Json::as_str)
                .ok_or_else(|| err(here, "requires a [field] string"))?;
            Ok(QueryAst::Exists {
                field: field.to_string(),
            })
        }
        "prefix" => {
            let (field, params) = single_field(body, here)?;
            let prefix = scalar(param_or_self(params, "value", here)?, here)?.to_text();
            let case_insensitive = flag(params, "case_insensitive");
            Ok(QueryAst::Prefix {
                field,
                prefix,
                case_insensitive,
            })
        }
        "wildcard" => {
            let (field, params) = single_field(body, here)?;
            let pattern = match params.get("wildcard") {
                Some(w) => scalar(w, here)?.to_text(),
                None => scalar(param_or_self(params, "value", here)?, here)?.to_text(),
            };
            let case_insensitive = flag(params, "case_insensitive");
            Ok(QueryAst::Wildcard {
                field,
                pattern,
                case_insensitive,
            })
        }
        "regexp" => {
            let (field, params) = single_field(body, here)?;
            let pattern = scalar(param_or_self(params, "value", here)?, here)?.to_text();
            Ok(QueryAst::Regexp { field, pattern })
        }
        "fuzzy" => {
            let (field, params) = single_field(body, here)?;
            let value = scalar(param_or_self(params, "value", here)?, here)?.to_text();
            let distance = fuzziness(params.get("fuzziness"), &value)
                .unwrap_or_else(|| auto_fuzziness(&value));
            let prefix_length = params
                .get("prefix_length")
                .and_then(Json::as_u64)
                .unwrap_or(0) as u32;
            let transpositions = params
                .get("transpositions")
                .and_then(Json::as_bool)
                .unwrap_or(true);
            Ok(QueryAst::Fuzzy {
                field,
                value,
                distance,
                prefix_length,
                transpositions,
            })
        }
        "ids" => {
            let values = body
                .get("values")
                .and_then(Json::as_array)
                .ok_or_else(|| err(here, "requires a [values] array"))?
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(String::from)
                        .ok_or_else(|| err(here, "ids must be strings"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(QueryAst::Ids { values })
        }
        "constant_score" => {
            let filter = body
                .get("filter")
                .ok_or_else(|| err(here, "requires a [filter]"))?;
            let inner = parse_at(filter, &format!("{here}.filter"))?;
            let boost = body.get("boost").and_then(Json::as_f64).unwrap_or(1.0) as f32;
            Ok(QueryAst::ConstantScore {
                query: Box::new(inner),
                boost,
            })
        }
        other => Err(err(path, format!("unknown query [{other}]"))),
    }
}

fn exclusive(bound: Bound) -> Bound {
    match bound {
        Bound::Included(v) => Bound::Excluded(v),
        other => other,
    }
}

fn flag(params: &Json, key: &str) -> bool {
    params.get(key).and_then(Json::as_bool).unwrap_or(false)
}

fn boosted(query: QueryAst, params: &Json) -> QueryAst {
    match params.get("boost").and_then(Json::as_f64) {
        Some(boost) if (boost - 1.0).abs() > f64::EPSILON => QueryAst::Boost {
            query: Box::new(query),
            boost: boost as f32,
        },
        _ => query,
    }
}

/// `{"field": value}` or `{"field": {"value": ...}}`: returns the field and its parameters.
fn single_field<'a>(body: &'a Json, path: &str) -> Result<(String, &'a Json), DslError> {
    let object = body
        .as_object()
        .ok_or_else(|| err(path, "expected an object with a field name"))?;
    let mut fields = object
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "boost" | "_name"));
    let (field, params) = fields
        .next()
        .ok_or_else(|| err(path, "expected a field name"))?;
    if fields.next().is_some() {
        return Err(err(path, "query does not support multiple fields"));
    }
    Ok((field.clone(), params))
}

/// Short form `{"f": "x"}` or long form `{"f": {"query": "x"}}`.
fn param_or_self<'a>(params: &'a Json, key: &str, path: &str) -> Result<&'a Json, DslError> {
    match params {
        Json::Object(map) => map
            .get(key)
            .ok_or_else(|| err(path, format!("requires [{key}]"))),
        other => Ok(other),
    }
}

fn scalar(value: &Json, path: &str) -> Result<Value, DslError> {
    match value {
        Json::Bool(b) => Ok(Value::Bool(*b)),
        Json::Number(n) => Ok(match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Json::String(s) => Ok(Value::Str(s.clone())),
        Json::Null => Err(err(path, "value must not be null")),
        _ => Err(err(path, "expected a string, number or boolean")),
    }
}

fn operator(value: Option<&Json>, path: &str) -> Result<Operator, DslError> {
    match value
        .and_then(Json::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("or") => Ok(Operator::Or),
        Some("and") => Ok(Operator::And),
        Some(other) => Err(err(
            path,
            format!("operator must be AND or OR, got [{other}]"),
        )),
    }
}

/// Elasticsearch's `AUTO` fuzziness: 0 edits up to 2 chars, 1 up to 5, else 2.
fn auto_fuzziness(text: &str) -> u8 {
    match text.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    }
}

fn fuzziness(value: Option<&Json>, text: &str) -> Option<u8> {
    match value? {
        Json::Number(n) => n.as_u64().map(|d| d.min(2) as u8),
        Json::String(s) if s.eq_ignore_ascii_case("auto") || s.starts_with("AUTO") => {
            Some(auto_fuzziness(text))
        }
        Json::String(s) => s.parse::<u8>().ok().map(|d| d.min(2)),
        _ => None,
    }
}

fn clauses(value: Option<&Json>, path: &str) -> Result<Vec<QueryAst>, DslError> {
    match value {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(Json::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_at(item, &format!("{path}[{i}]")))
            .collect(),
        Some(single) => Ok(vec![parse_at(single, path)?]),
    }
}

fn parse_bool(body: &Json, path: &str) -> Result<QueryAst, DslError> {
    let object: &Map<String, Json> = body
        .as_object()
        .ok_or_else(|| err(path, "expected an object"))?;
    for key in object.keys() {
        if !matches!(
            key.as_str(),
            "must"
                | "should"
                | "must_not"
                | "filter"
                | "minimum_should_match"
                | "boost"
                | "_name"
                | "adjust_pure_negative"
        ) {
            return Err(err(path, format!("unknown bool clause [{key}]")));
        }
    }
    let bool_query = BoolQuery {
        must: clauses(object.get("must"), &format!("{path}.must"))?,
        should: clauses(object.get("should"), &format!("{path}.should"))?,
        must_not: clauses(object.get("must_not"), &format!("{path}.must_not"))?,
        filter: clauses(object.get("filter"), &format!("{path}.filter"))?,
        minimum_should_match: match object.get("minimum_should_match") {
            None => None,
            Some(Json::Number(n)) => n.as_u64().map(|n| n as u32),
            Some(Json::String(s)) => {
                let should = object
                    .get("should")
                    .map_or(0, |s| s.as_array().map_or(1, Vec::len));
                Some(
                    minimum_should_match_from_text(s, should).ok_or_else(|| {
                        err(path, format!("cannot parse minimum_should_match [{s}]"))
                    })?,
                )
            }
            Some(_) => return Err(err(path, "minimum_should_match must be a number or string")),
        },
    };
    Ok(boosted(QueryAst::Bool(bool_query), body))
}

/// `"2"`, `"-1"`, `"75%"`, `"-25%"` relative to the number of optional clauses.
fn minimum_should_match_from_text(text: &str, optional: usize) -> Option<u32> {
    let text = text.trim();
    let optional = optional as i64;
    let count = if let Some(percent) = text.strip_suffix('%') {
        let percent: i64 = percent.parse().ok()?;
        let part = optional * percent.abs() / 100;
        if percent < 0 { optional - part } else { part }
    } else {
        let n: i64 = text.parse().ok()?;
        if n < 0 { optional + n } else { n }
    };
    Some(count.clamp(0, optional.max(0)) as u32)
}

fn parse_multi_match(body: &Json, path: &str) -> Result<QueryAst, DslError> {
    let text = body
        .get("query")
        .map(|q| scalar(q, path))
        .transpose()?
        .ok_or_else(|| err(path, "requires [query]"))?
        .to_text();
    let fields: Vec<String> = match body.get("fields") {
        Some(Json::Array(items)) => items
            .iter()
            .filter_map(Json::as_str)
            .map(strip_field_boost)
            .collect(),
        _ => vec!["*".to_string()],
    };
    let operator = operator(body.get("operator"), path)?;
    let kind = body
        .get("type")
        .and_then(Json::as_str)
        .unwrap_or("best_fields");
    let per_field = |field: String| -> QueryAst {
        match kind {
            "phrase" => QueryAst::MatchPhrase {
                field,
                text: text.clone(),
                slop: 0,
            },
            "phrase_prefix" | "bool_prefix" => QueryAst::MatchPhrasePrefix {
                field,
                text: text.clone(),
            },
            _ => QueryAst::Match {
                field,
                text: text.clone(),
                operator,
                fuzziness: None,
            },
        }
    };
    let should: Vec<QueryAst> = fields.into_iter().map(per_field).collect();
    Ok(QueryAst::Bool(BoolQuery {
        should,
        minimum_should_match: Some(1),
        ..BoolQuery::default()
    }))
}

fn strip_field_boost(field: &str) -> String {
    field.split('^').next().unwrap_or(field).to_string()
}

fn parse_query_string_clause(body: &Json, path: &str) -> Result<QueryAst, DslError> {
    let query = body
        .get("query")
        .and_then(Json::as_str)
        .ok_or_else(|| err(path, "requires a [query] string"))?;
    let mut options = QueryStringOptions::default();
    if let Some(field) = body.get("default_field").and_then(Json::as_str) {
        options.default_fields = vec![field.to_string()];
    }
    if let Some(Json::Array(fields)) = body.get("fields") {
        options.default_fields = fields
            .iter()
            .filter_map(Json::as_str)
            .map(strip_field_boost)
            .collect();
    }
    if let Some(op) = body.get("default_operator") {
        options.default_operator = operator(Some(op), path)?;
    }
    if let Some(allow) = body.get("allow_leading_wildcard").and_then(Json::as_bool) {
        options.allow_leading_wildcard = allow;
    }
    // Osprey's extension: `"language": "kql"` reads the query as Kibana's KQL.
    match body.get("language").and_then(Json::as_str) {
        None | Some("lucene") => {
            parse_query_string(query, &options).map_err(|e| err(path, e.to_string()))
        }
        Some("kql" | "kuery") => {
            parse_kql(query, &options.default_fields).map_err(|e| err(path, e.to_string()))
        }
        Some(other) => Err(err(
            &format!("{path}.language"),
            format!("unknown query language [{other}]: expected lucene or kql"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_bool_with_nested_clauses() {
        let q = parse_dsl(&json!({"bool": {
            "must": [{"match": {"message": "error"}}],
            "filter": {"range": {"@timestamp": {"gte": "now-15m", "lt": "now"}}},
            "must_not": [{"term": {"stream.keyword": "stdout"}}]
        }}))
        .expect("valid");
        let QueryAst::Bool(b) = q else {
            panic!("not bool")
        };
        assert_eq!(b.must.len(), 1);
        assert_eq!(b.filter.len(), 1);
        assert_eq!(
            b.must_not,
            vec![QueryAst::Term {
                field: "stream.keyword".into(),
                value: Value::Str("stdout".into())
            }]
        );
    }

    #[test]
    fn errors_name_the_path() {
        let e = parse_dsl(&json!({"bool": {"must": [{"match_all": {}}, {"nope": {}}]}}))
            .expect_err("unknown");
        assert_eq!(e.to_string(), "[query.bool.must[1]] unknown query [nope]");
        let e = parse_dsl(&json!({"range": {"x": {"gte": [1]}}})).expect_err("array bound");
        assert!(e.to_string().contains("query.range.gte"), "{e}");
    }

    #[test]
    fn minimum_should_match_forms() {
        assert_eq!(minimum_should_match_from_text("75%", 4), Some(3));
        assert_eq!(minimum_should_match_from_text("-1", 4), Some(3));
        assert_eq!(minimum_should_match_from_text("-25%", 4), Some(3));
        assert_eq!(minimum_should_match_from_text("9", 4), Some(4));
    }
}

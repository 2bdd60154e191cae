//! Elasticsearch's `filter_path` response filtering: `?filter_path=errors,items.*.status`
//! keeps only those paths of the answer. Shippers ask it of `_bulk` (Logstash sends
//! `errors,items.*.error,items.*.status`) so that an answer of thousands of items stays small.
//!
//! As Elasticsearch: paths are comma-separated, dot-separated keys; `*` in a key matches any
//! characters, a key `**` any number of levels; arrays are passed through (the path applies to
//! their elements); what no path reaches is left out, and an answer nothing matches is `{}`.

use osprey_store::wildcard_match;
use serde_json::{Map, Value};

/// The paths of a `filter_path` parameter; `None` when it keeps everything (absent or empty).
pub(crate) fn parse(param: Option<&String>) -> Option<Vec<Vec<String>>> {
    let paths: Vec<Vec<String>> = param?
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| p.split('.').map(str::to_string).collect())
        .collect();
    (!paths.is_empty()).then_some(paths)
}

/// `value` with only what `paths` reach.
pub(crate) fn apply(value: &Value, paths: &[Vec<String>]) -> Value {
    let patterns: Vec<&[String]> = paths.iter().map(Vec::as_slice).collect();
    filter(value, &patterns).unwrap_or_else(|| Value::Object(Map::new()))
}

fn filter(value: &Value, patterns: &[&[String]]) -> Option<Value> {
    if patterns.iter().any(|p| p.is_empty()) {
        return Some(value.clone());
    }
    match value {
        Value::Object(map) => {
            let mut kept = Map::new();
            for (key, inner) in map {
                let mut next: Vec<&[String]> = Vec::new();
                for pattern in patterns {
                    if pattern[0] == "**" {
                        // `**` takes this key and stays, or matches no level at all.
                        next.push(pattern);
                        if pattern.len() == 1 {
                            next.push(&pattern[1..]);
                        } else if wildcard_match(&pattern[1], key) {
                            next.push(&pattern[2..]);
                        }
                    } else if wildcard_match(&pattern[0], key) {
                        next.push(&pattern[1..]);
                    }
                }
                if !next.is_empty()
                    && let Some(inner) = filter(inner, &next)
                {
                    kept.insert(key.clone(), inner);
                }
            }
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        Value::Array(items) => {
            let kept: Vec<Value> = items.iter().filter_map(|i| filter(i, patterns)).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filtered(value: Value, param: &str) -> Value {
        apply(&value, &parse(Some(&param.to_string())).expect("paths"))
    }

    #[test]
    fn bulk_answers_keep_what_shippers_ask_for() {
        let answer = json!({"took": 3, "errors": true, "items": [
            {"index": {"_index": "a", "_id": "1", "status": 201, "result": "created"}},
            {"create": {"_index": "a", "_id": "2", "status": 409,
                        "error": {"type": "version_conflict_engine_exception", "reason": "exists"}}},
        ]});
        assert_eq!(
            filtered(answer.clone(), "errors,items.*.error,items.*.status"),
            json!({"errors": true, "items": [
                {"index": {"status": 201}},
                {"create": {"status": 409, "error": {"type": "version_conflict_engine_exception", "reason": "exists"}}},
            ]})
        );
        assert_eq!(filtered(answer.clone(), "took"), json!({"took": 3}));
        assert_eq!(filtered(answer.clone(), "nothing.here"), json!({}));
        assert_eq!(
            filtered(answer.clone(), "**.status"),
            json!({"items": [{"index": {"status": 201}}, {"create": {"status": 409}}]})
        );
        assert_eq!(
            filtered(answer, "items.*._i*"),
            json!({"items": [{"index": {"_index": "a", "_id": "1"}}, {"create": {"_index": "a", "_id": "2"}}]})
        );
        assert_eq!(parse(Some(&" , ".to_string())), None);
        assert_eq!(parse(None), None);
    }
}

//! SAMPLING: Jaeger's sampling-strategy endpoint (`GET /sampling?service=`), the one Jaeger
//! clients' remote samplers poll, answered in Jaeger's JSON.
//!
//! Strategies come from a Jaeger strategies file (`[sampling] strategies_file`, the format of
//! Jaeger's `--sampling.strategies-file`, plus `const`), re-read when it changes; a file that
//! no longer parses is reported and the previous strategies stay in force. Services the file
//! does not name get the default strategy, or — with `[sampling] adaptive = true` — adaptive
//! per-operation probabilities that steer each operation toward
//! `target_traces_per_second` from the root spans actually received.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use osprey_trace::{AttrValue, Span, model::find_attr};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::SamplingSettings;

/// One strategy of the file: `probabilistic` (param = probability), `ratelimiting` (param =
/// traces per second) or `const` (param 1 = every trace, 0 = none).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStrategy {
    #[serde(default)]
    service: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    param: f64,
    #[serde(default)]
    operation_strategies: Vec<OperationStrategy>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct OperationStrategy {
    operation: String,
    #[serde(rename = "type")]
    kind: String,
    param: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StrategiesFile {
    #[serde(default)]
    service_strategies: Vec<FileStrategy>,
    #[serde(default)]
    default_strategy: Option<FileStrategy>,
}

/// A strategies file that cannot be used; says what and where.
#[derive(Debug, thiserror::Error)]
#[error("sampling strategies file {path}: {reason}")]
pub struct StrategiesError {
    path: String,
    reason: String,
}

fn probability_of(kind: &str, param: f64) -> Result<f64, String> {
    match kind {
        "probabilistic" if (0.0..=1.0).contains(&param) => Ok(param),
        "const" if param == 0.0 || param == 1.0 => Ok(param),
        "probabilistic" => Err(format!(
            "probabilistic param {param} is not between 0 and 1"
        )),
        "const" => Err(format!("const param {param} is neither 0 nor 1")),
        other => Err(format!(
            "operation strategies are probabilistic or const, not {other:?}"
        )),
    }
}

impl StrategiesFile {
    fn parse(text: &str) -> Result<StrategiesFile, String> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let file: StrategiesFile = serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|e| format!("{} at {}", e.inner(), e.path()))?;
        for (i, strategy) in file
            .service_strategies
            .iter()
            .chain(file.default_strategy.iter())
            .enumerate()
        {
            strategy_json(strategy).map_err(|reason| match &strategy.service {
                Some(service) => format!("service_strategies[{i}] ({service}): {reason}"),
                None => format!("default_strategy: {reason}"),
            })?;
            if i < file.service_strategies.len() && strategy.service.is_none() {
                return Err(format!("service_strategies[{i}] has no \"service\""));
            }
        }
        Ok(file)
    }
}

/// Jaeger's JSON for one strategy.
fn strategy_json(strategy: &FileStrategy) -> Result<Value, String> {
    let mut answer = match strategy.kind.as_str() {
        "ratelimiting" | "rate_limiting" => {
            if !(0.0..=1e6).contains(&strategy.param) {
                return Err(format!(
                    "ratelimiting param {} is not a rate",
                    strategy.param
                ));
            }
            json!({"strategyType": "RATE_LIMITING",
                   "rateLimitingSampling": {"maxTracesPerSecond": strategy.param as i64}})
        }
        kind => {
            let p = probability_of(kind, strategy.param)?;
            json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": p}})
        }
    };
    if !strategy.operation_strategies.is_empty() {
        let default_probability = match strategy.kind.as_str() {
            "probabilistic" | "const" => strategy.param,
            _ => 1.0,
        };
        let mut operations = Vec::new();
        for op in &strategy.operation_strategies {
            let p = probability_of(&op.kind, op.param)
                .map_err(|reason| format!("operation {:?}: {reason}", op.operation))?;
            operations.push(
                json!({"operation": op.operation, "probabilisticSampling": {"samplingRate": p}}),
            );
        }
        answer["operationSampling"] = json!({
            "defaultSamplingProbability": default_probability,
            "defaultLowerBoundTracesPerSecond": 0.0,
            "perOperationStrategies": operations,
        });
    }
    Ok(answer)
}

/// Every operation keeps at least one trace a minute whatever its probability (Jaeger's
/// adaptive default); clients enforce it with a rate limiter.
const ADAPTIVE_LOWER_BOUND_TRACES_PER_SECOND: f64 = 1.0 / 60.0;
/// Operations adaptive sampling tracks at most (names with ids in them must not grow memory).
const MAX_ADAPTIVE_OPERATIONS: usize = 100_000;

/// Root spans seen per operation since the last adaptive step, with the probability their
/// client reported sampling them at (the `sampler.param` tag of Jaeger clients).
#[derive(Debug, Default)]
struct Observed {
    roots: u64,
    /// Sum of 1/p over the roots: the number of traces they stand for.
    represented: f64,
}

/// The sampling service: strategies, their reloading, and adaptive probabilities.
#[derive(Debug)]
pub struct Sampling {
    settings: SamplingSettings,
    file: RwLock<StrategiesFile>,
    file_modified: Mutex<Option<SystemTime>>,
    observed: Mutex<HashMap<(String, String), Observed>>,
    /// Adaptive probability per (service, operation).
    adaptive: RwLock<BTreeMap<(String, String), f64>>,
}

impl Sampling {
    /// Reads the strategies file (if any); a bad file at startup is an error.
    pub fn new(settings: SamplingSettings) -> Result<Sampling, StrategiesError> {
        let sampling = Sampling {
            settings,
            file: RwLock::new(StrategiesFile::default()),
            file_modified: Mutex::new(None),
            observed: Mutex::new(HashMap::new()),
            adaptive: RwLock::new(BTreeMap::new()),
        };
        sampling.reload_if_changed()?;
        Ok(sampling)
    }

    fn path(&self) -> Option<PathBuf> {
        (!self.settings.strategies_file.is_empty())
            .then(|| PathBuf::from(&self.settings.strategies_file))
    }

    /// Re-reads the strategies file when its modification time changed. Returns whether it did.
    pub fn reload_if_changed(&self) -> Result<bool, StrategiesError> {
        let Some(path) = self.path() else {
            return Ok(false);
        };
        let error = |reason: String| StrategiesError {
            path: path.display().to_string(),
            reason,
        };
        let modified = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .map_err(|e| error(e.to_string()))?;
        let mut last = self.file_modified.lock().unwrap_or_else(|e| e.into_inner());
        if *last == Some(modified) {
            return Ok(false);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| error(e.to_string()))?;
        // Remember the attempt either way: a broken file is reported once, not every poll.
        *last = Some(modified);
        let parsed = StrategiesFile::parse(&text).map_err(error)?;
        *self.file.write().unwrap_or_else(|e| e.into_inner()) = parsed;
        Ok(true)
    }

    /// The strategy for a service, in Jaeger's JSON.
    pub fn strategy_for(&self, service: &str) -> Value {
        let file = self.file.read().unwrap_or_else(|e| e.into_inner());
        if let Some(strategy) = file
            .service_strategies
            .iter()
            .find(|s| s.service.as_deref() == Some(service))
        {
            return strategy_json(strategy).unwrap_or(Value::Null);
        }
        let default_probability = self.settings.default_probability;
        if self.settings.adaptive {
            let adaptive = self.adaptive.read().unwrap_or_else(|e| e.into_inner());
            let operations: Vec<Value> = adaptive
                .range((service.to_string(), String::new())..)
                .take_while(|((s, _), _)| s == service)
                .map(|((_, op), p)| json!({"operation": op, "probabilisticSampling": {"samplingRate": p}}))
                .collect();
            return json!({
                "strategyType": "PROBABILISTIC",
                "probabilisticSampling": {"samplingRate": default_probability},
                "operationSampling": {
                    "defaultSamplingProbability": default_probability,
                    "defaultLowerBoundTracesPerSecond": ADAPTIVE_LOWER_BOUND_TRACES_PER_SECOND,
                    "perOperationStrategies": operations,
                },
            });
        }
        match &file.default_strategy {
            Some(strategy) => strategy_json(strategy).unwrap_or(Value::Null),
            None => json!({"strategyType": "PROBABILISTIC",
                           "probabilisticSampling": {"samplingRate": default_probability}}),
        }
    }

    /// Counts root spans for adaptive sampling.
    pub fn observe(&self, spans: &[Span]) {
        if !self.settings.adaptive {
            return;
        }
        let mut observed = self.observed.lock().unwrap_or_else(|e| e.into_inner());
        for span in spans.iter().filter(|s| s.parent_span_id.is_none()) {
            let probability = match (
                find_attr(&span.attributes, "sampler.type"),
                find_attr(&span.attributes, "sampler.param"),
            ) {
                (Some(AttrValue::Str(t)), Some(AttrValue::Double(p)))
                    if t == "probabilistic" && *p > 0.0 =>
                {
                    *p
                }
                _ => self.current_probability(&span.resource.service_name, &span.operation_name),
            };
            let entry = observed
                .entry((
                    span.resource.service_name.clone(),
                    span.operation_name.clone(),
                ))
                .or_default();
            entry.roots += 1;
            entry.represented += 1.0 / probability.max(self.settings.min_probability);
        }
    }

    fn current_probability(&self, service: &str, operation: &str) -> f64 {
        self.adaptive
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(service.to_string(), operation.to_string()))
            .copied()
            .unwrap_or(self.settings.default_probability)
    }

    /// One adaptive step over the last `elapsed`: each observed operation gets the probability
    /// that would have kept `target_traces_per_second` of its traffic.
    pub fn adapt(&self, elapsed: Duration) {
        let observed =
            std::mem::take(&mut *self.observed.lock().unwrap_or_else(|e| e.into_inner()));
        let seconds = elapsed.as_secs_f64().max(0.001);
        let mut adaptive = self.adaptive.write().unwrap_or_else(|e| e.into_inner());
        for (key, seen) in observed {
            if seen.roots == 0 {
                continue;
            }
            let traffic_per_second = seen.represented / seconds;
            let probability = (self.settings.target_traces_per_second / traffic_per_second)
                .clamp(self.settings.min_probability, 1.0);
            if adaptive.len() < MAX_ADAPTIVE_OPERATIONS || adaptive.contains_key(&key) {
                adaptive.insert(key, probability);
            }
        }
    }

    /// Background work until `stop`: reload the file, take adaptive steps.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let reload = Duration::from_secs(self.settings.reload_interval_secs.max(1));
        let adapt_every = Duration::from_secs(self.settings.adaptive_interval_secs.max(1));
        let mut reload_tick = tokio::time::interval(reload);
        let mut adapt_tick = tokio::time::interval(adapt_every);
        // After a stall, one late step over the whole gap, not a burst of near-empty ones.
        reload_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        adapt_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_adapt = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = reload_tick.tick() => {
                    let this = self.clone();
                    match tokio::task::spawn_blocking(move || this.reload_if_changed()).await {
                        Ok(Ok(true)) => tracing::info!(file = %self.settings.strategies_file, "sampling strategies reloaded"),
                        Ok(Ok(false)) => {}
                        Ok(Err(error)) => tracing::error!(%error, "sampling strategies not reloaded; the previous ones stay in force"),
                        Err(error) => tracing::error!(%error, "sampling reload task failed"),
                    }
                }
                _ = adapt_tick.tick(), if self.settings.adaptive => {
                    let now = tokio::time::Instant::now();
                    self.adapt(now - last_adapt);
                    last_adapt = now;
                }
                // Only `true` is ever sent: any change (or a dropped sender) means stop.
                _ = stop.changed() => break,
            }
        }
    }
}

/// The routes of the SAMPLING listener: `/sampling` and, as the Jaeger agent also answers, `/`.
pub fn router(sampling: Arc<Sampling>) -> Router {
    Router::new()
        .route("/sampling", get(strategy))
        .route("/", get(strategy))
        .with_state(sampling)
}

async fn strategy(State(sampling): State<Arc<Sampling>>, RawQuery(query): RawQuery) -> Response {
    let services: Vec<String> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == "service")
        .map(|(_, v)| v.into_owned())
        .collect();
    match services.as_slice() {
        [service] if !service.is_empty() => {
            axum::Json(sampling.strategy_for(service)).into_response()
        }
        _ => (
            StatusCode::BAD_REQUEST,
            "'service' parameter must be provided once\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osprey_trace::{Resource, SpanId, TraceId};

    fn settings(file: &str) -> SamplingSettings {
        SamplingSettings {
            strategies_file: file.to_string(),
            ..SamplingSettings::default()
        }
    }

    const FILE: &str = r#"{
      "service_strategies": [
        {"service": "foo", "type": "probabilistic", "param": 0.8,
         "operation_strategies": [{"operation": "op1", "type": "probabilistic", "param": 0.2}]},
        {"service": "bar", "type": "ratelimiting", "param": 5},
        {"service": "all", "type": "const", "param": 1}
      ],
      "default_strategy": {"type": "probabilistic", "param": 0.5}
    }"#;

    #[test]
    fn file_strategies_in_jaeger_json() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("strategies.json");
        std::fs::write(&path, FILE).expect("write");
        let sampling = Sampling::new(settings(&path.display().to_string())).expect("valid file");
        assert_eq!(
            sampling.strategy_for("foo"),
            json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.8},
                   "operationSampling": {"defaultSamplingProbability": 0.8, "defaultLowerBoundTracesPerSecond": 0.0,
                       "perOperationStrategies": [{"operation": "op1", "probabilisticSampling": {"samplingRate": 0.2}}]}})
        );
        assert_eq!(
            sampling.strategy_for("bar"),
            json!({"strategyType": "RATE_LIMITING", "rateLimitingSampling": {"maxTracesPerSecond": 5}})
        );
        assert_eq!(
            sampling.strategy_for("all")["probabilisticSampling"]["samplingRate"],
            1.0
        );
        assert_eq!(
            sampling.strategy_for("other")["probabilisticSampling"]["samplingRate"],
            0.5
        );
    }

    #[test]
    fn bad_files_say_where() {
        for (text, word) in [
            (
                r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": 2}]}"#,
                "between 0 and 1",
            ),
            (
                r#"{"service_strategies": [{"type": "probabilistic", "param": 0.5}]}"#,
                "no \"service\"",
            ),
            (
                r#"{"default_strategy": {"type": "sometimes", "param": 1}}"#,
                "sometimes",
            ),
            (r#"{"service_strategies": 5}"#, "service_strategies"),
        ] {
            let error = StrategiesFile::parse(text).expect_err(text);
            assert!(error.contains(word), "{error}");
        }
    }

    #[test]
    fn adaptive_steers_each_operation_to_the_target() {
        let sampling = Sampling::new(SamplingSettings {
            adaptive: true,
            target_traces_per_second: 2.0,
            ..SamplingSettings::default()
        })
        .expect("no file");
        let root = |op: &str| Span {
            trace_id: TraceId(1),
            span_id: SpanId(1),
            operation_name: op.into(),
            resource: Resource {
                service_name: "web".into(),
                attributes: vec![],
            },
            attributes: vec![
                osprey_trace::KeyValue::string("sampler.type", "probabilistic"),
                osprey_trace::KeyValue {
                    key: "sampler.param".into(),
                    value: AttrValue::Double(1.0),
                },
            ],
            ..Span::default()
        };
        // 10 s: "hot" saw 1000 traces (100/s), "cold" 10 (1/s), all sampled at probability 1.
        let mut spans: Vec<Span> = (0..1000).map(|_| root("hot")).collect();
        spans.extend((0..10).map(|_| root("cold")));
        sampling.observe(&spans);
        sampling.adapt(Duration::from_secs(10));
        let strategy = sampling.strategy_for("web");
        let operations = strategy["operationSampling"]["perOperationStrategies"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let rate = |op: &str| {
            operations
                .iter()
                .find(|o| o["operation"] == op)
                .and_then(|o| o["probabilisticSampling"]["samplingRate"].as_f64())
        };
        assert_eq!(rate("hot"), Some(0.02));
        assert_eq!(rate("cold"), Some(1.0));
    }
}

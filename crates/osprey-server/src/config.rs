//! Server configuration: defaults, then the TOML file, then `OSPREY_*` environment variables,
//! then command-line flags. `osprey.example.toml` at the repository root lists every option
//! with its default; a test keeps the two in step.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::listeners::Listener;

/// Everything `osprey serve` can be told.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where data lives (WAL, partitions, catalogue).
    pub data_dir: PathBuf,
    /// Listener addresses by lower-case name; `"off"` disables one.
    pub listeners: BTreeMap<String, String>,
    /// Storage engine settings.
    pub store: StoreSettings,
    /// HTTP limits.
    pub http: HttpSettings,
    /// Osprey's own logs.
    pub log: LogSettings,
    /// Jaeger sampling strategies (SAMPLING listener).
    pub sampling: SamplingSettings,
    /// The span store.
    pub traces: TraceSettings,
    /// The Fluentd forward protocol (FORWARD listener).
    pub forward: ForwardSettings,
}

/// `[forward]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForwardSettings {
    /// The index of each event: `%Y`, `%m`, `%d` are the event's UTC date, `${tag}` its tag.
    pub index: String,
    /// The field that gets the event's tag ("" for none); a record's own field wins.
    pub tag_key: String,
}

impl Default for ForwardSettings {
    fn default() -> Self {
        ForwardSettings {
            index: "logstash-%Y.%m.%d".into(),
            tag_key: "tag".into(),
        }
    }
}

/// `[traces]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceSettings {
    /// Spans are written from memory (and the WAL) to a block once they take this many
    /// megabytes… Env: OSPREY_TRACES_HEAD_MAX_MB.
    pub head_max_mb: u64,
    /// …or once the oldest of them is this many seconds old.
    pub head_max_age_secs: u64,
}

impl Default for TraceSettings {
    fn default() -> Self {
        TraceSettings {
            head_max_mb: 32,
            head_max_age_secs: 600,
        }
    }
}

/// `[sampling]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingSettings {
    /// A Jaeger strategies file (JSON); empty for none. Env: OSPREY_SAMPLING_STRATEGIES_FILE.
    pub strategies_file: String,
    /// Seconds between checks of the strategies file for changes.
    pub reload_interval_secs: u64,
    /// Probability for services without a strategy (Jaeger's default, 0.001).
    pub default_probability: f64,
    /// Steer each operation of services without a file strategy toward
    /// `target_traces_per_second`, from the root spans received.
    pub adaptive: bool,
    /// Adaptive sampling's target, traces per second per operation.
    pub target_traces_per_second: f64,
    /// Seconds between adaptive recalculations.
    pub adaptive_interval_secs: u64,
    /// Lowest probability adaptive sampling hands out.
    pub min_probability: f64,
}

impl Default for SamplingSettings {
    fn default() -> Self {
        SamplingSettings {
            strategies_file: String::new(),
            reload_interval_secs: 10,
            default_probability: 0.001,
            adaptive: false,
            target_traces_per_second: 1.0,
            adaptive_interval_secs: 60,
            min_probability: 0.00001,
        }
    }
}

/// `[store]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// Milliseconds between commits that make new documents searchable.
    pub refresh_interval_ms: u64,
    /// Seconds without a search after which the store is search idle (Elasticsearch's
    /// `index.search.idle.after`): it then commits only every 5 s, so bulk loads write fewer,
    /// larger segments, and the next search commits first, so it still sees every
    /// acknowledged document. 0: never idle.
    pub search_idle_after_secs: u64,
    /// Drop partitions (whole days) older than this many days; 0 keeps everything.
    pub retention_days: u64,
    /// Drop the oldest partitions while the data exceeds this many megabytes; 0 = no limit.
    pub retention_max_mb: u64,
    /// Indexing memory per active partition writer, in megabytes (at least 15).
    pub writer_memory_mb: u64,
    /// Indexing threads per active partition writer (each with `writer_memory_mb`).
    pub writer_threads: usize,
    /// Seconds after which an unused partition writer is closed to return its memory.
    pub idle_writer_timeout_secs: u64,
    /// Megabytes kept in reserve (at most a quarter of the filesystem) so acknowledged data can
    /// always be committed when the disk fills up; writes are refused (429) below it.
    pub disk_reserve_mb: u64,
    /// Megabytes of decompressed postings and positions of compact (merged past-day)
    /// segments kept in memory, for all indexes together.
    pub block_cache_mb: u64,
}

/// `[http]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Largest accepted request body (after decompression), in megabytes.
    pub max_body_mb: u64,
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` or `json`.
    pub format: String,
    /// A `tracing` filter, e.g. `info` or `osprey_store=debug,info`.
    pub level: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("osprey-data"),
            listeners: Listener::ALL
                .iter()
                .map(|l| (l.config_key(), l.default_addr()))
                .collect(),
            store: StoreSettings::default(),
            http: HttpSettings::default(),
            log: LogSettings::default(),
            sampling: SamplingSettings::default(),
            traces: TraceSettings::default(),
            forward: ForwardSettings::default(),
        }
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            refresh_interval_ms: 500,
            search_idle_after_secs: 30,
            retention_days: 0,
            retention_max_mb: 0,
            writer_memory_mb: 64,
            writer_threads: 2,
            idle_writer_timeout_secs: 30,
            disk_reserve_mb: 64,
            block_cache_mb: 32,
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings { max_body_mb: 100 }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// File.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
    /// A value is not valid.
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Reads a TOML file over the defaults.
    pub fn from_file(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        Config::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.into(),
            message,
        })
    }

    /// Parses TOML over the defaults.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let mut config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        let defaults = Config::default();
        for (key, value) in defaults.listeners {
            config.listeners.entry(key).or_insert(value);
        }
        Ok(config)
    }

    /// Applies `OSPREY_<NAME>_ADDR` and `OSPREY_DATA_DIR` from an environment lookup.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        for listener in Listener::ALL {
            if let Some(value) = lookup(&listener.env_var()) {
                self.listeners.insert(listener.config_key(), value);
            }
        }
        if let Some(dir) = lookup("OSPREY_DATA_DIR") {
            self.data_dir = PathBuf::from(dir);
        }
        if let Some(file) = lookup("OSPREY_SAMPLING_STRATEGIES_FILE") {
            self.sampling.strategies_file = file;
        }
        if let Some(mb) = lookup("OSPREY_TRACES_HEAD_MAX_MB").and_then(|v| v.parse().ok()) {
            self.traces.head_max_mb = mb;
        }
    }

    /// The address of a listener, or `None` when it is `off`.
    pub fn listener_addr(
        &self,
        listener: Listener,
    ) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        let value = self
            .listeners
            .get(&listener.config_key())
            .cloned()
            .unwrap_or_else(|| listener.default_addr());
        if value.trim().eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let value = if value.starts_with(':') {
            format!("0.0.0.0{value}")
        } else {
            value
        };
        value.parse().map(Some).map_err(|_| {
            ConfigError::Invalid(format!(
                "listener {} ({}): [{value}] is not an address like 127.0.0.1:{} or \"off\"",
                listener,
                listener.env_var(),
                listener.default_port()
            ))
        })
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for key in self.listeners.keys() {
            if !Listener::ALL.iter().any(|l| l.config_key() == *key) {
                return Err(ConfigError::Invalid(format!(
                    "unknown listener [{key}] in [listeners]"
                )));
            }
        }
        for listener in Listener::ALL {
            self.listener_addr(listener)?;
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(ConfigError::Invalid(format!(
                "[log] format must be \"text\" or \"json\", not [{}]",
                self.log.format
            )));
        }
        if self.store.refresh_interval_ms == 0 || self.store.refresh_interval_ms > 1000 {
            return Err(ConfigError::Invalid(
                "[store] refresh_interval_ms must be between 1 and 1000 (documents are searchable within a second)".into(),
            ));
        }
        let sampling = &self.sampling;
        if !(0.0..=1.0).contains(&sampling.default_probability)
            || !(0.0..=1.0).contains(&sampling.min_probability)
        {
            return Err(ConfigError::Invalid(
                "[sampling] default_probability and min_probability must be between 0 and 1".into(),
            ));
        }
        if !sampling.target_traces_per_second.is_finite()
            || sampling.target_traces_per_second <= 0.0
        {
            return Err(ConfigError::Invalid(
                "[sampling] target_traces_per_second must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The span store's configuration: `DATA_DIR/traces`, with the log store's retention.
    pub fn trace_store_config(&self) -> osprey_spanstore::TraceStoreConfig {
        let mut traces = osprey_spanstore::TraceStoreConfig::new(self.data_dir.join("traces"));
        traces.head_max_bytes = (self.traces.head_max_mb.max(1) as usize) << 20;
        traces.head_max_age = Duration::from_secs(self.traces.head_max_age_secs.max(1));
        traces.retention_max_age = (self.store.retention_days > 0)
            .then(|| Duration::from_secs(self.store.retention_days * 86_400));
        traces.retention_max_bytes =
            (self.store.retention_max_mb > 0).then_some(self.store.retention_max_mb << 20);
        traces
    }

    /// The storage engine configuration.
    pub fn store_config(&self) -> osprey_store::StoreConfig {
        let mut store = osprey_store::StoreConfig::new(&self.data_dir);
        store.refresh_interval = Duration::from_millis(self.store.refresh_interval_ms);
        store.search_idle_after = (self.store.search_idle_after_secs > 0)
            .then(|| Duration::from_secs(self.store.search_idle_after_secs));
        store.retention_max_age = (self.store.retention_days > 0)
            .then(|| Duration::from_secs(self.store.retention_days * 86_400));
        store.retention_max_bytes =
            (self.store.retention_max_mb > 0).then_some(self.store.retention_max_mb << 20);
        store.writer_memory_bytes = (self.store.writer_memory_mb.max(15) as usize) << 20;
        store.writer_threads = self.store.writer_threads.max(1);
        store.idle_writer_timeout = Duration::from_secs(self.store.idle_writer_timeout_secs);
        store.disk_reserve_bytes = self.store.disk_reserve_mb << 20;
        store.block_cache_bytes = (self.store.block_cache_mb as usize) << 20;
        store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_lists_every_default() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../osprey.example.toml");
        let text = std::fs::read_to_string(&path)
            .expect("osprey.example.toml exists at the repository root");
        let parsed = Config::from_toml(&text).expect("example parses");
        let defaults = Config::default();
        assert_eq!(
            toml::to_string(&parsed).expect("ser"),
            toml::to_string(&defaults).expect("ser")
        );
        // Every option appears in the example (not only via defaults).
        let explicit: toml::Table = toml::from_str(&text).expect("toml");
        let defaults_table: toml::Table =
            toml::from_str(&toml::to_string(&defaults).expect("ser")).expect("toml");
        for (section, value) in defaults_table {
            let in_example = explicit
                .get(&section)
                .unwrap_or_else(|| panic!("[{section}] missing from the example"));
            if let (Some(table), Some(example)) = (value.as_table(), in_example.as_table()) {
                for key in table.keys() {
                    assert!(
                        example.contains_key(key),
                        "{section}.{key} missing from the example"
                    );
                }
            }
        }
    }

    #[test]
    fn env_overrides_and_off() {
        let mut config = Config::default();
        config.apply_env(|name| match name {
            "OSPREY_ELASTIC_ADDR" => Some("0.0.0.0:19200".into()),
            "OSPREY_ZIPKIN_ADDR" => Some("off".into()),
            _ => None,
        });
        assert_eq!(
            config
                .listener_addr(Listener::Elastic)
                .expect("valid")
                .expect("on")
                .port(),
            19200
        );
        assert!(
            config
                .listener_addr(Listener::Zipkin)
                .expect("valid")
                .is_none()
        );
        config.listeners.insert("http".into(), "nonsense".into());
        let error = config.validate().expect_err("invalid");
        assert!(error.to_string().contains("OSPREY_HTTP_ADDR"), "{error}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_position() {
        let error = Config::from_toml("[store]\nrefresh_interval = 5\n").expect_err("unknown key");
        assert!(error.contains("refresh_interval"), "{error}");
    }
}

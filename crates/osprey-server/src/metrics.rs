//! Prometheus metrics of Osprey's own health, served on `GET /metrics` (HTTP listener).

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use osprey_spanstore::TraceStore;
use osprey_store::Store;

/// Labels of HTTP request counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Listener name.
    pub listener: String,
    /// HTTP method.
    pub method: String,
    /// Status code.
    pub status: u16,
}

/// Labels of span counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SpanLabels {
    /// Protocol the spans came in on (`jaeger_compact`, `otlp_grpc`, ...).
    pub protocol: String,
    /// `stored`, `rejected` (refused with an error to the sender), `invalid` (undecodable,
    /// dropped: UDP has no one to tell) or `shed` (dropped because the queue was full).
    pub outcome: String,
}

/// Every metric.
pub struct Metrics {
    registry: Registry,
    forward: Family<OutcomeLabels, Counter>,
    span_store: Arc<OnceLock<Arc<TraceStore>>>,
    spans: Family<SpanLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    search_seconds: Histogram,
    docs_ingested: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Debug)]
struct StoreCollector {
    store: Arc<Store>,
}

impl Collector for StoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.store.stats();
        let counters = [
            (
                "osprey_store_docs_written",
                "Documents durably written",
                stats.docs_written.load(Ordering::Relaxed),
            ),
            (
                "osprey_store_wal_frames",
                "Write-ahead log frames (group commits) fsynced",
                stats.wal_frames.load(Ordering::Relaxed),
            ),
            (
                "osprey_store_partition_commits",
                "Partition commits",
                stats.commits.load(Ordering::Relaxed),
            ),
            (
                "osprey_store_disk_full_rejections",
                "Write batches refused because the disk was full",
                stats.disk_full_rejections.load(Ordering::Relaxed),
            ),
            (
                "osprey_store_partitions_dropped",
                "Partitions dropped by retention",
                stats.partitions_dropped.load(Ordering::Relaxed),
            ),
            (
                "osprey_store_refreshes_before_reads",
                "Searches and reads that committed first (the store was search idle, or its last commit late)",
                stats.refreshes_before_reads.load(Ordering::Relaxed),
            ),
        ];
        let cache = self.store.block_cache_stats();
        let cache_counters = [
            (
                "osprey_store_block_cache_hits",
                "Lookups of compact (merged past-day) postings found decompressed in the block cache",
                cache.hits,
            ),
            (
                "osprey_store_block_cache_misses",
                "Lookups of compact postings that had to decompress (size the cache with [store] block_cache_mb)",
                cache.misses,
            ),
        ];
        for (name, help, value) in counters.into_iter().chain(cache_counters) {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(value).encode(metric)?;
        }
        let metric = encoder.encode_descriptor(
            "osprey_store_block_cache_bytes",
            "Decompressed bytes held by the block cache",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(cache.bytes as i64).encode(metric)?;
        let indexes = self.store.indexes();
        let partitions: usize = indexes.iter().map(|i| i.partitions.read().len()).sum();
        for (name, help, value) in [
            ("osprey_store_indexes", "Live indexes", indexes.len() as i64),
            (
                "osprey_store_partitions",
                "Live partitions",
                partitions as i64,
            ),
        ] {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value).encode(metric)?;
        }
        Ok(())
    }
}

/// The span store's sizes, read at scrape time once the store is open.
#[derive(Debug)]
struct SpanStoreCollector {
    span_store: Arc<OnceLock<Arc<TraceStore>>>,
}

impl Collector for SpanStoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(span_store) = self.span_store.get() else {
            return Ok(());
        };
        let stats = span_store.stats();
        for (name, help, value) in [
            ("osprey_span_blocks", "Span blocks on disk", stats.blocks),
            (
                "osprey_span_block_bytes",
                "Bytes of span blocks on disk",
                stats.block_bytes,
            ),
            (
                "osprey_span_block_spans",
                "Spans in blocks",
                stats.block_spans,
            ),
            (
                "osprey_span_head_spans",
                "Spans logged but not yet in a block",
                stats.head_spans,
            ),
            (
                "osprey_span_head_bytes",
                "Memory held by spans not yet in a block",
                stats.head_bytes,
            ),
        ] {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(metric)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Registers every metric, including the store's counters read at scrape time.
    pub fn new(store: Arc<Store>) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "osprey_http_requests",
            "HTTP requests by listener, method and status",
            requests.clone(),
        );
        let search_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "osprey_search_duration_seconds",
            "Search latency",
            search_seconds.clone(),
        );
        let docs_ingested = Counter::default();
        registry.register(
            "osprey_ingest_documents",
            "Documents acknowledged over the APIs",
            docs_ingested.clone(),
        );
        let spans = Family::<SpanLabels, Counter>::default();
        registry.register(
            "osprey_spans",
            "Spans received, by protocol and outcome",
            spans.clone(),
        );
        let forward = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "osprey_forward_events",
            "Fluentd forward protocol events (or messages, when invalid or too large), by outcome",
            forward.clone(),
        );
        registry.register_collector(Box::new(StoreCollector { store }));
        let span_store = Arc::new(OnceLock::new());
        registry.register_collector(Box::new(SpanStoreCollector {
            span_store: span_store.clone(),
        }));
        Metrics {
            registry,
            forward,
            span_store,
            spans,
            requests,
            search_seconds,
            docs_ingested,
        }
    }

    /// Reports the span store's sizes from now on.
    pub fn attach_span_store(&self, span_store: Arc<TraceStore>) {
        let _ = self.span_store.set(span_store);
    }

    /// Counts forward-protocol events (`stored`, `rejected`, `failed`) or messages
    /// (`invalid`, `too_large`).
    pub fn record_forward(&self, outcome: &str, count: u64) {
        self.forward
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc_by(count);
    }

    /// Counts one HTTP request.
    pub fn record_request(&self, listener: &str, method: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                listener: listener.into(),
                method: method.into(),
                status,
            })
            .inc();
    }

    /// Records one search.
    pub fn record_search(&self, elapsed: Duration) {
        self.search_seconds.observe(elapsed.as_secs_f64());
    }

    /// Counts acknowledged documents.
    pub fn record_docs(&self, count: u64) {
        self.docs_ingested.inc_by(count);
    }

    /// Counts spans of one protocol and outcome.
    pub fn record_spans(&self, protocol: &str, outcome: &str, count: u64) {
        self.spans
            .get_or_create(&SpanLabels {
                protocol: protocol.into(),
                outcome: outcome.into(),
            })
            .inc_by(count);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

//! Tracing on the server: span ingest on every protocol's listener (`ingest`), the Jaeger
//! query API (`query`), and the `SpanStore` both share. Spans live in their own store
//! (`osprey-spanstore`, under `DATA_DIR/traces`); OTLP logs are documents of the log store.

pub mod ingest;
pub mod query;
pub mod sampling;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use osprey_spanstore::{TraceStore, TraceStoreConfig, TraceStoreError};
use osprey_store::{Store, StoreError, WriteItem};
use osprey_trace::Span;
use serde_json::Value;

use crate::metrics::Metrics;

/// Services and their operations (with span kinds), for the Jaeger UI's drop-downs. Kept in
/// memory, learnt from every stored span and, at startup, from the span store's catalogue.
#[derive(Debug, Default)]
pub struct Catalogue {
    services: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

/// The catalogue keeps at most this many services, and this many operations per service:
/// names with ids in them (`GET /user/123`) must not grow memory without end.
const MAX_SERVICES: usize = 10_000;
const MAX_OPERATIONS_PER_SERVICE: usize = 10_000;

impl Catalogue {
    /// Called for every stored span: allocates only for what it has not seen.
    fn learn(&mut self, service: &str, operation: &str, kind: &str) {
        if !self.services.contains_key(service) {
            if self.services.len() >= MAX_SERVICES {
                return;
            }
            self.services.insert(service.to_string(), BTreeMap::new());
        }
        let Some(operations) = self.services.get_mut(service) else {
            return;
        };
        if !operations.contains_key(operation) {
            if operations.len() >= MAX_OPERATIONS_PER_SERVICE {
                return;
            }
            operations.insert(operation.to_string(), BTreeSet::new());
        }
        if let Some(kinds) = operations.get_mut(operation)
            && !kinds.contains(kind)
        {
            kinds.insert(kind.to_string());
        }
    }

    /// Every service, sorted.
    pub fn services(&self) -> Vec<String> {
        self.services.keys().cloned().collect()
    }

    /// The operations of a service with their span kinds (`""` when unspecified).
    pub fn operations(&self, service: &str) -> Vec<(String, String)> {
        self.services
            .get(service)
            .into_iter()
            .flatten()
            .flat_map(|(op, kinds)| kinds.iter().map(move |k| (op.clone(), k.clone())))
            .collect()
    }
}

/// Where spans are written and read.
#[derive(Debug)]
pub struct SpanStore {
    /// The spans.
    pub traces: Arc<TraceStore>,
    /// The log store: OTLP logs, and the logs of a trace.
    pub store: Arc<Store>,
    metrics: Arc<Metrics>,
    catalogue: RwLock<Catalogue>,
    sampling: Option<Arc<sampling::Sampling>>,
}

/// What became of a batch of spans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Durably stored.
    pub stored: usize,
    /// Refused by the store, item by item.
    pub rejected: usize,
}

impl WriteSummary {
    /// For protocols that acknowledge a batch as a whole: success only when every item was
    /// stored (the client then retries the batch; exact copies are shown once).
    pub fn whole(self) -> Result<WriteSummary, StoreError> {
        if self.rejected == 0 {
            Ok(self)
        } else {
            Err(StoreError::Io(std::io::Error::other(format!(
                "the store refused {} of {} spans",
                self.rejected,
                self.rejected + self.stored
            ))))
        }
    }
}

/// A span-store failure as the log store's error (one error vocabulary for the listeners).
pub(crate) fn store_error(error: TraceStoreError) -> StoreError {
    match error {
        TraceStoreError::Io(io) if StoreError::is_disk_full_io(&io) => {
            StoreError::DiskFull(io.to_string())
        }
        TraceStoreError::Io(io) => StoreError::Io(io),
        behind @ TraceStoreError::Behind(_) => StoreError::Overloaded(behind.to_string()),
        other => StoreError::Io(std::io::Error::other(other.to_string())),
    }
}

impl SpanStore {
    /// Opens the span store and learns the catalogue of what it holds (blocking).
    pub fn open(
        config: TraceStoreConfig,
        store: Arc<Store>,
        metrics: Arc<Metrics>,
        sampling: Option<Arc<sampling::Sampling>>,
    ) -> Result<SpanStore, StoreError> {
        let traces = TraceStore::open(config).map_err(store_error)?;
        metrics.attach_span_store(traces.clone());
        let mut catalogue = Catalogue::default();
        for (service, operation, kind) in traces.catalogue() {
            catalogue.learn(&service, &operation, kind.as_str());
        }
        Ok(SpanStore {
            traces,
            store,
            metrics,
            catalogue: RwLock::new(catalogue),
            sampling,
        })
    }

    /// The catalogue (read-only).
    pub fn catalogue(&self) -> std::sync::RwLockReadGuard<'_, Catalogue> {
        self.catalogue.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes documents (the fields to index, the bytes to store) to `index` as one group
    /// commit, blocking until fsynced, with generated ids: an explicit id would cost an
    /// existence check per document.
    fn write_documents(
        &self,
        index: &str,
        documents: Vec<(serde_json::Map<String, Value>, Vec<u8>)>,
    ) -> Result<WriteSummary, StoreError> {
        if documents.is_empty() {
            return Ok(WriteSummary::default());
        }
        let items: Vec<WriteItem> = documents
            .into_iter()
            .map(|(fields, source)| WriteItem::new_document(index.to_string(), fields, source))
            .collect();
        let outcomes = self.store.write(items)?;
        let rejected = outcomes.iter().filter(|o| o.status >= 400).count();
        Ok(WriteSummary {
            stored: outcomes.len() - rejected,
            rejected,
        })
    }

    /// Stores spans durably (blocking): returns once they are fsynced. A span sent twice, by
    /// a client retry, is stored twice and shown once (the span store drops exact copies).
    pub fn write_blocking(
        &self,
        protocol: &'static str,
        spans: Vec<Span>,
    ) -> Result<WriteSummary, StoreError> {
        if spans.is_empty() {
            return Ok(WriteSummary::default());
        }
        self.traces.append(&spans).map_err(store_error)?;
        let summary = WriteSummary {
            stored: spans.len(),
            rejected: 0,
        };
        // What was stored is what the catalogue and adaptive sampling learn from.
        if let Some(sampling) = &self.sampling {
            sampling.observe(&spans);
        }
        {
            let mut catalogue = self.catalogue.write().unwrap_or_else(|e| e.into_inner());
            for span in &spans {
                catalogue.learn(
                    &span.resource.service_name,
                    &span.operation_name,
                    span.kind.as_str(),
                );
            }
        }
        self.metrics
            .record_spans(protocol, "stored", summary.stored as u64);
        if summary.rejected > 0 {
            self.metrics
                .record_spans(protocol, "rejected", summary.rejected as u64);
        }
        Ok(summary)
    }

    /// Stores log documents (OTLP logs) durably in `index`, blocking until they are fsynced.
    pub fn write_logs_blocking(
        &self,
        index: &str,
        documents: Vec<serde_json::Map<String, Value>>,
    ) -> Result<WriteSummary, StoreError> {
        let documents = documents
            .into_iter()
            .map(|document| {
                let source = serde_json::to_vec(&document).unwrap_or_default();
                (document, source)
            })
            .collect();
        let summary = self.write_documents(index, documents)?;
        self.metrics.record_docs(summary.stored as u64);
        Ok(summary)
    }

    /// Runs blocking store work off the async runtime.
    pub async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&SpanStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || work(&this))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
    }

    /// Stores spans durably from async code.
    pub async fn write(
        self: &Arc<Self>,
        protocol: &'static str,
        spans: Vec<Span>,
    ) -> Result<WriteSummary, StoreError> {
        self.blocking(move |this| this.write_blocking(protocol, spans))
            .await
    }

    /// Counts spans that never reached the store (undecodable, or shed under load).
    pub fn record_dropped(&self, protocol: &'static str, outcome: &'static str, count: u64) {
        self.metrics.record_spans(protocol, outcome, count);
    }
}

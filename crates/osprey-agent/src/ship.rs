//! Delivery: documents go as one gzipped `_bulk` request to the destination — the HTTP
//! listener of an Osprey server, or any Elasticsearch-compatible endpoint — and count as
//! delivered only when the answer says so. The whole request is sent again, with backoff, while
//! the destination is unreachable, overloaded (429) or failing (5xx), or refused some items
//! for those reasons; items it refused as invalid (other 4xx) are logged and counted, not sent
//! again (they would be refused again).
//!
//! With `Protocol::Otlp` the documents go instead as OTLP log records (`otlp_out`) to
//! `URL/v1/logs`, protobuf over HTTP, retried the same way; an OTLP endpoint cannot be asked
//! what it has, so a batch whose answer was lost is sent again whole (at least once).
//!
//! A failed attempt may still have been stored (the answer was lost): before sending again,
//! the shipper asks the destination which of the batch's lines it has (`find_stored`, the
//! ledger's question) and sends only the others.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::ledger::{SentRange, StoredLines, ranges_of, stored_key};
use crate::pipeline::Document;

/// The protocol documents are sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// `POST URL/_bulk`: an Osprey server's HTTP listener, Elasticsearch, OpenSearch.
    #[default]
    Elasticsearch,
    /// `POST URL/v1/logs`, OTLP/HTTP protobuf: an OpenTelemetry Collector, any OTLP endpoint,
    /// an Osprey server's OTLP_HTTP listener.
    Otlp,
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "elasticsearch" | "bulk" => Ok(Protocol::Elasticsearch),
            "otlp" => Ok(Protocol::Otlp),
            other => Err(format!("{other:?}: expected elasticsearch or otlp")),
        }
    }
}

/// Where documents go.
pub struct Shipper {
    agent: ureq::Agent,
    protocol: Protocol,
    base_url: String,
    bulk_url: String,
    otlp_url: String,
    index_pattern: String,
    compression: std::cell::Cell<Compression>,
    /// Whether the compression was chosen by asking the destination.
    compression_was_auto: bool,
    /// The index of the last day asked about.
    last_index: std::cell::RefCell<Option<(i64, String)>>,
    /// The zstd context and the plain body it compresses, kept across batches.
    zstd: std::cell::RefCell<(Option<zstd::zstd_safe::CCtx<'static>>, Vec<u8>)>,
    buffers: std::cell::RefCell<Buffers>,
}

/// What each request reuses: the body sent, the answer read.
#[derive(Default)]
struct Buffers {
    body: Vec<u8>,
    answer: String,
}

/// zstd's fast mode (negative levels): about a quarter less CPU than level 1 on container logs,
/// which still shrink twelvefold (level 1: sixteenfold; `zstd -b` on the agent's `_bulk` bodies).
const ZSTD_LEVEL: i32 = -3;

fn zstd_error(code: usize) -> std::io::Error {
    std::io::Error::other(zstd::zstd_safe::get_error_name(code))
}

/// How `_bulk` bodies are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// zstd if the destination is an Osprey server, else gzip (what Elasticsearch reads).
    #[default]
    Auto,
    /// zstd (fast mode): a fraction of gzip's CPU; Osprey reads it.
    Zstd,
    /// gzip (fastest level): every Elasticsearch-compatible endpoint reads it.
    Gzip,
    /// Not compressed.
    None,
}

impl Compression {
    fn content_encoding(self) -> Option<&'static str> {
        match self {
            Compression::Zstd => Some("zstd"),
            Compression::Gzip | Compression::Auto => Some("gzip"),
            Compression::None => None,
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "auto" => Ok(Compression::Auto),
            "zstd" => Ok(Compression::Zstd),
            "gzip" => Ok(Compression::Gzip),
            "none" => Ok(Compression::None),
            other => Err(format!("{other:?}: expected auto, zstd, gzip or none")),
        }
    }
}

/// What became of a delivered batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Stored.
    pub stored: usize,
    /// Refused as invalid, item by item.
    pub rejected: usize,
}

/// Why a batch was not delivered this time.
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    /// Worth trying again.
    #[error("{0}")]
    Retry(String),
    /// The destination refused the request itself (e.g. too large).
    #[error("{0}")]
    Refused(String),
}

impl Shipper {
    /// Documents go to `server` (`http://host:port`; `/_bulk` is appended) into indexes named by
    /// `index_pattern` (`%Y`, `%m`, `%d`: the line's UTC date).
    /// `Compression::Auto` asks the destination (`GET /`) whether it is an Osprey server.
    pub fn new(
        server: &str,
        index_pattern: &str,
        compression: Compression,
        timeout: Duration,
    ) -> Shipper {
        let agent = http_client(timeout);
        let base_url = server.trim_end_matches('/').to_string();
        let otlp_url = if base_url.ends_with("/v1/logs") {
            base_url.clone()
        } else {
            format!("{base_url}/v1/logs")
        };
        Shipper {
            agent,
            protocol: Protocol::Elasticsearch,
            // Only what delivery reads: the answer of 5,000 items is then a tenth of the size
            // (Logstash asks the same of Elasticsearch).
            bulk_url: format!("{base_url}/_bulk?filter_path=errors,items.*.status,items.*.error"),
            otlp_url,
            base_url,
            index_pattern: index_pattern.to_string(),
            compression: std::cell::Cell::new(compression),
            compression_was_auto: compression == Compression::Auto,
            last_index: std::cell::RefCell::new(None),
            zstd: std::cell::RefCell::default(),
            buffers: std::cell::RefCell::default(),
        }
    }

    /// Sends with `protocol` instead of `_bulk`.
    pub fn with_protocol(mut self, protocol: Protocol) -> Shipper {
        self.protocol = protocol;
        self
    }

    /// The compression to use: `Auto` is settled by asking the destination (`GET /`) once it
    /// answers — zstd for an Osprey server, gzip for anything else.
    fn compression(&self) -> Compression {
        if self.compression.get() == Compression::Auto
            && let Ok(mut response) = self.agent.get(&format!("{}/", self.base_url)).call()
        {
            let osprey = response
                .body_mut()
                .read_to_string()
                .ok()
                .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                .is_some_and(|home| home["name"] == "osprey");
            let chosen = if osprey {
                Compression::Zstd
            } else {
                Compression::Gzip
            };
            tracing::info!(compression = ?chosen, "compression of _bulk bodies chosen");
            self.compression.set(chosen);
        }
        self.compression.get()
    }

    /// The index a document goes to.
    pub fn index_of(&self, document: &Document) -> String {
        let day = crate::time::day_of(document.time_nanos);
        let mut last = self.last_index.borrow_mut();
        if let Some((last_day, name)) = &*last
            && *last_day == day
        {
            return name.clone();
        }
        let (year, month, day_of_month) = crate::time::civil_date(day);
        let name = osprey_model::dated_index(
            &self.index_pattern,
            i16::try_from(year).unwrap_or(1970),
            month as i8,
            day_of_month as i8,
        );
        *last = Some((day, name.clone()));
        name
    }

    /// The `_bulk` body of `documents`, compressed, into `body`. Buffers and the zstd context
    /// are kept from one batch to the next: allocating them afresh costs more than compressing.
    fn bulk_body(
        &self,
        documents: &[&Document],
        compression: Compression,
        body: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        body.clear();
        match compression {
            Compression::None => self.write_bulk(body, documents),
            Compression::Gzip | Compression::Auto => {
                let size = documents.iter().map(|d| d.source.len() + 48).sum::<usize>();
                let gzip = flate2::write::GzEncoder::new(
                    std::mem::take(body),
                    flate2::Compression::fast(),
                );
                let mut out = std::io::BufWriter::with_capacity(64 << 10, gzip);
                out.get_mut().get_mut().reserve(size / 4);
                self.write_bulk(&mut out, documents)?;
                *body = out.into_inner().map_err(|e| e.into_error())?.finish()?;
                Ok(())
            }
            Compression::Zstd => {
                let mut zstd = self.zstd.borrow_mut();
                let (context, plain) = &mut *zstd;
                plain.clear();
                self.write_bulk(plain, documents)?;
                let context = match context {
                    Some(context) => context,
                    empty => {
                        let mut made = zstd::zstd_safe::CCtx::create();
                        made.set_parameter(zstd::zstd_safe::CParameter::CompressionLevel(
                            ZSTD_LEVEL,
                        ))
                        .map_err(zstd_error)?;
                        empty.insert(made)
                    }
                };
                body.reserve(zstd::zstd_safe::compress_bound(plain.len()));
                context.compress2(body, plain).map_err(zstd_error)?;
                Ok(())
            }
        }
    }

    /// Lets go of the buffers' memory (when the agent has caught up).
    pub fn release_buffers(&self) {
        *self.buffers.borrow_mut() = Buffers::default();
        self.zstd.borrow_mut().1 = Vec::new();
    }

    fn write_bulk(&self, out: &mut impl Write, documents: &[&Document]) -> std::io::Result<()> {
        // Consecutive documents mostly share a day, so the action line is made once per day.
        let mut action: Option<(i64, Vec<u8>)> = None;
        for document in documents {
            let day = crate::time::day_of(document.time_nanos);
            if action.as_ref().is_none_or(|(d, _)| *d != day) {
                let line = serde_json::json!({"index": {"_index": self.index_of(document)}});
                let mut bytes = serde_json::to_vec(&line)?;
                bytes.push(b'\n');
                action = Some((day, bytes));
            }
            if let Some((_, line)) = &action {
                out.write_all(line)?;
            }
            out.write_all(&document.source)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// The ranges of `documents`, as the ledger writes them down.
    pub fn ranges(&self, documents: &[&Document]) -> Vec<SentRange> {
        ranges_of(documents.iter().copied(), |d| self.index_of(d))
    }

    /// Which lines of `ranges` the destination has: each index is refreshed, then searched
    /// for the documents of the range's file (path and fingerprint) in its offset range.
    pub fn find_stored(&self, ranges: &[SentRange]) -> Result<StoredLines, ShipError> {
        let mut stored = StoredLines::new();
        if self.protocol == Protocol::Otlp {
            // OTLP has no search to ask: what may have been stored is sent again.
            return Ok(stored);
        }
        let mut refreshed = std::collections::HashSet::new();
        for range in ranges {
            if refreshed.insert(range.index.clone()) {
                let url = format!(
                    "{}/{}/_refresh?ignore_unavailable=true",
                    self.base_url, range.index
                );
                self.post_json(&url, &serde_json::json!({}))?;
            }
            let query = serde_json::json!({
                "size": range.documents.clamp(1, 10_000),
                "_source": ["log.offset"],
                "query": {"bool": {"filter": [
                    {"term": {"log.file.path.keyword": range.path}},
                    {"term": {"log.file.fingerprint.keyword": range.fingerprint}},
                    {"range": {"log.offset": {"gte": range.first_offset, "lte": range.last_offset}}},
                ]}},
            });
            let url = format!(
                "{}/{}/_search?ignore_unavailable=true",
                self.base_url, range.index
            );
            let answer = self.post_json(&url, &query)?;
            let hits = answer["hits"]["hits"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let fingerprint = u32::from_str_radix(&range.fingerprint, 16).unwrap_or_default();
            stored.extend(hits.iter().filter_map(|hit| {
                let offset = hit["_source"]["log"]["offset"]
                    .as_u64()
                    .or_else(|| hit["_source"]["log.offset"].as_u64())?;
                Some((fingerprint, offset))
            }));
        }
        Ok(stored)
    }

    fn post_json(&self, url: &str, body: &Value) -> Result<Value, ShipError> {
        let mut response = self
            .agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .map_err(|e| ShipError::Retry(format!("POST {url}: {e}")))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| ShipError::Retry(format!("reading the answer of {url}: {e}")))?;
        // An index that does not exist holds none of the lines.
        if status == 404 {
            return Ok(serde_json::json!({"hits": {"hits": []}}));
        }
        if !(200..300).contains(&status) {
            return Err(ShipError::Retry(format!(
                "{url} answered {status}: {}",
                clip(&text)
            )));
        }
        serde_json::from_str(&text)
            .map_err(|e| ShipError::Retry(format!("the answer of {url} is not JSON ({e})")))
    }

    /// One attempt to deliver `documents`.
    pub fn ship(&self, documents: &[&Document]) -> Result<Delivered, ShipError> {
        if self.protocol == Protocol::Otlp {
            return self.ship_otlp(documents);
        }
        let compression = self.compression();
        let mut buffers = self.buffers.borrow_mut();
        let Buffers { body, answer, .. } = &mut *buffers;
        self.bulk_body(documents, compression, body)
            .map_err(|e| ShipError::Refused(format!("compressing the batch: {e}")))?;
        let mut request = self
            .agent
            .post(&self.bulk_url)
            .header("Content-Type", "application/x-ndjson");
        if let Some(encoding) = compression.content_encoding() {
            request = request.header("Content-Encoding", encoding);
        }
        let mut response = request
            .send(&body[..])
            .map_err(|e| ShipError::Retry(format!("POST {}: {e}", self.bulk_url)))?;
        let status = response.status().as_u16();
        answer.clear();
        std::io::Read::read_to_string(
            &mut response.body_mut().with_config().limit(64 << 20).reader(),
            answer,
        )
        .map_err(|e| ShipError::Retry(format!("reading the answer of {}: {e}", self.bulk_url)))?;
        let text = answer.as_str();
        if status == 429 || status >= 500 {
            return Err(ShipError::Retry(format!(
                "{} answered {status}: {}",
                self.bulk_url,
                clip(text)
            )));
        }
        if status == 415 && compression == Compression::Zstd && self.compression_was_auto {
            // Not an Osprey server after all, or an older one: gzip is what every one reads.
            self.compression.set(Compression::Gzip);
            return Err(ShipError::Retry(format!(
                "{} does not read zstd; sending gzip",
                self.bulk_url
            )));
        }
        // Too large, or the body itself is refused: smaller parts may pass, and a single
        // document refused is a bad document. Anything else (authentication, a wrong URL, a
        // proxy's refusal) is the setup's fault, not the lines': they wait, never dropped.
        if status == 413 || status == 400 {
            return Err(ShipError::Refused(format!(
                "{} answered {status}: {}",
                self.bulk_url,
                clip(text)
            )));
        }
        if !(200..300).contains(&status) {
            tracing::error!(url = %self.bulk_url, status, answer = %clip(text), "the destination refuses the lines; they wait until it accepts them");
            return Err(ShipError::Retry(format!(
                "{} answered {status}: {}",
                self.bulk_url,
                clip(text)
            )));
        }
        // Mostly every item was stored: then counting the items is enough.
        if let Ok(summary) = serde_json::from_str::<BulkSummary>(text)
            && !summary.errors
            && summary.items.0 == documents.len()
        {
            return Ok(Delivered {
                stored: documents.len(),
                rejected: 0,
            });
        }
        let answer: BulkAnswer<'_> = serde_json::from_str(text).map_err(|e| {
            ShipError::Retry(format!(
                "the _bulk answer is not understood ({e}): {}",
                clip(text)
            ))
        })?;
        if answer.items.len() != documents.len() {
            return Err(ShipError::Retry(format!(
                "the _bulk answer has {} items for {} documents",
                answer.items.len(),
                documents.len()
            )));
        }
        let mut delivered = Delivered::default();
        let mut first_rejection = None;
        for BulkItem { result } in &answer.items {
            let error = || {
                result
                    .error
                    .map_or_else(String::new, |e| e.get().to_string())
            };
            match result.status {
                200..=299 => delivered.stored += 1,
                429 | 500.. => {
                    return Err(ShipError::Retry(format!(
                        "an item was refused with {}: {}",
                        result.status,
                        clip(&error())
                    )));
                }
                _ => {
                    delivered.rejected += 1;
                    first_rejection.get_or_insert_with(error);
                }
            }
        }
        if let Some(reason) = first_rejection {
            tracing::warn!(rejected = delivered.rejected, first = %clip(&reason), "documents refused as invalid; not sent again");
        }
        Ok(delivered)
    }

    /// One attempt to deliver `documents` as an OTLP logs export. Answers follow the OTLP/HTTP
    /// specification: 2xx with an optional partial success (records it rejected are counted,
    /// not sent again), 400 and 413 refuse the request (sent in halves), 429 and 5xx are
    /// retried; anything else (authentication, a wrong URL) keeps the lines waiting.
    fn ship_otlp(&self, documents: &[&Document]) -> Result<Delivered, ShipError> {
        use prost::Message;
        let observed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let plain = crate::otlp_out::export_request(documents, observed).encode_to_vec();
        let compression = match self.compression.get() {
            Compression::Auto => Compression::Gzip,
            chosen => chosen,
        };
        let body = match compression {
            Compression::None => plain,
            Compression::Zstd => zstd::bulk::compress(&plain, ZSTD_LEVEL)
                .map_err(|e| ShipError::Refused(format!("compressing the batch: {e}")))?,
            Compression::Gzip | Compression::Auto => {
                let mut gzip = flate2::write::GzEncoder::new(
                    Vec::with_capacity(plain.len() / 4),
                    flate2::Compression::fast(),
                );
                gzip.write_all(&plain)
                    .and_then(|()| gzip.finish())
                    .map_err(|e| ShipError::Refused(format!("compressing the batch: {e}")))?
            }
        };
        let url = &self.otlp_url;
        let mut request = self
            .agent
            .post(url)
            .header("Content-Type", "application/x-protobuf");
        if let Some(encoding) = compression.content_encoding() {
            request = request.header("Content-Encoding", encoding);
        }
        let mut response = request
            .send(&body[..])
            .map_err(|e| ShipError::Retry(format!("POST {url}: {e}")))?;
        let status = response.status().as_u16();
        let answer = response
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_vec()
            .map_err(|e| ShipError::Retry(format!("reading the answer of {url}: {e}")))?;
        let text = || clip(&String::from_utf8_lossy(&answer));
        match status {
            200..=299 => {
                // An empty body is an empty response: everything taken.
                let rejected = opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse::decode(&answer[..])
                    .ok()
                    .and_then(|r| r.partial_success)
                    .map_or(0, |partial| {
                        if partial.rejected_log_records > 0 {
                            tracing::warn!(rejected = partial.rejected_log_records, reason = %partial.error_message, "log records refused by the OTLP endpoint; not sent again");
                        }
                        usize::try_from(partial.rejected_log_records.max(0)).unwrap_or(0)
                    })
                    .min(documents.len());
                Ok(Delivered {
                    stored: documents.len() - rejected,
                    rejected,
                })
            }
            429 | 500.. => Err(ShipError::Retry(format!(
                "{url} answered {status}: {}",
                text()
            ))),
            400 | 413 => Err(ShipError::Refused(format!(
                "{url} answered {status}: {}",
                text()
            ))),
            _ => {
                tracing::error!(%url, status, answer = %text(), "the destination refuses the lines; they wait until it accepts them");
                Err(ShipError::Retry(format!(
                    "{url} answered {status}: {}",
                    text()
                )))
            }
        }
    }

    /// One pass at delivering `documents`: when `check_first` (an earlier attempt's answer was
    /// lost), the destination is asked which of them it has and those are not sent; a request
    /// refused as too large or malformed is sent in halves, and a single document refused is
    /// dropped (counted). `Err`: try again later — some may be stored by then, so the next
    /// pass must check first.
    pub fn attempt(&self, documents: &[&Document], check_first: bool) -> Result<Delivered, String> {
        let mut pending: Vec<&Document> = documents.to_vec();
        let mut already = 0;
        if check_first {
            let stored = self
                .find_stored(&self.ranges(&pending))
                .map_err(|e| e.to_string())?;
            let before = pending.len();
            pending.retain(|d| !stored.contains(&stored_key(d)));
            already = before - pending.len();
            if already > 0 {
                tracing::info!(
                    stored = already,
                    "lines of a failed attempt were stored after all; not sent again"
                );
            }
        }
        if pending.is_empty() {
            return Ok(Delivered {
                stored: already,
                rejected: 0,
            });
        }
        match self.ship(&pending) {
            Ok(delivered) => Ok(Delivered {
                stored: delivered.stored + already,
                ..delivered
            }),
            // Too large, say: halves may pass; a single document refused is dropped.
            Err(ShipError::Refused(reason)) if pending.len() > 1 => {
                tracing::warn!(%reason, documents = pending.len(), "batch refused; sending it in halves");
                let (first, second) = pending.split_at(pending.len() / 2);
                let first = self.attempt(first, false)?;
                let second = self.attempt(second, false)?;
                Ok(Delivered {
                    stored: first.stored + second.stored + already,
                    rejected: first.rejected + second.rejected,
                })
            }
            Err(ShipError::Refused(reason)) => {
                tracing::error!(%reason, "document refused by the destination; dropped");
                Ok(Delivered {
                    stored: already,
                    rejected: 1,
                })
            }
            Err(ShipError::Retry(reason)) => Err(reason),
        }
    }

    /// Delivers `documents`, trying again with backoff (100 ms doubling to 10 s) until it
    /// succeeds or `stop` is set (then `None`: nothing counts as delivered). `check_first`:
    /// the destination may have some already (ask before the first attempt); after a failed
    /// attempt, lines the destination turns out to have are not sent again.
    pub fn ship_until_delivered(
        &self,
        documents: &[&Document],
        check_first: bool,
        stop: &AtomicBool,
    ) -> Option<Delivered> {
        let mut backoff = Backoff::default();
        let mut check = check_first;
        loop {
            match self.attempt(documents, check) {
                Ok(delivered) => return Some(delivered),
                Err(reason) => {
                    check = true;
                    tracing::warn!(%reason, retry_in_ms = backoff.delay.as_millis() as u64, "delivery failed; retrying");
                }
            }
            if !backoff.wait(stop) {
                return None;
            }
        }
    }
}

/// Waits between attempts: 100 ms, doubling up to 10 s.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The next wait.
    pub delay: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            delay: Duration::from_millis(100),
        }
    }
}

impl Backoff {
    /// The wait to take now; the next one is twice as long (up to 10 s).
    pub fn take_delay(&mut self) -> Duration {
        let delay = self.delay;
        self.delay = (delay * 2).min(Duration::from_secs(10));
        delay
    }

    /// Sleeps the next wait (in short steps, to notice `stop`); `false` when stopping.
    pub fn wait(&mut self, stop: &AtomicBool) -> bool {
        let deadline = std::time::Instant::now() + self.take_delay();
        while std::time::Instant::now() < deadline {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

/// An HTTP client whose every phase times out after `timeout`. None is set on name
/// resolution: with one, ureq resolves on a thread of its own, spawned for every request.
pub(crate) fn http_client(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(timeout))
        .timeout_send_request(Some(timeout))
        .timeout_send_body(Some(timeout))
        .timeout_recv_response(Some(timeout))
        .timeout_recv_body(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Whether `_bulk` says some item failed, and how many items it answered.
#[derive(serde::Deserialize)]
struct BulkSummary {
    errors: bool,
    items: ItemCount,
}

/// The length of a JSON array whose elements are skipped.
struct ItemCount(usize);

impl<'de> serde::Deserialize<'de> for ItemCount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Count;
        impl<'de> serde::de::Visitor<'de> for Count {
            type Value = ItemCount;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ItemCount, A::Error> {
                let mut count = 0;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    count += 1;
                }
                Ok(ItemCount(count))
            }
        }
        deserializer.deserialize_seq(Count)
    }
}

/// What `_bulk` answers, as far as the agent reads it (the rest is skipped, not built).
#[derive(serde::Deserialize)]
struct BulkAnswer<'a> {
    #[serde(borrow, default)]
    items: Vec<BulkItem<'a>>,
}

#[derive(serde::Deserialize)]
struct BulkItem<'a> {
    #[serde(borrow, alias = "create", alias = "update", alias = "delete")]
    #[serde(rename = "index")]
    result: ItemResult<'a>,
}

#[derive(serde::Deserialize)]
struct ItemResult<'a> {
    #[serde(default = "missing_status")]
    status: u16,
    #[serde(borrow, default)]
    error: Option<&'a serde_json::value::RawValue>,
}

fn missing_status() -> u16 {
    500
}

fn clip(text: &str) -> String {
    text.chars().take(300).collect()
}

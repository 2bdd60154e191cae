//! Delivery: documents go as one gzipped `_bulk` request to the destination — the HTTP
//! listener of an Osprey server, or any Elasticsearch-compatible endpoint — and count as
//! delivered only when the answer says so. The whole request is sent again, with backoff, while
//! the destination is unreachable, overloaded (429) or failing (5xx), or refused some items
//! for those reasons; items it refused as invalid (other 4xx) are logged and counted, not sent
//! again (they would be refused again).
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

/// Where documents go.
pub struct Shipper {
    agent: ureq::Agent,
    base_url: String,
    bulk_url: String,
    index_pattern: String,
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
    pub fn new(server: &str, index_pattern: &str, timeout: Duration) -> Shipper {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let base_url = server.trim_end_matches('/').to_string();
        Shipper {
            agent,
            bulk_url: format!("{base_url}/_bulk"),
            base_url,
            index_pattern: index_pattern.to_string(),
        }
    }

    /// The index a document goes to.
    pub fn index_of(&self, document: &Document) -> String {
        let date = jiff::Timestamp::from_nanosecond(i128::from(document.time_nanos))
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date();
        osprey_model::dated_index(&self.index_pattern, date.year(), date.month(), date.day())
    }

    /// The ranges of `documents`, as the ledger writes them down.
    pub fn ranges(&self, documents: &[&Document]) -> Vec<SentRange> {
        ranges_of(documents.iter().copied(), |d| self.index_of(d))
    }

    /// Which lines of `ranges` the destination has: each index is refreshed, then searched
    /// for the documents of the range's file (path and fingerprint) in its offset range.
    pub fn find_stored(&self, ranges: &[SentRange]) -> Result<StoredLines, ShipError> {
        let mut stored = StoredLines::new();
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
            let hits = answer["hits"]["hits"].as_array().cloned().unwrap_or_default();
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
        let mut body = Vec::with_capacity(documents.len() * 400);
        for document in documents {
            let action = serde_json::json!({"index": {"_index": self.index_of(document)}});
            serde_json::to_writer(&mut body, &action)
                .map_err(|e| ShipError::Refused(e.to_string()))?;
            body.push(b'\n');
            serde_json::to_writer(&mut body, &document.fields)
                .map_err(|e| ShipError::Refused(e.to_string()))?;
            body.push(b'\n');
        }
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(&body)
            .and_then(|()| gzip.try_finish())
            .map_err(|e| ShipError::Refused(e.to_string()))?;
        let compressed = gzip.get_ref();
        let mut response = self
            .agent
            .post(&self.bulk_url)
            .header("Content-Type", "application/x-ndjson")
            .header("Content-Encoding", "gzip")
            .send(&compressed[..])
            .map_err(|e| ShipError::Retry(format!("POST {}: {e}", self.bulk_url)))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| {
                ShipError::Retry(format!("reading the answer of {}: {e}", self.bulk_url))
            })?;
        if status == 429 || status >= 500 {
            return Err(ShipError::Retry(format!(
                "{} answered {status}: {}",
                self.bulk_url,
                clip(&text)
            )));
        }
        if !(200..300).contains(&status) {
            return Err(ShipError::Refused(format!(
                "{} answered {status}: {}",
                self.bulk_url,
                clip(&text)
            )));
        }
        let answer: Value = serde_json::from_str(&text).map_err(|e| {
            ShipError::Retry(format!(
                "the _bulk answer is not JSON ({e}): {}",
                clip(&text)
            ))
        })?;
        let items = answer["items"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        if items.len() != documents.len() {
            return Err(ShipError::Retry(format!(
                "the _bulk answer has {} items for {} documents",
                items.len(),
                documents.len()
            )));
        }
        let mut delivered = Delivered::default();
        let mut first_rejection = None;
        for item in items {
            let result = item
                .as_object()
                .and_then(|o| o.values().next())
                .cloned()
                .unwrap_or_default();
            let item_status = result["status"].as_u64().unwrap_or(500);
            match item_status {
                200..=299 => delivered.stored += 1,
                429 | 500.. => {
                    return Err(ShipError::Retry(format!(
                        "an item was refused with {item_status}: {}",
                        clip(&result["error"].to_string())
                    )));
                }
                _ => {
                    delivered.rejected += 1;
                    first_rejection.get_or_insert_with(|| result["error"].to_string());
                }
            }
        }
        if let Some(reason) = first_rejection {
            tracing::warn!(rejected = delivered.rejected, first = %clip(&reason), "documents refused as invalid; not sent again");
        }
        Ok(delivered)
    }

    /// Delivers `documents`, trying again with backoff (100 ms doubling to 10 s) until it
    /// succeeds or `stop` is set (then `None`: nothing counts as delivered). After a failed
    /// attempt, lines the destination turns out to have are not sent again.
    pub fn ship_until_delivered(
        &self,
        documents: &[&Document],
        stop: &AtomicBool,
    ) -> Option<Delivered> {
        let mut delay = Duration::from_millis(100);
        let mut pending: Vec<&Document> = documents.to_vec();
        let mut already = 0;
        let mut outcome_unknown = false;
        loop {
            let attempt = if outcome_unknown {
                self.find_stored(&self.ranges(&pending)).map(|stored| {
                    let before = pending.len();
                    pending.retain(|d| !stored.contains(&stored_key(d)));
                    already += before - pending.len();
                    if before > pending.len() {
                        tracing::info!(
                            stored = before - pending.len(),
                            "lines of a failed attempt were stored after all; not sent again"
                        );
                    }
                })
            } else {
                Ok(())
            };
            let attempt = attempt.and_then(|()| {
                if pending.is_empty() {
                    Ok(Delivered::default())
                } else {
                    self.ship(&pending)
                }
            });
            match attempt.map(|d| Delivered {
                stored: d.stored + already,
                ..d
            }) {
                Ok(delivered) => return Some(delivered),
                // Too large, say: halves may pass; a single document refused is dropped.
                Err(ShipError::Refused(reason)) if pending.len() > 1 => {
                    tracing::warn!(%reason, documents = pending.len(), "batch refused; sending it in halves");
                    let (first, second) = pending.split_at(pending.len() / 2);
                    let first = self.ship_until_delivered(first, stop)?;
                    let second = self.ship_until_delivered(second, stop)?;
                    return Some(Delivered {
                        stored: first.stored + second.stored + already,
                        rejected: first.rejected + second.rejected,
                    });
                }
                Err(ShipError::Refused(reason)) => {
                    tracing::error!(%reason, "document refused by the destination; dropped");
                    return Some(Delivered {
                        stored: already,
                        rejected: 1,
                    });
                }
                Err(ShipError::Retry(reason)) => {
                    outcome_unknown = true;
                    tracing::warn!(%reason, retry_in_ms = delay.as_millis() as u64, "delivery failed; retrying");
                }
            }
            let deadline = std::time::Instant::now() + delay;
            while std::time::Instant::now() < deadline {
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }
}

fn clip(text: &str) -> String {
    text.chars().take(300).collect()
}

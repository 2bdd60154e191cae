//! Delivery: documents go as one gzipped `_bulk` request to the destination — the HTTP
//! listener of an Osprey server, or any Elasticsearch-compatible endpoint — and count as
//! delivered only when the answer says so. The whole request is sent again, with backoff, while
//! the destination is unreachable, overloaded (429) or failing (5xx), or refused some items
//! for those reasons; items it refused as invalid (other 4xx) are logged and counted, not sent
//! again (they would be refused again).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::pipeline::Document;

/// Where documents go.
pub struct Shipper {
    agent: ureq::Agent,
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
        Shipper {
            agent,
            bulk_url: format!("{}/_bulk", server.trim_end_matches('/')),
            index_pattern: index_pattern.to_string(),
        }
    }

    fn index_of(&self, time_nanos: i64) -> String {
        let date = jiff::Timestamp::from_nanosecond(i128::from(time_nanos))
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date();
        osprey_model::dated_index(&self.index_pattern, date.year(), date.month(), date.day())
    }

    /// One attempt to deliver `documents`.
    pub fn ship(&self, documents: &[Document]) -> Result<Delivered, ShipError> {
        let mut body = Vec::with_capacity(documents.len() * 400);
        for document in documents {
            let action =
                serde_json::json!({"index": {"_index": self.index_of(document.time_nanos)}});
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
    /// succeeds or `stop` is set (then `None`: nothing counts as delivered).
    pub fn ship_until_delivered(
        &self,
        documents: &[Document],
        stop: &AtomicBool,
    ) -> Option<Delivered> {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.ship(documents) {
                Ok(delivered) => return Some(delivered),
                // Too large, say: halves may pass; a single document refused is dropped.
                Err(ShipError::Refused(reason)) if documents.len() > 1 => {
                    tracing::warn!(%reason, documents = documents.len(), "batch refused; sending it in halves");
                    let (first, second) = documents.split_at(documents.len() / 2);
                    let first = self.ship_until_delivered(first, stop)?;
                    let second = self.ship_until_delivered(second, stop)?;
                    return Some(Delivered {
                        stored: first.stored + second.stored,
                        rejected: first.rejected + second.rejected,
                    });
                }
                Err(ShipError::Refused(reason)) => {
                    tracing::error!(%reason, "document refused by the destination; dropped");
                    return Some(Delivered {
                        stored: 0,
                        rejected: 1,
                    });
                }
                Err(ShipError::Retry(reason)) => {
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

//! FORWARD: the Fluentd forward protocol over TCP, so that Fluentd and Fluent Bit DaemonSets
//! (and the `fluent-logger` libraries) ship to Osprey unchanged. Each event becomes a log
//! document: its record, `@timestamp` from the event time (unless the record has one) and the
//! tag under `[forward] tag_key`, in the index `[forward] index` names (by default
//! `logstash-%Y.%m.%d` of the event's UTC day, as fluent-plugin-elasticsearch's
//! `logstash_format`).
//!
//! A message that asks for an acknowledgement (`option.chunk`) gets `{"ack": chunk}` only once
//! its events are durable; if they cannot be stored the connection is closed unanswered and the
//! sender sends the chunk again. A message that does not decode is dropped, logged with the
//! peer and the reason, and counted; bytes that cannot be framed close the connection (the
//! stream cannot be resynchronised). The protocol's shared-key handshake is not offered.

use std::net::SocketAddr;
use std::sync::Arc;

use osprey_ingest::forward::{ForwardMessage, ack, decode_message, message_len};
use osprey_store::{Store, StoreError, WriteItem};
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::config::ForwardSettings;
use crate::metrics::Metrics;

/// What every connection shares.
#[derive(Debug)]
pub struct Forward {
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    settings: ForwardSettings,
    /// The largest message accepted (and the most a compressed one may inflate to).
    max_message_bytes: usize,
}

impl Forward {
    /// A FORWARD listener writing to `store`.
    pub fn new(
        store: Arc<Store>,
        metrics: Arc<Metrics>,
        settings: ForwardSettings,
        max_message_bytes: usize,
    ) -> Forward {
        Forward {
            store,
            metrics,
            settings,
            max_message_bytes,
        }
    }
}

/// Accepts connections until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    forward: Arc<Forward>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut stopped = stop.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(connection) => connection,
                    Err(error) => {
                        tracing::warn!(%error, "FORWARD accept failed");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (forward, stop) = (forward.clone(), stop.clone());
                tokio::spawn(async move {
                    if let Err(error) = connection(stream, peer, forward, stop).await {
                        tracing::debug!(%peer, %error, "FORWARD connection ended");
                    }
                });
            }
            _ = stopped.wait_for(|stopped| *stopped) => return Ok(()),
        }
    }
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    forward: Arc<Forward>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut buffer: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        // Every whole message in the buffer, in order.
        loop {
            let len = match message_len(&buffer) {
                Ok(Some(len)) => len,
                Ok(None) if buffer.len() > forward.max_message_bytes => {
                    forward.metrics.record_forward("too_large", 1);
                    tracing::warn!(%peer, limit = forward.max_message_bytes,
                        "FORWARD message larger than the limit (http.max_body_mb); closing");
                    return Ok(());
                }
                Ok(None) => break,
                Err(error) => {
                    forward.metrics.record_forward("invalid", 1);
                    tracing::warn!(%peer, %error, "FORWARD stream is not MessagePack; closing");
                    return Ok(());
                }
            };
            let message: Vec<u8> = buffer.drain(..len).collect();
            let handled = {
                let forward = forward.clone();
                tokio::task::spawn_blocking(move || store_message(&forward, &message, peer))
                    .await
                    .map_err(std::io::Error::other)?
            };
            match handled {
                Handled::Stored(Some(chunk)) => stream.write_all(&ack(&chunk)).await?,
                Handled::Stored(None) | Handled::Dropped => {}
                // Unanswered: the sender keeps the chunk and sends it again.
                Handled::Failed => return Ok(()),
            }
        }
        tokio::select! {
            read = stream.read_buf(&mut buffer) => {
                if read? == 0 {
                    return Ok(());
                }
            }
            _ = stop.wait_for(|stopped| *stopped) => return Ok(()),
        }
    }
}

enum Handled {
    /// Durable; the chunk to acknowledge, if asked.
    Stored(Option<String>),
    /// Not a valid message: dropped and counted.
    Dropped,
    /// The store refused it (disk full, overloaded, shutting down).
    Failed,
}

fn store_message(forward: &Forward, bytes: &[u8], peer: SocketAddr) -> Handled {
    let message = match decode_message(bytes, forward.max_message_bytes) {
        Ok(message) => message,
        Err(error) => {
            forward.metrics.record_forward("invalid", 1);
            tracing::warn!(%peer, %error, "FORWARD message dropped");
            return Handled::Dropped;
        }
    };
    let events = message.events.len() as u64;
    let chunk = message.chunk.clone();
    match write_events(forward, message) {
        Ok(rejected) => {
            forward.metrics.record_forward("stored", events - rejected);
            forward.metrics.record_docs(events - rejected);
            if rejected > 0 {
                forward.metrics.record_forward("rejected", rejected);
            }
            Handled::Stored(chunk)
        }
        Err(error) => {
            forward.metrics.record_forward("failed", events);
            tracing::warn!(%peer, %error, "FORWARD events not stored; the sender will retry");
            Handled::Failed
        }
    }
}

/// Writes the events as one group commit; returns how many the store refused item by item
/// (logged: a sender resending them would be refused again).
fn write_events(forward: &Forward, message: ForwardMessage) -> Result<u64, StoreError> {
    let tag_index = index_safe(&message.tag);
    let items: Vec<WriteItem> = message
        .events
        .into_iter()
        .map(|event| {
            let day = jiff::Timestamp::from_nanosecond(i128::from(event.time_nanos))
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            let index = index_name(&forward.settings.index, day, &tag_index);
            let mut record: Map<String, Value> = event.record;
            if !record.contains_key("@timestamp") {
                record.insert("@timestamp".into(), Value::String(day.to_string()));
            }
            if !forward.settings.tag_key.is_empty()
                && !record.contains_key(&forward.settings.tag_key)
            {
                record.insert(
                    forward.settings.tag_key.clone(),
                    Value::String(message.tag.clone()),
                );
            }
            let source = serde_json::to_vec(&record).unwrap_or_default();
            WriteItem::new_document(index, record, source)
        })
        .collect();
    let outcomes = forward.store.write(items)?;
    let rejected: Vec<_> = outcomes.iter().filter(|o| o.status >= 400).collect();
    if let Some(first) = rejected.first() {
        tracing::warn!(count = rejected.len(), first = ?first, "FORWARD events refused by the store");
    }
    Ok(rejected.len() as u64)
}

/// `%Y`, `%m`, `%d` (the event's UTC date) and `${tag}` in the configured index name.
fn index_name(pattern: &str, time: jiff::Timestamp, tag: &str) -> String {
    let date = time.to_zoned(jiff::tz::TimeZone::UTC).date();
    osprey_model::dated_index(pattern, date.year(), date.month(), date.day()).replace("${tag}", tag)
}

/// A tag as part of an index name: lower case, without the characters index names refuse.
fn index_safe(tag: &str) -> String {
    let cleaned: String = tag
        .to_lowercase()
        .chars()
        .map(|c| match c {
            '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ' ' | ',' | '#' | ':' => '_',
            c => c,
        })
        .collect();
    cleaned.trim_start_matches(['_', '-', '+']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_follow_logstash_format() {
        let time: jiff::Timestamp = "2026-11-26T23:59:59.5Z".parse().expect("time");
        assert_eq!(
            index_name("logstash-%Y.%m.%d", time, "x"),
            "logstash-2026.11.26"
        );
        assert_eq!(
            index_name("fluentd-${tag}-%Y%m", time, &index_safe("_Kube.Var Log/x")),
            "fluentd-kube.var_log_x-202611"
        );
    }
}

//! Span forwarding: the agent takes the Jaeger agent's place on the node. Applications keep
//! sending Thrift `emitBatch` datagrams to UDP 6831 (compact) or 6832 (binary), or OTLP/HTTP
//! and Zipkin requests (`receivers`); the agent decodes them, adds the node's name to each
//! span's process (`k8s.node.name`) and, with Kubernetes metadata, the sending pod's
//! (`k8s.pod.name`, `k8s.pod.uid`, `k8s.namespace.name`: the pod whose IP the spans came from,
//! as the OpenTelemetry Collector's k8sattributes processor associates them), and forwards
//! them in batches as OTLP/HTTP protobuf to the server's OTLP_HTTP listener.
//!
//! UDP is lossy by design: a batch the server does not take after a few attempts is dropped
//! and counted, and the queue between receiving and sending is bounded.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use osprey_trace::model::KeyValue;
use osprey_trace::thrift::{self, Protocol};
use osprey_trace::{Span, otlp};
use prost::Message;

use crate::kube_meta::{PodCache, PodMeta};

/// Spans per forwarded request at most.
const BATCH_SPANS: usize = 1_000;
/// A batch goes out at the latest this long after its first span.
const BATCH_WAIT: Duration = Duration::from_millis(200);
/// Decoded datagrams waiting to be forwarded; beyond this they are shed (and counted).
const QUEUE: usize = 4_096;
/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

/// Where spans come from and go.
#[derive(Debug, Clone)]
pub struct SpanForwarding {
    /// The server's OTLP/HTTP base URL (`http://osprey:4318`).
    pub otlp_url: String,
    /// Jaeger Thrift compact (`None`: not listened on).
    pub compact: Option<SocketAddr>,
    /// Jaeger Thrift binary.
    pub binary: Option<SocketAddr>,
    /// OTLP/HTTP receiver.
    pub otlp_http: Option<SocketAddr>,
    /// Zipkin v2 receiver.
    pub zipkin: Option<SocketAddr>,
    /// Added to every span's process as `k8s.node.name`.
    pub node: Option<String>,
    /// The node's pods, to tell which one sent (`None`: no Kubernetes metadata).
    pub pods: Option<PodCache>,
}

/// Spans as received, with the address they came from.
#[derive(Debug)]
pub struct Received {
    /// The decoded spans.
    pub spans: Vec<Span>,
    /// The sender's IP address.
    pub from: Option<IpAddr>,
}

/// Adds the node's and the sending pod's names to each span's process, leaving alone what the
/// application already set (an SDK's resource detector knows its pod better than an address).
pub fn tag_spans(spans: &mut [Span], node: Option<&str>, pod: Option<&(String, String, PodMeta)>) {
    let mut tags: Vec<(&str, &str)> = Vec::new();
    if let Some((namespace, name, meta)) = pod {
        tags.push(("k8s.namespace.name", namespace));
        tags.push(("k8s.pod.name", name));
        if !meta.uid.is_empty() {
            tags.push(("k8s.pod.uid", &meta.uid));
        }
    }
    if let Some(node) = node.or(pod
        .map(|(_, _, meta)| meta.node.as_str())
        .filter(|n| !n.is_empty()))
    {
        tags.push(("k8s.node.name", node));
    }
    for span in spans {
        for (key, value) in &tags {
            if !span.resource.attributes.iter().any(|kv| kv.key == *key) {
                span.resource
                    .attributes
                    .push(KeyValue::string(*key, *value));
            }
        }
    }
}

/// Counters.
#[derive(Debug, Default)]
pub struct SpanStats {
    /// Spans the server took.
    pub forwarded: AtomicU64,
    /// Spans dropped: undecodable datagrams' spans are not known; these are spans shed or
    /// refused.
    pub dropped: AtomicU64,
    /// Datagrams that did not decode.
    pub invalid: AtomicU64,
}

/// Starts the listeners and the forwarder; they run until `stop` is set.
pub fn start(config: SpanForwarding, stop: Arc<AtomicBool>) -> std::io::Result<Arc<SpanStats>> {
    let stats = Arc::new(SpanStats::default());
    let (sender, receiver) = sync_channel::<Received>(QUEUE);
    for (addr, protocol) in [
        (config.compact, Protocol::Compact),
        (config.binary, Protocol::Binary),
    ] {
        let Some(addr) = addr else { continue };
        let socket = UdpSocket::bind(addr)?;
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        tracing::info!(%addr, ?protocol, "taking Jaeger agent spans");
        let (sender, stop, stats) = (sender.clone(), stop.clone(), stats.clone());
        std::thread::Builder::new()
            .name("jaeger-udp".into())
            .spawn(move || receive(&socket, protocol, &sender, &stop, &stats))?;
    }
    crate::receivers::start(config.otlp_http, config.zipkin, sender, stats.clone())?;
    let (stop, forwarder_stats) = (stop.clone(), stats.clone());
    std::thread::Builder::new()
        .name("span-forward".into())
        .spawn(move || forward(&config, &receiver, &stop, &forwarder_stats))?;
    Ok(stats)
}

fn receive(
    socket: &UdpSocket,
    protocol: Protocol,
    queue: &SyncSender<Received>,
    stop: &AtomicBool,
    stats: &SpanStats,
) {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    while !stop.load(Ordering::Relaxed) {
        let (length, from) = match socket.recv_from(&mut buffer) {
            Ok((length, from)) => (length, from.ip()),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, "receiving spans failed");
                continue;
            }
        };
        match thrift::decode_emit_batch(&buffer[..length], protocol) {
            Ok(batch) => match queue.try_send(Received {
                spans: batch.spans,
                from: Some(from),
            }) {
                Ok(()) => {}
                Err(TrySendError::Full(received)) => {
                    stats
                        .dropped
                        .fetch_add(received.spans.len() as u64, Ordering::Relaxed);
                }
                Err(TrySendError::Disconnected(_)) => return,
            },
            Err(error) => {
                tracing::debug!(%error, "undecodable span datagram dropped");
                stats.invalid.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn forward(
    config: &SpanForwarding,
    queue: &Receiver<Received>,
    stop: &AtomicBool,
    stats: &SpanStats,
) {
    let agent = crate::ship::http_client(Duration::from_secs(10));
    let url = format!("{}/v1/traces", config.otlp_url.trim_end_matches('/'));
    let mut batch: Vec<Span> = Vec::new();
    let mut first_at = Instant::now();
    loop {
        let wait = BATCH_WAIT.saturating_sub(first_at.elapsed());
        match queue.recv_timeout(if batch.is_empty() { BATCH_WAIT } else { wait }) {
            Ok(Received { mut spans, from }) => {
                if batch.is_empty() {
                    first_at = Instant::now();
                }
                let pod = config
                    .pods
                    .as_ref()
                    .zip(from)
                    .and_then(|(pods, ip)| pods.by_ip(ip));
                tag_spans(&mut spans, config.node.as_deref(), pod.as_ref());
                batch.extend(spans);
                if batch.len() < BATCH_SPANS {
                    continue;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if !batch.is_empty() && (batch.len() >= BATCH_SPANS || first_at.elapsed() >= BATCH_WAIT) {
            let body = otlp::to_request(&batch).encode_to_vec();
            if send(&agent, &url, &body) {
                stats
                    .forwarded
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
            } else {
                stats
                    .dropped
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            batch.clear();
        }
        if stop.load(Ordering::Relaxed) && batch.is_empty() {
            return;
        }
    }
}

/// Posts one OTLP request, trying three times.
fn send(agent: &ureq::Agent, url: &str, body: &[u8]) -> bool {
    for attempt in 0..3u32 {
        match agent
            .post(url)
            .header("Content-Type", "application/x-protobuf")
            .send(body)
        {
            Ok(response) if response.status().is_success() => return true,
            Ok(response) => {
                tracing::warn!(%url, status = response.status().as_u16(), attempt, "spans not taken");
            }
            Err(error) => tracing::warn!(%url, %error, attempt, "spans not forwarded"),
        }
        std::thread::sleep(Duration::from_millis(200 << attempt));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(span: &Span) -> Vec<(String, String)> {
        span.resource
            .attributes
            .iter()
            .map(|kv| (kv.key.clone(), kv.value.to_text()))
            .collect()
    }

    #[test]
    fn spans_get_the_node_and_the_sending_pod_but_keep_their_own() {
        let mut spans = vec![Span::default(), Span::default()];
        spans[1]
            .resource
            .attributes
            .push(KeyValue::string("k8s.pod.name", "set-by-sdk"));
        let meta = PodMeta {
            uid: "uid-7".into(),
            node: "node-from-pod".into(),
            ..PodMeta::default()
        };
        let pod = ("shop".to_string(), "web-1".to_string(), meta);
        tag_spans(&mut spans, Some("node-1"), Some(&pod));
        let expected = |name: &str| {
            let mut tags = vec![
                ("k8s.namespace.name".to_string(), "shop".to_string()),
                ("k8s.pod.name".into(), name.into()),
                ("k8s.pod.uid".into(), "uid-7".into()),
                ("k8s.node.name".into(), "node-1".into()),
            ];
            tags.sort();
            tags
        };
        let sorted = |mut tags: Vec<(String, String)>| {
            tags.sort();
            tags
        };
        assert_eq!(sorted(tags(&spans[0])), expected("web-1"));
        assert_eq!(sorted(tags(&spans[1])), expected("set-by-sdk"));

        // Without a node name of its own, the agent takes the pod's.
        let mut spans = vec![Span::default()];
        tag_spans(&mut spans, None, Some(&pod));
        assert!(tags(&spans[0]).contains(&("k8s.node.name".into(), "node-from-pod".into())));
        // Unknown sender: the node only.
        let mut spans = vec![Span::default()];
        tag_spans(&mut spans, Some("node-1"), None);
        assert_eq!(
            tags(&spans[0]),
            vec![("k8s.node.name".into(), "node-1".into())]
        );
    }
}

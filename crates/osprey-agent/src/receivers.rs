//! OTLP/HTTP and Zipkin v2 receivers on the node, so that applications instrumented with an
//! OpenTelemetry SDK or a Zipkin tracer send to the agent as Jaeger clients do: `POST
//! /v1/traces` (protobuf or JSON) and `POST /api/v2/spans` (JSON or proto3), gzip bodies
//! accepted. Decoded spans join the Jaeger UDP spans in the forwarding queue; a full queue
//! answers 503, which OTLP exporters retry, instead of dropping silently.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, TrySendError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use osprey_trace::model::Span;
use osprey_trace::{otlp, zipkin};
use tower_http::decompression::RequestDecompressionLayer;

use crate::spans::{Received, SpanStats};

/// Request bodies larger than this are refused (413).
const MAX_BODY: usize = 16 << 20;

#[derive(Clone)]
struct Receiver {
    queue: SyncSender<Received>,
    stats: Arc<SpanStats>,
}

/// Serves OTLP/HTTP on `otlp_http` and Zipkin on `zipkin` (either may be `None`), on a thread
/// of their own for as long as the process lives.
pub fn start(
    otlp_http: Option<SocketAddr>,
    zipkin: Option<SocketAddr>,
    queue: SyncSender<Received>,
    stats: Arc<SpanStats>,
) -> std::io::Result<()> {
    let receiver = Receiver { queue, stats };
    let mut servers = Vec::new();
    for (addr, router) in [
        (
            otlp_http,
            Router::new().route("/v1/traces", post(otlp_traces)),
        ),
        (
            zipkin,
            Router::new().route("/api/v2/spans", post(zipkin_spans)),
        ),
    ] {
        let Some(addr) = addr else { continue };
        let listener = std::net::TcpListener::bind(addr).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot take spans on {addr}: {e}"))
        })?;
        listener.set_nonblocking(true)?;
        let router = router
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .layer(RequestDecompressionLayer::new())
            .with_state(receiver.clone());
        tracing::info!(%addr, "taking spans over HTTP");
        servers.push((listener, router));
    }
    if servers.is_empty() {
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("span-receivers".into())
        .spawn(move || {
            runtime.block_on(async move {
                let mut tasks = Vec::new();
                for (listener, router) in servers {
                    tasks.push(tokio::spawn(async move {
                        let listener = tokio::net::TcpListener::from_std(listener)?;
                        axum::serve(
                            listener,
                            router.into_make_service_with_connect_info::<SocketAddr>(),
                        )
                        .await
                    }));
                }
                for task in tasks {
                    if let Ok(Err(error)) = task.await {
                        tracing::error!(%error, "a span receiver stopped");
                    }
                }
            });
        })?;
    Ok(())
}

fn content_type_is(headers: &HeaderMap, media_type: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(media_type))
}

impl Receiver {
    /// Queues decoded spans: 503 when the forwarder is behind.
    #[allow(clippy::result_large_err)] // the refusal is an answer sent as is, not a rare error
    fn take(&self, spans: Vec<Span>, from: SocketAddr) -> Result<(), Response> {
        if spans.is_empty() {
            return Ok(());
        }
        match self.queue.try_send(Received {
            spans,
            from: Some(from.ip()),
        }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(received)) => {
                self.stats
                    .dropped
                    .fetch_add(received.spans.len() as u64, Ordering::Relaxed);
                Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the agent's span queue is full; retry later",
                )
                    .into_response())
            }
            Err(TrySendError::Disconnected(_)) => {
                Err((StatusCode::SERVICE_UNAVAILABLE, "the agent is stopping").into_response())
            }
        }
    }

    fn invalid(&self, what: &str, error: impl std::fmt::Display) -> Response {
        self.stats.invalid.fetch_add(1, Ordering::Relaxed);
        (StatusCode::BAD_REQUEST, format!("{what}: {error}")).into_response()
    }
}

async fn otlp_traces(
    State(receiver): State<Receiver>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = content_type_is(&headers, "application/json");
    let decoded = if json {
        otlp::decode_json(&body)
    } else {
        otlp::decode_protobuf(&body)
    };
    let decoded = match decoded {
        Ok(decoded) => decoded,
        Err(error) => return receiver.invalid("not an OTLP trace export request", error),
    };
    if let Err(refused) = receiver.take(decoded.spans, from) {
        return refused;
    }
    // An empty ExportTraceServiceResponse: no bytes in protobuf, `{}` in JSON.
    if json {
        ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            Vec::<u8>::new(),
        )
            .into_response()
    }
}

async fn zipkin_spans(
    State(receiver): State<Receiver>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let protobuf = content_type_is(&headers, "application/x-protobuf");
    let spans = if protobuf {
        zipkin::decode_proto(&body)
    } else {
        zipkin::decode_json(&body)
    };
    match spans {
        Ok(spans) => match receiver.take(spans, from) {
            Ok(()) => StatusCode::ACCEPTED.into_response(),
            Err(refused) => refused,
        },
        Err(error) => receiver.invalid("not a Zipkin v2 span list", error),
    }
}

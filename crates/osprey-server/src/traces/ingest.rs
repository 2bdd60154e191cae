//! Span ingest, one function per listener of the table:
//!
//! | listener | protocol | acknowledgement |
//! |---|---|---|
//! | JAEGER_COMPACT / JAEGER_BINARY (UDP) | `Agent.emitBatch` in Thrift compact / binary | none (UDP): queued, written in batches; undecodable datagrams and a full queue are counted |
//! | JAEGER_HTTP | `POST /api/traces`, a Thrift binary `Batch` | `202` once durable |
//! | JAEGER_GRPC | `jaeger.api_v2.CollectorService/PostSpans` | once durable |
//! | OTLP_GRPC | `TraceService/Export` | once durable; invalid spans reported as partial success |
//! | OTLP_HTTP | `POST /v1/traces`, protobuf or JSON | once durable, in the request's encoding |
//! | OTLP_GRPC / OTLP_HTTP | OTLP logs (`LogsService/Export`, `POST /v1/logs`) into the `otel-logs` index | once durable |
//! | ZIPKIN | `POST /api/v2/spans`, JSON or proto3 | `202` once durable |

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use osprey_model::ErrorClass;
use osprey_store::StoreError;
use osprey_trace::jaeger_proto::{self, PostSpansRequest, PostSpansResponse};
use osprey_trace::otlp_logs::{self, OTLP_LOGS_INDEX};
use osprey_trace::thrift::{self, Protocol};
use osprey_trace::{Span, otlp, zipkin};
use prost::Message;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tower_http::decompression::RequestDecompressionLayer;

use super::{SpanStore, WriteSummary};

/// Largest UDP datagram a Jaeger client sends (its `max_packet_size` is 65,000).
const MAX_DATAGRAM: usize = 65_535;
/// Datagrams waiting for the UDP writer (at most 256 MiB); beyond this, datagrams are shed
/// (and counted) rather than held in unbounded memory.
const UDP_QUEUE_DATAGRAMS: usize = 4_096;
/// Receive buffer asked of the kernel for the UDP sockets (granted up to `net.core.rmem_max`;
/// the Jaeger agent's advice applies: raise it on busy nodes).
pub const UDP_RECEIVE_BUFFER: usize = 8 << 20;
/// The UDP writer stores at most this many datagrams' spans per group commit.
const UDP_WRITE_DATAGRAMS: usize = 1_024;

/// A store failure as an HTTP status, by its error class (a full disk is 429, a shutdown 503:
/// both retryable).
fn store_status(error: &StoreError) -> StatusCode {
    StatusCode::from_u16(error.class().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A store failure as a gRPC status: what is retryable over HTTP is `UNAVAILABLE`.
fn grpc_status(what: &str, error: StoreError) -> tonic::Status {
    match error.class() {
        ErrorClass::TooManyRequests | ErrorClass::Unavailable => {
            tonic::Status::unavailable(format!("{what} not stored: {error}"))
        }
        _ => tonic::Status::internal(format!("{what} not stored: {error}")),
    }
}

/// Stores a decoded batch for a protocol that acknowledges it whole with `202 Accepted`
/// (Jaeger Thrift over HTTP, Zipkin); a body that did not decode is a 400 saying why.
async fn accept_batch(
    spans: &Arc<SpanStore>,
    protocol: &'static str,
    decoded: Result<Vec<Span>, String>,
) -> Response {
    let batch = match decoded {
        Ok(batch) => batch,
        Err(error) => {
            spans.record_dropped(protocol, "rejected", 1);
            return text_error(StatusCode::BAD_REQUEST, error);
        }
    };
    match spans
        .write(protocol, batch)
        .await
        .and_then(WriteSummary::whole)
    {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err(error) => text_error(store_status(&error), format!("spans not stored: {error}")),
    }
}

fn text_error(status: StatusCode, message: impl Into<String>) -> Response {
    let mut message = message.into();
    message.push('\n');
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

fn with_body_layers(router: Router, max_body_bytes: usize) -> Router {
    router
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(RequestDecompressionLayer::new())
}

// ---------------------------------------------------------------- Jaeger Thrift over HTTP

/// JAEGER_HTTP: `POST /api/traces` with a Thrift binary `jaeger.Batch`, as Jaeger clients'
/// HTTP sender and the Jaeger agent's collector client send it.
pub fn jaeger_http_router(spans: Arc<SpanStore>, max_body_bytes: usize) -> Router {
    with_body_layers(
        Router::new()
            .route("/api/traces", post(jaeger_http_post))
            .with_state(spans),
        max_body_bytes,
    )
}

async fn jaeger_http_post(
    State(spans): State<Arc<SpanStore>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let kind = content_type(&headers);
    if !matches!(
        kind.as_str(),
        "" | "application/x-thrift" | "application/vnd.apache.thrift.binary"
    ) {
        return text_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported content type {kind:?}: send a Thrift binary jaeger.Batch as application/x-thrift"
            ),
        );
    }
    let decoded = thrift::decode_batch(&body, Protocol::Binary)
        .map(|batch| batch.spans)
        .map_err(|error| format!("Unable to process request body: {error}"));
    accept_batch(&spans, "jaeger_http", decoded).await
}

// ---------------------------------------------------------------- Zipkin

/// ZIPKIN: `POST /api/v2/spans`, JSON (default) or proto3 (`application/x-protobuf`).
pub fn zipkin_router(spans: Arc<SpanStore>, max_body_bytes: usize) -> Router {
    with_body_layers(
        Router::new()
            .route("/api/v2/spans", post(zipkin_post))
            .route("/api/v1/spans", post(zipkin_v1_post))
            .with_state(spans),
        max_body_bytes,
    )
}

async fn zipkin_post(
    State(spans): State<Arc<SpanStore>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let kind = content_type(&headers);
    let decoded = match kind.as_str() {
        "application/x-protobuf" | "application/protobuf" => zipkin::decode_proto(&body),
        "" | "application/json" => zipkin::decode_json(&body),
        other => {
            return text_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "unsupported content type {other:?}: send application/json or application/x-protobuf"
                ),
            );
        }
    };
    accept_batch(&spans, "zipkin", decoded.map_err(|error| error.to_string())).await
}

async fn zipkin_v1_post() -> Response {
    text_error(
        StatusCode::BAD_REQUEST,
        "Zipkin v1 spans are not accepted: configure the reporter for the v2 API (/api/v2/spans)",
    )
}

// ---------------------------------------------------------------- OTLP over HTTP

/// `google.rpc.Status`, the error body of OTLP/HTTP with protobuf.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// OTLP_HTTP: `POST /v1/traces`, protobuf or JSON, answered in the same encoding.
pub fn otlp_http_router(spans: Arc<SpanStore>, max_body_bytes: usize) -> Router {
    with_body_layers(
        Router::new()
            .route("/v1/traces", post(otlp_http_traces))
            .route("/v1/logs", post(otlp_http_logs))
            .with_state(spans),
        max_body_bytes,
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// The encoding of an OTLP/HTTP request, or the content type that is not one.
fn otlp_encoding(headers: &HeaderMap) -> Result<Encoding, String> {
    match content_type(headers).as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        other => Err(other.to_string()),
    }
}

fn unsupported_otlp_type(content_type: &str) -> Response {
    otlp_error(
        Encoding::Json,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!(
            "unsupported content type {content_type:?}: OTLP/HTTP is application/x-protobuf or application/json"
        ),
    )
}

/// An OTLP/HTTP answer in the request's encoding.
fn otlp_reply<M: Message + serde::Serialize>(encoding: Encoding, message: &M) -> Response {
    match encoding {
        Encoding::Protobuf => (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            message.encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => axum::Json(message).into_response(),
    }
}

fn otlp_error(encoding: Encoding, status: StatusCode, message: String) -> Response {
    // gRPC codes of the OTLP specification: 3 INVALID_ARGUMENT, 14 UNAVAILABLE, 13 INTERNAL.
    let code = match status {
        StatusCode::BAD_REQUEST => 3,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => 14,
        _ => 13,
    };
    match encoding {
        Encoding::Protobuf => (
            status,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            RpcStatus { code, message }.encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => (
            status,
            axum::Json(serde_json::json!({"code": code, "message": message})),
        )
            .into_response(),
    }
}

/// Spans rejected by the decoder (invalid ids) or by the store, and why, for a partial success.
fn rejected_spans(
    summary: WriteSummary,
    decoded: &otlp::Decoded,
) -> Option<ExportTracePartialSuccess> {
    let rejected = decoded.rejected + summary.rejected as u64;
    (rejected > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: i64::try_from(rejected).unwrap_or(i64::MAX),
        error_message: decoded
            .first_error
            .clone()
            .unwrap_or_else(|| "the store refused some spans".into()),
    })
}

/// Decodes and stores one OTLP trace export (both transports).
async fn export_traces(
    spans: &Arc<SpanStore>,
    protocol: &'static str,
    mut decoded: otlp::Decoded,
) -> Result<ExportTraceServiceResponse, StoreError> {
    if decoded.rejected > 0 {
        spans.record_dropped(protocol, "rejected", decoded.rejected);
    }
    let summary = spans
        .write(protocol, std::mem::take(&mut decoded.spans))
        .await?;
    Ok(ExportTraceServiceResponse {
        partial_success: rejected_spans(summary, &decoded),
    })
}

/// Stores one OTLP log export (both transports) in the `otel-logs` index.
async fn export_logs(
    spans: &Arc<SpanStore>,
    decoded: otlp_logs::DecodedLogs,
) -> Result<ExportLogsServiceResponse, StoreError> {
    let summary = spans
        .blocking(move |this| this.write_logs_blocking(OTLP_LOGS_INDEX, decoded.documents))
        .await?;
    Ok(ExportLogsServiceResponse {
        partial_success: (summary.rejected > 0).then(|| ExportLogsPartialSuccess {
            rejected_log_records: summary.rejected as i64,
            error_message: "the store refused some log records".into(),
        }),
    })
}

/// One OTLP/HTTP export of either signal: the encoding from the content type, the body
/// decoded (a 400 in that encoding if it does not decode), stored, and answered in kind.
async fn otlp_http<Decoded, Reply, Stored>(
    headers: &HeaderMap,
    body: &[u8],
    decode: fn(Encoding, &[u8]) -> Result<Decoded, String>,
    store: impl FnOnce(Decoded) -> Stored,
    what: &str,
) -> Response
where
    Stored: std::future::Future<Output = Result<Reply, StoreError>>,
    Reply: Message + serde::Serialize,
{
    let encoding = match otlp_encoding(headers) {
        Ok(encoding) => encoding,
        Err(content_type) => return unsupported_otlp_type(&content_type),
    };
    let decoded = match decode(encoding, body) {
        Ok(decoded) => decoded,
        Err(error) => return otlp_error(encoding, StatusCode::BAD_REQUEST, error),
    };
    match store(decoded).await {
        Ok(reply) => otlp_reply(encoding, &reply),
        Err(error) => otlp_error(
            encoding,
            store_status(&error),
            format!("{what} not stored: {error}"),
        ),
    }
}

async fn otlp_http_traces(
    State(spans): State<Arc<SpanStore>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let decode = |encoding, body: &[u8]| {
        match encoding {
            Encoding::Protobuf => otlp::decode_protobuf(body),
            Encoding::Json => otlp::decode_json(body),
        }
        .map_err(|error| error.to_string())
    };
    let response = otlp_http(
        &headers,
        &body,
        decode,
        |decoded| export_traces(&spans, "otlp_http", decoded),
        "spans",
    )
    .await;
    if response.status() == StatusCode::BAD_REQUEST {
        spans.record_dropped("otlp_http", "rejected", 1);
    }
    response
}

async fn otlp_http_logs(
    State(spans): State<Arc<SpanStore>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let decode = |encoding, body: &[u8]| match encoding {
        Encoding::Protobuf => otlp_logs::decode_protobuf(body),
        Encoding::Json => otlp_logs::decode_json(body),
    };
    otlp_http(
        &headers,
        &body,
        decode,
        |decoded| export_logs(&spans, decoded),
        "logs",
    )
    .await
}

// ---------------------------------------------------------------- OTLP over gRPC

#[derive(Debug, Clone)]
struct OtlpGrpc {
    spans: Arc<SpanStore>,
}

#[tonic::async_trait]
impl TraceService for OtlpGrpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let decoded = otlp::from_request(request.into_inner());
        export_traces(&self.spans, "otlp_grpc", decoded)
            .await
            .map(tonic::Response::new)
            .map_err(|error| grpc_status("spans", error))
    }
}

#[tonic::async_trait]
impl LogsService for OtlpGrpc {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        export_logs(&self.spans, otlp_logs::from_request(request.into_inner()))
            .await
            .map(tonic::Response::new)
            .map_err(|error| grpc_status("logs", error))
    }
}

/// OTLP_GRPC: the OTLP `TraceService` and `LogsService` (gzip accepted), over HTTP/2.
pub fn otlp_grpc_router(spans: Arc<SpanStore>, max_body_bytes: usize) -> Router {
    let traces = TraceServiceServer::new(OtlpGrpc {
        spans: spans.clone(),
    })
    .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
    .max_decoding_message_size(max_body_bytes);
    let logs = LogsServiceServer::new(OtlpGrpc { spans })
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .max_decoding_message_size(max_body_bytes);
    Router::new()
        .route_service(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            traces,
        )
        .route_service(
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            logs,
        )
}

// ---------------------------------------------------------------- Jaeger api_v2 over gRPC

#[derive(Debug, Clone)]
struct PostSpans {
    spans: Arc<SpanStore>,
}

impl tonic::server::UnaryService<PostSpansRequest> for PostSpans {
    type Response = PostSpansResponse;
    type Future = futures::future::BoxFuture<
        'static,
        Result<tonic::Response<PostSpansResponse>, tonic::Status>,
    >;

    fn call(&mut self, request: tonic::Request<PostSpansRequest>) -> Self::Future {
        let spans = self.spans.clone();
        Box::pin(async move {
            let decoded = jaeger_proto::from_request(request.into_inner()).map_err(|error| {
                spans.record_dropped("jaeger_grpc", "rejected", 1);
                tonic::Status::invalid_argument(error.to_string())
            })?;
            spans
                .write("jaeger_grpc", decoded)
                .await
                .and_then(WriteSummary::whole)
                .map_err(|error| grpc_status("spans", error))?;
            Ok(tonic::Response::new(PostSpansResponse {}))
        })
    }
}

/// JAEGER_GRPC: Jaeger's collector service (`PostSpans`, gzip accepted), as jaeger-agent and
/// the Jaeger clients' gRPC reporters call it.
pub fn jaeger_grpc_router(spans: Arc<SpanStore>, max_body_bytes: usize) -> Router {
    let service = tower::service_fn(move |request: axum::extract::Request| {
        let method = PostSpans {
            spans: spans.clone(),
        };
        async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default())
                .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
                .max_decoding_message_size(max_body_bytes);
            Ok::<_, std::convert::Infallible>(grpc.unary(method, request).await)
        }
    });
    Router::new().route_service("/jaeger.api_v2.CollectorService/PostSpans", service)
}

// ---------------------------------------------------------------- Jaeger agent over UDP

/// JAEGER_COMPACT / JAEGER_BINARY: receives `emitBatch` datagrams until `stop`, then stores
/// what is queued before returning. UDP carries no acknowledgement, so a datagram that cannot
/// be decoded is dropped and counted, and when the writer falls behind by more than
/// `UDP_QUEUE_DATAGRAMS` datagrams, they are shed and counted instead of growing memory.
pub async fn serve_udp(
    socket: UdpSocket,
    protocol: Protocol,
    spans: Arc<SpanStore>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let name: &'static str = match protocol {
        Protocol::Compact => "jaeger_compact",
        Protocol::Binary => "jaeger_binary",
    };
    // The receive loop only copies datagrams out of the socket buffer (which the kernel keeps
    // small); decoding and writing happen on the writer task, so bursts are not dropped by
    // the kernel while a batch is being decoded.
    let (queue, mut datagrams) = mpsc::channel::<Vec<u8>>(UDP_QUEUE_DATAGRAMS);
    let writer_spans = spans.clone();
    let writer = tokio::spawn(async move {
        while let Some(first) = datagrams.recv().await {
            let mut queued = vec![first];
            while queued.len() < UDP_WRITE_DATAGRAMS {
                match datagrams.try_recv() {
                    Ok(datagram) => queued.push(datagram),
                    Err(_) => break,
                }
            }
            // Decoding is CPU work: it runs with the write, off the async runtime.
            let written = writer_spans
                .blocking(move |this| {
                    let mut pending = Vec::new();
                    for datagram in &queued {
                        match thrift::decode_emit_batch(datagram, protocol) {
                            Ok(batch) => pending.extend(batch.spans),
                            Err(error) => {
                                tracing::debug!(protocol = name, %error, "undecodable datagram dropped");
                                this.record_dropped(name, "invalid", 1);
                            }
                        }
                    }
                    let count = pending.len() as u64;
                    if let Err(error) = this.write_blocking(name, pending) {
                        tracing::warn!(protocol = name, %error, spans = count, "spans from UDP not stored");
                        this.record_dropped(name, "rejected", count);
                    }
                    Ok(())
                })
                .await;
            if let Err(error) = written {
                tracing::error!(protocol = name, %error, "UDP writer task failed");
            }
        }
    });
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buffer) => {
                let length = match received {
                    Ok((length, _)) => length,
                    Err(error) => {
                        // ICMP errors surface here on some systems; the socket stays usable.
                        tracing::debug!(protocol = name, %error, "UDP receive error");
                        continue;
                    }
                };
                if queue.try_send(buffer[..length].to_vec()).is_err() {
                    spans.record_dropped(name, "shed", 1);
                }
            }
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
    }
    drop(queue);
    writer.await.map_err(std::io::Error::other)?;
    Ok(())
}

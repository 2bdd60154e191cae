//! Osprey's network side: the listener table, configuration, the Elasticsearch-compatible API,
//! health and metrics, and `serve` which wires them to the store with graceful shutdown.

#![warn(missing_docs)]

pub mod api;
pub mod config;
pub mod es;
pub mod forward;
pub mod listeners;
pub mod metrics;
pub mod traces;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use osprey_store::Store;
use osprey_trace::thrift;
use serde_json::json;
use tokio::net::{TcpListener, UdpSocket};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::decompression::RequestDecompressionLayer;

use crate::config::Config;
use crate::listeners::{Listener, Transport};
use crate::metrics::Metrics;
use crate::traces::sampling::Sampling;
use crate::traces::{SpanStore, ingest};

/// Shared by every handler.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The storage engine.
    pub store: Arc<Store>,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Name reported as the node name.
    pub node_name: String,
    /// Largest request body.
    pub max_body_bytes: usize,
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The store did not open.
    #[error("cannot open the data directory: {0}")]
    Store(#[from] osprey_store::StoreError),
    /// A listener could not bind.
    #[error(
        "cannot bind the {listener} listener to {addr} (set {env} to another address or \"off\"): {source}"
    )]
    Bind {
        /// Which.
        listener: Listener,
        /// Where.
        addr: SocketAddr,
        /// Its environment variable.
        env: String,
        /// Why.
        source: std::io::Error,
    },
    /// A server stopped with an error.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

async fn health(State(state): State<AppState>) -> Response {
    Json(json!({"status": "ok", "indexes": state.store.indexes().len(), "version": env!("CARGO_PKG_VERSION")})).into_response()
}

async fn metrics_endpoint(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// `/`: the web UI for browsers (which ask for HTML), the endpoint list for everyone else.
async fn home(headers: axum::http::HeaderMap) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        return osprey_ui::index(&headers);
    }
    Json(json!({
        "name": "osprey",
        "version": env!("CARGO_PKG_VERSION"),
        "endpoints": {"ui": "/", "api": "/api/v1", "jaeger_query": "/jaeger/api", "health": "/health", "metrics": "/metrics"},
        "listeners": Listener::ALL.iter().map(|l| json!({"name": l.name(), "env": l.env_var(), "default": l.default_addr(), "serves": l.serves()})).collect::<Vec<_>>()
    }))
    .into_response()
}

/// Routes of the HTTP listener: the web UI and its native API, the Jaeger query API under
/// `/jaeger` (so that the page needs one origin), `/health`, `/metrics`, and `_bulk` for agents.
pub fn http_router(state: AppState, spans: Arc<SpanStore>) -> Router {
    // The node agent ships here: `_bulk`, exactly as on the ELASTIC listener (gzip bodies, the
    // same limit), so that the agent speaks one protocol to Osprey and to Elasticsearch; and
    // the `_refresh` + `_search` with which it finds what its last batch left stored.
    let bulk = Router::new()
        .route("/_bulk", post(es::bulk_all))
        .route("/{index}/_bulk", post(es::bulk_index))
        // After a restart the agent asks which lines of its last batch were stored.
        .route("/{index}/_refresh", post(es::refresh_index))
        .route("/{index}/_search", post(es::search_index))
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .layer(RequestDecompressionLayer::new());
    Router::new()
        .route("/", get(home))
        .route("/health", get(health))
        .route("/metrics", get(metrics_endpoint))
        .merge(bulk)
        .nest(api::PREFIX, api::router())
        .merge(osprey_ui::router())
        .nest_service("/jaeger", traces::query::router(spans))
        .layer(CatchPanicLayer::custom(|_| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": {"message": "internal error while handling the request; it was logged"}})),
            )
                .into_response()
        }))
        .layer(middleware::from_fn_with_state(
            (state.clone(), "HTTP"),
            count_requests,
        ))
        .with_state(state)
}

/// Routes of the ELASTIC listener with its layers: gzip/deflate request bodies, body limit,
/// the product header every Elasticsearch client checks, and JSON errors for limits and panics.
pub fn elastic_router(state: AppState) -> Router {
    let limit = state.max_body_bytes;
    es::router(state.clone())
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestDecompressionLayer::new())
        .layer(middleware::from_fn_with_state(limit, elastic_envelope))
        .layer(CatchPanicLayer::custom(|_| {
            es::EsError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "exception",
                "internal error while handling the request; it was logged",
            )
            .into_response()
        }))
        .layer(middleware::from_fn_with_state(
            (state, "ELASTIC"),
            count_requests,
        ))
}

async fn count_requests(
    State((state, listener)): State<(AppState, &'static str)>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().to_string();
    let response = next.run(request).await;
    state
        .metrics
        .record_request(listener, &method, response.status().as_u16());
    response
}

async fn elastic_envelope(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let pretty = request.uri().query().is_some_and(|query| {
        query.split('&').any(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            key == "pretty" && value != "false"
        })
    });
    let mut response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_json && response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response = es::EsError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "content_too_long_exception",
            format!(
                "request body is too large: the limit is {} MB (set [http] max_body_mb)",
                limit >> 20
            ),
        )
        .into_response();
    } else if !is_json
        && response.status().is_client_error()
        && response.status() != StatusCode::NOT_FOUND
    {
        // axum's own rejections (unreadable or truncated bodies) become Elasticsearch errors.
        let status = response.status();
        let body = axum::body::to_bytes(std::mem::take(response.body_mut()), 64 << 10)
            .await
            .unwrap_or_default();
        response = es::EsError::new(
            status,
            "parse_exception",
            format!(
                "cannot read the request: {}",
                String::from_utf8_lossy(&body)
            ),
        )
        .into_response();
    }
    if pretty && is_json {
        response = pretty_printed(response).await;
    }
    response.headers_mut().insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    response
}

/// `?pretty`: indented JSON, as Elasticsearch answers it.
async fn pretty_printed(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return es::EsError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "exception",
            "response body failed",
        )
        .into_response();
    };
    let text = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(value) => {
            let mut text = serde_json::to_vec_pretty(&value).unwrap_or_else(|_| bytes.to_vec());
            text.push(b'\n');
            text
        }
        Err(_) => bytes.to_vec(),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(text))
}

/// A UDP socket with a large receive buffer (best effort: the kernel caps it at
/// `net.core.rmem_max`), so bursts of Jaeger datagrams wait in the kernel rather than drop.
fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if let Err(error) = socket.set_recv_buffer_size(ingest::UDP_RECEIVE_BUFFER) {
        tracing::warn!(%error, %addr, "cannot enlarge the UDP receive buffer");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Opens the store and serves every configured listener until `shutdown` resolves, then
/// drains connections and closes the store cleanly.
pub async fn serve(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    config.validate()?;
    let started = Instant::now();
    let store_config = config.store_config();
    let store = tokio::task::spawn_blocking(move || Store::open(store_config))
        .await
        .map_err(|e| ServeError::Io(std::io::Error::other(e)))??;
    let store = Arc::new(store);
    let metrics = Arc::new(Metrics::new(store.clone()));
    let sampling = Arc::new(
        Sampling::new(config.sampling.clone())
            .map_err(|e| ServeError::Config(config::ConfigError::Invalid(e.to_string())))?,
    );
    let spans = {
        let (store, metrics, sampling) = (store.clone(), metrics.clone(), sampling.clone());
        let trace_config = config.trace_store_config();
        Arc::new(
            tokio::task::spawn_blocking(move || {
                SpanStore::open(trace_config, store, metrics, Some(sampling))
            })
            .await
            .map_err(|e| ServeError::Io(std::io::Error::other(e)))??,
        )
    };
    let max_body_bytes = (config.http.max_body_mb as usize) << 20;
    let state = AppState {
        store: store.clone(),
        metrics,
        node_name: std::env::var("HOSTNAME").unwrap_or_else(|_| "osprey".into()),
        max_body_bytes,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    for listener in Listener::ALL {
        let Some(addr) = config.listener_addr(listener)? else {
            continue;
        };
        let bind_error = |source| ServeError::Bind {
            listener,
            addr,
            env: listener.env_var(),
            source,
        };
        if listener.transport() == Transport::Udp {
            let socket = bind_udp(addr).map_err(bind_error)?;
            let protocol = match listener {
                Listener::JaegerBinary => thrift::Protocol::Binary,
                _ => thrift::Protocol::Compact,
            };
            tracing::info!(listener = %listener, %addr, "listening (UDP)");
            servers.spawn(ingest::serve_udp(
                socket,
                protocol,
                spans.clone(),
                stop_rx.clone(),
            ));
            continue;
        }
        let socket = TcpListener::bind(addr).await.map_err(bind_error)?;
        if listener == Listener::Forward {
            let forward = Arc::new(forward::Forward::new(
                store.clone(),
                state.metrics.clone(),
                config.forward.clone(),
                max_body_bytes,
            ));
            tracing::info!(listener = %listener, %addr, "listening");
            servers.spawn(forward::serve(socket, forward, stop_rx.clone()));
            continue;
        }
        let router = match listener {
            Listener::Http => http_router(state.clone(), spans.clone()),
            Listener::Elastic => elastic_router(state.clone()),
            Listener::JaegerQuery => traces::query::router(spans.clone()),
            Listener::JaegerHttp => ingest::jaeger_http_router(spans.clone(), max_body_bytes),
            Listener::OtlpHttp => ingest::otlp_http_router(spans.clone(), max_body_bytes),
            Listener::OtlpGrpc => ingest::otlp_grpc_router(spans.clone(), max_body_bytes),
            Listener::JaegerGrpc => ingest::jaeger_grpc_router(spans.clone(), max_body_bytes),
            Listener::Zipkin => ingest::zipkin_router(spans.clone(), max_body_bytes),
            Listener::Sampling => traces::sampling::router(sampling.clone()),
            _ => unreachable!("UDP listeners and FORWARD are served above"),
        };
        let router = match listener {
            // These two count their own requests (their routers are also used on their own).
            Listener::Http | Listener::Elastic => router,
            _ => router
                .layer(CatchPanicLayer::custom(|_| {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal error while handling the request; it was logged\n",
                    )
                        .into_response()
                }))
                .layer(middleware::from_fn_with_state(
                    (state.clone(), listener.name()),
                    count_requests,
                )),
        };
        let mut stop = stop_rx.clone();
        tracing::info!(listener = %listener, %addr, "listening");
        // No Nagle: an HTTP/2 answer is several small writes (headers, data, trailers), and
        // waiting for the peer's delayed ACK between them costs 40 ms per gRPC call.
        let socket = axum::serve::ListenerExt::tap_io(socket, |tcp: &mut tokio::net::TcpStream| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "TCP_NODELAY not set");
            }
        });
        servers.spawn(async move {
            axum::serve(socket, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|stopped| *stopped).await;
                })
                .await
        });
    }
    {
        let (sampling, stop) = (sampling.clone(), stop_rx.clone());
        servers.spawn(async move {
            sampling.run(stop).await;
            Ok(())
        });
    }
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, data_dir = %config.data_dir.display(), "ready");
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: draining connections");
        let _ = stop_tx.send(true);
    });
    while let Some(result) = servers.join_next().await {
        result.map_err(|e| ServeError::Io(std::io::Error::other(e)))??;
    }
    tokio::task::spawn_blocking(move || store.shutdown())
        .await
        .map_err(|e| ServeError::Io(std::io::Error::other(e)))?;
    tracing::info!("stopped");
    Ok(())
}

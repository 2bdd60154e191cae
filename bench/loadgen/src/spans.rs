//! `spans`: generate realistic traces and send them over one span protocol, as fast as the
//! server acknowledges them (or, for UDP, as fast as a Jaeger client would send). Also writes
//! the trace ids (for `trace-query`) and, optionally, the stored documents as NDJSON (the same
//! spans for the Lucene peer).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use osprey_trace::model::{Event, KeyValue, Resource, Scope, Span, SpanId, SpanKind, TraceId};
use osprey_trace::thrift::{Protocol, encode::Writer};
use osprey_trace::{AttrValue, document};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::stats::{agent, percentile};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SpanProtocol {
    /// OTLP over gRPC (`--addr http://127.0.0.1:4317`).
    OtlpGrpc,
    /// OTLP over HTTP, protobuf (`--addr http://127.0.0.1:4318`).
    OtlpHttp,
    /// Zipkin v2 JSON (`--addr http://127.0.0.1:9411`).
    Zipkin,
    /// Jaeger Thrift binary over HTTP (`--addr http://127.0.0.1:14268`).
    JaegerHttp,
    /// Jaeger agent Thrift compact over UDP (`--addr 127.0.0.1:6831`); not acknowledged.
    JaegerUdp,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SpansArgs {
    /// Protocol to send with.
    #[arg(long, value_enum)]
    protocol: SpanProtocol,
    /// Where to send (see the protocol's help for the form).
    #[arg(long)]
    addr: String,
    /// Traces to send (about 12 spans each).
    #[arg(long, default_value_t = 10_000)]
    traces: usize,
    /// Traces per request (UDP: per datagram, kept under 65,000 bytes).
    #[arg(long, default_value_t = 20)]
    batch: usize,
    /// Concurrent senders.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Random seed (the same seed makes the same traces).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Start time of the first trace, epoch seconds (default: now minus one hour).
    #[arg(long)]
    start_epoch: Option<i64>,
    /// Write every trace id (hex, one per line) here.
    #[arg(long)]
    ids_out: Option<PathBuf>,
    /// Write the stored document of every span here as NDJSON (input for the Lucene peer).
    #[arg(long)]
    docs_out: Option<PathBuf>,
    /// Only generate (with --ids-out/--docs-out); send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Jaeger UDP only: send at most this many spans per second (UDP has no flow control;
    /// unpaced, the kernel drops what the receiver has not read yet).
    #[arg(long)]
    rate: Option<f64>,
    /// Print a single machine-readable JSON summary line.
    #[arg(long)]
    json: bool,
}

const SERVICES: [(&str, &[&str]); 6] = [
    (
        "frontend",
        &["GET /", "GET /product", "POST /cart", "GET /checkout"],
    ),
    ("cart", &["AddItem", "GetCart", "EmptyCart"]),
    ("checkout", &["PlaceOrder", "PrepareOrder"]),
    ("payment", &["Charge", "Refund"]),
    ("catalog", &["ListProducts", "GetProduct", "SearchProducts"]),
    ("shipping", &["GetQuote", "ShipOrder"]),
];

/// Instances of each service: a Jaeger batch carries one process, so this sets how many spans
/// a Jaeger request holds.
const PODS_PER_SERVICE: u32 = 3;

/// A deterministic trace: a frontend server span with calls into other services, each a
/// client span with its server span, some with database or cache spans below.
pub(crate) fn generate_trace(rng: &mut StdRng, index: usize, start_nanos: u64) -> Vec<Span> {
    let trace_id = TraceId(rng.random::<u128>() | 1);
    let mut spans = Vec::new();
    let resource = |service: &str, pod: u32| Resource {
        service_name: service.to_string(),
        attributes: vec![
            KeyValue::string("host.name", format!("node-{}", pod % 5)),
            KeyValue::string("k8s.pod.name", format!("{service}-7d9f8-{pod:05}")),
            KeyValue::string("telemetry.sdk.language", "go"),
        ],
    };
    let scope = Some(Scope {
        name: "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp".into(),
        version: "0.49.0".into(),
        attributes: Vec::new(),
    });
    let error = rng.random_bool(0.03);
    let route = SERVICES[0].1[rng.random_range(0..SERVICES[0].1.len())];
    let root_id = SpanId(rng.random::<u64>() | 1);
    let root_duration = rng.random_range(2_000_000..400_000_000u64);
    let mut root = Span {
        trace_id,
        span_id: root_id,
        operation_name: route.to_string(),
        kind: SpanKind::Server,
        start_unix_nano: start_nanos,
        duration_nanos: root_duration,
        attributes: vec![
            KeyValue::string("http.method", route.split(' ').next().unwrap_or("GET")),
            KeyValue::string("http.route", route.split(' ').nth(1).unwrap_or("/")),
            KeyValue {
                key: "http.status_code".into(),
                value: AttrValue::Int(if error { 500 } else { 200 }),
            },
            KeyValue::string("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"),
            KeyValue::string("request.id", format!("req-{index:010}")),
        ],
        resource: resource("frontend", rng.random_range(0..PODS_PER_SERVICE)),
        scope: scope.clone(),
        flags: 1,
        ..Span::default()
    };
    if error {
        root.status.code = osprey_trace::model::StatusCode::Error;
        root.status.message = "upstream failed".into();
    }
    spans.push(root);
    let calls = rng.random_range(2..=6);
    let mut offset = 100_000u64;
    for _ in 0..calls {
        let (service, operations) = SERVICES[rng.random_range(1..SERVICES.len())];
        let operation = operations[rng.random_range(0..operations.len())];
        let duration = (root_duration / (calls as u64 + 1)).max(10_000);
        let client_id = SpanId(rng.random::<u64>() | 1);
        spans.push(Span {
            trace_id,
            span_id: client_id,
            parent_span_id: Some(root_id),
            operation_name: format!("{service}/{operation}"),
            kind: SpanKind::Client,
            start_unix_nano: start_nanos + offset,
            duration_nanos: duration,
            attributes: vec![
                KeyValue::string("rpc.system", "grpc"),
                KeyValue::string("rpc.service", service),
                KeyValue::string("net.peer.name", format!("{service}.shop.svc.cluster.local")),
            ],
            resource: spans[0].resource.clone(),
            scope: scope.clone(),
            flags: 1,
            ..Span::default()
        });
        let server_id = SpanId(rng.random::<u64>() | 1);
        let server_resource = resource(service, rng.random_range(0..PODS_PER_SERVICE));
        let mut server = Span {
            trace_id,
            span_id: server_id,
            parent_span_id: Some(client_id),
            operation_name: operation.to_string(),
            kind: SpanKind::Server,
            start_unix_nano: start_nanos + offset + 50_000,
            duration_nanos: duration - 60_000.min(duration / 2),
            attributes: vec![
                KeyValue::string("rpc.system", "grpc"),
                KeyValue {
                    key: "rpc.grpc.status_code".into(),
                    value: AttrValue::Int(0),
                },
            ],
            resource: server_resource.clone(),
            scope: scope.clone(),
            flags: 1,
            ..Span::default()
        };
        if rng.random_bool(0.2) {
            server.events.push(Event {
                time_unix_nano: server.start_unix_nano + 1_000,
                name: "cache miss".into(),
                attributes: vec![KeyValue::string(
                    "cache.key",
                    format!("{service}:{}", rng.random_range(0..10_000)),
                )],
                dropped_attributes_count: 0,
            });
        }
        let server_start = server.start_unix_nano;
        let server_duration = server.duration_nanos;
        spans.push(server);
        for _ in 0..rng.random_range(0..=2) {
            let (system, statement) = if rng.random_bool(0.5) {
                (
                    "redis",
                    format!("GET {service}:{}", rng.random_range(0..100_000)),
                )
            } else {
                (
                    "postgresql",
                    format!(
                        "SELECT * FROM {service}_items WHERE id = {}",
                        rng.random_range(0..100_000)
                    ),
                )
            };
            spans.push(Span {
                trace_id,
                span_id: SpanId(rng.random::<u64>() | 1),
                parent_span_id: Some(server_id),
                operation_name: format!("{system} query"),
                kind: SpanKind::Client,
                start_unix_nano: server_start + 10_000,
                duration_nanos: server_duration / 3,
                attributes: vec![
                    KeyValue::string("db.system", system),
                    KeyValue::string("db.statement", statement),
                ],
                resource: server_resource.clone(),
                scope: scope.clone(),
                flags: 1,
                ..Span::default()
            });
        }
        offset += duration;
    }
    spans
}

fn zipkin_json(spans: &[Span]) -> Vec<u8> {
    let list: Vec<_> = spans
        .iter()
        .map(|s| {
            let mut span = json!({
                "traceId": format!("{:032x}", s.trace_id.0),
                "id": s.span_id.to_string(),
                "name": s.operation_name,
                "timestamp": s.start_micros(),
                "duration": s.duration_micros(),
                "localEndpoint": {"serviceName": s.resource.service_name},
                "tags": s.attributes.iter().map(|kv| (kv.key.clone(), json!(kv.value.to_text()))).collect::<serde_json::Map<_, _>>(),
                "annotations": s.events.iter().map(|e| json!({"timestamp": e.time_unix_nano / 1000, "value": e.name})).collect::<Vec<_>>(),
            });
            if let Some(parent) = s.parent_span_id {
                span["parentId"] = json!(parent.to_string());
            }
            let kind = s.kind.as_str().to_ascii_uppercase();
            if matches!(kind.as_str(), "CLIENT" | "SERVER" | "PRODUCER" | "CONSUMER") {
                span["kind"] = json!(kind);
            }
            span
        })
        .collect();
    serde_json::to_vec(&list).unwrap_or_default()
}

/// One request's worth of spans, encoded for the protocol. Jaeger batches share a process,
/// so Jaeger payloads are one batch per service.
fn encode(protocol: SpanProtocol, spans: &[Span]) -> Vec<Vec<u8>> {
    match protocol {
        SpanProtocol::OtlpGrpc | SpanProtocol::OtlpHttp => {
            vec![osprey_trace::otlp::to_request(spans).encode_to_vec()]
        }
        SpanProtocol::Zipkin => vec![zipkin_json(spans)],
        SpanProtocol::JaegerHttp | SpanProtocol::JaegerUdp => {
            let mut by_process: Vec<(Resource, Vec<Span>)> = Vec::new();
            for span in spans {
                match by_process.iter_mut().find(|(r, _)| *r == span.resource) {
                    Some((_, list)) => list.push(span.clone()),
                    None => by_process.push((span.resource.clone(), vec![span.clone()])),
                }
            }
            by_process
                .iter()
                .map(|(_, list)| {
                    if protocol == SpanProtocol::JaegerUdp {
                        Writer::emit_batch(Protocol::Compact, list)
                    } else {
                        let mut writer = Writer::new(Protocol::Binary);
                        writer.batch(None, list);
                        writer.out
                    }
                })
                .collect()
        }
    }
}

pub(crate) fn run(args: SpansArgs) -> Result<()> {
    if args.batch == 0 || args.concurrency == 0 {
        bail!("--batch and --concurrency must be positive");
    }
    let start_epoch = args
        .start_epoch
        .unwrap_or_else(|| jiff::Timestamp::now().as_second() - 3600);
    let mut rng = StdRng::seed_from_u64(args.seed);
    // Traces 10 ms apart: a million traces span about three hours.
    let mut requests: Vec<(usize, Vec<Vec<u8>>)> = Vec::new();
    let mut ids = args
        .ids_out
        .as_ref()
        .map(|p| File::create(p).map(BufWriter::new))
        .transpose()?;
    let mut docs = args
        .docs_out
        .as_ref()
        .map(|p| File::create(p).map(BufWriter::new))
        .transpose()?;
    let mut pending: Vec<Span> = Vec::new();
    let mut pending_traces = 0;
    let mut total_spans = 0usize;
    for index in 0..args.traces {
        let start = (start_epoch as u64) * 1_000_000_000 + index as u64 * 10_000_000;
        let trace = generate_trace(&mut rng, index, start);
        if let Some(ids) = ids.as_mut() {
            writeln!(ids, "{}", trace[0].trace_id)?;
        }
        if let Some(docs) = docs.as_mut() {
            for span in &trace {
                docs.write_all(&document::span_document(span, span.start_unix_nano).source)?;
                docs.write_all(b"\n")?;
            }
        }
        total_spans += trace.len();
        pending.extend(trace);
        pending_traces += 1;
        if pending_traces == args.batch || index + 1 == args.traces {
            if !args.dry_run {
                requests.push((pending.len(), encode(args.protocol, &pending)));
            }
            pending.clear();
            pending_traces = 0;
        }
    }
    if let Some(mut ids) = ids {
        ids.flush()?;
    }
    if let Some(mut docs) = docs {
        docs.flush()?;
    }
    if args.dry_run {
        println!("{}", json!({"traces": args.traces, "spans": total_spans}));
        return Ok(());
    }
    let payload_bytes: usize = requests
        .iter()
        .flat_map(|(_, p)| p.iter().map(Vec::len))
        .sum();
    let started = Instant::now();
    let latencies = send_all(&args, requests)?;
    let elapsed = started.elapsed();
    let mut sorted = latencies;
    sorted.sort();
    let summary = json!({
        "protocol": format!("{:?}", args.protocol),
        "traces": args.traces,
        "spans": total_spans,
        "payload_bytes": payload_bytes,
        "seconds": elapsed.as_secs_f64(),
        "spans_per_second": total_spans as f64 / elapsed.as_secs_f64(),
        "request_p50_ms": percentile(&sorted, 0.5).as_secs_f64() * 1000.0,
        "request_p99_ms": percentile(&sorted, 0.99).as_secs_f64() * 1000.0,
    });
    if args.json {
        println!("{summary}");
    } else {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(())
}

fn send_all(args: &SpansArgs, requests: Vec<(usize, Vec<Vec<u8>>)>) -> Result<Vec<Duration>> {
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(requests.len())));
    let failures = Arc::new(AtomicU64::new(0));
    match args.protocol {
        SpanProtocol::OtlpGrpc => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(args.concurrency.min(4))
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let channel = tonic::transport::Endpoint::from_shared(args.addr.clone())?
                    .connect()
                    .await
                    .with_context(|| format!("connecting to {}", args.addr))?;
                let mut tasks = Vec::new();
                for _ in 0..args.concurrency {
                    // The pre-encoded request goes out as it is: decoding it into a message
                    // only for tonic to encode it again would cost the client more CPU than
                    // the server spends storing it.
                    let mut client = tonic::client::Grpc::new(channel.clone())
                        .max_decoding_message_size(64 << 20);
                    let (requests, next, latencies) =
                        (requests.clone(), next.clone(), latencies.clone());
                    tasks.push(tokio::spawn(async move {
                        let path = tonic::codegen::http::uri::PathAndQuery::from_static(
                            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                        );
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some((_, payloads)) = requests.get(i) else {
                                break;
                            };
                            for payload in payloads {
                                let t = Instant::now();
                                client
                                    .ready()
                                    .await
                                    .map_err(|e| anyhow!("gRPC channel: {e}"))?;
                                let answer = client
                                    .unary(
                                        tonic::Request::new(bytes::Bytes::copy_from_slice(payload)),
                                        path.clone(),
                                        RawCodec,
                                    )
                                    .await?
                                    .into_inner();
                                let response = ExportTraceServiceResponse::decode(answer.as_ref())?;
                                if response
                                    .partial_success
                                    .as_ref()
                                    .is_some_and(|p| p.rejected_spans > 0)
                                {
                                    return Err(anyhow!("server rejected spans: {response:?}"));
                                }
                                latencies
                                    .lock()
                                    .map_err(|_| anyhow!("poisoned"))?
                                    .push(t.elapsed());
                            }
                        }
                        Ok::<_, anyhow::Error>(())
                    }));
                }
                for task in tasks {
                    task.await??;
                }
                Ok::<_, anyhow::Error>(())
            })?;
        }
        SpanProtocol::JaegerUdp => {
            let socket = UdpSocket::bind("127.0.0.1:0")?;
            let started = Instant::now();
            let mut sent_spans = 0usize;
            for (spans, payloads) in requests.iter() {
                if let Some(rate) = args.rate {
                    let due = Duration::from_secs_f64(sent_spans as f64 / rate);
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
                sent_spans += spans;
                for payload in payloads {
                    if payload.len() > 65_000 {
                        bail!(
                            "a datagram of {} bytes is too big; lower --batch",
                            payload.len()
                        );
                    }
                    let t = Instant::now();
                    socket.send_to(payload, &args.addr)?;
                    latencies
                        .lock()
                        .map_err(|_| anyhow!("poisoned"))?
                        .push(t.elapsed());
                }
            }
        }
        protocol => {
            let (path, content_type) = match protocol {
                SpanProtocol::OtlpHttp => ("/v1/traces", "application/x-protobuf"),
                SpanProtocol::Zipkin => ("/api/v2/spans", "application/json"),
                _ => ("/api/traces", "application/x-thrift"),
            };
            let url = format!("{}{path}", args.addr.trim_end_matches('/'));
            let http = agent(Duration::from_secs(120), args.concurrency);
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..args.concurrency)
                    .map(|_| {
                        let (requests, next, latencies, failures, http, url) =
                            (&requests, &next, &latencies, &failures, http.clone(), &url);
                        scope.spawn(move || -> Result<()> {
                            loop {
                                let i = next.fetch_add(1, Ordering::Relaxed);
                                let Some((_, payloads)) = requests.get(i) else {
                                    return Ok(());
                                };
                                for payload in payloads {
                                    let t = Instant::now();
                                    let response = http
                                        .post(url)
                                        .header("content-type", content_type)
                                        .send(payload.as_slice())?;
                                    if !response.status().is_success() {
                                        failures.fetch_add(1, Ordering::Relaxed);
                                        bail!("{url} answered {}", response.status());
                                    }
                                    latencies
                                        .lock()
                                        .map_err(|_| anyhow!("poisoned"))?
                                        .push(t.elapsed());
                                }
                            }
                        })
                    })
                    .collect();
                for handle in handles {
                    handle.join().map_err(|_| anyhow!("sender panicked"))??;
                }
                Ok::<_, anyhow::Error>(())
            })?;
        }
    }
    let latencies = Arc::try_unwrap(latencies)
        .map_err(|_| anyhow!("senders still running"))?
        .into_inner()
        .map_err(|_| anyhow!("poisoned"))?;
    Ok(latencies)
}

#[derive(Debug, clap::Args)]
pub(crate) struct TraceQueryArgs {
    /// Base URL of the Jaeger query API.
    #[arg(long, default_value = "http://127.0.0.1:16686")]
    url: String,
    /// File of trace ids (from `spans --ids-out`).
    #[arg(long)]
    ids: PathBuf,
    /// Trace-by-id lookups to time.
    #[arg(long, default_value_t = 2000)]
    lookups: usize,
    /// Searches per search class to time.
    #[arg(long, default_value_t = 50)]
    searches: usize,
    /// Random seed for picking ids.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Print a single machine-readable JSON summary line.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run_queries(args: TraceQueryArgs) -> Result<()> {
    let ids: Vec<String> = std::fs::read_to_string(&args.ids)
        .with_context(|| format!("reading {}", args.ids.display()))?
        .lines()
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        bail!("{} has no trace ids", args.ids.display());
    }
    let http = agent(Duration::from_secs(60), 1);
    let mut rng = StdRng::seed_from_u64(args.seed);
    let base = args.url.trim_end_matches('/');
    let mut timings = serde_json::Map::new();
    let mut measure = |name: &str, urls: Vec<String>, must_find: bool| -> Result<()> {
        let mut latencies = Vec::with_capacity(urls.len());
        for url in &urls {
            let t = Instant::now();
            let mut response = http.get(url).call()?;
            let body = response.body_mut().read_to_string()?;
            latencies.push(t.elapsed());
            if !response.status().is_success() || (must_find && !body.contains("\"spans\"")) {
                bail!(
                    "{url} answered {}: {}",
                    response.status(),
                    crate::stats::truncate(&body, 300)
                );
            }
        }
        latencies.sort();
        timings.insert(
            name.to_string(),
            json!({
                "count": latencies.len(),
                "p50_ms": percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
                "p99_ms": percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
            }),
        );
        Ok(())
    };
    // Warm-up, then lookups of random stored traces.
    let pick = |rng: &mut StdRng| ids[rng.random_range(0..ids.len())].clone();
    let warm: Vec<String> = (0..100)
        .map(|_| format!("{base}/api/traces/{}", pick(&mut rng)))
        .collect();
    measure("warmup", warm, true)?;
    let lookups: Vec<String> = (0..args.lookups)
        .map(|_| format!("{base}/api/traces/{}", pick(&mut rng)))
        .collect();
    measure("trace_by_id", lookups, true)?;
    let searches = |query: &str| -> Vec<String> {
        (0..args.searches)
            .map(|_| format!("{base}/api/traces?{query}"))
            .collect()
    };
    measure(
        "search_service",
        searches("service=checkout&lookback=2d&limit=20"),
        true,
    )?;
    measure(
        "search_operation",
        searches("service=frontend&operation=GET%20%2Fcheckout&lookback=2d&limit=20"),
        true,
    )?;
    measure(
        "search_tag",
        searches(
            "service=frontend&tags=%7B%22http.status_code%22%3A%22500%22%7D&lookback=2d&limit=20",
        ),
        true,
    )?;
    measure(
        "search_min_duration",
        searches("service=payment&minDuration=100ms&lookback=2d&limit=20"),
        true,
    )?;
    timings.remove("warmup");
    let summary = serde_json::Value::Object(timings);
    if args.json {
        println!("{summary}");
    } else {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(())
}

/// A gRPC codec that sends and receives message bytes as they are.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

/// See `RawCodec`.
#[derive(Debug)]
struct RawBytes;

impl tonic::codec::Encoder for RawBytes {
    type Item = bytes::Bytes;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: bytes::Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawBytes {
    type Item = bytes::Bytes;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<bytes::Bytes>, tonic::Status> {
        use bytes::Buf;
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

impl tonic::codec::Codec for RawCodec {
    type Encode = bytes::Bytes;
    type Decode = bytes::Bytes;
    type Encoder = RawBytes;
    type Decoder = RawBytes;

    fn encoder(&mut self) -> RawBytes {
        RawBytes
    }

    fn decoder(&mut self) -> RawBytes {
        RawBytes
    }
}

//! Deterministic generator of realistic container-log documents.
//!
//! Each output line is one JSON `_source` document, shaped like what a log
//! shipper (Fluent Bit / Vector with the Kubernetes filter) sends to an
//! Elasticsearch-compatible endpoint. The same `--seed`, `--docs`, `--days` and
//! `--end` always produce byte-identical output.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    /// Number of documents to generate.
    #[arg(long, default_value_t = 1_000_000)]
    docs: u64,
    /// RNG seed; the output is a pure function of the arguments.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output NDJSON file (one `_source` per line, no action lines).
    #[arg(long)]
    out: PathBuf,
    /// Width of the time window the timestamps are spread over, in days.
    #[arg(long, default_value_t = 2.0)]
    days: f64,
    /// End of the time window (exclusive), RFC 3339.
    #[arg(long, default_value = "2026-11-25T00:00:00Z")]
    end: String,
}

/// Common log words, most frequent first. Sampled with a Zipf distribution
/// (together with a synthetic long tail) so that single-term queries range
/// from matching a large fraction of documents to matching a handful.
const WORDS: &[&str] = &[
    "the",
    "to",
    "request",
    "for",
    "in",
    "of",
    "user",
    "and",
    "failed",
    "error",
    "connection",
    "service",
    "completed",
    "from",
    "with",
    "on",
    "is",
    "not",
    "started",
    "response",
    "timeout",
    "database",
    "cache",
    "retry",
    "session",
    "token",
    "client",
    "server",
    "handler",
    "message",
    "received",
    "sent",
    "queue",
    "worker",
    "job",
    "task",
    "processing",
    "processed",
    "update",
    "updated",
    "created",
    "deleted",
    "order",
    "payment",
    "checkout",
    "cart",
    "account",
    "invoice",
    "refund",
    "shipment",
    "inventory",
    "product",
    "catalog",
    "search",
    "index",
    "query",
    "result",
    "results",
    "record",
    "records",
    "batch",
    "stream",
    "event",
    "events",
    "consumer",
    "producer",
    "partition",
    "offset",
    "commit",
    "rollback",
    "transaction",
    "lock",
    "acquired",
    "released",
    "waiting",
    "pool",
    "thread",
    "memory",
    "disk",
    "cpu",
    "usage",
    "limit",
    "exceeded",
    "quota",
    "rate",
    "throttled",
    "backoff",
    "attempt",
    "giving",
    "up",
    "healthy",
    "unhealthy",
    "ready",
    "probe",
    "liveness",
    "readiness",
    "shutdown",
    "graceful",
    "signal",
    "received",
    "config",
    "reloaded",
    "loaded",
    "missing",
    "invalid",
    "expired",
    "refreshed",
    "authenticated",
    "authorization",
    "denied",
    "forbidden",
    "unauthorized",
    "login",
    "logout",
    "password",
    "credentials",
    "certificate",
    "tls",
    "handshake",
    "upstream",
    "downstream",
    "proxy",
    "gateway",
    "route",
    "endpoint",
    "latency",
    "slow",
    "fast",
    "warmup",
    "flush",
    "compaction",
    "snapshot",
    "backup",
    "restore",
    "replica",
    "leader",
    "follower",
    "election",
    "heartbeat",
    "scheduler",
    "cron",
    "tick",
    "metrics",
    "exporter",
    "scrape",
    "target",
    "alert",
    "firing",
    "resolved",
    "notification",
    "email",
    "webhook",
    "delivered",
    "bounced",
    "subscription",
    "renewal",
    "trial",
    "plan",
    "customer",
    "merchant",
    "tenant",
    "region",
    "zone",
    "cluster",
    "node",
    "pod",
    "container",
    "image",
    "pulled",
    "deployment",
    "rollout",
    "scaled",
    "autoscaler",
    "replicas",
    "volume",
    "mounted",
    "secret",
    "configmap",
    "namespace",
    "ingress",
    "dns",
    "resolve",
    "lookup",
    "socket",
    "closed",
    "reset",
    "peer",
    "broken",
    "pipe",
    "refused",
    "unreachable",
    "network",
    "packet",
    "dropped",
    "bytes",
    "payload",
    "serialization",
    "deserialization",
    "schema",
    "migration",
    "version",
    "upgrade",
    "deprecated",
    "feature",
    "flag",
    "enabled",
    "disabled",
    "experiment",
    "variant",
    "recommendation",
    "ranking",
    "score",
    "model",
    "inference",
    "prediction",
    "embedding",
    "vector",
    "shard",
    "segment",
    "merge",
    "tombstone",
    "garbage",
    "collection",
    "pause",
    "heap",
    "allocation",
    "leak",
    "oom",
    "killed",
    "restarted",
    "crashloop",
    "evicted",
    "preempted",
    "pending",
    "running",
    "succeeded",
    "terminated",
    "unknown",
    "duplicate",
    "idempotency",
    "key",
    "conflict",
    "stale",
    "outdated",
    "reconciliation",
    "reconciled",
    "drift",
    "sync",
    "synchronized",
    "async",
    "callback",
    "promise",
    "future",
    "deadline",
    "cancelled",
    "context",
    "propagation",
    "trace",
    "span",
    "baggage",
    "sampling",
    "sampled",
    "discount",
    "coupon",
    "voucher",
    "loyalty",
    "points",
    "wishlist",
    "review",
    "rating",
    "avatar",
    "thumbnail",
    "upload",
    "download",
    "bucket",
    "object",
    "multipart",
    "presigned",
    "url",
    "redirect",
    "canonical",
    "locale",
    "currency",
    "exchange",
    "tax",
    "shipping",
    "warehouse",
    "fulfillment",
    "carrier",
    "tracking",
    "label",
    "barcode",
    "sku",
    "variant",
    "bundle",
    "promotion",
    "campaign",
    "newsletter",
    "unsubscribe",
    "gdpr",
    "consent",
    "audit",
    "compliance",
    "fraud",
    "risk",
    "chargeback",
    "dispute",
    "settlement",
    "payout",
    "ledger",
    "balance",
    "overdraft",
    "reconcile",
    "statement",
];

const ENTITIES: &[&str] = &[
    "order", "user", "payment", "invoice", "cart", "product", "session", "shipment", "refund",
    "account", "review", "coupon",
];

const SYLLABLES: &[&str] = &[
    "ka", "lo", "ven", "tar", "mi", "zu", "rel", "qua", "dor", "fen", "bri", "sol", "nax", "pel",
    "vo", "ter", "gli", "mar", "ost", "ul", "cre", "dan", "esh", "fo", "hul", "jin", "kro", "lum",
];

const NAMESPACES: &[(&str, &[(&str, AppKind)])] = &[
    (
        "ingress-nginx",
        &[("ingress-nginx-controller", AppKind::Nginx)],
    ),
    (
        "web",
        &[("frontend", AppKind::Nginx), ("storefront", AppKind::Nginx)],
    ),
    (
        "payments",
        &[
            ("payment-service", AppKind::Java),
            ("ledger", AppKind::Java),
        ],
    ),
    (
        "checkout",
        &[("checkout-api", AppKind::Python), ("cart", AppKind::Python)],
    ),
    (
        "auth",
        &[
            ("auth-server", AppKind::Java),
            ("session-store", AppKind::Python),
        ],
    ),
    (
        "search",
        &[
            ("search-indexer", AppKind::Java),
            ("recommendations", AppKind::Python),
        ],
    ),
    (
        "kube-system",
        &[("coredns", AppKind::Klog), ("kube-proxy", AppKind::Klog)],
    ),
    (
        "data",
        &[
            ("kafka-consumer", AppKind::Java),
            ("etl-runner", AppKind::Python),
        ],
    ),
    (
        "monitoring",
        &[("prometheus", AppKind::Klog), ("grafana", AppKind::Python)],
    ),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AppKind {
    Nginx,
    Java,
    Python,
    Klog,
}

struct Pod {
    namespace: &'static str,
    app: &'static str,
    kind: AppKind,
    pod_name: String,
    template_hash: String,
    host: String,
}

/// Samples ranks `0..n` with probability proportional to `1 / (rank + 1)^s`.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut acc = 0.0;
        let cdf = (0..n)
            .map(|k| {
                acc += 1.0 / ((k + 1) as f64).powf(s);
                acc
            })
            .collect();
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut StdRng) -> usize {
        let total = self.cdf.last().copied().unwrap_or(0.0);
        let u = rng.random::<f64>() * total;
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

struct Generator {
    rng: StdRng,
    vocab: Vec<String>,
    vocab_zipf: Zipf,
    pods: Vec<Pod>,
    pod_zipf: Zipf,
    user_zipf: Zipf,
}

fn pick<'a, T: ?Sized>(rng: &mut StdRng, items: &'a [&'a T]) -> &'a T {
    items[rng.random_range(0..items.len())]
}

fn rand_chars(rng: &mut StdRng, alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

const HASH_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
const HEX: &[u8] = b"0123456789abcdef";

impl Generator {
    fn new(seed: u64) -> Self {
        // The vocabulary and the cluster layout depend only on a fixed seed, so
        // different `--seed`s give different documents over the same "cluster".
        let mut layout = StdRng::seed_from_u64(0x05b7_e11a);
        let mut vocab: Vec<String> = WORDS.iter().map(|w| (*w).to_owned()).collect();
        let mut seen: std::collections::HashSet<String> = vocab.iter().cloned().collect();
        while vocab.len() < WORDS.len() + 4000 {
            let n = layout.random_range(2..=4);
            let w: String = (0..n).map(|_| pick(&mut layout, SYLLABLES)).collect();
            if seen.insert(w.clone()) {
                vocab.push(w);
            }
        }
        let nodes: Vec<String> = (0..8)
            .map(|_| {
                format!(
                    "ip-10-0-{}-{}.eu-west-1.compute.internal",
                    layout.random_range(0..16),
                    layout.random_range(1..255)
                )
            })
            .collect();
        let mut pods = Vec::new();
        for (ns, apps) in NAMESPACES {
            for (app, kind) in apps.iter() {
                let template_hash = rand_chars(&mut layout, HASH_ALPHABET, 10);
                let replicas = layout.random_range(2..=5);
                for _ in 0..replicas {
                    let suffix = rand_chars(&mut layout, HASH_ALPHABET, 5);
                    pods.push(Pod {
                        namespace: ns,
                        app,
                        kind: *kind,
                        pod_name: format!("{app}-{template_hash}-{suffix}"),
                        template_hash: template_hash.clone(),
                        host: nodes[layout.random_range(0..nodes.len())].clone(),
                    });
                }
            }
        }
        // Shuffle so the Zipf weights over pods don't simply follow namespace order.
        for i in (1..pods.len()).rev() {
            let j = layout.random_range(0..=i);
            pods.swap(i, j);
        }
        let vocab_zipf = Zipf::new(vocab.len(), 1.05);
        let pod_zipf = Zipf::new(pods.len(), 0.8);
        Generator {
            rng: StdRng::seed_from_u64(seed),
            vocab,
            vocab_zipf,
            pods,
            pod_zipf,
            user_zipf: Zipf::new(100_000, 0.9),
        }
    }

    fn word(&mut self) -> &str {
        let i = self.vocab_zipf.sample(&mut self.rng);
        &self.vocab[i]
    }

    fn words(&mut self, min: usize, max: usize) -> String {
        let n = self.rng.random_range(min..=max);
        let mut s = String::new();
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            let i = self.vocab_zipf.sample(&mut self.rng);
            s.push_str(&self.vocab[i]);
        }
        s
    }

    fn user_id(&mut self) -> u64 {
        1000 + self.user_zipf.sample(&mut self.rng) as u64
    }

    fn hex(&mut self, len: usize) -> String {
        rand_chars(&mut self.rng, HEX, len)
    }

    fn uuid(&mut self) -> String {
        let variant = pick(&mut self.rng, &["8", "9", "a", "b"]);
        format!(
            "{}-{}-4{}-{variant}{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.hex(3),
            self.hex(12)
        )
    }

    /// Log-normal-ish latency in milliseconds, rounded to microseconds.
    fn duration_ms(&mut self) -> f64 {
        let u: f64 = self.rng.random::<f64>().max(1e-12);
        let v: f64 = self.rng.random();
        let normal = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
        let ms = (3.0 + 1.3 * normal).exp();
        let ms = (ms * 1000.0).round() / 1000.0;
        // Make sure the JSON always has a fractional part so dynamic mapping sees a float.
        if ms.fract() == 0.0 { ms + 0.001 } else { ms }
    }

    fn doc(&mut self, ts_ms: i64) -> Result<Value> {
        let pod_idx = self.pod_zipf.sample(&mut self.rng);
        let kind = self.pods[pod_idx].kind;
        let ts = jiff::Timestamp::from_millisecond(ts_ms)?;
        let mut doc = Map::new();
        doc.insert("@timestamp".into(), Value::String(format!("{ts:.3}")));
        let roll: f64 = self.rng.random();
        let body = if roll < 0.025 {
            self.cjk_doc()
        } else {
            match kind {
                AppKind::Nginx => self.nginx_doc(ts),
                AppKind::Java => {
                    if roll < 0.06 {
                        self.java_trace_doc()
                    } else {
                        self.app_doc(true)
                    }
                }
                AppKind::Python => {
                    if roll < 0.06 {
                        self.python_trace_doc()
                    } else {
                        self.app_doc(false)
                    }
                }
                AppKind::Klog => self.klog_doc(ts),
            }
        };
        let Value::Object(body) = body else {
            bail!("generator produced a non-object")
        };
        doc.extend(body);
        let pod = &self.pods[pod_idx];
        doc.insert(
            "kubernetes".into(),
            json!({
                "namespace_name": pod.namespace,
                "pod_name": pod.pod_name,
                "container_name": pod.app,
                "host": pod.host,
                "labels": {
                    "app": pod.app,
                    "pod-template-hash": pod.template_hash,
                },
            }),
        );
        Ok(Value::Object(doc))
    }

    fn nginx_doc(&mut self, ts: jiff::Timestamp) -> Value {
        const METHODS: &[(&str, u32)] = &[
            ("GET", 70),
            ("POST", 18),
            ("PUT", 5),
            ("DELETE", 3),
            ("PATCH", 2),
            ("HEAD", 2),
        ];
        const STATUSES: &[(u16, u32)] = &[
            (200, 780),
            (201, 40),
            (204, 30),
            (301, 10),
            (302, 15),
            (304, 25),
            (400, 15),
            (401, 12),
            (403, 6),
            (404, 45),
            (429, 5),
            (499, 3),
            (500, 6),
            (502, 4),
            (503, 3),
            (504, 2),
        ];
        const AGENTS: &[&str] = &[
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
            "curl/8.1.2",
            "python-requests/2.32.3",
            "Go-http-client/1.1",
            "kube-probe/1.31",
            "Prometheus/2.54.1",
            "okhttp/4.12.0",
        ];
        const HOSTS: &[&str] = &[
            "www.example.com",
            "api.example.com",
            "shop.example.com",
            "static.example.net",
        ];
        const STATIC: &[&str] = &[
            "/static/js/app.3f9a1c.js",
            "/static/css/main.8b2d.css",
            "/favicon.ico",
            "/robots.txt",
            "/images/logo.svg",
        ];
        let method = weighted(&mut self.rng, METHODS);
        let status = weighted(&mut self.rng, STATUSES);
        let path = match self.rng.random_range(0..10) {
            0..=4 => {
                let e = pick(&mut self.rng, ENTITIES);
                let id = self.rng.random_range(1..100_000);
                if self.rng.random_bool(0.3) {
                    format!(
                        "/api/v1/{e}s/{id}?include={}&page={}",
                        self.word().to_owned(),
                        id % 7
                    )
                } else {
                    format!("/api/v1/{e}s/{id}")
                }
            }
            5..=6 => format!("/api/v2/{}s", pick(&mut self.rng, ENTITIES)),
            7 => "/healthz".to_owned(),
            _ => (*pick(&mut self.rng, STATIC)).to_owned(),
        };
        let bytes: u64 = if status == 204 || status == 304 || method == "HEAD" {
            0
        } else {
            let u: f64 = self.rng.random::<f64>().max(1e-9);
            (150.0 * (-u.ln()).powf(1.7) * 8.0) as u64 + 20
        };
        let ip = format!(
            "10.{}.{}.{}",
            self.rng.random_range(0..4),
            self.rng.random_range(0..256),
            self.rng.random_range(1..255)
        );
        let agent = pick(&mut self.rng, AGENTS);
        let host = pick(&mut self.rng, HOSTS);
        let referer = if self.rng.random_bool(0.3) {
            format!("https://{host}/{}", self.word().to_owned())
        } else {
            "-".to_owned()
        };
        let request_time = (self.duration_ms() / 10.0).round() / 1000.0 + 0.0001;
        let when = ts
            .to_zoned(jiff::tz::TimeZone::UTC)
            .strftime("%d/%b/%Y:%H:%M:%S +0000");
        let message = format!(
            "{ip} - - [{when}] \"{method} {path} HTTP/1.1\" {status} {bytes} \"{referer}\" \"{agent}\" {request_time:.3} {host}"
        );
        json!({
            "stream": "stdout",
            "message": message,
            "remote_addr": ip,
            "method": method,
            "path": path,
            "status": status,
            "bytes": bytes,
            "http_host": host,
            "user_agent": agent,
            "request_time": request_time,
        })
    }

    fn level(&mut self) -> &'static str {
        weighted(
            &mut self.rng,
            &[("INFO", 70), ("DEBUG", 12), ("WARN", 12), ("ERROR", 6)],
        )
    }

    fn app_doc(&mut self, java: bool) -> Value {
        const JAVA_LOGGERS: &[&str] = &[
            "com.example.payments.PaymentService",
            "com.example.payments.api.PaymentController",
            "com.example.ledger.LedgerWriter",
            "com.example.auth.TokenValidator",
            "com.example.auth.session.SessionManager",
            "com.example.search.indexer.BatchIndexer",
            "org.apache.kafka.clients.consumer.internals.ConsumerCoordinator",
            "org.springframework.web.servlet.DispatcherServlet",
            "com.zaxxer.hikari.pool.HikariPool",
            "io.grpc.netty.NettyServerHandler",
        ];
        const PY_LOGGERS: &[&str] = &[
            "checkout.api.views",
            "checkout.services.pricing",
            "cart.repository",
            "session_store.redis_backend",
            "recommendations.model.ranker",
            "etl.jobs.daily_rollup",
            "grafana.provisioning",
            "uvicorn.access",
            "celery.worker.strategy",
            "sqlalchemy.engine.Engine",
        ];
        const STORES: &[&str] = &["postgres", "redis", "mysql", "dynamodb", "elasticsearch"];
        const SERVICES: &[&str] = &[
            "payment-service.payments.svc.cluster.local:8080",
            "ledger.payments.svc.cluster.local:9090",
            "auth-server.auth.svc.cluster.local:8443",
            "redis-master.data.svc.cluster.local:6379",
            "postgres.data.svc.cluster.local:5432",
            "kafka-0.kafka-headless.data.svc.cluster.local:9092",
        ];
        let level = self.level();
        let logger = if java {
            pick(&mut self.rng, JAVA_LOGGERS)
        } else {
            pick(&mut self.rng, PY_LOGGERS)
        };
        let uid = self.user_id();
        let ms = self.duration_ms();
        let entity = pick(&mut self.rng, ENTITIES);
        let id = self.rng.random_range(1..1_000_000);
        let mut message = match (level, self.rng.random_range(0..8)) {
            ("ERROR", 0..=2) => format!(
                "Connection refused to {}, retrying in {}s",
                pick(&mut self.rng, SERVICES),
                self.rng.random_range(1..30)
            ),
            ("ERROR", 3..=4) => format!(
                "Request to {} timed out after {ms:.0}ms",
                pick(&mut self.rng, SERVICES)
            ),
            ("ERROR", _) => format!("Failed to process {entity} {id}: deadline exceeded"),
            ("WARN", 0..=2) => format!(
                "Slow query detected: SELECT * FROM {entity}s WHERE id = {id} took {ms:.1}ms"
            ),
            ("WARN", 3..=4) => format!("User {uid} not found in {}", pick(&mut self.rng, STORES)),
            ("WARN", _) => format!(
                "Rate limit exceeded for client {uid}, throttled for {}ms",
                self.rng.random_range(100..5000)
            ),
            ("DEBUG", 0..=3) => format!("Cache miss for key {entity}:{id}"),
            ("DEBUG", _) => format!("Cache hit for key {entity}:{id}"),
            (_, 0..=1) => format!(
                "Processed {} {entity}s for user {uid} in {ms:.1}ms",
                id % 50 + 1
            ),
            (_, 2) => format!("GET /api/v1/{entity}s/{id} completed with status 200 in {ms:.1}ms"),
            (_, 3) => format!(
                "Payment {} authorized amount={}.{:02} currency={}",
                self.hex(12),
                self.rng.random_range(1..500),
                self.rng.random_range(0..100),
                pick(&mut self.rng, &["EUR", "USD", "GBP", "JPY"])
            ),
            (_, 4) => format!(
                "Kafka consumer group {}-group rebalanced, assigned partitions [{}, {}]",
                entity,
                id % 12,
                id % 12 + 12
            ),
            (_, 5) => format!("Health check passed for {}", pick(&mut self.rng, SERVICES)),
            _ => format!("{} {entity} {id}", self.words(3, 8)),
        };
        if self.rng.random_bool(0.35) {
            message.push_str(" - ");
            message.push_str(&self.words(3, 10));
        }
        let request_id = self.uuid();
        json!({
            "stream": if level == "ERROR" || level == "WARN" { "stderr" } else { "stdout" },
            "level": level,
            "logger": logger,
            "message": message,
            "user_id": uid,
            "request_id": request_id,
            "duration_ms": ms,
        })
    }

    fn java_trace_doc(&mut self) -> Value {
        const EXC: &[(&str, &str)] = &[
            (
                "java.lang.NullPointerException",
                "Cannot invoke \"String.length()\" because \"value\" is null",
            ),
            (
                "java.lang.IllegalStateException",
                "Transaction already committed",
            ),
            (
                "java.util.concurrent.TimeoutException",
                "Timed out waiting for response after 30000ms",
            ),
            (
                "java.sql.SQLTransientConnectionException",
                "HikariPool-1 - Connection is not available, request timed out after 30000ms.",
            ),
            (
                "org.springframework.dao.DataIntegrityViolationException",
                "could not execute statement; constraint [uk_order_idempotency_key]",
            ),
            ("java.lang.OutOfMemoryError", "Java heap space"),
        ];
        const CAUSES: &[(&str, &str)] = &[
            ("java.net.SocketTimeoutException", "Read timed out"),
            ("java.net.ConnectException", "Connection refused"),
            ("java.io.IOException", "Broken pipe"),
        ];
        const FRAMES: &[&str] = &[
            "com.example.payments.PaymentService.authorize",
            "com.example.payments.api.PaymentController.create",
            "com.example.ledger.LedgerWriter.append",
            "com.example.auth.TokenValidator.validate",
            "com.example.search.indexer.BatchIndexer.flush",
            "org.springframework.web.servlet.FrameworkServlet.service",
            "org.apache.catalina.core.ApplicationFilterChain.doFilter",
            "com.zaxxer.hikari.pool.HikariPool.getConnection",
            "java.base/java.util.concurrent.ThreadPoolExecutor.runWorker",
            "java.base/java.lang.Thread.run",
        ];
        let (exc, msg) = EXC[self.rng.random_range(0..EXC.len())];
        let thread = format!(
            "pool-{}-thread-{}",
            self.rng.random_range(1..5),
            self.rng.random_range(1..33)
        );
        let mut m = format!("Exception in thread \"{thread}\" {exc}: {msg}");
        let n = self.rng.random_range(4..14);
        for _ in 0..n {
            let f = pick(&mut self.rng, FRAMES);
            let class = f.rsplit('.').nth(1).unwrap_or("Main");
            m.push_str(&format!(
                "\n\tat {f}({class}.java:{})",
                self.rng.random_range(20..900)
            ));
        }
        if self.rng.random_bool(0.5) {
            let (cexc, cmsg) = CAUSES[self.rng.random_range(0..CAUSES.len())];
            m.push_str(&format!("\nCaused by: {cexc}: {cmsg}"));
            m.push_str(&format!(
                "\n\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:{})\n\t... {} more",
                self.rng.random_range(200..300),
                self.rng.random_range(5..40)
            ));
        }
        json!({
            "stream": "stderr",
            "level": "ERROR",
            "logger": pick(&mut self.rng, &["com.example.payments.PaymentService", "com.example.ledger.LedgerWriter", "com.example.auth.TokenValidator", "com.example.search.indexer.BatchIndexer"]),
            "message": m,
            "error": { "type": exc, "thread": thread },
            "request_id": self.uuid(),
        })
    }

    fn python_trace_doc(&mut self) -> Value {
        const EXC: &[&str] = &[
            "KeyError: 'user_id'",
            "ValueError: invalid literal for int() with base 10: 'abc'",
            "redis.exceptions.ConnectionError: Error 111 connecting to redis-master:6379. Connection refused.",
            "sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) server closed the connection unexpectedly",
            "TimeoutError: timed out",
            "AttributeError: 'NoneType' object has no attribute 'items'",
        ];
        const FRAMES: &[(&str, &str, &str)] = &[
            (
                "/app/checkout/api/views.py",
                "create_order",
                "order = service.create(payload)",
            ),
            (
                "/app/checkout/services/pricing.py",
                "apply_discount",
                "rate = coupons[code]['rate']",
            ),
            (
                "/app/cart/repository.py",
                "load_cart",
                "raw = self.redis.get(key)",
            ),
            (
                "/usr/local/lib/python3.12/site-packages/redis/connection.py",
                "connect",
                "sock = self.retry.call_with_retry(",
            ),
            (
                "/app/recommendations/model/ranker.py",
                "score",
                "return self.model.predict(features)",
            ),
            (
                "/app/etl/jobs/daily_rollup.py",
                "run",
                "for row in cursor.fetchall():",
            ),
        ];
        let mut m = "Traceback (most recent call last):".to_owned();
        let n = self.rng.random_range(2..7);
        for _ in 0..n {
            let (file, func, line) = FRAMES[self.rng.random_range(0..FRAMES.len())];
            m.push_str(&format!(
                "\n  File \"{file}\", line {}, in {func}\n    {line}",
                self.rng.random_range(10..400)
            ));
        }
        let exc = pick(&mut self.rng, EXC);
        m.push('\n');
        m.push_str(exc);
        json!({
            "stream": "stderr",
            "level": "ERROR",
            "logger": pick(&mut self.rng, &["checkout.api.views", "cart.repository", "recommendations.model.ranker", "etl.jobs.daily_rollup"]),
            "message": m,
            "error": { "type": exc.split(':').next().unwrap_or(exc) },
            "user_id": self.user_id(),
            "request_id": self.uuid(),
        })
    }

    fn klog_doc(&mut self, ts: jiff::Timestamp) -> Value {
        let z = ts.to_zoned(jiff::tz::TimeZone::UTC);
        let sev = weighted(&mut self.rng, &[('I', 80), ('W', 15), ('E', 5)]);
        let head = format!(
            "{sev}{} {:>7} reflector.go:{}]",
            z.strftime("%m%d %H:%M:%S%.6f"),
            1,
            self.rng.random_range(100..600)
        );
        let body = match self.rng.random_range(0..5) {
            0 => "k8s.io/client-go/informers/factory.go:160: Watch close - *v1.Pod total 42 items received".to_owned(),
            1 => format!(
                "[INFO] 10.0.{}.{}:{} - {} \"A IN {}.svc.cluster.local. udp 64 false 512\" NOERROR qr,aa,rd 128 0.000{}s",
                self.rng.random_range(0..16),
                self.rng.random_range(1..255),
                self.rng.random_range(30000..60000),
                self.rng.random_range(1..65535),
                pick(&mut self.rng, &["payment-service.payments", "redis-master.data", "auth-server.auth", "www.example.com"]),
                self.rng.random_range(100..999)
            ),
            2 => "Successfully synced iptables rules".to_owned(),
            3 => format!("scrape of target http://10.0.3.17:9100/metrics failed: context deadline exceeded ({} samples)", self.rng.random_range(0..5000)),
            _ => format!("{} {}", "watch of *v1.Endpoints ended with:", self.words(4, 9)),
        };
        json!({
            "stream": "stderr",
            "message": format!("{head} {body}"),
        })
    }

    fn cjk_doc(&mut self) -> Value {
        const LINES: &[&str] = &[
            "用户登录成功",
            "支付失败：余额不足 ❌",
            "订单已创建，等待支付",
            "データベース接続がタイムアウトしました",
            "注文が完了しました ✅",
            "주문이 완료되었습니다 ✅",
            "🚀 deployment rolled out successfully",
            "⚠️ disk usage above threshold",
            "🔥 hot path detected in checkout flow",
            "缓存命中率下降 📉",
        ];
        let line = pick(&mut self.rng, LINES);
        let uid = self.user_id();
        json!({
            "stream": "stdout",
            "level": "INFO",
            "message": format!("{line} user_id={uid} {}", self.words(1, 4)),
            "user_id": uid,
        })
    }
}

fn weighted<T: Copy>(rng: &mut StdRng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut r = rng.random_range(0..total);
    for (v, w) in items {
        if r < *w {
            return *v;
        }
        r -= w;
    }
    items[items.len() - 1].0
}

pub(crate) fn run(args: GenerateArgs) -> Result<()> {
    let end: jiff::Timestamp = args
        .end
        .parse()
        .with_context(|| format!("parsing --end {}", args.end))?;
    if !args.days.is_finite() || args.days <= 0.0 {
        bail!("--days must be positive");
    }
    let span_ms = (args.days * 86_400_000.0) as i64;
    let start_ms = end.as_millisecond() - span_ms;
    let file =
        File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut g = Generator::new(args.seed);
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let mut bytes: u64 = 0;
    for i in 0..args.docs {
        // Roughly time-ordered, like a real shipper, with a little jitter.
        let base = start_ms + ((i as i128 * span_ms as i128) / args.docs.max(1) as i128) as i64;
        let jitter = g.rng.random_range(-500..=500);
        let ts = (base + jitter).clamp(start_ms, end.as_millisecond() - 1);
        let doc = g.doc(ts)?;
        let line = serde_json::to_vec(&doc)?;
        out.write_all(&line)?;
        out.write_all(b"\n")?;
        bytes += line.len() as u64 + 1;
        if last_progress.elapsed().as_secs() >= 5 {
            last_progress = Instant::now();
            eprintln!(
                "generate: {}/{} docs, {:.1} MB",
                i + 1,
                args.docs,
                bytes as f64 / 1e6
            );
        }
    }
    out.flush()?;
    eprintln!(
        "generate: wrote {} docs, {} bytes ({:.1} MB) to {} in {:.1}s",
        args.docs,
        bytes,
        bytes as f64 / 1e6,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct ContainerLogsArgs {
    /// MiB of log files to write (Docker json-file and CRI lines, as on a node).
    #[arg(long, default_value_t = 256)]
    mib: u64,
    /// RNG seed; the output is a pure function of the arguments.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Directory to write the files into, named as the kubelet names them
    /// (`POD_NAMESPACE_CONTAINER-ID.log`); created if missing.
    #[arg(long)]
    out: PathBuf,
    /// End of the time window the lines are spread over, RFC 3339.
    #[arg(long, default_value = "2026-11-25T00:00:00Z")]
    end: String,
}

/// What a container would have written for a generated document: the JSON line of a
/// structured logger, else its message; one runtime entry per physical line (stack traces
/// are several).
fn container_output(doc: &Map<String, Value>) -> (String, &'static str) {
    let stream = if doc.get("stream").and_then(Value::as_str) == Some("stderr") {
        "stderr"
    } else {
        "stdout"
    };
    let message = doc
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // A stack trace is printed as text, one line per frame.
    let text = if doc.contains_key("logger") && !message.contains('\n') {
        let mut body = doc.clone();
        for field in ["kubernetes", "@timestamp", "stream"] {
            body.remove(field);
        }
        Value::Object(body).to_string()
    } else {
        message.to_string()
    };
    (text, stream)
}

/// Writes container log files of realistic lines: half of the containers in Docker's
/// json-file format, half in CRI lines (containerd), with a `manifest.json` saying how many
/// bytes, lines and events (stack traces count once) they hold.
pub(crate) fn run_container_logs(args: ContainerLogsArgs) -> Result<()> {
    use std::collections::HashMap;
    use std::hash::{Hash, Hasher};
    let end: jiff::Timestamp = args
        .end
        .parse()
        .with_context(|| format!("parsing --end {}", args.end))?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let target = args.mib << 20;
    let mut g = Generator::new(args.seed);
    let mut files: HashMap<String, (BufWriter<File>, bool)> = HashMap::new();
    let (mut bytes, mut lines, mut events) = (0u64, 0u64, 0u64);
    let start_ms = end.as_millisecond() - 3_600_000;
    let started = Instant::now();
    while bytes < target {
        // One event per 0.1 ms, so that an hour holds the largest runs.
        let ts_ms = start_ms + (events / 10) as i64;
        let Value::Object(doc) = g.doc(ts_ms)? else {
            bail!("generator produced a non-object")
        };
        let k = &doc["kubernetes"];
        let (pod, namespace, container) = (
            k["pod_name"].as_str().unwrap_or("pod"),
            k["namespace_name"].as_str().unwrap_or("default"),
            k["container_name"].as_str().unwrap_or("app"),
        );
        let name = format!("{pod}_{namespace}_{container}");
        if !files.contains_key(&name) {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            name.hash(&mut hasher);
            let id = format!("{:016x}", hasher.finish()).repeat(4);
            let path = args.out.join(format!("{name}-{id}.log"));
            let file =
                File::create(&path).with_context(|| format!("creating {}", path.display()))?;
            let cri = files.len() % 2 == 1;
            files.insert(name.clone(), (BufWriter::with_capacity(1 << 16, file), cri));
        }
        let (out, cri) = files.get_mut(&name).expect("inserted above");
        let (text, stream) = container_output(&doc);
        let time = jiff::Timestamp::from_millisecond(ts_ms)?;
        let time = format!("{time:.9}");
        for line in text.split('\n') {
            let entry = if *cri {
                format!("{time} {stream} F {line}\n")
            } else {
                let mut entry = serde_json::to_string(
                    &json!({"log": format!("{line}\n"), "stream": stream, "time": time}),
                )?;
                entry.push('\n');
                entry
            };
            out.write_all(entry.as_bytes())?;
            bytes += entry.len() as u64;
            lines += 1;
        }
        events += 1;
    }
    for (out, _) in files.values_mut() {
        out.flush()?;
    }
    let manifest = json!({"bytes": bytes, "lines": lines, "events": events, "files": files.len(), "seed": args.seed});
    std::fs::write(args.out.join("manifest.json"), manifest.to_string())?;
    eprintln!(
        "container-logs: {} files, {lines} lines ({events} events), {:.1} MiB in {:.1}s",
        files.len(),
        bytes as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

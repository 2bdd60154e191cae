//! `bulk`: stream an NDJSON file of `_source` documents into `/{index}/_bulk`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use crate::stats::{agent, percentile, truncate};

#[derive(Debug, clap::Args)]
pub(crate) struct BulkArgs {
    /// Base URL of the Elasticsearch-compatible endpoint.
    #[arg(long, default_value = "http://127.0.0.1:9200")]
    url: String,
    /// Target index name.
    #[arg(long)]
    index: String,
    /// NDJSON file with one document source per line.
    #[arg(long)]
    file: PathBuf,
    /// Documents per `_bulk` request.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Number of concurrent client threads.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Target ingest rate in documents per second (default: as fast as possible).
    #[arg(long)]
    rate: Option<f64>,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Print a single machine-readable JSON summary line on stdout.
    #[arg(long)]
    json: bool,
}

struct Batch {
    body: Vec<u8>,
    docs: u64,
    raw_bytes: u64,
}

#[derive(Default)]
struct Shared {
    docs: AtomicU64,
    raw_bytes: AtomicU64,
    scheduled: AtomicU64,
    stop: AtomicBool,
    error: Mutex<Option<anyhow::Error>>,
    latencies: Mutex<Vec<Duration>>,
}

impl Shared {
    fn fail(&self, e: anyhow::Error) {
        self.stop.store(true, Ordering::SeqCst);
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
    }
}

pub(crate) fn run(args: BulkArgs) -> Result<()> {
    if args.batch == 0 || args.concurrency == 0 {
        bail!("--batch and --concurrency must be positive");
    }
    if let Some(r) = args.rate
        && (!r.is_finite() || r <= 0.0)
    {
        bail!("--rate must be positive");
    }
    let url = format!("{}/{}/_bulk", args.url.trim_end_matches('/'), args.index);
    let file =
        File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let agent = agent(Duration::from_secs(args.timeout), args.concurrency);
    let shared = Arc::new(Shared::default());
    let (tx, rx) = sync_channel::<Batch>(args.concurrency * 2);
    let rx = Arc::new(Mutex::new(rx));
    let started = Instant::now();

    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let rx = Arc::clone(&rx);
        let shared = Arc::clone(&shared);
        let agent = agent.clone();
        let url = url.clone();
        let rate = args.rate;
        workers.push(std::thread::spawn(move || {
            worker(&rx, &shared, &agent, &url, rate, started);
        }));
    }

    // Only the workers may hold the receiver: if they all stop on an error, the
    // producer's `send` must fail instead of blocking forever.
    drop(rx);

    let progress = {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            let mut last = Instant::now();
            while !shared.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(200));
                if last.elapsed() >= Duration::from_secs(5) {
                    last = Instant::now();
                    let d = shared.docs.load(Ordering::Relaxed);
                    let secs = started.elapsed().as_secs_f64();
                    eprintln!(
                        "bulk: {d} docs in {secs:.1}s ({:.0} docs/s)",
                        d as f64 / secs
                    );
                }
            }
        })
    };

    // Producer: read lines and hand out pre-built request bodies.
    let mut line = Vec::new();
    let mut batch = new_batch(args.batch);
    let mut read_error = None;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                read_error = Some(anyhow!(e).context("reading input file"));
                break;
            }
        }
        let raw = line.len() as u64;
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        if line.is_empty() {
            continue;
        }
        batch.body.extend_from_slice(b"{\"index\":{}}\n");
        batch.body.extend_from_slice(&line);
        batch.body.push(b'\n');
        batch.docs += 1;
        batch.raw_bytes += raw;
        if batch.docs as usize >= args.batch {
            let full = std::mem::replace(&mut batch, new_batch(args.batch));
            if tx.send(full).is_err() {
                break;
            }
        }
    }
    if batch.docs > 0 && !shared.stop.load(Ordering::SeqCst) {
        let _ = tx.send(batch);
    }
    drop(tx);
    for w in workers {
        if w.join().is_err() {
            shared.fail(anyhow!("a bulk worker thread panicked"));
        }
    }
    let elapsed = started.elapsed();
    shared.stop.store(true, Ordering::SeqCst);
    let _ = progress.join();
    if let Some(e) = read_error {
        return Err(e);
    }
    if let Some(e) = shared
        .error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        return Err(e);
    }

    let docs = shared.docs.load(Ordering::SeqCst);
    let bytes = shared.raw_bytes.load(Ordering::SeqCst);
    let secs = elapsed.as_secs_f64();
    let mut lat = std::mem::take(&mut *shared.latencies.lock().unwrap_or_else(|p| p.into_inner()));
    lat.sort();
    let p50 = percentile(&lat, 0.50).as_secs_f64() * 1e3;
    let p99 = percentile(&lat, 0.99).as_secs_f64() * 1e3;
    if args.json {
        println!(
            "{}",
            json!({
                "docs": docs,
                "raw_bytes": bytes,
                "secs": secs,
                "docs_per_s": docs as f64 / secs,
                "mb_per_s": bytes as f64 / 1e6 / secs,
                "requests": lat.len(),
                "request_p50_ms": p50,
                "request_p99_ms": p99,
                "batch": args.batch,
                "concurrency": args.concurrency,
            })
        );
    } else {
        println!("docs:          {docs}");
        println!("raw bytes:     {bytes} ({:.1} MB)", bytes as f64 / 1e6);
        println!("total time:    {secs:.2} s");
        println!(
            "throughput:    {:.0} docs/s, {:.2} MB/s",
            docs as f64 / secs,
            bytes as f64 / 1e6 / secs
        );
        println!(
            "requests:      {} (batch {}, concurrency {})",
            lat.len(),
            args.batch,
            args.concurrency
        );
        println!("request p50:   {p50:.1} ms, p99 {p99:.1} ms");
    }
    Ok(())
}

fn new_batch(docs: usize) -> Batch {
    Batch {
        body: Vec::with_capacity(docs * 700),
        docs: 0,
        raw_bytes: 0,
    }
}

fn worker(
    rx: &Mutex<Receiver<Batch>>,
    shared: &Shared,
    agent: &ureq::Agent,
    url: &str,
    rate: Option<f64>,
    started: Instant,
) {
    let mut lat = Vec::new();
    loop {
        let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok(batch) = next else { break };
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        if let Some(rate) = rate {
            let before = shared.scheduled.fetch_add(batch.docs, Ordering::SeqCst);
            let due = started + Duration::from_secs_f64(before as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let t = Instant::now();
        match send(agent, url, &batch) {
            Ok(()) => {
                lat.push(t.elapsed());
                shared.docs.fetch_add(batch.docs, Ordering::Relaxed);
                shared
                    .raw_bytes
                    .fetch_add(batch.raw_bytes, Ordering::Relaxed);
            }
            Err(e) => {
                shared.fail(e);
                break;
            }
        }
    }
    shared
        .latencies
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(lat);
}

fn send(agent: &ureq::Agent, url: &str, batch: &Batch) -> Result<()> {
    let mut resp = agent
        .post(url)
        .header("Content-Type", "application/x-ndjson")
        .send(&batch.body[..])
        .with_context(|| format!("POST {url}"))?;
    let status = resp.status();
    let body = resp
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_string()
        .with_context(|| format!("reading _bulk response from {url}"))?;
    if !status.is_success() {
        bail!(
            "POST {url} returned HTTP {status}: {}",
            truncate(&body, 1000)
        );
    }
    let v: Value = serde_json::from_str(&body)
        .with_context(|| format!("_bulk response is not JSON: {}", truncate(&body, 500)))?;
    if v.get("errors").and_then(Value::as_bool) == Some(true) {
        let items = v.get("items").and_then(Value::as_array);
        let failed = items.map_or(0, |items| {
            items.iter().filter(|i| item_error(i).is_some()).count()
        });
        let first = items
            .and_then(|items| items.iter().find_map(item_error))
            .map_or_else(|| "no item error found".to_owned(), |e| e.to_string());
        bail!(
            "_bulk reported errors:true ({failed} of {} items failed); first: {}",
            batch.docs,
            truncate(&first, 1000)
        );
    }
    if let Some(items) = v.get("items").and_then(Value::as_array)
        && items.len() as u64 != batch.docs
    {
        bail!(
            "_bulk returned {} items for {} documents",
            items.len(),
            batch.docs
        );
    }
    Ok(())
}

fn item_error(item: &Value) -> Option<&Value> {
    item.as_object()?.values().next()?.get("error")
}

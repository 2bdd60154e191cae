//! The agent's loop: follow files, turn lines into documents, deliver them in batches, and
//! move each file's checkpoint only past what the destination acknowledged. Reading waits
//! while a batch is being delivered, so memory holds one batch at most (backpressure), and
//! the files themselves are the buffer while the destination is away.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::kube_meta::PodCache;
use crate::ledger::{Ledger, StoredLines, stored_key};
use crate::pipeline::{Document, Pipeline};
use crate::ship::{Compression, Protocol, Shipper};
use crate::tail::{Checkpoints, StartAt, Tailer};

/// Bytes read from the files per turn of the loop.
const READ_BYTES: usize = 512 << 10;

/// What the agent is told.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The destination: an Osprey server's HTTP listener or an Elasticsearch URL.
    pub server: String,
    /// Glob patterns of files to follow.
    pub paths: Vec<String>,
    /// Where checkpoints live.
    pub data_dir: PathBuf,
    /// Index name pattern (`%Y`, `%m`, `%d`: the line's UTC date).
    pub index: String,
    /// Where to start files no checkpoint knows.
    pub start_at: StartAt,
    /// Longest line kept whole (longer ones are cut and marked `log.truncated`).
    pub max_line_bytes: usize,
    /// Documents per batch at most.
    pub batch_documents: usize,
    /// Bytes of documents per batch at most (before compression).
    pub batch_bytes: usize,
    /// A batch goes out at the latest this long after its first document.
    pub flush_interval: Duration,
    /// How often the paths are listed again for new files.
    pub scan_interval: Duration,
    /// Kubernetes metadata (a running watch, `PodCache::watch`): `None` for none (bare hosts,
    /// tests of files alone).
    pub pods: Option<PodCache>,
    /// How `_bulk` bodies are compressed.
    pub compression: Compression,
    /// `_bulk` or OTLP.
    pub protocol: Protocol,
    /// Called once each time the agent has caught up and goes idle (the binary hands memory
    /// back to the system there).
    pub on_idle: Option<fn()>,
}

impl AgentConfig {
    /// Defaults for the destination and paths.
    pub fn new(
        server: impl Into<String>,
        paths: Vec<String>,
        data_dir: impl Into<PathBuf>,
    ) -> AgentConfig {
        AgentConfig {
            server: server.into(),
            paths,
            data_dir: data_dir.into(),
            index: "logstash-%Y.%m.%d".into(),
            start_at: StartAt::Head,
            max_line_bytes: 64 * 1024,
            batch_documents: 5_000,
            batch_bytes: 1 << 20,
            flush_interval: Duration::from_millis(500),
            scan_interval: Duration::from_secs(1),
            pods: None,
            compression: Compression::Auto,
            protocol: Protocol::Elasticsearch,
            on_idle: None,
        }
    }
}

/// Counters of a running agent.
#[derive(Debug, Default)]
pub struct AgentStats {
    /// Documents the destination stored.
    pub delivered: AtomicU64,
    /// Documents it refused as invalid.
    pub rejected: AtomicU64,
    /// Batches sent.
    pub batches: AtomicU64,
}

/// Runs until `stop` is set; checkpoints are saved after every delivered batch.
pub fn run(config: &AgentConfig, stop: &AtomicBool, stats: &Arc<AgentStats>) -> io::Result<()> {
    std::fs::create_dir_all(&config.data_dir)?;
    let mut checkpoints = Checkpoints::load(&config.data_dir.join("checkpoints.json"))?;
    let mut tailer = Tailer::new(config.paths.clone(), config.start_at, config.max_line_bytes);
    let mut pipeline = Pipeline::new(config.max_line_bytes);
    if let Some(pods) = &config.pods {
        pipeline = pipeline.with_pods(pods.clone());
    }
    let shipper = Shipper::new(
        &config.server,
        &config.index,
        config.compression,
        Duration::from_secs(60),
    )
    .with_protocol(config.protocol);
    let ledger = Ledger::new(&config.data_dir);
    let Some(mut already_stored) = settle_last_batch(&ledger, &checkpoints, &shipper, stop) else {
        return Ok(());
    };
    let mut batch: Vec<Document> = Vec::new();
    let mut lines = Vec::new();
    let mut batch_bytes = 0;
    let mut batch_started = Instant::now();
    let mut last_scan: Option<Instant> = None;
    let mut rested = false;
    tracing::info!(server = %config.server, paths = ?config.paths, "agent started");
    while !stop.load(Ordering::Relaxed) {
        if last_scan.is_none_or(|t| t.elapsed() >= config.scan_interval) {
            tailer.scan(&checkpoints)?;
            for new in tailer.take_new() {
                checkpoints.track(new);
            }
            last_scan = Some(Instant::now());
        }
        // Read a little at a time: memory holds about one batch.
        lines.clear();
        tailer.read_into(READ_BYTES, &mut lines)?;
        let idle = lines.is_empty();
        let now = jiff::Timestamp::now().as_nanosecond() as i64;
        if batch.is_empty() && !idle {
            batch_started = Instant::now();
        }
        let mut completed = |document: Document, batch: &mut Vec<Document>| {
            batch_bytes += document.source.len();
            batch.push(document);
        };
        for line in lines.drain(..) {
            if let Some(document) = pipeline.push(line, now) {
                completed(document, &mut batch);
            }
        }
        for document in pipeline.flush_idle(crate::multiline::MAX_WAIT) {
            completed(document, &mut batch);
        }
        for finished in tailer.take_finished() {
            for document in pipeline.finish(finished) {
                completed(document, &mut batch);
            }
        }
        let due = batch.len() >= config.batch_documents
            || batch_bytes >= config.batch_bytes
            || (!batch.is_empty() && (idle || batch_started.elapsed() >= config.flush_interval));
        if due {
            // Lines of the batch in flight when the agent last stopped, stored after all.
            let to_send: Vec<&Document> = batch
                .iter()
                .filter(|d| already_stored.is_empty() || !already_stored.remove(&stored_key(d)))
                .collect();
            ledger.record(&shipper.ranges(&to_send))?;
            let Some(delivered) = shipper.ship_until_delivered(&to_send, stop) else {
                break; // stopping: undelivered lines are read again next time
            };
            stats
                .delivered
                .fetch_add(delivered.stored as u64, Ordering::Relaxed);
            stats
                .rejected
                .fetch_add(delivered.rejected as u64, Ordering::Relaxed);
            stats.batches.fetch_add(1, Ordering::Relaxed);
            for document in &batch {
                checkpoints.advance(
                    document.key,
                    document.fingerprint,
                    document.end_offset,
                    &document.path,
                );
            }
            let followed: Vec<_> = tailer.followed().map(|(key, _)| *key).collect();
            checkpoints.retain(|key| followed.contains(key));
            pipeline.retain(|key| followed.contains(key));
            checkpoints.save()?;
            batch.clear();
            batch_bytes = 0;
        } else if idle {
            if !rested {
                shipper.release_buffers();
                if let Some(on_idle) = config.on_idle {
                    on_idle();
                }
            }
            rested = true;
            std::thread::sleep(Duration::from_millis(100));
        }
        if !idle {
            rested = false;
        }
    }
    tracing::info!("agent stopped");
    Ok(())
}

/// Asks the destination which lines of the batch in flight at the last stop it stored
/// (retrying while it is away); `None` when told to stop meanwhile.
fn settle_last_batch(
    ledger: &Ledger,
    checkpoints: &Checkpoints,
    shipper: &Shipper,
    stop: &AtomicBool,
) -> Option<StoredLines> {
    let unsettled = ledger.unsettled(checkpoints);
    if unsettled.is_empty() {
        return Some(StoredLines::new());
    }
    let mut delay = Duration::from_millis(100);
    loop {
        match shipper.find_stored(&unsettled) {
            Ok(stored) => {
                let sent: usize = unsettled.iter().map(|r| r.documents).sum();
                tracing::info!(
                    sent,
                    stored = stored.len(),
                    "settled the batch in flight at the last stop"
                );
                return Some(stored);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot ask the destination about the batch in flight at the last stop; retrying")
            }
        }
        let deadline = Instant::now() + delay;
        while Instant::now() < deadline {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

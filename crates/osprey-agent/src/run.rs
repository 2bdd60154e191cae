//! The agent's loop: follow files, turn lines into documents, deliver them in batches, and
//! move each file's checkpoint only past what the destination acknowledged or the on-disk
//! buffer holds. Memory holds one batch at most (backpressure). While the destination is away,
//! batches go to the on-disk buffer (`buffer.rs`) and reading goes on; they are sent, oldest
//! first, once it answers again, and new batches join the queue behind them so each file's
//! lines keep their order. When the buffer is full (or disabled), reading waits and the files
//! themselves are the buffer.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::buffer::DiskBuffer;
use crate::kube_meta::PodCache;
use crate::ledger::{Ledger, SentRange, StoredLines, stored_key};
use crate::pipeline::{Document, Pipeline};
use crate::ship::{Backoff, Compression, Delivered, Protocol, Shipper};
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
    /// The on-disk buffer's bound (`DATA_DIR/buffer`); 0: no buffer, reading waits for the
    /// destination.
    pub buffer_max_bytes: u64,
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
            buffer_max_bytes: 256 << 20,
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
    /// Batches put in the on-disk buffer.
    pub buffered: AtomicU64,
}

impl AgentStats {
    /// Counts a delivered batch.
    fn count(&self, delivered: Delivered) {
        self.delivered
            .fetch_add(delivered.stored as u64, Ordering::Relaxed);
        self.rejected
            .fetch_add(delivered.rejected as u64, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
    }
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
    let mut buffer = match config.buffer_max_bytes {
        0 => None,
        max => Some(DiskBuffer::open(&config.data_dir.join("buffer"), max)?),
    };
    // The batch in flight at the last stop: which of its lines the destination has. Without a
    // buffer, reading waits for the answer; with one, a destination that does not answer now
    // is asked batch by batch later (every batch is checked until the lines are past).
    let mut unsettled = ledger.unsettled(&checkpoints);
    let mut already_stored = if unsettled.is_empty() {
        StoredLines::new()
    } else if buffer.is_none() {
        let Some(stored) = settle_last_batch(&unsettled, &shipper, stop) else {
            return Ok(());
        };
        unsettled.clear();
        stored
    } else {
        match shipper.find_stored(&unsettled) {
            Ok(stored) => {
                unsettled.clear();
                stored
            }
            Err(error) => {
                tracing::warn!(%error, "cannot ask the destination about the batch in flight at the last stop; each batch is checked before it is sent");
                StoredLines::new()
            }
        }
    };
    let mut drain = Drain::default();
    if let Some(buffer) = &buffer {
        // A crash between buffering a batch and saving the checkpoints reads its lines again:
        // those the checkpoints do not cover are in the buffer already.
        if let Some(newest) = buffer.newest()? {
            already_stored.extend(
                newest
                    .documents
                    .iter()
                    .filter(|d| !checkpoints.covers(d.key, d.fingerprint.crc, d.offset))
                    .map(stored_key),
            );
        }
        if !buffer.is_empty() {
            tracing::info!(
                batches = buffer.batches(),
                bytes = buffer.bytes(),
                "batches left in the on-disk buffer are sent first"
            );
        }
    }
    let mut batch: Vec<Document> = Vec::new();
    let mut lines = Vec::new();
    let mut batch_bytes = 0;
    let mut batch_started = Instant::now();
    let mut last_scan: Option<Instant> = None;
    let mut rested = false;
    tracing::info!(server = %config.server, paths = ?config.paths, "agent started");
    while !stop.load(Ordering::Relaxed) {
        if let Some(buffer) = &mut buffer {
            drain.send_buffered(buffer, &shipper, &ledger, stats, stop, DRAIN_TURN)?;
        }
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
            let check = !unsettled.is_empty();
            let delivered = match &mut buffer {
                None => {
                    ledger.record(&shipper.ranges(&to_send))?;
                    let Some(delivered) = shipper.ship_until_delivered(&to_send, check, stop)
                    else {
                        break; // stopping: undelivered lines are read again next time
                    };
                    Some(delivered)
                }
                Some(buffer) => {
                    match drain.deliver_or_buffer(
                        buffer, &to_send, check, &shipper, &ledger, stats, stop,
                    )? {
                        Some(outcome) => outcome,
                        None => break, // stopping with the batch neither sent nor buffered
                    }
                }
            };
            if let Some(delivered) = delivered {
                stats.count(delivered);
            }
            advance_checkpoints(&mut checkpoints, &batch);
            let followed: Vec<_> = tailer.followed().map(|(key, _)| *key).collect();
            checkpoints.retain(|key| followed.contains(key));
            pipeline.retain(|key| followed.contains(key));
            checkpoints.save()?;
            if !unsettled.is_empty() {
                unsettled = crate::ledger::still_unsettled(unsettled, &checkpoints);
            }
            batch.clear();
            batch_bytes = 0;
        } else if idle {
            if !rested && buffer.as_ref().is_none_or(DiskBuffer::is_empty) {
                shipper.release_buffers();
                if let Some(on_idle) = config.on_idle {
                    on_idle();
                }
                rested = true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if !idle {
            rested = false;
        }
    }
    checkpoints.save_durably()?;
    tracing::info!("agent stopped");
    Ok(())
}

/// Moves the checkpoints past `batch`: once per run of documents of one file (they come in
/// runs), to the furthest point the run allows.
fn advance_checkpoints(checkpoints: &mut Checkpoints, batch: &[Document]) {
    let mut run: Option<(&Document, u64)> = None;
    for document in batch {
        match &mut run {
            Some((first, furthest))
                if first.key == document.key
                    && first.fingerprint == document.fingerprint
                    && Arc::ptr_eq(&first.path, &document.path) =>
            {
                *furthest = (*furthest).max(document.end_offset);
            }
            _ => {
                if let Some((first, furthest)) = run {
                    checkpoints.advance(first.key, first.fingerprint, furthest, &first.path);
                }
                run = Some((document, document.end_offset));
            }
        }
    }
    if let Some((first, furthest)) = run {
        checkpoints.advance(first.key, first.fingerprint, furthest, &first.path);
    }
}

/// How long one turn of the loop may spend sending buffered batches before it reads again.
const DRAIN_TURN: Duration = Duration::from_secs(1);

/// Sending through the on-disk buffer: whether the destination is thought to be up, and
/// when to try it again.
#[derive(Debug)]
struct Drain {
    backoff: Backoff,
    /// Not before this instant (the destination failed).
    next_try: Instant,
    /// The oldest buffered batch may have been stored by an attempt whose answer was lost
    /// (also after a start with batches left: the last run may have died sending one).
    oldest_unknown: bool,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            backoff: Backoff::default(),
            next_try: Instant::now(),
            oldest_unknown: true,
        }
    }
}

impl Drain {
    fn ready(&self) -> bool {
        Instant::now() >= self.next_try
    }

    fn failed(&mut self, reason: &str) {
        tracing::warn!(%reason, retry_in_ms = self.backoff.delay.as_millis() as u64, "delivery failed; batches wait in the on-disk buffer");
        self.next_try = Instant::now() + self.backoff.take_delay();
    }

    fn succeeded(&mut self) {
        self.backoff = Backoff::default();
        self.next_try = Instant::now();
    }

    /// Sends buffered batches, oldest first, for at most `turn` (or until one fails).
    fn send_buffered(
        &mut self,
        buffer: &mut DiskBuffer,
        shipper: &Shipper,
        ledger: &Ledger,
        stats: &AgentStats,
        stop: &AtomicBool,
        turn: Duration,
    ) -> io::Result<()> {
        let started = Instant::now();
        while !buffer.is_empty()
            && self.ready()
            && started.elapsed() < turn
            && !stop.load(Ordering::Relaxed)
        {
            let Some(batch) = buffer.oldest()? else {
                break;
            };
            let documents: Vec<&Document> = batch.documents.iter().collect();
            ledger.record(&shipper.ranges(&documents))?;
            match shipper.attempt(&documents, batch.check || self.oldest_unknown) {
                Ok(delivered) => {
                    buffer.pop()?;
                    self.succeeded();
                    self.oldest_unknown = false;
                    stats.count(delivered);
                    if buffer.is_empty() {
                        tracing::info!("the on-disk buffer is delivered");
                    }
                }
                Err(reason) => {
                    self.oldest_unknown = true;
                    self.failed(&reason);
                }
            }
        }
        Ok(())
    }

    /// Sends `documents` if nothing waits before them and the destination is thought up, else
    /// (or when that fails) puts them in the buffer; when the buffer is full, waits for room.
    /// `Some(Some(_))`: delivered; `Some(None)`: buffered; `None`: stopping.
    #[allow(clippy::too_many_arguments)] // the loop's state, lent for one batch
    fn deliver_or_buffer(
        &mut self,
        buffer: &mut DiskBuffer,
        documents: &[&Document],
        check: bool,
        shipper: &Shipper,
        ledger: &Ledger,
        stats: &AgentStats,
        stop: &AtomicBool,
    ) -> io::Result<Option<Option<Delivered>>> {
        let mut check = check;
        if buffer.is_empty() && self.ready() {
            ledger.record(&shipper.ranges(documents))?;
            match shipper.attempt(documents, check) {
                Ok(delivered) => {
                    self.succeeded();
                    return Ok(Some(Some(delivered)));
                }
                Err(reason) => {
                    self.failed(&reason);
                    check = true;
                }
            }
        }
        while !buffer.has_room() {
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            if self.ready() {
                self.send_buffered(buffer, shipper, ledger, stats, stop, DRAIN_TURN)?;
            } else {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        match buffer.push(documents, check) {
            Ok(()) => {
                stats.buffered.fetch_add(1, Ordering::Relaxed);
                if buffer.batches() == 1 || buffer.batches().is_multiple_of(100) {
                    tracing::warn!(
                        batches = buffer.batches(),
                        bytes = buffer.bytes(),
                        "the destination is away; batches wait in the on-disk buffer"
                    );
                }
                Ok(Some(None))
            }
            Err(error) => {
                // A full disk, say: the lines stay in their files and are sent from there.
                tracing::error!(%error, "cannot write to the on-disk buffer; waiting for the destination");
                ledger.record(&shipper.ranges(documents))?;
                Ok(shipper
                    .ship_until_delivered(documents, true, stop)
                    .map(Some))
            }
        }
    }
}

/// Asks the destination which lines of the batch in flight at the last stop it stored
/// (retrying while it is away); `None` when told to stop meanwhile.
fn settle_last_batch(
    unsettled: &[SentRange],
    shipper: &Shipper,
    stop: &AtomicBool,
) -> Option<StoredLines> {
    let mut backoff = Backoff::default();
    loop {
        match shipper.find_stored(unsettled) {
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
        if !backoff.wait(stop) {
            return None;
        }
    }
}

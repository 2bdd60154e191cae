//! The trace store: appends go to the WAL (group commit) and the head; a background thread
//! freezes the head when it is big or old and writes it as a block; queries read the head, the
//! frozen heads and the blocks.
//!
//! Invariants:
//! - `append` returns only once its spans are fsynced in the WAL.
//! - A WAL file is deleted only once a durable block holds every span of it (the block's
//!   `wal_seq` says which files it covers; on open, covered files are deleted, the rest
//!   replayed).
//! - A block is complete or absent: written under a temporary name, fsynced, renamed.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use osprey_trace::{Span, SpanKind, TraceId};
use parking_lot::{Condvar, Mutex, RwLock};

use crate::block::{Block, BlockError, Compiled};
use crate::codec::{Reader, decode_spans};
use crate::compact;
use crate::head::{self, Head, MINUTE_NANOS, Pending, operation_hash, prepare, tag_hash};
use crate::wal;
use crate::writer::write_head;

/// Settings of a trace store.
#[derive(Debug, Clone)]
pub struct TraceStoreConfig {
    /// Where the WAL and the blocks live.
    pub dir: PathBuf,
    /// The head becomes a block once it holds this many bytes…
    pub head_max_bytes: usize,
    /// …or once its oldest span is this old.
    pub head_max_age: Duration,
    /// Blocks whose newest span is older than this are deleted.
    pub retention_max_age: Option<Duration>,
    /// The oldest blocks are deleted while all blocks together exceed this many bytes.
    pub retention_max_bytes: Option<u64>,
    /// Merge small blocks and apply retention in the background (tests turn it off and call
    /// `compact_once` and `apply_retention` themselves).
    pub background_compaction: bool,
}

impl TraceStoreConfig {
    /// Defaults for a store in `dir`: 32 MiB or 10 minutes per head, no retention.
    pub fn new(dir: impl Into<PathBuf>) -> TraceStoreConfig {
        TraceStoreConfig {
            dir: dir.into(),
            head_max_bytes: 32 << 20,
            head_max_age: Duration::from_secs(600),
            retention_max_age: None,
            retention_max_bytes: None,
            background_compaction: true,
        }
    }
}

/// A trace-store failure.
#[derive(Debug, thiserror::Error)]
pub enum TraceStoreError {
    /// The file system failed (a full disk, say).
    #[error("span storage: {0}")]
    Io(#[from] io::Error),
    /// A block could not be read.
    #[error("span storage: {0}")]
    Block(#[from] BlockError),
    /// Spans arrive faster than blocks are written (or blocks cannot be written at all).
    #[error("span storage is behind: {0} heads of spans are waiting to be written as blocks")]
    Behind(usize),
}

/// A trace search, as Jaeger's: traces with at least one span matching every condition,
/// newest first.
#[derive(Debug, Clone, Default)]
pub struct TraceQuery {
    /// The span's service.
    pub service: String,
    /// The span's operation, exactly.
    pub operation: Option<String>,
    /// Tags the span (or its process, or its logs) has, exactly.
    pub tags: Vec<(String, String)>,
    /// Earliest start, nanoseconds since the epoch (inclusive).
    pub start_min: u64,
    /// Latest start (inclusive).
    pub start_max: u64,
    /// Shortest duration in nanoseconds (inclusive).
    pub duration_min: Option<u64>,
    /// Longest duration (inclusive).
    pub duration_max: Option<u64>,
    /// At most this many traces.
    pub limit: usize,
}

/// Sizes, for metrics and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraceStoreStats {
    /// Blocks on disk.
    pub blocks: u64,
    /// Spans in blocks.
    pub block_spans: u64,
    /// Bytes of blocks.
    pub block_bytes: u64,
    /// Spans not yet in a block (in the WAL and in memory).
    pub head_spans: u64,
    /// Memory the heads hold.
    pub head_bytes: u64,
}

/// Spans of one trace returned at most; several traces together at most `MAX_SPANS_LOADED`.
pub const MAX_SPANS_PER_TRACE: usize = 100_000;
/// See `MAX_SPANS_PER_TRACE`.
pub const MAX_SPANS_LOADED: usize = 200_000;
/// Frozen heads waiting for their block beyond which appends wait (backpressure).
const MAX_FROZEN: usize = 2;
/// How long an append waits for a block write before it is refused.
const BACKPRESSURE_WAIT: Duration = Duration::from_secs(5);

struct Writer {
    file: Arc<File>,
    file_seq: u64,
    file_len: u64,
    /// Frames written, ever (the group commit's clock).
    written: u64,
}

struct SyncState {
    synced: u64,
    leader: bool,
}

#[derive(Default)]
struct Sealed {
    /// Frozen heads, oldest first, each with the newest WAL file it holds.
    frozen: Vec<(Arc<Head>, u64)>,
    blocks: Vec<Arc<Block>>,
}

/// The trace store. Cheap to share (`Arc`); a background thread writes blocks and applies
/// retention until the last `Arc` is dropped.
pub struct TraceStore {
    config: TraceStoreConfig,
    wal_dir: PathBuf,
    block_dir: PathBuf,
    writer: Mutex<Writer>,
    head: RwLock<Head>,
    sync: Mutex<SyncState>,
    synced: Condvar,
    sealed: RwLock<Sealed>,
    pending: Mutex<Pending>,
    /// One flush at a time.
    flushing: Mutex<()>,
    next_block_seq: AtomicU64,
    flush_wanted: AtomicBool,
    wake: (Mutex<()>, Condvar),
}

impl std::fmt::Debug for TraceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceStore")
            .field("dir", &self.config.dir)
            .field("stats", &self.stats())
            .finish()
    }
}

fn now_nanos() -> u64 {
    jiff::Timestamp::now().as_nanosecond().max(0) as u64
}

impl TraceStore {
    /// Opens (or creates) the store: reads the blocks' footers, deletes WAL files they cover,
    /// replays the others, and starts the background thread.
    pub fn open(config: TraceStoreConfig) -> Result<Arc<TraceStore>, TraceStoreError> {
        let wal_dir = config.dir.join("wal");
        let block_dir = config.dir.join("blocks");
        fs::create_dir_all(&wal_dir)?;
        fs::create_dir_all(&block_dir)?;
        let mut blocks = Vec::new();
        for entry in fs::read_dir(&block_dir)? {
            let path = entry?.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some("tmp") => fs::remove_file(&path)?, // an unfinished write
                Some("blk") => match Block::open(&path) {
                    Ok(block) => blocks.push(Arc::new(block)),
                    Err(error) => {
                        // Kept aside for inspection; the WAL still holds what it did not cover.
                        tracing::error!(%error, "span block unreadable; renamed *.corrupt");
                        fs::rename(&path, path.with_extension("corrupt"))?;
                    }
                },
                _ => {}
            }
        }
        // A merge that was cut short by a crash after its block was in place: the blocks it
        // replaces are still here, and go now.
        let replaced: std::collections::HashSet<u64> = blocks
            .iter()
            .flat_map(|b| b.replaces.iter().copied())
            .collect();
        for block in blocks.iter().filter(|b| replaced.contains(&b.seq)) {
            fs::remove_file(&block.path)?;
        }
        blocks.retain(|b| !replaced.contains(&b.seq));
        // Oldest data first (searches walk them from the end, newest first).
        blocks.sort_by_key(|b| b.max_start);
        let covered = blocks.iter().map(|b| b.wal_seq).max().unwrap_or(0);
        let next_block_seq = blocks.iter().map(|b| b.seq + 1).max().unwrap_or(1);
        let mut head = Head::with_budget(config.head_max_bytes);
        let mut last_seq = covered;
        let mut replayed = 0usize;
        for (seq, path) in wal::list(&wal_dir)? {
            last_seq = last_seq.max(seq);
            if seq <= covered {
                fs::remove_file(&path)?;
                continue;
            }
            let bytes = wal::read_file(&path)?;
            if bytes.is_empty() {
                fs::remove_file(&path)?;
                continue;
            }
            for frame in wal::decode_frames(&bytes).1 {
                let mut reader = Reader::new(frame);
                let received = reader
                    .take(8)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_le_bytes);
                let spans = received.and_then(|_| decode_spans(&frame[8..]).ok());
                match (received, spans) {
                    (Some(received), Some(spans)) => {
                        replayed += spans.len();
                        let batch = prepare(&spans, received);
                        head.add(batch, &spans);
                    }
                    _ => {
                        tracing::error!(path = %path.display(), "undecodable span WAL frame skipped")
                    }
                }
            }
        }
        if replayed > 0 {
            tracing::info!(spans = replayed, "span WAL replayed");
        }
        let file_seq = last_seq + 1;
        let file = wal::create(&wal_dir, file_seq)?;
        let store = Arc::new(TraceStore {
            config,
            wal_dir,
            block_dir,
            writer: Mutex::new(Writer {
                file: Arc::new(file),
                file_seq,
                file_len: 0,
                written: 0,
            }),
            head: RwLock::new(head),
            sync: Mutex::new(SyncState {
                synced: 0,
                leader: false,
            }),
            synced: Condvar::new(),
            sealed: RwLock::new(Sealed {
                frozen: Vec::new(),
                blocks,
            }),
            pending: Mutex::new(Pending::new()),
            flushing: Mutex::new(()),
            next_block_seq: AtomicU64::new(next_block_seq),
            flush_wanted: AtomicBool::new(false),
            wake: (Mutex::new(()), Condvar::new()),
        });
        let weak = Arc::downgrade(&store);
        std::thread::Builder::new()
            .name("span-blocks".into())
            .spawn(move || write_blocks(weak))?;
        if store.config.background_compaction {
            let weak = Arc::downgrade(&store);
            std::thread::Builder::new()
                .name("span-compaction".into())
                .spawn(move || compact_blocks(weak))?;
        }
        Ok(store)
    }

    /// Stores spans durably: returns once they are fsynced (batches arriving together share
    /// one fsync). Searchable at once.
    pub fn append(&self, spans: &[Span]) -> Result<(), TraceStoreError> {
        if spans.is_empty() {
            return Ok(());
        }
        // Backpressure: blocks are written slower than spans arrive. Wait a little, then
        // refuse rather than hold memory without bound.
        let waiting_since = Instant::now();
        loop {
            let frozen = self.sealed.read().frozen.len();
            if frozen < MAX_FROZEN {
                break;
            }
            if waiting_since.elapsed() >= BACKPRESSURE_WAIT {
                return Err(TraceStoreError::Behind(frozen));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let batch = prepare(spans, now_nanos());
        let frame_no = {
            let mut writer = self.writer.lock();
            if let Err(error) = (&*writer.file).write_all(&batch.frame) {
                // Cut a partial frame so that the log stays readable (best effort: a torn
                // tail is cut on open anyway).
                let _ = writer.file.set_len(writer.file_len);
                return Err(error.into());
            }
            writer.file_len += batch.frame.len() as u64;
            writer.written += 1;
            let mut head = self.head.write();
            head.add(batch, spans);
            if head.is_full() {
                self.flush_wanted.store(true, Ordering::Relaxed);
                self.wake.1.notify_one();
            }
            writer.written
        };
        self.sync_until(frame_no)?;
        Ok(())
    }

    /// Group commit: one caller fsyncs for everyone waiting.
    fn sync_until(&self, frame_no: u64) -> io::Result<()> {
        let mut state = self.sync.lock();
        loop {
            if state.synced >= frame_no {
                return Ok(());
            }
            if state.leader {
                self.synced.wait(&mut state);
                continue;
            }
            state.leader = true;
            drop(state);
            let (file, target) = {
                let writer = self.writer.lock();
                (writer.file.clone(), writer.written)
            };
            let result = file.sync_data();
            state = self.sync.lock();
            state.leader = false;
            if result.is_ok() {
                state.synced = state.synced.max(target);
            }
            self.synced.notify_all();
            result?;
        }
    }

    /// Freezes the head (a new WAL file takes the appends that follow).
    fn freeze(&self) -> io::Result<()> {
        let mut writer = self.writer.lock();
        if self.head.read().is_empty() {
            return Ok(());
        }
        // Frames of the old file are all durable before it stops being the current one.
        writer.file.sync_data()?;
        {
            let mut state = self.sync.lock();
            state.synced = state.synced.max(writer.written);
            self.synced.notify_all();
        }
        let new_seq = writer.file_seq + 1;
        let file = wal::create(&self.wal_dir, new_seq)?;
        let old_seq = std::mem::replace(&mut writer.file_seq, new_seq);
        writer.file = Arc::new(file);
        writer.file_len = 0;
        let frozen = std::mem::replace(
            &mut *self.head.write(),
            Head::with_budget(self.config.head_max_bytes),
        );
        self.sealed.write().frozen.push((Arc::new(frozen), old_seq));
        Ok(())
    }

    /// Writes the head, and any frozen head still waiting, as blocks.
    pub fn flush(&self) -> Result<(), TraceStoreError> {
        let _one_at_a_time = self.flushing.lock();
        self.freeze()?;
        loop {
            let Some((head, wal_seq)) = self.sealed.read().frozen.first().cloned() else {
                return Ok(());
            };
            self.write_frozen(&head, wal_seq)?;
        }
    }

    fn write_frozen(&self, head: &Arc<Head>, wal_seq: u64) -> io::Result<()> {
        let started = Instant::now();
        let mut next_pending = Pending::new();
        let calls = {
            let pending = self.pending.lock();
            head::calls(head, &pending, Some(&mut next_pending))
        };
        let calls: Vec<(String, String, u64, u64)> = calls
            .into_iter()
            .map(|((parent, child, minute), count)| (parent, child, minute, count))
            .collect();
        let seq = self.next_block_seq.fetch_add(1, Ordering::Relaxed);
        let block = write_head(&self.block_dir, seq, head, &calls, wal_seq)?;
        *self.pending.lock() = next_pending;
        tracing::debug!(
            spans = block.span_count,
            bytes = block.file_bytes,
            ms = started.elapsed().as_millis() as u64,
            "span block written"
        );
        {
            let mut sealed = self.sealed.write();
            sealed.frozen.retain(|(h, _)| !Arc::ptr_eq(h, head));
            sealed.blocks.push(Arc::new(block));
        }
        for (seq, path) in wal::list(&self.wal_dir)? {
            if seq <= wal_seq {
                fs::remove_file(path)?;
            }
        }
        Ok(())
    }

    /// Merges one group of small blocks, if there is one; returns whether it did.
    pub fn compact_once(&self) -> Result<bool, TraceStoreError> {
        let inputs = compact::pick(&self.snapshot().1, now_nanos());
        if inputs.is_empty() {
            return Ok(false);
        }
        let started = Instant::now();
        let seq = self.next_block_seq.fetch_add(1, Ordering::Relaxed);
        let merged = compact::merge(&self.block_dir, seq, &inputs)?;
        tracing::debug!(
            inputs = inputs.len(),
            spans = merged.span_count,
            bytes = merged.file_bytes,
            ms = started.elapsed().as_millis() as u64,
            "span blocks merged"
        );
        {
            let mut sealed = self.sealed.write();
            sealed
                .blocks
                .retain(|b| !inputs.iter().any(|input| Arc::ptr_eq(b, input)));
            sealed.blocks.push(Arc::new(merged));
            sealed.blocks.sort_by_key(|b| b.max_start);
        }
        // Queries holding the old blocks keep reading them through their open files.
        for input in &inputs {
            fs::remove_file(&input.path)?;
        }
        File::open(&self.block_dir)?.sync_all()?;
        Ok(true)
    }

    /// Deletes blocks beyond the retention limits; returns how many.
    pub fn apply_retention(&self) -> Result<usize, TraceStoreError> {
        let now = now_nanos();
        let expired_before = self
            .config
            .retention_max_age
            .map(|age| now.saturating_sub(age.as_nanos().min(u128::from(u64::MAX)) as u64));
        let doomed: Vec<Arc<Block>> = {
            let sealed = self.sealed.read();
            let mut by_age: Vec<&Arc<Block>> = sealed.blocks.iter().collect();
            by_age.sort_by_key(|b| b.max_start);
            let mut total: u64 = by_age.iter().map(|b| b.file_bytes).sum();
            let mut doomed = Vec::new();
            for block in by_age {
                let too_old = expired_before.is_some_and(|t| block.max_start < t);
                let too_big = self
                    .config
                    .retention_max_bytes
                    .is_some_and(|max| total > max);
                if !(too_old || too_big) {
                    break;
                }
                total -= block.file_bytes;
                doomed.push(block.clone());
            }
            doomed
        };
        if doomed.is_empty() {
            return Ok(0);
        }
        self.sealed
            .write()
            .blocks
            .retain(|b| !doomed.iter().any(|d| Arc::ptr_eq(b, d)));
        for block in &doomed {
            tracing::info!(path = %block.path.display(), spans = block.span_count, "span block dropped by retention");
            fs::remove_file(&block.path)?;
        }
        Ok(doomed.len())
    }

    fn snapshot(&self) -> (Vec<Arc<Head>>, Vec<Arc<Block>>) {
        let sealed = self.sealed.read();
        (
            sealed.frozen.iter().map(|(h, _)| h.clone()).collect(),
            sealed.blocks.clone(),
        )
    }

    /// The spans of these traces, in the order of `ids` (traces without spans left out);
    /// exact copies (a batch a client sent twice) shown once.
    pub fn traces(&self, ids: &[TraceId]) -> Result<Vec<(TraceId, Vec<Span>)>, TraceStoreError> {
        let mut sorted: Vec<u128> = ids.iter().map(|id| id.0).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut found: HashMap<u128, Vec<Span>> = HashMap::new();
        let (frozen, blocks) = self.snapshot();
        {
            let head = self.head.read();
            collect_from_head(&head, &sorted, &mut found)?;
        }
        for head in &frozen {
            collect_from_head(head, &sorted, &mut found)?;
        }
        for block in &blocks {
            block.read_traces(&sorted, &mut found)?;
        }
        let budget = if ids.len() == 1 {
            MAX_SPANS_PER_TRACE
        } else {
            MAX_SPANS_LOADED
        };
        let mut loaded = 0;
        Ok(ids
            .iter()
            .filter_map(|id| {
                let mut spans = found.remove(&id.0)?;
                spans.sort_by_key(|s| (s.span_id, s.start_unix_nano, s.duration_nanos));
                spans.dedup();
                let room = budget.saturating_sub(loaded);
                if spans.len() > room {
                    spans.truncate(room);
                    if let Some(first) = spans.first_mut() {
                        first.warnings.push(format!(
                            "more than {budget} spans; this trace is incomplete"
                        ));
                    }
                }
                loaded += spans.len();
                (!spans.is_empty()).then_some((*id, spans))
            })
            .collect())
    }

    /// Jaeger's trace search: the newest `limit` traces with a span matching every condition.
    pub fn find_traces(
        &self,
        query: &TraceQuery,
    ) -> Result<Vec<(TraceId, Vec<Span>)>, TraceStoreError> {
        let compiled = Compiled {
            service: query.service.clone(),
            operation: query.operation.as_deref().map(operation_hash),
            tags: query.tags.iter().map(|(k, v)| tag_hash(k, v)).collect(),
            start_min: query.start_min,
            start_max: query.start_max,
            duration_min: query.duration_min.unwrap_or(0),
            duration_max: query.duration_max.unwrap_or(u64::MAX),
            limit: query.limit.max(1),
        };
        let mut found: HashMap<u128, u64> = HashMap::new();
        let (frozen, blocks) = self.snapshot();
        search_head(&self.head.read(), &compiled, &mut found);
        for head in &frozen {
            search_head(head, &compiled, &mut found);
        }
        // Newest blocks first: they are the likeliest to hold the newest traces.
        for block in blocks.iter().rev() {
            block.search(&compiled, &mut found)?;
        }
        let mut newest: Vec<(u128, u64)> = found.into_iter().collect();
        newest.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        newest.truncate(compiled.limit);
        let ids: Vec<TraceId> = newest.iter().map(|(id, _)| TraceId(*id)).collect();
        let mut traces = self.traces(&ids)?;
        // Blocks match hashes of names; this makes the answer exact.
        traces.retain(|(_, spans)| spans.iter().any(|span| span_matches(span, query)));
        Ok(traces)
    }

    /// Every (service, operation, kind) stored.
    pub fn catalogue(&self) -> Vec<(String, String, SpanKind)> {
        let mut entries = Vec::new();
        let (frozen, blocks) = self.snapshot();
        let mut add_head = |head: &Head| {
            for ((service, _), (name, kind)) in &head.operations {
                entries.push((
                    head.services.name(*service).to_string(),
                    name.clone(),
                    *kind,
                ));
            }
        };
        add_head(&self.head.read());
        for head in &frozen {
            add_head(head);
        }
        for block in &blocks {
            for (service, name, kind) in &block.operations {
                entries.push((
                    block.services[*service as usize].clone(),
                    name.clone(),
                    *kind,
                ));
            }
        }
        entries.sort_by(|a, b| (&a.0, &a.1, a.2.to_otlp()).cmp(&(&b.0, &b.1, b.2.to_otlp())));
        entries.dedup();
        entries
    }

    /// Calls between services whose child span started in the window (nanoseconds,
    /// inclusive, at minute precision): (parent, child, count).
    pub fn dependencies(&self, start: u64, end: u64) -> Vec<(String, String, u64)> {
        let (first_minute, last_minute) = (start / MINUTE_NANOS, end / MINUTE_NANOS);
        let mut totals: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut add = |parent: &str, child: &str, minute: u64, count: u64| {
            if (first_minute..=last_minute).contains(&minute) {
                *totals
                    .entry((parent.to_string(), child.to_string()))
                    .or_default() += count;
            }
        };
        let (frozen, blocks) = self.snapshot();
        for block in &blocks {
            // Not skipped by time range: a block's calls may complete children of older blocks.
            for edge in &block.edges {
                add(
                    &block.services[edge.parent as usize],
                    &block.services[edge.child as usize],
                    edge.minute,
                    edge.count,
                );
            }
        }
        let pending = self.pending.lock().clone();
        for head in frozen.iter().map(|h| h.as_ref()) {
            for ((parent, child, minute), count) in head::calls(head, &pending, None) {
                add(&parent, &child, minute, count);
            }
        }
        for ((parent, child, minute), count) in head::calls(&self.head.read(), &pending, None) {
            add(&parent, &child, minute, count);
        }
        totals
            .into_iter()
            .map(|((parent, child), count)| (parent, child, count))
            .collect()
    }

    /// Sizes.
    pub fn stats(&self) -> TraceStoreStats {
        let sealed = self.sealed.read();
        let head = self.head.read();
        let mut stats = TraceStoreStats {
            blocks: sealed.blocks.len() as u64,
            block_spans: sealed.blocks.iter().map(|b| b.span_count).sum(),
            block_bytes: sealed.blocks.iter().map(|b| b.file_bytes).sum(),
            head_spans: head.rows.len() as u64,
            head_bytes: head.memory() as u64,
        };
        for (frozen, _) in &sealed.frozen {
            stats.head_spans += frozen.rows.len() as u64;
            stats.head_bytes += frozen.memory() as u64;
        }
        stats
    }

    /// One round of the block writer: write the head when due.
    fn maintain(&self) {
        let due = {
            let head = self.head.read();
            !head.is_empty()
                && (head.is_full() || head.created.elapsed() >= self.config.head_max_age)
        };
        let waiting = !self.sealed.read().frozen.is_empty();
        if (due || waiting || self.flush_wanted.swap(false, Ordering::Relaxed))
            && let Err(error) = self.flush()
        {
            tracing::error!(%error, "writing a span block failed; the WAL keeps the spans, retrying");
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// The block writer's thread: a head becomes a block when it is big (it is woken then) or old.
fn write_blocks(store: Weak<TraceStore>) {
    loop {
        let Some(store) = store.upgrade() else { return };
        store.maintain();
        let (lock, wake) = &store.wake;
        let mut guard = lock.lock();
        if !store.flush_wanted.load(Ordering::Relaxed) {
            wake.wait_for(&mut guard, Duration::from_millis(500));
        }
    }
}

/// The compaction thread: merges small blocks and applies retention, apart from the block
/// writer so that a long merge never holds up ingest.
fn compact_blocks(store: Weak<TraceStore>) {
    let mut last_retention: Option<Instant> = None;
    loop {
        let mut merged = false;
        {
            let Some(store) = store.upgrade() else { return };
            if last_retention.is_none_or(|t| t.elapsed() >= Duration::from_secs(30)) {
                last_retention = Some(Instant::now());
                if let Err(error) = store.apply_retention() {
                    tracing::error!(%error, "span retention failed");
                }
            }
            match store.compact_once() {
                Ok(did) => merged = did,
                Err(error) => tracing::error!(%error, "merging span blocks failed; retrying later"),
            }
        }
        // Back to back while there is work; otherwise look again in a while.
        std::thread::sleep(if merged {
            Duration::from_millis(10)
        } else {
            Duration::from_secs(5)
        });
    }
}

fn collect_from_head(
    head: &Head,
    sorted_ids: &[u128],
    found: &mut HashMap<u128, Vec<Span>>,
) -> Result<(), TraceStoreError> {
    for row in &head.rows {
        if sorted_ids.binary_search(&row.trace).is_ok() {
            let span = Reader::new(head.span_bytes(row))
                .span()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            found.entry(row.trace).or_default().push(span);
        }
    }
    Ok(())
}

fn search_head(head: &Head, query: &Compiled, found: &mut HashMap<u128, u64>) {
    let Some(service) = head.services.get(&query.service) else {
        return;
    };
    for row in &head.rows {
        if row.service != service
            || row.start < query.start_min
            || row.start > query.start_max
            || row.duration < query.duration_min
            || row.duration > query.duration_max
            || query.operation.is_some_and(|op| op != row.operation)
        {
            continue;
        }
        let tags = head.row_tags(row);
        if !query.tags.iter().all(|t| tags.contains(t)) {
            continue;
        }
        let newest = found.entry(row.trace).or_insert(row.start);
        *newest = (*newest).max(row.start);
    }
}

/// Whether a span meets every condition of a query but the time window (a span placed at
/// receipt is matched by its placement, which the span does not carry).
fn span_matches(span: &Span, query: &TraceQuery) -> bool {
    if span.resource.service_name != query.service
        || query
            .operation
            .as_ref()
            .is_some_and(|op| *op != span.operation_name)
        || query.duration_min.is_some_and(|d| span.duration_nanos < d)
        || query.duration_max.is_some_and(|d| span.duration_nanos > d)
    {
        return false;
    }
    let mut matched = vec![false; query.tags.len()];
    head::for_each_tag(span, |key, value| {
        for (slot, (k, v)) in matched.iter_mut().zip(&query.tags) {
            if k == key && v == value {
                *slot = true;
            }
        }
    });
    matched.into_iter().all(|m| m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::block_path;
    use osprey_trace::SpanId;
    use osprey_trace::model::{AttrValue, Event, KeyValue, Resource};
    use std::path::Path;

    const T0: u64 = 1_764_000_000_000_000_000; // 2025-11-24

    fn span(
        trace: u128,
        id: u64,
        parent: Option<u64>,
        service: &str,
        op: &str,
        start_ms: u64,
    ) -> Span {
        Span {
            trace_id: TraceId(trace),
            span_id: SpanId(id),
            parent_span_id: parent.map(SpanId),
            operation_name: op.into(),
            kind: SpanKind::Server,
            start_unix_nano: T0 + start_ms * 1_000_000,
            duration_nanos: (id % 7 + 1) * 1_000_000,
            attributes: vec![
                KeyValue::string("http.method", "GET"),
                KeyValue {
                    key: "http.status_code".into(),
                    value: AttrValue::Int(200 + (id % 2) as i64 * 300),
                },
            ],
            events: vec![Event {
                time_unix_nano: T0,
                name: "log".into(),
                attributes: vec![KeyValue::string("user", format!("u{}", trace % 3))],
                dropped_attributes_count: 0,
            }],
            resource: Resource {
                service_name: service.into(),
                attributes: vec![KeyValue::string("host", "n1")],
            },
            ..Span::default()
        }
    }

    /// 200 traces of three spans: frontend → cart → db.
    fn spans() -> Vec<Span> {
        (1..=200u128)
            .flat_map(|t| {
                let base = t as u64 * 10;
                vec![
                    span(t, base + 1, None, "frontend", "GET /cart", t as u64),
                    span(t, base + 2, Some(base + 1), "cart", "load", t as u64),
                    span(t, base + 3, Some(base + 2), "db", "SELECT", t as u64),
                ]
            })
            .collect()
    }

    fn config(dir: &Path) -> TraceStoreConfig {
        let mut config = TraceStoreConfig::new(dir);
        config.head_max_age = Duration::from_secs(3600);
        config.background_compaction = false;
        config
    }

    fn query(service: &str) -> TraceQuery {
        TraceQuery {
            service: service.into(),
            start_min: 0,
            start_max: u64::MAX,
            limit: 20,
            ..TraceQuery::default()
        }
    }

    fn ids(traces: &[(TraceId, Vec<Span>)]) -> Vec<u128> {
        traces.iter().map(|(id, _)| id.0).collect()
    }

    fn check_everything(store: &TraceStore, all: &[Span]) {
        // Every trace whole, spans exactly as sent.
        for t in [1u128, 77, 200] {
            let got = store.traces(&[TraceId(t)]).expect("traces");
            assert_eq!(got.len(), 1);
            let mut want: Vec<Span> = all.iter().filter(|s| s.trace_id.0 == t).cloned().collect();
            want.sort_by_key(|s| s.span_id);
            assert_eq!(got[0].1, want);
        }
        assert!(store.traces(&[TraceId(999)]).expect("traces").is_empty());
        // Newest first, limited.
        let found = store.find_traces(&query("cart")).expect("search");
        assert_eq!(ids(&found), (181..=200u128).rev().collect::<Vec<_>>());
        // Operation, tags (span, process and log fields), duration, window.
        let mut q = query("db");
        q.operation = Some("SELECT".into());
        q.tags = vec![
            ("http.status_code".into(), "500".into()),
            ("host".into(), "n1".into()),
            ("user".into(), "u1".into()),
        ];
        q.limit = 1000;
        let found = ids(&store.find_traces(&q).expect("search"));
        let want: Vec<u128> = (1..=200u128)
            .rev()
            .filter(|t| (t * 10 + 3) % 2 == 1 && t % 3 == 1)
            .collect();
        assert_eq!(found, want);
        q.operation = Some("INSERT".into());
        assert!(store.find_traces(&q).expect("search").is_empty());
        let mut q = query("frontend");
        q.start_min = T0 + 50 * 1_000_000;
        q.start_max = T0 + 59 * 1_000_000;
        q.duration_min = Some(3_000_000);
        q.limit = 100;
        let want: Vec<u128> = (50..=59u128)
            .rev()
            .filter(|t| (t * 10 + 1) % 7 + 1 >= 3)
            .collect();
        assert_eq!(ids(&store.find_traces(&q).expect("search")), want);
        assert!(
            store
                .find_traces(&query("nobody"))
                .expect("search")
                .is_empty()
        );
        // The catalogue and the calls between services.
        let catalogue = store.catalogue();
        assert!(catalogue.contains(&("cart".into(), "load".into(), SpanKind::Server)));
        assert_eq!(catalogue.len(), 3);
        assert_eq!(
            store.dependencies(0, u64::MAX),
            vec![
                ("cart".into(), "db".into(), 200),
                ("frontend".into(), "cart".into(), 200)
            ]
        );
        let window = store.dependencies(T0 + 60_000_000_000, u64::MAX);
        assert!(window.is_empty(), "{window:?}");
    }

    #[test]
    fn head_blocks_and_reopening_answer_alike() {
        let dir = tempfile::tempdir().expect("tempdir");
        let all = spans();
        {
            let store = TraceStore::open(config(dir.path())).expect("open");
            for batch in all.chunks(50) {
                store.append(batch).expect("append");
            }
            store.append(&all[..3]).expect("a client's retry"); // shown once
            check_everything(&store, &all);
            // Half in a block, half in the head.
            store.flush().expect("flush");
            assert_eq!(store.stats().blocks, 1);
        }
        let store = TraceStore::open(config(dir.path())).expect("reopen");
        assert_eq!(store.stats().block_spans, 603);
        assert_eq!(store.stats().head_spans, 0);
        check_everything(&store, &all);
        assert_eq!(wal::list(&dir.path().join("wal")).expect("wal").len(), 1);
    }

    #[test]
    fn calls_span_heads_when_children_arrive_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let all = spans();
        let store = TraceStore::open(config(dir.path())).expect("open");
        // Children (cart, db) in one block, their parents in the next.
        let (parents, children): (Vec<Span>, Vec<Span>) = all
            .iter()
            .cloned()
            .partition(|s| s.resource.service_name == "frontend");
        store.append(&children).expect("append");
        store.flush().expect("flush");
        store.append(&parents).expect("append");
        check_everything(&store, &all);
        store.flush().expect("flush");
        assert_eq!(store.stats().blocks, 2);
        check_everything(&store, &all);
    }

    #[test]
    fn unflushed_spans_survive_a_crash_and_a_torn_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let all = spans();
        {
            let store = TraceStore::open(config(dir.path())).expect("open");
            store.append(&all[..300]).expect("append");
            store.flush().expect("flush");
            store.append(&all[300..]).expect("append");
        }
        // A torn frame, as a crash mid-write leaves it.
        let (_, last) = wal::list(&dir.path().join("wal"))
            .expect("wal")
            .pop()
            .expect("a file");
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(&last)
            .expect("open");
        file.write_all(&[9, 0, 0, 0, 1, 2]).expect("write");
        drop(file);
        // And a block that was being written.
        fs::write(dir.path().join("blocks/000000000099.tmp"), b"partial").expect("write");
        let store = TraceStore::open(config(dir.path())).expect("reopen");
        check_everything(&store, &all);
        assert!(
            !dir.path()
                .join("blocks/000000000099.tmp")
                .try_exists()
                .expect("stat")
        );
    }

    #[test]
    fn a_corrupt_block_is_set_aside_not_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let all = spans();
        {
            let store = TraceStore::open(config(dir.path())).expect("open");
            store.append(&all).expect("append");
            store.flush().expect("flush");
        }
        let path = block_path(&dir.path().join("blocks"), 1);
        let bytes = fs::read(&path).expect("read");
        fs::write(&path, &bytes[..bytes.len() - 3]).expect("truncate");
        let store = TraceStore::open(config(dir.path())).expect("reopen");
        assert_eq!(store.stats().blocks, 0);
        assert!(path.with_extension("corrupt").try_exists().expect("stat"));
    }

    #[test]
    fn retention_drops_the_oldest_blocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let all = spans();
        let mut config = config(dir.path());
        let store = TraceStore::open(config.clone()).expect("open");
        for batch in all.chunks(150) {
            store.append(batch).expect("append");
            store.flush().expect("flush");
        }
        assert_eq!(store.stats().blocks, 4);
        let newest = store.stats().block_bytes / 4 + 1;
        drop(store);
        config.retention_max_bytes = Some(newest);
        let store = TraceStore::open(config.clone()).expect("reopen");
        assert_eq!(store.apply_retention().expect("retention"), 3);
        assert_eq!(store.stats().blocks, 1);
        assert_eq!(store.traces(&[TraceId(200)]).expect("traces")[0].1.len(), 3);
        assert!(store.traces(&[TraceId(1)]).expect("traces").is_empty());
        drop(store);
        config.retention_max_bytes = None;
        config.retention_max_age = Some(Duration::from_secs(86_400));
        let store = TraceStore::open(config).expect("reopen");
        assert_eq!(
            store.apply_retention().expect("retention"),
            1,
            "2025 is long gone"
        );
    }

    #[test]
    fn merged_blocks_answer_alike_and_a_cut_short_merge_is_finished_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let all = spans();
        let store = TraceStore::open(config(dir.path())).expect("open");
        for batch in all.chunks(60) {
            store.append(batch).expect("append");
            store.flush().expect("flush");
        }
        assert_eq!(store.stats().blocks, 10);
        let inputs: Vec<(PathBuf, Vec<u8>)> = store
            .snapshot()
            .1
            .iter()
            .map(|b| (b.path.clone(), fs::read(&b.path).expect("read")))
            .collect();
        assert!(
            store.compact_once().expect("merge"),
            "eight blocks of a tier merge"
        );
        assert_eq!(store.stats().blocks, 3);
        check_everything(&store, &all);
        assert!(
            store.compact_once().expect("merge"),
            "a past day's leftovers merge"
        );
        assert_eq!(store.stats().blocks, 1);
        assert_eq!(store.stats().block_spans, 600);
        check_everything(&store, &all);
        assert!(!store.compact_once().expect("nothing left"));
        drop(store);
        // A crash after the merged block was in place, before its inputs were deleted.
        for (path, bytes) in &inputs {
            fs::write(path, bytes).expect("restore");
        }
        let store = TraceStore::open(config(dir.path())).expect("reopen");
        assert_eq!(store.stats().blocks, 1);
        assert_eq!(store.stats().block_spans, 600, "no span twice");
        check_everything(&store, &all);
    }

    #[test]
    fn absurd_starts_are_placed_at_receipt_with_a_warning() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = TraceStore::open(config(dir.path())).expect("open");
        let mut old = span(5, 1, None, "svc", "op", 0);
        old.start_unix_nano = 12;
        store.append(std::slice::from_ref(&old)).expect("append");
        let now = now_nanos();
        let mut q = query("svc");
        q.start_min = now - 60_000_000_000;
        let found = store.find_traces(&q).expect("search");
        assert_eq!(ids(&found), vec![5]);
        assert_eq!(found[0].1[0].start_unix_nano, 12, "kept as sent");
        assert!(found[0].1[0].warnings[0].contains("out of range"));
    }
}

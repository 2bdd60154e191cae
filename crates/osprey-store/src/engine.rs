//! The engine: one indexer thread owns the WAL and the partition writers; searches read
//! partition readers concurrently.
//!
//! Write path (group commit): requests queue on a channel; the indexer takes every queued
//! request, resolves them (ids, existence, updates), appends them to the WAL as one frame with
//! one fsync, applies them to the partition writers and only then answers. Every
//! `refresh_interval` it commits dirty partitions, each commit carrying the last applied LSN as
//! its payload, reloads readers and truncates the WAL. Replay after a crash re-applies each
//! logged operation to the partitions whose committed LSN is below it, so it is idempotent.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use osprey_model::DocIdGenerator;
use parking_lot::{Mutex, RwLock};
use serde_json::{Map, Value, json};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::TermQuery;
use tantivy::schema::{Field, IndexRecordOption, Value as _};
use tantivy::{IndexWriter, TantivyDocument, Term};

use crate::block_compression::{BlockCache, BlockCacheStats};
use crate::error::{Result, StoreError};
use crate::mapping::{IndexMapping, TIMESTAMP_FIELD, parse_date_millis};
use crate::metastore::{Catalog, FileMetastore, IndexMeta, Metastore};
use crate::partition::{
    Fields, PartitionReader, build_document, doc_store_level, field_names, fields, open_index,
};
use crate::source_holes::{FilledSources, SourceReader};
use crate::storage::{LocalStorage, PartitionDirectory, PartitionKey, SegmentStorage};
use crate::wal::{Lsn, Wal, WalOp};

const MILLIS_PER_DAY: i64 = 86_400_000;

/// Store settings.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Root of all data.
    pub data_dir: std::path::PathBuf,
    /// How often new documents become searchable.
    pub refresh_interval: Duration,
    /// Without a search for this long the store is "search idle" (Elasticsearch's
    /// `index.search.idle.after`): it commits only every 5 s, so a bulk
    /// load writes fewer, larger segments and merges far less, and the next search commits
    /// before it runs, so it still sees every acknowledged document. `None`: never idle.
    pub search_idle_after: Option<Duration>,
    /// Partitions whose whole day is older than this are dropped.
    pub retention_max_age: Option<Duration>,
    /// Oldest partitions are dropped while the total exceeds this many bytes.
    pub retention_max_bytes: Option<u64>,
    /// Indexing memory per active partition writer.
    pub writer_memory_bytes: usize,
    /// Indexing threads per active partition writer, each with `writer_memory_bytes`: tantivy's
    /// indexing thread is the busiest part of ingest, a second one raises throughput by a
    /// seventh on two cores.
    pub writer_threads: usize,
    /// A writer unused this long is closed, returning its memory.
    pub idle_writer_timeout: Duration,
    /// Space kept in reserve (a ballast file, at most a quarter of the filesystem) so that
    /// acknowledged documents can always be committed when the disk fills up.
    pub disk_reserve_bytes: u64,
    /// Memory for decompressed postings and positions of compact (merged past-day) segments,
    /// shared by all partitions.
    pub block_cache_bytes: usize,
}

impl StoreConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<std::path::PathBuf>) -> StoreConfig {
        StoreConfig {
            data_dir: data_dir.into(),
            refresh_interval: Duration::from_millis(500),
            search_idle_after: Some(Duration::from_secs(30)),
            retention_max_age: None,
            retention_max_bytes: None,
            writer_memory_bytes: 64 << 20,
            writer_threads: 2,
            idle_writer_timeout: Duration::from_secs(30),
            disk_reserve_bytes: 64 << 20,
            block_cache_bytes: 32 << 20,
        }
    }
}

/// One write, as decoded from `_bulk` or a document API call.
#[derive(Debug, Clone)]
pub struct WriteItem {
    /// What to do.
    pub op: Op,
    /// Target index (validated).
    pub index: String,
    /// Explicit id.
    pub id: Option<String>,
    /// Source bytes as sent (index/create).
    pub source: Option<Vec<u8>>,
    /// Parsed source (index/create), when the caller has it; without it the store parses
    /// `source` (which must have been checked to be a JSON object) as it maps it.
    pub document: Option<Map<String, Value>>,
    /// The top-level `@timestamp` value of `source` when `document` is not given.
    pub timestamp: Option<Value>,
    /// Partial document (update).
    pub update_doc: Option<Map<String, Value>>,
    /// Create from `update_doc` when missing (update).
    pub doc_as_upsert: bool,
    /// Document to create when missing (update).
    pub upsert: Option<Map<String, Value>>,
}

impl WriteItem {
    /// A new document of `index` with a generated id (no existence check): `document` is what
    /// the mapping indexes, `source` the bytes kept.
    pub fn new_document(index: String, document: Map<String, Value>, source: Vec<u8>) -> WriteItem {
        WriteItem {
            op: Op::Index,
            index,
            id: None,
            source: Some(source),
            document: Some(document),
            timestamp: None,
            update_doc: None,
            doc_as_upsert: false,
            upsert: None,
        }
    }
}

/// What a write does (the bulk actions, without depending on the decoder crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Add or replace.
    Index,
    /// Add; conflict if the id exists.
    Create,
    /// Remove.
    Delete,
    /// Merge into an existing document.
    Update,
}

/// The outcome of one write, shaped like a `_bulk` response item.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemOutcome {
    /// Index.
    pub index: String,
    /// Document id.
    pub id: String,
    /// HTTP status of the item.
    pub status: u16,
    /// `created`, `updated`, `deleted`, `not_found`, `noop`.
    pub result: &'static str,
    /// LSN of the logged operation.
    pub seq_no: u64,
    /// `_version` of the document after this write.
    pub version: u64,
    /// Error type and reason.
    pub error: Option<(String, String)>,
}

enum Command {
    Write {
        items: Vec<WriteItem>,
        reply: mpsc::Sender<Result<Vec<ItemOutcome>>>,
    },
    CreateIndex {
        name: String,
        body: Value,
        reply: mpsc::Sender<Result<()>>,
    },
    DeleteIndex {
        names: Vec<String>,
        reply: mpsc::Sender<Result<()>>,
    },
    PutObject {
        kind: String,
        name: String,
        value: Option<Value>,
        reply: mpsc::Sender<Result<()>>,
    },
    PutMapping {
        index: String,
        mapping: IndexMapping,
        reply: mpsc::Sender<Result<()>>,
    },
    Refresh {
        reply: mpsc::Sender<Result<()>>,
    },
    Retention {
        reply: mpsc::Sender<Result<()>>,
    },
    ForceMerge {
        indexes: Vec<String>,
        reply: mpsc::Sender<Result<()>>,
    },
    Shutdown,
}

/// An index as searches see it.
pub struct LiveIndex {
    /// Name.
    pub name: String,
    /// LSN that created this incarnation.
    pub created_lsn: Lsn,
    /// Field types.
    pub mapping: RwLock<IndexMapping>,
    /// Settings as given at creation.
    pub settings: Value,
    /// Partitions by day.
    pub partitions: RwLock<BTreeMap<i64, Arc<PartitionReader>>>,
}

/// A document version as GET returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDoc {
    /// Source bytes as ingested.
    pub source: Arc<Vec<u8>>,
    /// `_version`: 1 when created, +1 on every replacement.
    pub version: u64,
    /// `_seq_no`: the LSN that wrote this version.
    pub seq_no: u64,
}

#[derive(Clone)]
enum Pending {
    Doc(StoredDoc),
    Deleted,
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct StoreStats {
    /// Documents written (acknowledged).
    pub docs_written: AtomicU64,
    /// Write batches (WAL frames).
    pub wal_frames: AtomicU64,
    /// Commits of partitions.
    pub commits: AtomicU64,
    /// Writes refused because the disk was full.
    pub disk_full_rejections: AtomicU64,
    /// Partitions dropped by retention.
    pub partitions_dropped: AtomicU64,
    /// 1 while writes are refused because the disk is full.
    pub disk_full: AtomicU64,
    /// Reads that committed before running (the store was search idle, or its last commit
    /// was late).
    pub refreshes_before_reads: AtomicU64,
}

pub(crate) struct Shared {
    pub(crate) config: StoreConfig,
    storage: Arc<dyn SegmentStorage>,
    metastore: Arc<dyn Metastore>,
    pub(crate) indexes: RwLock<BTreeMap<String, Arc<LiveIndex>>>,
    pub(crate) objects: RwLock<BTreeMap<String, BTreeMap<String, Value>>>,
    pending: Mutex<HashMap<(String, String), Pending>>,
    pub(crate) fields: Fields,
    pub(crate) stats: StoreStats,
    block_cache: Arc<BlockCache>,
    /// `_source` of recent hits, rebuilt from their holes.
    pub(crate) filled_sources: FilledSources,
    /// When the store was opened: the origin of `last_search_ms`.
    opened: Instant,
    /// Milliseconds after `opened` of the latest search, plus one (0: none yet, so a store
    /// starts search idle).
    last_search_ms: AtomicU64,
    /// Whether any partition writer holds documents not yet committed.
    uncommitted: AtomicBool,
    /// Milliseconds after `opened` of the latest successful commit.
    last_commit_ms: AtomicU64,
    /// Held (locked) for as long as the store is open.
    _lock: std::fs::File,
}

/// The storage engine.
pub struct Store {
    pub(crate) shared: Arc<Shared>,
    commands: Mutex<mpsc::Sender<Command>>,
    indexer: Mutex<Option<JoinHandle<()>>>,
}

/// While the store is search idle, commits still happen this often: it bounds the WAL to
/// replay after a crash and the documents held for realtime gets.
const IDLE_COMMIT_INTERVAL: Duration = Duration::from_secs(5);

/// While search idle, a commit also happens once this many documents wait for realtime gets.
const IDLE_PENDING_LIMIT: usize = 50_000;

impl Shared {
    fn elapsed_ms(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64 + 1
    }

    /// Records a search (or a read or write that needs committed documents: realtime gets,
    /// updates, deletes), and says whether it must commit first: documents wait uncommitted
    /// and the last commit is older than two refresh intervals (the store was search idle, or
    /// the indexer is late). A read that starts a second after a document was acknowledged
    /// therefore always sees it, as do concurrent reads while the first one commits.
    fn read_needs_commit(&self) -> bool {
        let now = self.elapsed_ms();
        self.last_search_ms.store(now, Ordering::Release);
        let stale_after = 2 * self.config.refresh_interval.as_millis() as u64;
        self.uncommitted.load(Ordering::Acquire)
            && now.saturating_sub(self.last_commit_ms.load(Ordering::Acquire)) >= stale_after
    }

    /// Whether searches came recently enough to keep committing every `refresh_interval`.
    fn searched_recently(&self) -> bool {
        let Some(idle) = self.config.search_idle_after else {
            return true;
        };
        let last = self.last_search_ms.load(Ordering::Acquire);
        last != 0 && self.elapsed_ms().saturating_sub(last) < idle.as_millis() as u64
    }
}

fn day_of(millis: i64) -> i64 {
    millis.div_euclid(MILLIS_PER_DAY)
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn timestamp_of(document: &Map<String, Value>) -> Option<i64> {
    document.get(TIMESTAMP_FIELD).and_then(timestamp_millis)
}

fn timestamp_millis(value: &Value) -> Option<i64> {
    match value {
        Value::String(s) => parse_date_millis(s),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn disk_error(e: std::io::Error) -> StoreError {
    if StoreError::is_disk_full_io(&e) {
        StoreError::DiskFull(e.to_string())
    } else {
        StoreError::Io(e)
    }
}

fn engine_error(e: tantivy::TantivyError) -> StoreError {
    if let tantivy::TantivyError::IoError(io) = &e
        && StoreError::is_disk_full_io(io)
    {
        return StoreError::DiskFull(io.to_string());
    }
    let text = e.to_string();
    if text.contains("No space left") || text.contains("os error 28") {
        return StoreError::DiskFull(text);
    }
    StoreError::Engine(e)
}

impl Store {
    /// Opens the store in `config.data_dir`, replaying the WAL, and starts the indexer thread.
    pub fn open(config: StoreConfig) -> Result<Store> {
        std::fs::create_dir_all(&config.data_dir)?;
        // One process per data directory: two writers on one WAL would corrupt it.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(config.data_dir.join("osprey.lock"))?;
        if !fs4::fs_std::FileExt::try_lock_exclusive(&lock)? {
            return Err(StoreError::BadRequest(format!(
                "the data directory {} is in use by another Osprey process",
                config.data_dir.display()
            )));
        }
        let block_cache = Arc::new(BlockCache::new(config.block_cache_bytes));
        let storage: Arc<dyn SegmentStorage> = Arc::new(LocalStorage::new(
            config.data_dir.join("indexes"),
            block_cache.clone(),
        ));
        let metastore: Arc<dyn Metastore> =
            Arc::new(FileMetastore::new(config.data_dir.join("catalog.json")));
        let catalog = metastore.load()?;
        let shared = Arc::new(Shared {
            config: config.clone(),
            storage,
            metastore,
            indexes: RwLock::new(BTreeMap::new()),
            objects: RwLock::new(catalog.objects.clone()),
            pending: Mutex::new(HashMap::new()),
            fields: fields(),
            stats: StoreStats::default(),
            block_cache,
            filled_sources: FilledSources::default(),
            opened: Instant::now(),
            last_search_ms: AtomicU64::new(0),
            uncommitted: AtomicBool::new(false),
            last_commit_ms: AtomicU64::new(0),
            _lock: lock,
        });
        // Files of indexes the catalogue does not know are leftovers of an interrupted delete.
        for (name, incarnation) in shared.storage.list_indexes()? {
            if catalog.indexes.get(&name).map(|m| m.created_lsn) != Some(incarnation) {
                tracing::info!(index = %name, incarnation, "removing files of a deleted index");
                shared.storage.delete_index(&name, incarnation)?;
            }
        }
        let (mut indexer, replay) = Indexer::new(shared.clone(), &catalog)?;
        indexer.replay(replay)?;
        // On a full disk the store still opens (and serves reads); writes wait for space.
        match indexer.commit() {
            Err(StoreError::DiskFull(reason)) => {
                tracing::warn!(%reason, "disk full at start: acknowledged data is safe in the WAL; writes are refused until space is freed");
                indexer.set_disk_full(true);
            }
            other => other?,
        }
        indexer.check_reserve();
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("osprey-indexer".into())
            .spawn(move || indexer.run(receiver))?;
        Ok(Store {
            shared,
            commands: Mutex::new(sender),
            indexer: Mutex::new(Some(thread)),
        })
    }

    fn send<T>(&self, make: impl FnOnce(mpsc::Sender<Result<T>>) -> Command) -> Result<T> {
        let (reply, answer) = mpsc::channel();
        self.commands
            .lock()
            .send(make(reply))
            .map_err(|_| StoreError::ShuttingDown)?;
        answer.recv().map_err(|_| StoreError::ShuttingDown)?
    }

    /// Writes items; answers when they are durable.
    pub fn write(&self, items: Vec<WriteItem>) -> Result<Vec<ItemOutcome>> {
        self.send(|reply| Command::Write { items, reply })
    }

    /// Creates an index from an Elasticsearch `PUT index` body.
    pub fn create_index(&self, name: &str, body: Value) -> Result<()> {
        if let Some(mappings) = body.get("mappings") {
            IndexMapping::from_es_mappings(mappings)
                .map_err(|e| StoreError::BadRequest(e.to_string()))?;
        }
        self.send(|reply| Command::CreateIndex {
            name: name.to_string(),
            body,
            reply,
        })
    }

    /// Deletes indexes.
    pub fn delete_indexes(&self, names: Vec<String>) -> Result<()> {
        self.send(|reply| Command::DeleteIndex { names, reply })
    }

    /// Stores (or with `None` removes) an opaque object such as an index template.
    pub fn put_object(&self, kind: &str, name: &str, value: Option<Value>) -> Result<()> {
        self.send(|reply| Command::PutObject {
            kind: kind.to_string(),
            name: name.to_string(),
            value,
            reply,
        })
    }

    /// Adds explicit field mappings (`{"properties": ...}`) to an index; known fields keep
    /// their type, as in Elasticsearch.
    pub fn put_mapping(&self, index: &str, body: &Value) -> Result<()> {
        let mapping = IndexMapping::from_es_mappings(body)
            .map_err(|e| StoreError::BadRequest(e.to_string()))?;
        self.send(|reply| Command::PutMapping {
            index: index.to_string(),
            mapping,
            reply,
        })
    }

    /// Opaque objects of one kind, by name.
    pub fn get_objects(&self, kind: &str) -> BTreeMap<String, Value> {
        self.shared
            .objects
            .read()
            .get(kind)
            .cloned()
            .unwrap_or_default()
    }

    /// Makes everything acknowledged so far searchable now.
    pub fn refresh(&self) -> Result<()> {
        self.send(|reply| Command::Refresh { reply })
    }

    /// Called before anything reads what is committed (searches, counts, document counts):
    /// keeps the store refreshing every `refresh_interval`, and when it was search idle (or
    /// the last commit is late), commits first, so that the read sees every acknowledged
    /// document.
    pub fn before_search(&self) -> Result<()> {
        if self.shared.read_needs_commit() {
            self.shared
                .stats
                .refreshes_before_reads
                .fetch_add(1, Ordering::Relaxed);
            self.refresh()?;
        }
        Ok(())
    }

    /// Commits, then drops the partitions retention no longer keeps (it also runs on its own
    /// every few seconds).
    pub fn enforce_retention(&self) -> Result<()> {
        self.send(|reply| Command::Retention { reply })
    }

    /// Commits, then merges every partition of these indexes into one segment (Elasticsearch's
    /// `_forcemerge?max_num_segments=1`). Past days are also merged on their own once their
    /// writer has been idle.
    pub fn force_merge(&self, indexes: Vec<String>) -> Result<()> {
        self.send(|reply| Command::ForceMerge { indexes, reply })
    }

    /// Counters.
    pub fn stats(&self) -> &StoreStats {
        &self.shared.stats
    }

    /// The cache of decompressed compact postings and positions.
    pub fn block_cache_stats(&self) -> BlockCacheStats {
        self.shared.block_cache.stats()
    }

    /// Live index by name.
    pub fn index(&self, name: &str) -> Option<Arc<LiveIndex>> {
        self.shared.indexes.read().get(name).cloned()
    }

    /// Every live index, by name.
    pub fn indexes(&self) -> Vec<Arc<LiveIndex>> {
        self.shared.indexes.read().values().cloned().collect()
    }

    /// Bytes on disk of an index.
    pub fn index_size_bytes(&self, index: &LiveIndex) -> u64 {
        index
            .partitions
            .read()
            .values()
            .map(|p| self.shared.storage.size_bytes(&p.key))
            .sum()
    }

    /// Realtime get: the current version of a document, including acknowledged but
    /// unrefreshed ones.
    pub fn get_document(&self, index: &str, id: &str) -> Result<Option<StoredDoc>> {
        let live = self
            .index(index)
            .ok_or_else(|| StoreError::IndexNotFound(index.to_string()))?;
        if let Some(pending) = self
            .shared
            .pending
            .lock()
            .get(&(index.to_string(), id.to_string()))
        {
            return Ok(match pending {
                Pending::Doc(doc) => Some(doc.clone()),
                Pending::Deleted => None,
            });
        }
        // Documents with generated ids are not held for realtime gets: they are read once
        // committed, which an idle store does first.
        self.before_search()?;
        find_committed(&self.shared, &live, id)
    }

    /// Realtime get of the source only.
    pub fn get_source(&self, index: &str, id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .get_document(index, id)?
            .map(|d| d.source.as_ref().clone()))
    }

    /// Stops the indexer after committing everything.
    pub fn shutdown(&self) {
        let _ = self.commands.lock().send(Command::Shutdown);
        if let Some(thread) = self.indexer.lock().take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("data_dir", &self.shared.config.data_dir)
            .finish()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Segments of a size tier merged at once. Twelve rather than tantivy's eight: each document
/// is rewritten fewer times while a day is written, for a few more segments until the day's
/// final merge (Lucene's tiers hold ten). 1M logs, interleaved runs: 4,750-5,830 server
/// CPU-ticks against 5,200-6,760 with eight, 20-29 segments against 15-21; this machine's
/// noise is of the same order, so the gain is modest at best.
const MERGE_FACTOR: usize = 12;

fn merge_policy() -> tantivy::merge_policy::LogMergePolicy {
    let mut policy = tantivy::merge_policy::LogMergePolicy::default();
    policy.set_min_num_segments(MERGE_FACTOR);
    policy
}

/// Finds a live document in committed partitions.
fn find_committed(shared: &Shared, live: &LiveIndex, id: &str) -> Result<Option<StoredDoc>> {
    let fields = &shared.fields;
    let term = Term::from_field_text(fields.id, id);
    let query = TermQuery::new(term, IndexRecordOption::Basic);
    for partition in live.partitions.read().values().rev() {
        let searcher = partition.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(1).order_by_score())?;
        if let Some((_, address)) = top.first() {
            let doc: TantivyDocument = searcher.doc(*address)?;
            let source = match doc.get_first(fields.source).and_then(|v| v.as_bytes()) {
                Some(stored) => Some(
                    SourceReader::new(&searcher, &shared.filled_sources)
                        .source(*address, stored)?,
                ),
                None => None,
            };
            let segment = searcher.segment_reader(address.segment_ord);
            let number = |field: Field, name: &str| {
                doc.get_first(field).and_then(|v| v.as_u64()).or_else(|| {
                    let column = segment.fast_fields().u64(name).ok()?;
                    column.first(address.doc_id)
                })
            };
            let version = number(fields.version, field_names::VERSION).unwrap_or(1);
            let seq_no = number(fields.seq_no, field_names::SEQ_NO).unwrap_or(0);
            return Ok(source.map(|source| StoredDoc {
                source: Arc::new(source),
                version,
                seq_no,
            }));
        }
    }
    Ok(None)
}

fn contains_committed(fields: &Fields, partition: &PartitionReader, id: &str) -> Result<bool> {
    let query = TermQuery::new(
        Term::from_field_text(fields.id, id),
        IndexRecordOption::Basic,
    );
    Ok(partition.reader.searcher().search(&query, &Count)? > 0)
}

struct ActiveWriter {
    writer: IndexWriter,
    last_used: Instant,
    dirty: bool,
    /// A merge of the whole partition running on tantivy's merge thread.
    merge: Option<PendingMerge>,
}

/// A merge of all of a partition's segments into one compact segment. The indexer polls it
/// rather than wait: merging a day of logs takes seconds, and writes go on meanwhile.
struct PendingMerge {
    result: tantivy::FutureResult<Option<tantivy::index::SegmentMeta>>,
    partition: Arc<PartitionReader>,
}

impl Drop for PendingMerge {
    /// Done, failed or abandoned with its writer: later segments are written as usual.
    fn drop(&mut self) {
        self.partition
            .compact_writes
            .store(false, Ordering::Relaxed);
    }
}

/// A `_forcemerge` waiting for the merges it started (or found running).
struct ForceMergeRequest {
    waiting_for: Vec<PartitionKey>,
    error: Option<StoreError>,
    reply: mpsc::Sender<Result<()>>,
}

/// What a failed merge tells every request that waited for it.
fn merge_failure(error: &StoreError, key: &PartitionKey) -> StoreError {
    let text = format!("merging day {} of {}: {error}", key.day, key.index);
    match error {
        StoreError::DiskFull(_) => StoreError::DiskFull(text),
        _ => StoreError::Io(std::io::Error::other(text)),
    }
}

struct Indexer {
    shared: Arc<Shared>,
    wal: Wal,
    writers: HashMap<PartitionKey, ActiveWriter>,
    force_merges: Vec<ForceMergeRequest>,
    /// Past days whose merge failed: not tried again on their own (`_forcemerge` still does).
    failed_merges: HashSet<PartitionKey>,
    /// When past days without a writer were last looked at for merging.
    last_leftover_check: Instant,
    /// LSN each partition has committed (from its commit payload).
    committed: HashMap<PartitionKey, Lsn>,
    catalog_dirty: bool,
    ids: DocIdGenerator,
    last_retention: Instant,
    needs_recovery: bool,
    /// Writes are refused until free space returns and the reserve is rebuilt.
    disk_full: bool,
}

/// A queued write request and where to send its outcomes.
type WriteRequest = (Vec<WriteItem>, mpsc::Sender<Result<Vec<ItemOutcome>>>);

/// What the batch being resolved has already decided about ids, before it is logged.
type BatchOverlay = HashMap<(String, String), Pending>;

impl Indexer {
    fn new(shared: Arc<Shared>, catalog: &Catalog) -> Result<(Indexer, Vec<(Lsn, WalOp)>)> {
        let mut committed = HashMap::new();
        for (name, meta) in &catalog.indexes {
            let live = Arc::new(LiveIndex {
                name: name.clone(),
                created_lsn: meta.created_lsn,
                mapping: RwLock::new(meta.mapping.clone()),
                settings: meta.settings.clone(),
                partitions: RwLock::new(BTreeMap::new()),
            });
            for &day in &meta.partitions {
                let key = PartitionKey {
                    index: name.clone(),
                    incarnation: meta.created_lsn,
                    day,
                };
                let (reader, lsn) =
                    open_partition(shared.storage.as_ref(), key.clone(), &meta.settings)?;
                committed.insert(key, lsn);
                live.partitions.write().insert(day, Arc::new(reader));
            }
            shared.indexes.write().insert(name.clone(), live);
        }
        let (wal, replay) = Wal::open(
            &shared.config.data_dir.join("wal"),
            catalog.committed_lsn + 1,
        )?;
        let indexer = Indexer {
            shared,
            wal,
            writers: HashMap::new(),
            force_merges: Vec::new(),
            failed_merges: HashSet::new(),
            last_leftover_check: Instant::now(),
            committed,
            catalog_dirty: false,
            ids: DocIdGenerator::new(
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64)
                    ^ u64::from(std::process::id()),
            ),
            last_retention: Instant::now(),
            needs_recovery: false,
            disk_full: false,
        };
        Ok((indexer, replay))
    }

    fn run(mut self, commands: mpsc::Receiver<Command>) {
        let interval = self.shared.config.refresh_interval;
        let mut next_commit = Instant::now() + interval;
        loop {
            let timeout = next_commit.saturating_duration_since(Instant::now());
            let first = match commands.recv_timeout(timeout) {
                Ok(command) => Some(command),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => Some(Command::Shutdown),
            };
            if let Some(first) = first {
                // Group commit: everything queued now shares one WAL frame and one fsync.
                let mut writes = Vec::new();
                let mut others = Vec::new();
                for command in
                    std::iter::once(first).chain(std::iter::from_fn(|| commands.try_recv().ok()))
                {
                    match command {
                        Command::Write { items, reply } => writes.push((items, reply)),
                        other => others.push(other),
                    }
                    if writes.len() >= 64 {
                        break;
                    }
                }
                if !writes.is_empty() {
                    self.write_batch(writes);
                }
                for command in others {
                    match command {
                        Command::Shutdown => {
                            if let Err(e) = self.commit() {
                                tracing::error!(error = %e, "final commit failed; the WAL keeps the data");
                            }
                            self.close_all_writers();
                            return;
                        }
                        Command::Refresh { reply } => {
                            let _ = reply.send(self.commit());
                        }
                        Command::ForceMerge { indexes, reply } => {
                            self.force_merge(&indexes, reply);
                        }
                        Command::Retention { reply } => {
                            let result = self.commit();
                            self.apply_retention(true);
                            let _ = reply.send(result);
                        }
                        Command::CreateIndex { name, body, reply } => {
                            let _ = reply.send(self.create_index(&name, body));
                        }
                        Command::DeleteIndex { names, reply } => {
                            let _ = reply.send(self.delete_indexes(names));
                        }
                        Command::PutObject {
                            kind,
                            name,
                            value,
                            reply,
                        } => {
                            let _ = reply.send(self.put_object(kind, name, value));
                        }
                        Command::PutMapping {
                            index,
                            mapping,
                            reply,
                        } => {
                            let _ = reply.send(self.put_mapping(&index, mapping));
                        }
                        Command::Write { .. } => unreachable!("writes were separated"),
                    }
                }
            }
            if Instant::now() >= next_commit {
                let shared = &self.shared;
                let since_commit = shared
                    .elapsed_ms()
                    .saturating_sub(shared.last_commit_ms.load(Ordering::Acquire));
                let due = shared.searched_recently()
                    || since_commit >= IDLE_COMMIT_INTERVAL.as_millis() as u64
                    || shared.pending.lock().len() >= IDLE_PENDING_LIMIT;
                if due && let Err(e) = self.commit() {
                    tracing::warn!(error = %e, "periodic commit failed; will retry");
                }
                self.poll_merges();
                self.close_idle_writers();
                self.merge_left_over_days();
                self.apply_retention(false);
                if self.disk_full {
                    self.check_reserve();
                }
                next_commit = Instant::now() + interval;
            }
        }
    }

    fn log(&mut self, ops: &[WalOp]) -> Result<Lsn> {
        let first = self.wal.append(ops).map_err(disk_error)?;
        self.shared.stats.wal_frames.fetch_add(1, Ordering::Relaxed);
        Ok(first)
    }

    fn write_batch(&mut self, requests: Vec<WriteRequest>) {
        if self.disk_full && !self.check_reserve() {
            self.shared
                .stats
                .disk_full_rejections
                .fetch_add(1, Ordering::Relaxed);
            for (_, reply) in requests {
                let _ = reply.send(Err(StoreError::DiskFull(
                    "free space is below the reserve Osprey keeps to commit acknowledged data"
                        .into(),
                )));
            }
            return;
        }
        // Updates and deletes read documents, which may have generated ids (not held for
        // realtime reads): an idle store commits first, and is idle no longer.
        let reads_documents = requests
            .iter()
            .flat_map(|(items, _)| items)
            .any(|item| matches!(item.op, Op::Update | Op::Delete));
        if reads_documents
            && self.shared.read_needs_commit()
            && let Err(e) = self.commit()
        {
            tracing::warn!(error = %e, "commit before updates failed; will retry");
        }
        let mut ops: Vec<WalOp> = Vec::new();
        let mut outcomes: Vec<Vec<ItemOutcome>> = Vec::new();
        // Index of the op each outcome waits for, to fill in its seq_no.
        let mut op_of: Vec<Vec<Option<usize>>> = Vec::new();
        let mut documents: Vec<Option<Map<String, Value>>> = Vec::new();
        let mut overlay: BatchOverlay = HashMap::new();
        let mut created: Vec<String> = Vec::new();
        let (item_lists, replies): (Vec<Vec<WriteItem>>, Vec<_>) = requests.into_iter().unzip();
        for items in item_lists {
            let mut request_outcomes = Vec::with_capacity(items.len());
            let mut request_ops = Vec::with_capacity(items.len());
            for item in items {
                if self.shared.indexes.read().get(&item.index).is_none()
                    && !created.contains(&item.index)
                {
                    let body = self.template_body(&item.index);
                    ops.push(WalOp::CreateIndex {
                        index: item.index.clone(),
                        body: body.to_string().into_bytes(),
                    });
                    documents.push(None);
                    created.push(item.index.clone());
                }
                match self.resolve(item, &mut overlay, ops.len()) {
                    Ok((outcome, op, document)) => {
                        if let Some(op) = op {
                            request_ops.push(Some(ops.len()));
                            ops.push(op);
                            documents.push(document);
                        } else {
                            request_ops.push(None);
                        }
                        request_outcomes.push(outcome);
                    }
                    Err(outcome) => {
                        request_ops.push(None);
                        request_outcomes.push(outcome);
                    }
                }
            }
            outcomes.push(request_outcomes);
            op_of.push(request_ops);
        }
        let first_lsn = if ops.is_empty() {
            Ok(self.wal.next_lsn())
        } else {
            self.log(&ops)
        };
        let first_lsn = match first_lsn {
            Ok(lsn) => lsn,
            Err(e) => {
                if matches!(e, StoreError::DiskFull(_)) {
                    self.shared
                        .stats
                        .disk_full_rejections
                        .fetch_add(1, Ordering::Relaxed);
                    // Give the reserve back so what was acknowledged can still be committed
                    // (and become searchable); refuse writes until space returns.
                    self.set_disk_full(true);
                    if let Err(e) = self.commit() {
                        tracing::warn!(error = %e, "commit on a full disk failed even with the reserve released");
                    }
                }
                let message = e.to_string();
                let class = e.class();
                for reply in replies {
                    let _ = reply.send(Err(match class {
                        osprey_model::ErrorClass::TooManyRequests => {
                            StoreError::DiskFull(message.clone())
                        }
                        _ => StoreError::Io(std::io::Error::other(message.clone())),
                    }));
                }
                return;
            }
        };
        let mut written = 0;
        for (i, (op, document)) in ops.iter().zip(documents).enumerate() {
            if matches!(op, WalOp::Index { .. }) {
                written += 1;
            }
            if let Err(e) = self.apply(first_lsn + i as u64, op, document) {
                tracing::error!(error = %e, "applying a logged operation failed; it is safe in the WAL and will be replayed");
                self.needs_recovery = true;
            }
        }
        self.shared
            .stats
            .docs_written
            .fetch_add(written, Ordering::Relaxed);
        self.shared
            .pending
            .lock()
            .extend(overlay.into_iter().map(|(key, pending)| {
                let pending = match pending {
                    Pending::Doc(doc) => Pending::Doc(StoredDoc {
                        seq_no: first_lsn + doc.seq_no,
                        ..doc
                    }),
                    deleted => deleted,
                };
                (key, pending)
            }));
        for ((reply, mut request_outcomes), request_ops) in
            replies.into_iter().zip(outcomes).zip(op_of)
        {
            for (outcome, op) in request_outcomes.iter_mut().zip(request_ops) {
                if let Some(op) = op {
                    outcome.seq_no = first_lsn + op as u64;
                }
            }
            let _ = reply.send(Ok(request_outcomes));
        }
        if self.needs_recovery {
            self.recover();
        }
        // Close to full, commit every batch so little is left to commit when space runs out.
        let available = fs4::available_space(&self.shared.config.data_dir).unwrap_or(u64::MAX);
        if available < self.reserve_bytes().saturating_mul(2)
            && let Err(e) = self.commit()
        {
            tracing::warn!(error = %e, "commit near a full disk failed");
        }
    }

    /// The body an auto-created index gets: the mappings of matching index templates.
    fn template_body(&self, index: &str) -> Value {
        let objects = self.shared.objects.read();
        let mut templates: Vec<(i64, &Value)> = Vec::new();
        for kind in ["index_template", "template"] {
            for template in objects.get(kind).into_iter().flat_map(BTreeMap::values) {
                let patterns: Vec<&str> = match template.get("index_patterns") {
                    Some(Value::String(p)) => vec![p.as_str()],
                    Some(Value::Array(ps)) => ps.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                if patterns
                    .iter()
                    .any(|p| crate::search::wildcard_match(p, index))
                {
                    templates.push((
                        template
                            .get("priority")
                            .or_else(|| template.get("order"))
                            .and_then(Value::as_i64)
                            .unwrap_or(0),
                        template,
                    ));
                }
            }
        }
        templates.sort_by_key(|(priority, _)| *priority);
        let mut mappings = IndexMapping::default();
        for (_, template) in templates.iter().rev() {
            let spec = template.get("template").unwrap_or(template);
            if let Some(properties) = spec.pointer("/mappings/properties") {
                // Invalid templates were rejected when stored; ignore errors defensively.
                let _ = mappings.merge_properties("", properties);
            }
        }
        json!({ "mapping": mappings })
    }

    /// The current source of a document, seeing this batch's and unrefreshed writes.
    fn current_source(
        &self,
        index: &str,
        id: &str,
        overlay: &BatchOverlay,
    ) -> Result<Option<StoredDoc>> {
        let key = (index.to_string(), id.to_string());
        let pending = overlay
            .get(&key)
            .cloned()
            .or_else(|| self.shared.pending.lock().get(&key).cloned());
        if let Some(pending) = pending {
            return Ok(match pending {
                Pending::Doc(doc) => Some(doc),
                Pending::Deleted => None,
            });
        }
        let Some(live) = self.shared.indexes.read().get(index).cloned() else {
            return Ok(None);
        };
        find_committed(&self.shared, &live, id)
    }

    /// Decides what one item does, without side effects beyond `overlay`.
    // An item error is an ordinary outcome sent back to the client, not a rare failure path.
    #[allow(clippy::type_complexity, clippy::result_large_err)]
    fn resolve(
        &mut self,
        item: WriteItem,
        overlay: &mut BatchOverlay,
        op_index: usize,
    ) -> std::result::Result<(ItemOutcome, Option<WalOp>, Option<Map<String, Value>>), ItemOutcome>
    {
        let generated = item.id.is_none();
        let id = item.id.clone().unwrap_or_else(|| self.ids.next_id());
        let outcome = |status: u16, result: &'static str| ItemOutcome {
            index: item.index.clone(),
            id: id.clone(),
            status,
            result,
            seq_no: 0,
            version: 1,
            error: None,
        };
        let failure = |status: u16, kind: &str, reason: String| ItemOutcome {
            error: Some((kind.to_string(), reason)),
            ..outcome(status, "")
        };
        let internal = |e: StoreError| failure(500, "exception", e.to_string());
        let key = (item.index.clone(), id.clone());
        match item.op {
            Op::Index | Op::Create => {
                let Some(source) = item.source else {
                    return Err(failure(
                        400,
                        "illegal_argument_exception",
                        "a document source is required".into(),
                    ));
                };
                let existing = if generated {
                    None
                } else {
                    self.current_source(&item.index, &id, overlay)
                        .map_err(internal)?
                };
                if item.op == Op::Create && existing.is_some() {
                    return Err(failure(
                        409,
                        "version_conflict_engine_exception",
                        format!("[{id}]: version conflict, document already exists"),
                    ));
                }
                let result = if existing.is_some() {
                    "updated"
                } else {
                    "created"
                };
                let status = if existing.is_some() { 200 } else { 201 };
                let version = existing.map_or(1, |d| d.version + 1);
                if !generated {
                    // seq_no holds the op's index in the batch until the batch is logged.
                    let doc = StoredDoc {
                        source: Arc::new(source.clone()),
                        version,
                        seq_no: op_index as u64,
                    };
                    overlay.insert(key, Pending::Doc(doc));
                }
                let timestamp = match &item.document {
                    Some(document) => timestamp_of(document),
                    None => item.timestamp.as_ref().and_then(timestamp_millis),
                };
                let op = self.index_op(&item.index, &id, !generated, version, source, timestamp);
                Ok((
                    ItemOutcome {
                        version,
                        ..outcome(status, result)
                    },
                    Some(op),
                    item.document,
                ))
            }
            Op::Delete => {
                let existing = self
                    .current_source(&item.index, &id, overlay)
                    .map_err(internal)?;
                if existing.is_none() {
                    return Ok((outcome(404, "not_found"), None, None));
                }
                overlay.insert(key, Pending::Deleted);
                Ok((
                    outcome(200, "deleted"),
                    Some(WalOp::Delete {
                        index: item.index.clone(),
                        id,
                    }),
                    None,
                ))
            }
            Op::Update => {
                let existing = self
                    .current_source(&item.index, &id, overlay)
                    .map_err(internal)?;
                let version = existing.as_ref().map_or(1, |d| d.version + 1);
                let (document, result, status) = match existing {
                    Some(existing) => {
                        let mut current = match serde_json::from_slice::<Value>(&existing.source) {
                            Ok(Value::Object(map)) => map,
                            _ => Map::new(),
                        };
                        let before = current.clone();
                        if let Some(doc) = &item.update_doc {
                            merge_into(&mut current, doc);
                        }
                        if current == before {
                            return Ok((
                                ItemOutcome {
                                    version: existing.version,
                                    ..outcome(200, "noop")
                                },
                                None,
                                None,
                            ));
                        }
                        (current, "updated", 200)
                    }
                    None => match (&item.upsert, item.doc_as_upsert, &item.update_doc) {
                        (Some(upsert), _, _) => (upsert.clone(), "created", 201),
                        (None, true, Some(doc)) => (doc.clone(), "created", 201),
                        _ => {
                            return Err(failure(
                                404,
                                "document_missing_exception",
                                format!("[{id}]: document missing"),
                            ));
                        }
                    },
                };
                let source = serde_json::to_vec(&document)
                    .map_err(|e| internal(StoreError::BadRequest(e.to_string())))?;
                let doc = StoredDoc {
                    source: Arc::new(source.clone()),
                    version,
                    seq_no: op_index as u64,
                };
                let op = self.index_op(
                    &item.index,
                    &id,
                    true,
                    version,
                    source,
                    timestamp_of(&document),
                );
                overlay.insert(key, Pending::Doc(doc));
                Ok((
                    ItemOutcome {
                        version,
                        ..outcome(status, result)
                    },
                    Some(op),
                    Some(document),
                ))
            }
        }
    }

    fn index_op(
        &self,
        index: &str,
        id: &str,
        replace: bool,
        version: u64,
        source: Vec<u8>,
        timestamp: Option<i64>,
    ) -> WalOp {
        let partition_day = day_of(timestamp.unwrap_or_else(now_millis));
        WalOp::Index {
            index: index.to_string(),
            id: id.to_string(),
            timestamp,
            partition_day,
            replace,
            version,
            source,
        }
    }

    fn ballast_path(&self) -> std::path::PathBuf {
        self.shared.config.data_dir.join("reserve.ballast")
    }

    /// The reserve: the configured size, at most a tenth of the filesystem.
    fn reserve_bytes(&self) -> u64 {
        let total = fs4::total_space(&self.shared.config.data_dir).unwrap_or(0);
        self.shared.config.disk_reserve_bytes.min(total / 4)
    }

    fn set_disk_full(&mut self, full: bool) {
        if full && !self.disk_full {
            tracing::warn!(
                "disk full: writes are refused (429) until space is freed; acknowledged data is kept"
            );
            let _ = std::fs::remove_file(self.ballast_path());
        }
        if !full && self.disk_full {
            tracing::info!("free space is back: writes resume");
        }
        self.disk_full = full;
        self.shared
            .stats
            .disk_full
            .store(u64::from(full), Ordering::Relaxed);
    }

    /// Makes sure the reserve file exists; when the disk was full, leaves that state once there
    /// is room for the reserve and as much again. Returns whether writes may proceed.
    fn check_reserve(&mut self) -> bool {
        let size = self.reserve_bytes();
        let path = self.ballast_path();
        let present = std::fs::metadata(&path).is_ok_and(|m| m.len() >= size);
        if present {
            if self.disk_full {
                self.set_disk_full(false);
            }
            return true;
        }
        let available = fs4::available_space(&self.shared.config.data_dir).unwrap_or(0);
        let needed = if self.disk_full {
            size.saturating_mul(2)
        } else {
            size
        };
        if available < needed {
            self.set_disk_full(true);
            return false;
        }
        let created = (|| -> std::io::Result<()> {
            let file = std::fs::File::create(&path)?;
            fs4::fs_std::FileExt::allocate(&file, size)?;
            file.sync_all()
        })();
        match created {
            Ok(()) => {
                self.set_disk_full(false);
                true
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                tracing::warn!(error = %e, "cannot create the disk reserve");
                self.set_disk_full(true);
                false
            }
        }
    }

    fn replay(&mut self, ops: Vec<(Lsn, WalOp)>) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let count = ops.len();
        for (lsn, op) in ops {
            self.apply(lsn, &op, None)?;
        }
        tracing::info!(
            operations = count,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "replayed the write-ahead log"
        );
        Ok(())
    }

    fn retention_cutoff_day(&self) -> Option<i64> {
        let age = self.shared.config.retention_max_age?;
        Some(day_of(now_millis() - age.as_millis() as i64))
    }

    /// Applies one logged operation. Idempotent: partitions that already committed `lsn` skip it.
    fn apply(&mut self, lsn: Lsn, op: &WalOp, document: Option<Map<String, Value>>) -> Result<()> {
        match op {
            WalOp::CreateIndex { index, body } => {
                if self.shared.indexes.read().contains_key(index) {
                    return Ok(());
                }
                let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                let mut mapping: IndexMapping = body
                    .get("mapping")
                    .and_then(|m| serde_json::from_value(m.clone()).ok())
                    .unwrap_or_default();
                if let Some(mappings) = body.get("mappings")
                    && let Ok(explicit) = IndexMapping::from_es_mappings(mappings)
                {
                    mapping.fields.extend(explicit.fields);
                }
                let live = Arc::new(LiveIndex {
                    name: index.clone(),
                    created_lsn: lsn,
                    mapping: RwLock::new(mapping),
                    settings: body.get("settings").cloned().unwrap_or_else(|| json!({})),
                    partitions: RwLock::new(BTreeMap::new()),
                });
                self.shared.indexes.write().insert(index.clone(), live);
                self.catalog_dirty = true;
                // The catalogue must know an index before any of its partitions commit.
                self.save_catalog()
            }
            WalOp::DeleteIndex { index } => {
                let Some(live) = self.shared.indexes.read().get(index).cloned() else {
                    return Ok(());
                };
                if live.created_lsn >= lsn {
                    return Ok(());
                }
                self.writers.retain(|key, _| key.index != *index);
                self.committed.retain(|key, _| key.index != *index);
                self.shared.indexes.write().remove(index);
                self.shared.pending.lock().retain(|(i, _), _| i != index);
                self.catalog_dirty = true;
                self.save_catalog()?;
                self.shared.storage.delete_index(index, live.created_lsn)?;
                Ok(())
            }
            WalOp::Index {
                index,
                id,
                timestamp,
                partition_day,
                replace,
                version,
                source,
            } => {
                let Some(live) = self.shared.indexes.read().get(index).cloned() else {
                    return Ok(());
                };
                if lsn < live.created_lsn {
                    return Ok(());
                }
                // Mapping is learnt even when the partition already has the document, so the
                // catalogue never lags behind what partitions hold. Sources without a parsed
                // document (`_bulk`, WAL replay) are parsed here, once.
                let (mut mapped, changed) = match &document {
                    Some(document) => live.mapping.write().map_document(document),
                    None => live.mapping.write().map_source(source),
                };
                if changed {
                    self.catalog_dirty = true;
                }
                if self
                    .retention_cutoff_day()
                    .is_some_and(|cutoff| *partition_day < cutoff)
                {
                    return Ok(());
                }
                if *replace {
                    self.delete_everywhere(&live, id, lsn)?;
                }
                let key = PartitionKey {
                    index: index.clone(),
                    incarnation: live.created_lsn,
                    day: *partition_day,
                };
                if self.committed_lsn(&key) >= lsn {
                    return Ok(());
                }
                mapped.timestamp = *timestamp;
                let doc = build_document(&self.shared.fields, id, source, *version, lsn, mapped);
                let writer = self.writer(&live, &key)?;
                writer.writer.add_document(doc).map_err(engine_error)?;
                Ok(())
            }
            WalOp::Delete { index, id } => {
                let Some(live) = self.shared.indexes.read().get(index).cloned() else {
                    return Ok(());
                };
                if lsn < live.created_lsn {
                    return Ok(());
                }
                self.delete_everywhere(&live, id, lsn)
            }
        }
    }

    fn committed_lsn(&self, key: &PartitionKey) -> Lsn {
        self.committed.get(key).copied().unwrap_or(0)
    }

    /// Deletes an id from every partition that holds it (committed or in its open writer).
    fn delete_everywhere(&mut self, live: &Arc<LiveIndex>, id: &str, lsn: Lsn) -> Result<()> {
        let partitions: Vec<Arc<PartitionReader>> =
            live.partitions.read().values().cloned().collect();
        for partition in partitions {
            if self.committed_lsn(&partition.key) >= lsn {
                continue;
            }
            let has_writer = self.writers.contains_key(&partition.key);
            if has_writer || contains_committed(&self.shared.fields, &partition, id)? {
                let key = partition.key.clone();
                let term = Term::from_field_text(self.shared.fields.id, id);
                self.writer(live, &key)?.writer.delete_term(term);
            }
        }
        Ok(())
    }

    fn writer(&mut self, live: &Arc<LiveIndex>, key: &PartitionKey) -> Result<&mut ActiveWriter> {
        if !self.writers.contains_key(key) {
            let existing = live.partitions.read().get(&key.day).cloned();
            let partition = match existing {
                Some(p) => p,
                None => {
                    let (reader, lsn) =
                        open_partition(self.shared.storage.as_ref(), key.clone(), &live.settings)?;
                    self.committed.insert(key.clone(), lsn);
                    let reader = Arc::new(reader);
                    live.partitions.write().insert(key.day, reader.clone());
                    self.catalog_dirty = true;
                    reader
                }
            };
            let config = &self.shared.config;
            let writer = partition
                .index
                .writer_with_num_threads(
                    config.writer_threads.max(1),
                    config.writer_memory_bytes.max(15 << 20) * config.writer_threads.max(1),
                )
                .map_err(engine_error)?;
            writer.set_merge_policy(Box::new(merge_policy()));
            self.writers.insert(
                key.clone(),
                ActiveWriter {
                    writer,
                    last_used: Instant::now(),
                    dirty: false,
                    merge: None,
                },
            );
        }
        let writer = self.writers.get_mut(key).expect("inserted above");
        writer.last_used = Instant::now();
        writer.dirty = true;
        self.shared.uncommitted.store(true, Ordering::Release);
        Ok(writer)
    }

    fn save_catalog(&mut self) -> Result<()> {
        if !self.catalog_dirty {
            return Ok(());
        }
        let mut catalog = Catalog {
            committed_lsn: self
                .wal
                .next_lsn()
                .saturating_sub(1)
                .min(self.committed.values().copied().max().unwrap_or(0)),
            indexes: BTreeMap::new(),
            objects: self.shared.objects.read().clone(),
        };
        for (name, live) in self.shared.indexes.read().iter() {
            catalog.indexes.insert(
                name.clone(),
                IndexMeta {
                    created_lsn: live.created_lsn,
                    mapping: live.mapping.read().clone(),
                    settings: live.settings.clone(),
                    partitions: live.partitions.read().keys().copied().collect(),
                },
            );
        }
        self.shared.metastore.save(&catalog).map_err(disk_error)?;
        self.catalog_dirty = false;
        Ok(())
    }

    /// Commits every dirty partition, makes it searchable and truncates the WAL. When the disk
    /// is full, releases the reserve and tries once more, so acknowledged data becomes
    /// searchable even then.
    fn commit(&mut self) -> Result<()> {
        match self.commit_once() {
            Err(StoreError::DiskFull(reason)) if !self.disk_full => {
                tracing::warn!(%reason, "commit failed on a full disk; releasing the reserve");
                self.set_disk_full(true);
                self.commit_once()
            }
            other => other,
        }
    }

    fn commit_once(&mut self) -> Result<()> {
        if self.needs_recovery {
            self.recover();
        }
        self.save_catalog()?;
        let lsn = self.wal.next_lsn().saturating_sub(1);
        let mut committed_any = false;
        let mut failure = None;
        for (key, active) in self.writers.iter_mut().filter(|(_, w)| w.dirty) {
            let result = active.writer.prepare_commit().and_then(|mut prepared| {
                prepared.set_payload(&lsn.to_string());
                prepared.commit()
            });
            match result {
                Ok(_) => {
                    active.dirty = false;
                    self.committed.insert(key.clone(), lsn);
                    self.shared.stats.commits.fetch_add(1, Ordering::Relaxed);
                    committed_any = true;
                }
                Err(e) => {
                    failure = Some(engine_error(e));
                    break;
                }
            }
        }
        if committed_any {
            for live in self.shared.indexes.read().values() {
                for partition in live.partitions.read().values() {
                    partition.reader.reload()?;
                }
            }
        }
        if let Some(error) = failure {
            // A writer that failed to commit is unusable; rebuild from the WAL.
            self.needs_recovery = true;
            return Err(error);
        }
        self.shared.pending.lock().clear();
        self.shared.uncommitted.store(false, Ordering::Release);
        self.shared
            .last_commit_ms
            .store(self.shared.elapsed_ms(), Ordering::Release);
        self.wal.truncate_all().map_err(disk_error)?;
        Ok(())
    }

    /// Drops every writer and re-applies the WAL: used after a failed commit (e.g. disk full).
    fn recover(&mut self) {
        self.needs_recovery = false;
        self.writers.clear();
        // Failed writes leave temporary files behind; with no writer open they are garbage.
        for live in self.shared.indexes.read().values() {
            for partition in live.partitions.read().values() {
                self.shared.storage.remove_temporary_files(&partition.key);
            }
        }
        let result = (|| -> Result<()> {
            for live in self.shared.indexes.read().values() {
                for partition in live.partitions.read().values() {
                    let lsn = committed_payload(&partition.index)?;
                    self.committed.insert(partition.key.clone(), lsn);
                }
            }
            let (wal, ops) = Wal::open(
                &self.shared.config.data_dir.join("wal"),
                self.wal.next_lsn(),
            )?;
            self.wal = wal;
            for (lsn, op) in ops {
                self.apply(lsn, &op, None)?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!(error = %e, "recovery from the WAL failed; will retry");
            self.needs_recovery = true;
        }
    }

    /// Merges all segments of each partition of these indexes into one; answers once every
    /// such merge has finished (the indexer goes on meanwhile).
    fn force_merge(&mut self, indexes: &[String], reply: mpsc::Sender<Result<()>>) {
        if let Err(e) = self.commit() {
            let _ = reply.send(Err(e));
            return;
        }
        let mut partitions = Vec::new();
        for name in indexes {
            if let Some(live) = self.shared.indexes.read().get(name).cloned() {
                partitions.extend(
                    live.partitions
                        .read()
                        .values()
                        .map(|p| (live.clone(), p.key.clone())),
                );
            }
        }
        let mut waiting_for = Vec::new();
        for (live, key) in partitions {
            match self.start_merge(&live, &key) {
                Ok(true) => waiting_for.push(key),
                Ok(false) => {}
                Err(e) => {
                    let _ = reply.send(Err(e));
                    return;
                }
            }
        }
        if waiting_for.is_empty() {
            let _ = reply.send(Ok(()));
        } else {
            self.force_merges.push(ForceMergeRequest {
                waiting_for,
                error: None,
                reply,
            });
            // Small partitions merge in milliseconds: answer without waiting for the next tick.
            self.poll_merges();
        }
    }

    /// Starts merging a partition into one segment, stored compact. False when there is
    /// nothing to merge; true when a merge runs (this one, or one started before).
    fn start_merge(&mut self, live: &Arc<LiveIndex>, key: &PartitionKey) -> Result<bool> {
        let Some(partition) = live.partitions.read().get(&key.day).cloned() else {
            return Ok(false);
        };
        if self.writers.get(key).is_some_and(|w| w.merge.is_some()) {
            return Ok(true);
        }
        let segments = partition.index.searchable_segment_ids()?;
        if segments.len() <= 1 {
            return Ok(false);
        }
        let writer = self.writer(live, key)?;
        // Merging changes no document: the writer stays clean.
        writer.dirty = false;
        // The merged segment is stored compact: merges like this one are of days no longer
        // written, or asked for (`_forcemerge`) once writes are done.
        partition.compact_writes.store(true, Ordering::Relaxed);
        let result = writer.writer.merge(&segments);
        writer.merge = Some(PendingMerge { result, partition });
        Ok(true)
    }

    /// Finishes the merges that are done: searches see their segment, and `_forcemerge`
    /// requests whose merges are all done are answered.
    fn poll_merges(&mut self) {
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        for (key, active) in &mut self.writers {
            let Some(pending) = active.merge.as_mut() else {
                continue;
            };
            let std::task::Poll::Ready(result) =
                std::pin::Pin::new(&mut pending.result).poll(&mut context)
            else {
                continue;
            };
            let outcome = result
                .map_err(engine_error)
                .and_then(|_| pending.partition.reader.reload().map_err(engine_error));
            active.merge = None;
            let Err(e) = outcome else {
                self.failed_merges.remove(key);
                continue;
            };
            tracing::warn!(error = %e, index = %key.index, day = key.day, "merging a partition failed");
            self.failed_merges.insert(key.clone());
            for request in &mut self.force_merges {
                if request.error.is_none() && request.waiting_for.contains(key) {
                    request.error = Some(merge_failure(&e, key));
                }
            }
        }
        // A request is answered once none of its partitions has a merge running (finished, or
        // its writer dropped with the partition).
        let writers = &self.writers;
        self.force_merges.retain_mut(|request| {
            request
                .waiting_for
                .retain(|key| writers.get(key).is_some_and(|w| w.merge.is_some()));
            if !request.waiting_for.is_empty() {
                return true;
            }
            let _ = request.reply.send(request.error.take().map_or(Ok(()), Err));
            false
        });
    }

    /// Merges past days that no writer holds but that still have several segments (the
    /// process stopped before their writer went idle): one at a time, once per idle timeout.
    fn merge_left_over_days(&mut self) {
        let interval = self.shared.config.idle_writer_timeout;
        if self.last_leftover_check.elapsed() < interval
            || self.writers.values().any(|w| w.merge.is_some())
        {
            return;
        }
        self.last_leftover_check = Instant::now();
        let today = day_of(now_millis());
        let candidate = self.shared.indexes.read().values().find_map(|live| {
            live.partitions
                .read()
                .values()
                .find(|p| {
                    p.key.day < today
                        && !self.writers.contains_key(&p.key)
                        && !self.failed_merges.contains(&p.key)
                        && p.reader.searcher().segment_readers().len() > 1
                })
                .map(|p| (live.clone(), p.key.clone()))
        });
        if let Some((live, key)) = candidate {
            self.start_past_day_merge(&live, &key);
        }
    }

    /// Starts the merge of a past day that no one asked for; a failure to start is logged and
    /// remembered like a failed merge. Whether a merge runs.
    fn start_past_day_merge(&mut self, live: &Arc<LiveIndex>, key: &PartitionKey) -> bool {
        match self.start_merge(live, key) {
            Ok(running) => running,
            Err(e) => {
                tracing::warn!(error = %e, index = %key.index, day = key.day, "merging a past day failed");
                self.failed_merges.insert(key.clone());
                false
            }
        }
    }

    fn close_idle_writers(&mut self) {
        let timeout = self.shared.config.idle_writer_timeout;
        let idle: Vec<PartitionKey> = self
            .writers
            .iter()
            .filter(|(_, w)| !w.dirty && w.merge.is_none() && w.last_used.elapsed() >= timeout)
            .map(|(k, _)| k.clone())
            .collect();
        let today = day_of(now_millis());
        for key in idle {
            // A past day no longer receives writes (but for stragglers): merge it into one
            // compact segment before letting go of its writer, as an ILM warm phase would. The
            // writer is let go once the merge is done and it has been idle again.
            if key.day < today && !self.failed_merges.contains(&key) {
                let live = self.shared.indexes.read().get(&key.index).cloned();
                if live.is_some_and(|live| self.start_past_day_merge(&live, &key)) {
                    continue;
                }
            }
            if let Some(active) = self.writers.remove(&key)
                && let Err(e) = active.writer.wait_merging_threads()
            {
                tracing::warn!(error = %e, index = %key.index, day = key.day, "closing an idle writer failed");
            }
        }
    }

    fn close_all_writers(&mut self) {
        for (_, active) in self.writers.drain() {
            let _ = active.writer.wait_merging_threads();
        }
    }

    fn create_index(&mut self, name: &str, mut body: Value) -> Result<()> {
        if self.shared.indexes.read().contains_key(name) {
            return Err(StoreError::IndexExists(name.to_string()));
        }
        let template = self.template_body(name);
        if let (Some(object), Some(mapping)) = (body.as_object_mut(), template.get("mapping")) {
            object.insert("mapping".into(), mapping.clone());
        }
        let op = WalOp::CreateIndex {
            index: name.to_string(),
            body: body.to_string().into_bytes(),
        };
        let lsn = self.log(std::slice::from_ref(&op))?;
        self.apply(lsn, &op, None)
    }

    fn delete_indexes(&mut self, names: Vec<String>) -> Result<()> {
        for name in names {
            let op = WalOp::DeleteIndex { index: name };
            let lsn = self.log(std::slice::from_ref(&op))?;
            self.apply(lsn, &op, None)?;
        }
        Ok(())
    }

    fn put_mapping(&mut self, index: &str, mapping: IndexMapping) -> Result<()> {
        let live = self
            .shared
            .indexes
            .read()
            .get(index)
            .cloned()
            .ok_or_else(|| StoreError::IndexNotFound(index.to_string()))?;
        {
            let mut current = live.mapping.write();
            for (path, field_type) in mapping.fields {
                current.fields.entry(path).or_insert(field_type);
            }
        }
        self.catalog_dirty = true;
        self.save_catalog()
    }

    fn put_object(&mut self, kind: String, name: String, value: Option<Value>) -> Result<()> {
        {
            let mut objects = self.shared.objects.write();
            let of_kind = objects.entry(kind).or_default();
            match value {
                Some(value) => {
                    of_kind.insert(name, value);
                }
                None => {
                    of_kind.remove(&name);
                }
            }
        }
        self.catalog_dirty = true;
        self.save_catalog()
    }

    /// Drops whole partitions older than the maximum age, then the oldest ones while the total
    /// size exceeds the maximum.
    fn apply_retention(&mut self, now: bool) {
        let config = &self.shared.config;
        if config.retention_max_age.is_none() && config.retention_max_bytes.is_none() {
            return;
        }
        if !now && self.last_retention.elapsed() < Duration::from_secs(10) {
            return;
        }
        self.last_retention = Instant::now();
        let mut partitions: Vec<(i64, Arc<LiveIndex>, Arc<PartitionReader>)> = Vec::new();
        for live in self.shared.indexes.read().values() {
            for (day, partition) in live.partitions.read().iter() {
                partitions.push((*day, live.clone(), partition.clone()));
            }
        }
        partitions.sort_by_key(|(day, _, _)| *day);
        let cutoff = self.retention_cutoff_day();
        let mut total: u64 = partitions
            .iter()
            .map(|(_, _, p)| self.shared.storage.size_bytes(&p.key))
            .sum();
        let max_bytes = self.shared.config.retention_max_bytes;
        for (day, live, partition) in partitions {
            let too_old = cutoff.is_some_and(|c| day < c);
            let too_big = max_bytes.is_some_and(|max| total > max);
            if !too_old && !too_big {
                continue;
            }
            // The newest partition of an index, where its writes go, is never dropped for size.
            let newest = live.partitions.read().keys().next_back().copied();
            if !too_old && newest == Some(day) {
                continue;
            }
            let size = self.shared.storage.size_bytes(&partition.key);
            self.writers.remove(&partition.key);
            self.committed.remove(&partition.key);
            live.partitions.write().remove(&day);
            self.catalog_dirty = true;
            if let Err(e) = self.save_catalog() {
                tracing::warn!(error = %e, "could not record a dropped partition");
                return;
            }
            if let Err(e) = self.shared.storage.delete(&partition.key) {
                tracing::warn!(error = %e, "could not delete a dropped partition's files");
            }
            total = total.saturating_sub(size);
            self.shared
                .stats
                .partitions_dropped
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(index = %live.name, day, bytes = size, too_old, "retention dropped a partition");
        }
    }
}

fn committed_payload(index: &tantivy::Index) -> Result<Lsn> {
    Ok(index
        .load_metas()?
        .payload
        .and_then(|p| p.parse().ok())
        .unwrap_or(0))
}

fn open_partition(
    storage: &dyn SegmentStorage,
    key: PartitionKey,
    settings: &Value,
) -> Result<(PartitionReader, Lsn)> {
    let PartitionDirectory {
        directory,
        compact_writes,
    } = storage.open(&key).map_err(disk_error)?;
    let index = open_index(directory, doc_store_level(settings)).map_err(engine_error)?;
    let lsn = committed_payload(&index)?;
    Ok((PartitionReader::new(key, index, compact_writes)?, lsn))
}

/// Elasticsearch's partial-update merge: objects merge recursively, everything else replaces.
fn merge_into(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match (target.get_mut(key), value) {
            (Some(Value::Object(existing)), Value::Object(patch)) => merge_into(existing, patch),
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}
